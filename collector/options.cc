#include "collector/options.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace faultline::collector {

namespace po = boost::program_options;

namespace {

po::options_description MakeOptions() {
  po::options_description desc("options");
  desc.add_options()
      ("help,h", "show this help")
      ("pid,p", po::value<std::string>(),
       "trace these processes (comma-separated), their threads and all "
       "their descendants, also those running already")
      ("output,o", po::value<std::string>()->default_value("faultline.flt"),
       "trace file to write")
      ("duration,d", po::value<double>(),
       "stop after SECONDS (default: Ctrl-C, SIGTERM or the command's exit)")
      ("faults", "trace page faults (default)")
      ("no-faults", "do not trace page faults")
      ("tcp", "trace TCP connections: states, accept/connect, resets, bytes, "
              "serving threads, /proc/net/netstat samples (default; off with "
              "--summary)")
      ("no-tcp", "do not trace TCP connections")
      ("port", po::value<std::string>(),
       "trace the processes listening on TCP port N (and their descendants; "
       "also those that accept on it later) and the port's connections")
      ("cgroup", po::value<std::string>(),
       "trace the processes of this cgroup v2 (its directory, or a path "
       "relative to the cgroup2 mount, e.g. system.slice/nginx.service)")
      ("stacks", "record the user stack of each fault")
      ("ring-mb", po::value<uint32_t>()->default_value(32),
       "ring buffer size in MiB (a power of two)")
      ("summary", "aggregate in the kernel: counts and latency histograms "
                  "per process and kind, no per-fault events")
      ("latency-sample", po::value<uint32_t>(),
       "with --summary: time one fault in N, at random (a power of two; "
       "default 16, 1 = every fault); every fault is counted")
      ("verbose,v", "print libbpf's debug output");
  return desc;
}

}  // namespace

std::string RecordUsage() {
  std::ostringstream out;
  out << "usage: faultline record [-p PID[,PID...]] [--port N] [--cgroup PATH]\n"
         "                        [-o FILE] [-d SECONDS]\n"
         "                        [--faults|--no-faults] [--tcp|--no-tcp]\n"
         "                        [--stacks] [--ring-mb N]\n"
         "                        [--summary [--latency-sample N]] [-v]\n"
         "                        [-- CMD ARGS...]\n"
         "\n"
         "Records page faults (entry, latency, minor/major) with the task and\n"
         "address-space events needed to attribute them, and TCP connections\n"
         "(each owned by the process and thread that accepted or connected\n"
         "it). With no target it traces the whole machine. --summary\n"
         "aggregates faults in the kernel and records no TCP events. Needs root (CAP_BPF + CAP_PERFMON or\n"
         "CAP_SYS_ADMIN) and /sys/kernel/btf/vmlinux; mounts tracefs if\n"
         "needed.\n\n"
      << MakeOptions()
      << "\nexamples:\n"
         "  faultline record -o run.flt -- ./my-server --port 8080\n"
         "  faultline record -p 1234,5678 -d 10 -o run.flt\n"
         "  faultline record --port 8080 -d 30 -o web.flt   # who serves :8080\n"
         "  faultline record --summary -d 30        # whole machine, "
         "aggregated\n"
         "  faultline report run.flt --format json\n";
  return out.str();
}

Result<uint16_t> ParsePort(const std::string& text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return Fail(2, "faultline record: bad port '" + text +
                       "' in --port (want 1..65535)");
  }
  unsigned long v = std::strtoul(text.c_str(), nullptr, 10);
  if (v == 0 || v > 65535) {
    return Fail(2, "faultline record: bad port '" + text +
                       "' in --port (want 1..65535)");
  }
  return static_cast<uint16_t>(v);
}

Result<std::vector<uint32_t>> ParsePidList(const std::string& text) {
  std::vector<uint32_t> pids;
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.empty() || item.size() > 10 ||
        !std::all_of(item.begin(), item.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return Fail(2, "faultline record: bad PID '" + item + "' in -p '" +
                         text + "' (want PID[,PID...])");
    }
    unsigned long v = std::strtoul(item.c_str(), nullptr, 10);
    if (v == 0 || v > 0x3fffffff) {
      return Fail(2, "faultline record: bad PID '" + item + "' in -p");
    }
    pids.push_back(static_cast<uint32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return pids;
}

Result<RecordOptions> ParseRecordArgs(const std::vector<std::string>& args) {
  RecordOptions opts;
  opts.command_line = "faultline record";
  for (const auto& a : args) opts.command_line += " " + a;

  // Everything after "--" is the command, untouched by the parser.
  std::vector<std::string> own = args;
  auto dashdash = std::find(own.begin(), own.end(), "--");
  if (dashdash != own.end()) {
    opts.command.assign(dashdash + 1, own.end());
    own.erase(dashdash, own.end());
    if (opts.command.empty()) {
      return Fail(2, "faultline record: '--' needs a command after it");
    }
  }

  po::variables_map vm;
  try {
    // No positional arguments: the command goes after "--".
    po::positional_options_description none;
    po::store(po::command_line_parser(own)
                  .options(MakeOptions())
                  .positional(none)
                  .style(po::command_line_style::default_style &
                         ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    return Fail(2, "faultline record: unexpected argument (a command to "
                   "trace goes after '--', e.g. faultline record -- ls)");
  } catch (const po::error& e) {
    return Fail(2, std::string("faultline record: ") + e.what() +
                       " (try --help)");
  }
  if (vm.count("help")) {
    opts.help = true;
    return opts;
  }
  if (vm.count("pid")) {
    auto pids = ParsePidList(vm["pid"].as<std::string>());
    if (!pids) return std::unexpected(pids.error());
    opts.pids = *pids;
  }
  if (!opts.pids.empty() && !opts.command.empty()) {
    return Fail(2, "faultline record: give -p or '-- CMD', not both");
  }
  opts.output = vm["output"].as<std::string>();
  if (opts.output.empty()) {
    return Fail(2, "faultline record: -o needs a file name");
  }
  if (vm.count("duration")) {
    opts.duration_s = vm["duration"].as<double>();
    if (!(opts.duration_s > 0) || !std::isfinite(opts.duration_s)) {
      return Fail(2, "faultline record: -d wants a positive number of "
                     "seconds");
    }
  }
  if (vm.count("faults") && vm.count("no-faults")) {
    return Fail(2, "faultline record: --faults and --no-faults conflict");
  }
  opts.faults = !vm.count("no-faults");
  if (vm.count("tcp") && vm.count("no-tcp")) {
    return Fail(2, "faultline record: --tcp and --no-tcp conflict");
  }
  opts.tcp = !vm.count("no-tcp");
  if (vm.count("port")) {
    auto port = ParsePort(vm["port"].as<std::string>());
    if (!port) return std::unexpected(port.error());
    opts.port = *port;
  }
  if (vm.count("cgroup")) {
    opts.cgroup = vm["cgroup"].as<std::string>();
    if (opts.cgroup.empty()) {
      return Fail(2, "faultline record: --cgroup needs a cgroup v2 path");
    }
  }
  if (!opts.command.empty() && (opts.port || !opts.cgroup.empty())) {
    return Fail(2, "faultline record: give --port/--cgroup or '-- CMD', not "
                   "both");
  }
  opts.stacks = vm.count("stacks") > 0;
  opts.summary = vm.count("summary") > 0;
  opts.verbose = vm.count("verbose") > 0;
  opts.ring_mb = vm["ring-mb"].as<uint32_t>();
  if (opts.ring_mb == 0 || opts.ring_mb > 4096 ||
      (opts.ring_mb & (opts.ring_mb - 1)) != 0) {
    return Fail(2, "faultline record: --ring-mb wants a power of two "
                   "between 1 and 4096");
  }
  if (vm.count("latency-sample")) {
    if (!opts.summary) {
      return Fail(2, "faultline record: --latency-sample goes with "
                     "--summary (streaming times every fault)");
    }
    opts.latency_sample = vm["latency-sample"].as<uint32_t>();
    if (opts.latency_sample == 0 || opts.latency_sample > 65536 ||
        (opts.latency_sample & (opts.latency_sample - 1)) != 0) {
      return Fail(2, "faultline record: --latency-sample wants a power of "
                     "two between 1 and 65536");
    }
  } else if (opts.summary) {
    opts.latency_sample = kDefaultLatencySample;
  }
  if (opts.summary && vm.count("tcp")) {
    return Fail(2, "faultline record: --tcp needs per-event records; it "
                   "does not work with --summary");
  }
  if (opts.summary) opts.tcp = false;
  if (opts.summary && opts.stacks) {
    return Fail(2, "faultline record: --stacks needs per-fault events; it "
                   "does not work with --summary");
  }
  return opts;
}

}  // namespace faultline::collector
