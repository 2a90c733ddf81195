// faultline-load: an HTTP/1.1 and h2c load generator with exact accounting.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include "server/load/engine.h"
#include "server/load/options.h"
#include "server/load/stats.h"

namespace {

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted.store(true); }

}  // namespace

int main(int argc, char** argv) {
  using faultline::load::HelpText;
  using faultline::load::ParseOptions;
  using faultline::load::PathWeight;
  using faultline::load::ReportInfo;
  using faultline::load::RunLoad;
  using faultline::load::RunResult;
  using faultline::load::Stats;
  auto options = ParseOptions(argc, argv);
  if (!options) {
    std::fprintf(stderr, "faultline-load: %s\n", options.error().message.c_str());
    return options.error().exit_code;
  }
  if (options->help) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  // One descriptor per connection: take the hard limit, so that -c in the
  // thousands does not fail on the soft default of 1024.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  RunResult result = RunLoad(*options, &g_interrupted);

  ReportInfo info;
  info.url = options->url;
  info.protocol = options->h2 ? "h2c" : "http/1.1";
  info.connections = options->connections;
  info.threads = options->threads;
  info.streams = options->streams;
  info.close_per_request = options->close;
  info.rate = options->rate;
  info.elapsed_s = result.elapsed_s;
  info.stop_reason = result.stop_reason;
  for (const PathWeight& p : options->paths) {
    info.paths.push_back(p.path);
    info.weights.push_back(p.weight);
  }
  const Stats& s = result.stats;
  std::string report = options->json ? FormatJson(s, info) : FormatText(s, info);
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  if (s.sent == 0 && !result.stop_reason.empty()) {
    std::fprintf(stderr, "faultline-load: no request sent: %s\n", result.stop_reason.c_str());
    return 1;
  }
  if (s.in_flight != 0 || s.sent != s.completed() + s.failed()) {
    std::fprintf(stderr, "faultline-load: accounting broken: sent %llu != completed %llu + failed %llu + in flight %llu\n",
                 static_cast<unsigned long long>(s.sent), static_cast<unsigned long long>(s.completed()),
                 static_cast<unsigned long long>(s.failed()), static_cast<unsigned long long>(s.in_flight));
    return 1;
  }
  return 0;
}
