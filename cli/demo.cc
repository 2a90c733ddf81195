// faultline demo: the main job on an embedded default. For each server
// pattern: start faultline-server under `faultline record`, drive it with
// faultline-load (HTTP/1.1 keep-alive, HTTP/1.1 connection-per-request and
// HTTP/2, over a memory-touching endpoint mix), then SIGTERM the server
// under a second load to exercise the graceful shutdown, and write the
// trace, the load generators' accounting and the reports to --out. Prints
// the pattern comparison at the end.
#include "cli/demo.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/child_process.h"

namespace faultline::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Static pages, fresh memory, mmap-ed file, copy-on-write and stack: every
// kind of fault the report knows, in a mix a real service might have.
constexpr const char* kPathMix =
    "/:8,/alloc?kb=64:2,/file?kb=64:1,/cow?kb=16:1,/stack?kb=32:1";

struct Options {
  std::string out = "faultline-demo";
  double duration = 4;
  std::vector<std::string> patterns;  // default: all of them
  int workers = 2;
};

// A child process with stdout and stderr sent to files (the same file when
// the paths are equal), in our process group (Ctrl-C stops it with us),
// inheriting our signal dispositions (SIGPIPE ignored).
struct Proc {
  ChildProcess child;

  pid_t pid() const { return child.pid(); }
  // Waits up to `timeout`; returns false on timeout.
  bool Wait(std::chrono::milliseconds timeout) {
    return child.WaitFor(timeout);
  }
  // The exit code, 128 + N when killed by signal N.
  int ExitCode() const {
    int c = child.exit_code();
    return c < -1 ? 128 - c : c;
  }
  void Kill() { child.KillAndReap(); }
};

Proc Spawn(const std::vector<std::string>& argv, const std::string& out_path,
           const std::string& err_path) {
  SpawnOptions opts;
  opts.stdout_path = out_path;
  opts.stderr_path = err_path;
  opts.new_process_group = false;
  opts.default_signals = false;
  return Proc{ChildProcess::Spawn(argv, opts)};
}

// The names that `faultline-server --list-patterns` prints (its pattern
// table), or none if it fails.
std::vector<std::string> ServerPatterns(const fs::path& bin_dir) {
  ChildProcess p = ChildProcess::Spawn(
      {(bin_dir / "faultline-server").string(), "--list-patterns"});
  if (!p.WaitFor(std::chrono::seconds(10))) p.KillAndReap();
  p.FinishOutput(std::chrono::seconds(1));
  std::vector<std::string> names;
  if (p.exit_code() != 0) return names;
  std::stringstream ss(p.Stdout());
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// The server is the recorder's child: /proc/PID/task/PID/children.
pid_t ChildOf(pid_t pid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/task/" +
                           std::to_string(pid) + "/children");
  return s.empty() ? -1 : static_cast<pid_t>(std::atol(s.c_str()));
}

std::optional<Json> ParseJsonFile(const std::string& path) {
  try {
    return Json::parse(ReadFile(path));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

uint64_t U(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

struct PatternResult {
  std::string pattern;
  bool ok = false;
  std::string error;
  double rps = 0;
  uint64_t h1_p50 = 0, h1_p99 = 0, h2_p99 = 0;
  uint64_t completed = 0;  // both phases, every load generator
  uint64_t faults = 0, fault_ns = 0, lost_events = 0;
  int server_exit = -1;
  uint64_t drain_completed = 0, drain_failed = 0, drain_refused = 0,
           drain_retried = 0;
  uint64_t requests_cut = 0;
  int64_t server_completed = -1;  // the server's own count, -1 if unknown
};

struct LoadSpec {
  const char* name;
  std::vector<std::string> extra;
};

PatternResult RunPattern(const Options& o, const fs::path& bin_dir,
                         const std::string& pattern) {
  PatternResult r;
  r.pattern = pattern;
  const std::string base = (fs::path(o.out) / pattern).string();
  const std::string faultline = (bin_dir / "faultline").string();
  const std::string server = (bin_dir / "faultline-server").string();
  const std::string load = (bin_dir / "faultline-load").string();
  int port = FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";

  // 1. The server, traced from its first instruction.
  Proc rec = Spawn({faultline, "record", "-o", base + ".flt", "--", server,
                    "--pattern", pattern, "--port", std::to_string(port),
                    "--workers", std::to_string(o.workers),
                    "--drain-timeout", "10"},
                   base + ".server.log", base + ".server.log");
  auto ready_by = Clock::now() + std::chrono::seconds(15);
  while (ReadFile(base + ".server.log").find("listening on") ==
         std::string::npos) {
    if (rec.Wait(std::chrono::milliseconds(50)) || Clock::now() > ready_by) {
      rec.Kill();
      r.error = "server did not start (see " + base + ".server.log)";
      return r;
    }
  }

  // 2. Steady load: three generators at once, for the comparison.
  std::string dur = std::to_string(o.duration);
  std::vector<LoadSpec> steady = {
      {"h1", {"-c", "8"}},
      {"h1-close", {"-c", "2", "--close"}},
      {"h2", {"-c", "2", "--h2", "--streams", "8"}}};
  std::vector<Proc> loads;
  for (const auto& s : steady) {
    std::vector<std::string> argv = {load, url, "-d", dur, "--paths",
                                     kPathMix, "--json"};
    argv.insert(argv.end(), s.extra.begin(), s.extra.end());
    loads.push_back(Spawn(argv, base + ".load-" + s.name + ".json",
                          base + ".load-" + s.name + ".log"));
  }
  for (auto& l : loads) {
    if (!l.Wait(std::chrono::seconds(static_cast<int>(o.duration) + 30))) {
      l.Kill();
    }
  }
  double elapsed = 0;
  for (const auto& s : steady) {
    auto j = ParseJsonFile(base + ".load-" + s.name + ".json");
    if (!j) {
      rec.Kill();
      r.error = std::string("faultline-load ") + s.name + " failed (see " +
                base + ".load-" + s.name + ".log)";
      return r;
    }
    r.completed += U(*j, "completed");
    elapsed = std::max(elapsed, (*j)["elapsed_s"].get<double>());
    if (std::string(s.name) == "h1") {
      r.h1_p50 = U((*j)["latency_ns"], "p50");
      r.h1_p99 = U((*j)["latency_ns"], "p99");
    } else if (std::string(s.name) == "h2") {
      r.h2_p99 = U((*j)["latency_ns"], "p99");
    }
  }
  r.rps = elapsed > 0 ? static_cast<double>(r.completed) / elapsed : 0;

  // 3. Graceful shutdown under load: SIGTERM one second into a second load.
  std::vector<LoadSpec> drain = {{"drain-h1", {"-c", "8"}},
                                 {"drain-h2", {"-c", "2", "--h2", "--streams",
                                               "8"}}};
  loads.clear();
  for (const auto& s : drain) {
    std::vector<std::string> argv = {load, url, "-d", "3", "--paths",
                                     kPathMix, "--json", "--timeout", "12"};
    argv.insert(argv.end(), s.extra.begin(), s.extra.end());
    loads.push_back(Spawn(argv, base + ".load-" + s.name + ".json",
                          base + ".load-" + s.name + ".log"));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  pid_t server_pid = ChildOf(rec.pid());
  if (server_pid > 0) kill(server_pid, SIGTERM);
  for (auto& l : loads) {
    if (!l.Wait(std::chrono::seconds(40))) l.Kill();
  }
  if (!rec.Wait(std::chrono::seconds(30))) {
    rec.child.Signal(SIGTERM);
    if (!rec.Wait(std::chrono::seconds(10))) rec.Kill();
  }
  r.server_exit = rec.ExitCode();
  for (const auto& s : drain) {
    auto j = ParseJsonFile(base + ".load-" + s.name + ".json");
    if (!j) continue;
    r.completed += U(*j, "completed");
    r.drain_completed += U(*j, "completed");
    r.drain_failed += U(*j, "failed");
    r.drain_refused += U((*j)["failed_by_reason"], "connect_refused");
    r.drain_retried += U(*j, "retried");
  }
  std::string log = ReadFile(base + ".server.log");
  if (auto at = log.find("faultline-server: stats "); at != std::string::npos) {
    try {
      Json stats = Json::parse(log.substr(at + 24, log.find('\n', at) - at - 24));
      r.requests_cut = U(stats, "requests_cut");
      if (stats.contains("requests_completed")) {
        r.server_completed = stats["requests_completed"].get<int64_t>();
      }
    } catch (const std::exception&) {
    }
  }

  // 4. Reports: text for people, json for the comparison (and for scripts).
  Proc txt = Spawn({faultline, "report", base + ".flt", "-o", base + ".txt"},
                   base + ".report.log", base + ".report.log");
  Proc js = Spawn({faultline, "report", base + ".flt", "--format", "json",
                   "-o", base + ".json"},
                  base + ".report-json.log", base + ".report-json.log");
  txt.Wait(std::chrono::seconds(120));
  js.Wait(std::chrono::seconds(120));
  auto rep = ParseJsonFile(base + ".json");
  if (!rep) {
    r.error = "report failed (see " + base + ".report-json.log)";
    return r;
  }
  const Json& faults = (*rep)["faults"];
  r.faults = U(faults, "total");
  for (const auto& p : faults["processes"]) r.fault_ns += U(p, "fault_ns");
  r.lost_events = U((*rep)["trace"], "lost_events");
  r.ok = true;
  return r;
}

std::string Ms(uint64_t ns) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.2f", ns / 1e6);
  return b;
}

void PrintComparison(const std::vector<PatternResult>& results,
                     const Options& o) {
  std::printf(
      "\nfaultline demo: %zu patterns, %d workers, %.0f s of load each "
      "(HTTP/1.1 keep-alive + close, HTTP/2), mix %s\n\n",
      results.size(), o.workers, o.duration, kPathMix);
  std::printf("%-17s %9s %8s %8s %8s %10s %11s %7s | %-26s\n", "pattern",
              "req/s", "h1 p50", "h1 p99", "h2 p99", "faults/req",
              "fault us/req", "lost ev",
              "SIGTERM under load: exit ok/fail/refused/retried");
  std::printf("%-17s %9s %8s %8s %8s %10s %11s %7s |\n", "", "", "ms", "ms",
              "ms", "", "", "");
  for (const auto& r : results) {
    if (!r.ok) {
      std::printf("%-17s failed: %s\n", r.pattern.c_str(), r.error.c_str());
      continue;
    }
    double fpr = r.completed ? static_cast<double>(r.faults) / r.completed : 0;
    double nspr =
        r.completed ? static_cast<double>(r.fault_ns) / r.completed : 0;
    std::printf(
        "%-17s %9.0f %8s %8s %8s %10.2f %11.2f %7llu | exit %d, %llu ok, "
        "%llu failed (%llu refused), %llu retried, %llu cut\n",
        r.pattern.c_str(), r.rps, Ms(r.h1_p50).c_str(), Ms(r.h1_p99).c_str(),
        Ms(r.h2_p99).c_str(), fpr, nspr / 1000.0,
        static_cast<unsigned long long>(r.lost_events), r.server_exit,
        static_cast<unsigned long long>(r.drain_completed),
        static_cast<unsigned long long>(r.drain_failed),
        static_cast<unsigned long long>(r.drain_refused),
        static_cast<unsigned long long>(r.drain_retried),
        static_cast<unsigned long long>(r.requests_cut));
  }
  for (const auto& r : results) {
    if (!r.ok) continue;
    if (r.server_completed < 0) {
      std::printf("%s: the server printed no stats line\n", r.pattern.c_str());
    } else if (static_cast<uint64_t>(r.server_completed) != r.completed) {
      std::printf(
          "%s: MISMATCH: the load generators completed %llu requests, the "
          "server says %lld\n",
          r.pattern.c_str(), static_cast<unsigned long long>(r.completed),
          static_cast<long long>(r.server_completed));
    }
  }
  std::printf(
      "\nfaults/req and fault us/req: the server's page faults (every process "
      "and thread of the pattern, from its trace) over the requests it "
      "completed; lost ev: trace events lost while recording. After SIGTERM, "
      "'refused' are requests whose safe retry found the listener closed "
      "(never accepted); 'cut' are requests the server cut at its drain "
      "timeout. Request counts of the load generators and of the server "
      "agree unless a line above says they do not.\nTraces, load accounting and reports (text, json) are in "
      "%s/.\n",
      o.out.c_str());
}

}  // namespace

int RunDemo(const std::vector<std::string>& args) {
  Options o;
  std::string patterns;
  po::options_description desc(
      "usage: faultline demo [--out DIR] [--duration S] [--patterns LIST] "
      "[--workers N]\n\n"
      "Runs faultline-server in each thread/socket pattern under "
      "faultline-load,\nrecords its page faults, SIGTERMs it under load to "
      "exercise graceful\nshutdown, writes traces and reports to DIR and "
      "prints the comparison.\nNeeds root.\n\noptions");
  desc.add_options()("help,h", "show this help")(
      "out", po::value(&o.out)->default_value(o.out), "output directory")(
      "duration", po::value(&o.duration)->default_value(o.duration),
      "seconds of steady load per pattern")(
      "patterns", po::value(&patterns),
      "comma-separated patterns (default: all, as faultline-server "
      "--list-patterns prints them)")(
      "workers", po::value(&o.workers)->default_value(o.workers),
      "--workers for faultline-server");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faultline demo: %s\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\nexample:\n  faultline demo --out /tmp/demo "
                         "--duration 3 --patterns event-loop,reuseport\n";
    return 0;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    std::fprintf(stderr, "faultline demo: cannot find its own binary\n");
    return 2;
  }
  self[n] = '\0';
  fs::path bin_dir = fs::path(self).parent_path();
  for (const char* b : {"faultline-server", "faultline-load"}) {
    if (access((bin_dir / b).c_str(), X_OK) != 0) {
      std::fprintf(stderr, "faultline demo: %s not found next to %s\n", b,
                   self);
      return 2;
    }
  }
  // The patterns are the server's own table: ask the binary.
  const std::vector<std::string> all = ServerPatterns(bin_dir);
  if (all.empty()) {
    std::fprintf(stderr,
                 "faultline demo: %s --list-patterns printed no pattern\n",
                 (bin_dir / "faultline-server").c_str());
    return 2;
  }
  o.patterns = all;
  if (!patterns.empty()) {
    o.patterns.clear();
    std::stringstream ss(patterns);
    for (std::string p; std::getline(ss, p, ',');) {
      if (std::find(all.begin(), all.end(), p) == all.end()) {
        std::fprintf(stderr, "faultline demo: unknown pattern '%s'\n",
                     p.c_str());
        return 2;
      }
      o.patterns.push_back(p);
    }
  }
  if (o.duration <= 0 || o.duration > 3600 || o.workers < 1 ||
      o.workers > 256) {
    std::fprintf(stderr,
                 "faultline demo: --duration must be in (0, 3600] and "
                 "--workers in [1, 256]\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "faultline demo: needs root (it loads BPF programs to "
                 "record the server)\n");
    return 2;
  }
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) {
    std::fprintf(stderr, "faultline demo: cannot create %s: %s\n",
                 o.out.c_str(), ec.message().c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<PatternResult> results;
  for (const auto& p : o.patterns) {
    std::fprintf(stderr, "faultline demo: %s ...\n", p.c_str());
    results.push_back(RunPattern(o, bin_dir, p));
  }
  PrintComparison(results, o);
  for (const auto& r : results) {
    if (!r.ok) return 1;
    if (r.server_completed >= 0 &&
        static_cast<uint64_t>(r.server_completed) != r.completed) {
      return 1;
    }
  }
  return 0;
}

}  // namespace faultline::cli
