// `faultline report FILE [--format text|json] [-o OUT]`: reads a trace in
// one streaming pass, then renders the analysis. The JSON object is the
// model; the text report is rendered from it, so both always agree.
#include "analyzer/report.h"

#include <boost/program_options.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "analyzer/fault_analysis.h"
#include "analyzer/symbolizer.h"
#include "trace/reader.h"

namespace faultline::analyzer {

namespace {

namespace po = boost::program_options;
using Json = nlohmann::ordered_json;

constexpr const char* kUsage =
    "usage: faultline report FILE [--format text|json] [-o OUT]\n"
    "\n"
    "Analyses a trace written by 'faultline record': page faults by kind,\n"
    "latency, process, thread, mapping and code site (docs/report.md).\n";
constexpr const char* kExamples =
    "examples:\n"
    "  faultline report run.flt\n"
    "  faultline report run.flt --format json -o run.json\n";

constexpr size_t kTextTop = 10;

std::string Ns(uint64_t ns) {
  char buf[32];
  if (ns < 10000) {
    std::snprintf(buf, sizeof buf, "%lluns", static_cast<unsigned long long>(ns));
  } else if (ns < 10000000) {
    std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  } else if (ns < 10000000000ull) {
    std::snprintf(buf, sizeof buf, "%.1fms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  }
  return buf;
}

std::string Pct(uint64_t part, uint64_t whole) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%5.1f%%", whole ? 100.0 * part / whole : 0.0);
  return buf;
}

std::string Fmt(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

std::string Latency(const Json& l) {
  return "p50 " + Ns(l["p50"]) + "  p90 " + Ns(l["p90"]) + "  p99 " +
         Ns(l["p99"]) + "  max " + Ns(l["max"]);
}

std::string RenderText(const Json& r, const std::string& file) {
  std::ostringstream o;
  const Json& t = r["trace"];
  const Json& f = r["faults"];
  const uint64_t lost = t["lost_events"];
  std::string lost_note =
      t["lost_events_known"].get<bool>()
          ? std::to_string(lost) + " lost"
          : "lost unknown (no footer)";
  o << "faultline report " << r["version"].get<std::string>() << ": " << file << "\n";
  o << "trace: " << Ns(t["duration_ns"]) << " on " << t["host"].get<std::string>()
    << " (kernel " << t["kernel"].get<std::string>() << ")"
    << (t["summary_mode"].get<bool>() ? ", --summary" : "") << "\n";
  if (!t["command_line"].get<std::string>().empty()) {
    o << "command: " << t["command_line"].get<std::string>() << "\n";
  }
  o << "events: " << t["events"].get<uint64_t>() << " read, " << lost_note;
  if (t["truncated"].get<bool>()) o << "; file truncated";
  if (t["corrupt_blocks"].get<uint64_t>() > 0) {
    o << "; " << t["corrupt_blocks"].get<uint64_t>() << " corrupted block(s) skipped";
  }
  o << "\n";
  if (lost > 0) {
    o << "WARNING: " << lost << " events were lost while recording: every "
      << "count below is a lower bound.\n";
  }
  o << "\n";

  const uint64_t total = f["total"];
  o << Fmt("page faults: %llu  (minor %llu, major %llu, incomplete %llu; user "
           "mode %llu, kernel mode %llu)\n",
           (unsigned long long)total, (unsigned long long)f["minor"].get<uint64_t>(),
           (unsigned long long)f["major"].get<uint64_t>(),
           (unsigned long long)f["incomplete"].get<uint64_t>(),
           (unsigned long long)f["user_mode"].get<uint64_t>(),
           (unsigned long long)f["kernel_mode"].get<uint64_t>());
  const uint64_t sample = t.value("latency_sample", uint64_t{1});
  if (sample > 1) {
    // --summary --latency-sample: times and percentiles come from the
    // timed faults only; the counts above are of every fault.
    const uint64_t timed = f["timed"];
    o << Fmt("fault time: %s measured over %llu timed faults (1 in %llu at "
             "random; ~%s for all)  latency ",
             Ns(f["latency_ns"]["total_ns"]).c_str(), (unsigned long long)timed,
             (unsigned long long)sample,
             Ns(f["latency_ns"]["total_ns"].get<uint64_t>() * sample).c_str())
      << Latency(f["latency_ns"]) << "\n\n";
  } else {
    o << "fault time: " << Ns(f["latency_ns"]["total_ns"]) << "  latency "
      << Latency(f["latency_ns"]) << "\n\n";
  }

  o << "by kind:\n";
  for (const auto& [kind, count] : f["by_kind"].items()) {
    const uint64_t n = count;
    if (n == 0) continue;
    const Json& l = f["latency_by_kind_ns"][kind];
    o << Fmt("  %-17s %10llu %s  ", kind.c_str(), (unsigned long long)n,
             Pct(n, total).c_str());
    if (l["count"].get<uint64_t>() > 0) o << "time " << Ns(l["total_ns"]) << "  " << Latency(l);
    o << "\n";
  }

  const Json& hist = f["latency_ns"]["histogram"];
  if (!hist.empty()) {
    uint64_t most = 1;
    for (const Json& row : hist) most = std::max<uint64_t>(most, row[1]);
    o << (sample > 1 ? "\nlatency histogram (timed faults):\n"
                     : "\nlatency histogram (completed faults):\n");
    for (const Json& row : hist) {
      const uint64_t n = row[1];
      o << Fmt("  < %-9s %10llu  ", Ns(row[0]).c_str(), (unsigned long long)n)
        << std::string(static_cast<size_t>(40.0 * n / most), '#') << "\n";
    }
  }

  o << "\nprocesses (by fault time):\n";
  o << Fmt("  %8s %-16s %10s %10s %8s %10s  %s\n", "PID", "COMM", "FAULTS",
           "MINOR", "MAJOR", sample > 1 ? "TIMED" : "TIME", "LATENCY");
  size_t shown = 0;
  for (const Json& p : f["processes"]) {
    if (shown++ == kTextTop) break;
    o << Fmt("  %8u %-16s %10llu %10llu %8llu %10s  ", p["pid"].get<unsigned>(),
             p["comm"].get<std::string>().c_str(),
             (unsigned long long)p["faults"].get<uint64_t>(),
             (unsigned long long)p["minor"].get<uint64_t>(),
             (unsigned long long)p["major"].get<uint64_t>(),
             Ns(p["fault_ns"]).c_str())
      << Latency(p["latency_ns"]) << "\n";
    size_t tshown = 0;
    const Json& threads = p["threads"];
    if (threads.size() > 1) {
      for (const Json& th : threads) {
        if (tshown++ == 5) {
          o << "           ... " << threads.size() - 5 << " more threads\n";
          break;
        }
        o << Fmt("    tid %-7u %-14s %10llu %10llu %8llu %10s  ",
                 th["tid"].get<unsigned>(), th["comm"].get<std::string>().c_str(),
                 (unsigned long long)(th["minor"].get<uint64_t>() +
                                      th["major"].get<uint64_t>() +
                                      th["incomplete"].get<uint64_t>()),
                 (unsigned long long)th["minor"].get<uint64_t>(),
                 (unsigned long long)th["major"].get<uint64_t>(),
                 Ns(th["fault_ns"]).c_str())
          << Latency(th["latency_ns"]) << "\n";
      }
    }
  }
  if (f["processes"].size() > kTextTop) {
    o << "  ... " << f["processes"].size() - kTextTop << " more processes\n";
  }

  auto cost_table = [&](const char* title, const Json& rows, const char* field) {
    if (rows.empty()) return;
    o << "\n" << title << ":\n";
    o << Fmt("  %8s %10s %10s  %s\n", "PID", "FAULTS", "TIME",
             field == std::string("name") ? "MAPPING" : "SITE");
    size_t n = 0;
    for (const Json& row : rows) {
      if (n++ == kTextTop) break;
      o << Fmt("  %8u %10llu %10s  %s\n", row["pid"].get<unsigned>(),
               (unsigned long long)row["faults"].get<uint64_t>(),
               Ns(row["fault_ns"]).c_str(), row[field].get<std::string>().c_str());
    }
  };
  cost_table("top mappings (by fault time)", f["mappings"], "name");
  cost_table("top code sites (by fault time)", f["sites"], "symbol");

  if (!f["tlb_shootdowns"].empty()) {
    o << "\nTLB shootdowns:\n";
    o << Fmt("  %8s %-16s %10s %10s %10s %10s %12s\n", "PID", "COMM", "FLUSHES",
             "IPIS SENT", "RECEIVED", "LOCAL", "PAGES");
    size_t n = 0;
    for (const Json& row : f["tlb_shootdowns"]) {
      if (n++ == kTextTop) break;
      o << Fmt("  %8u %-16s %10llu %10llu %10llu %10llu %12llu\n",
               row["pid"].get<unsigned>(), row["comm"].get<std::string>().c_str(),
               (unsigned long long)row["count"].get<uint64_t>(),
               (unsigned long long)row.value("ipis_sent", uint64_t{0}),
               (unsigned long long)row.value("remote_flushes", uint64_t{0}),
               (unsigned long long)row.value("local_flushes", uint64_t{0}),
               (unsigned long long)row["pages"].get<uint64_t>());
    }
  }
  return o.str();
}

class WarningPrinter : public FaultAnalysis {
 public:
  using FaultAnalysis::FaultAnalysis;
  void OnWarning(std::string_view msg) override {
    if (printed_++ < 10) {
      std::fprintf(stderr, "faultline report: warning: %.*s\n",
                   static_cast<int>(msg.size()), msg.data());
    } else if (printed_ == 11) {
      std::fputs("faultline report: warning: (more warnings not shown)\n", stderr);
    }
  }

 private:
  int printed_ = 0;
};

}  // namespace

int RunReport(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "show this help")(
      "format,f", po::value<std::string>()->default_value("text"),
      "text (default) or json")("output,o", po::value<std::string>(),
                                "write the report to this file, not stdout");
  po::options_description hidden;
  hidden.add_options()("file", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("file", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "faultline report: %s (try --help)\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << opts << "\n" << kExamples;
    return 0;
  }
  if (!vm.count("file")) {
    std::fputs("faultline report: no trace file given (try --help)\n", stderr);
    return 2;
  }
  const auto& files = vm["file"].as<std::vector<std::string>>();
  if (files.size() != 1) {
    std::fputs("faultline report: give exactly one trace file\n", stderr);
    return 2;
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") {
    std::fprintf(stderr,
                 "faultline report: unknown --format '%s' (text or json)\n",
                 format.c_str());
    return 2;
  }

  auto reader = trace::TraceReader::Open(files[0]);
  if (!reader) {
    std::fprintf(stderr, "faultline report: %s\n", reader.error().message.c_str());
    return reader.error().exit_code;
  }
  WarningPrinter analysis((*reader)->header());
  if (auto ok = (*reader)->ReadAll(analysis); !ok) {
    std::fprintf(stderr, "faultline report: %s\n", ok.error().message.c_str());
    return ok.error().exit_code;
  }
  Symbolizer symbolizer;
  Json report = analysis.ToJson((*reader)->stats(), &symbolizer);
  // Names in a trace (comm, paths, host) are bytes, not necessarily UTF-8:
  // invalid sequences become U+FFFD rather than an exception.
  std::string text = format == "json"
                         ? report.dump(2, ' ', false,
                                       Json::error_handler_t::replace) + "\n"
                                      : RenderText(report, files[0]);
  if (vm.count("output")) {
    const std::string out = vm["output"].as<std::string>();
    std::ofstream os(out, std::ios::binary | std::ios::trunc);
    if (!os || !(os << text) || !os.flush()) {
      std::fprintf(stderr, "faultline report: cannot write %s\n", out.c_str());
      return 2;
    }
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return 0;
}

}  // namespace faultline::analyzer
