// faultline_analyzer_bench [FAULTS] [THREADS] [MAX_PENDING [WINDOW_NS]]: writes a synthetic
// sequential-touch trace (analyzer/synthetic.h) to $TMPDIR, then reads and
// analyses it (the full report path) on one core (no symbolization) and prints events/s (the best
// of 3 runs), trace bytes per event and the thread's CPU time.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include "analyzer/analysis.h"
#include "analyzer/render_json.h"
#include "analyzer/synthetic.h"
#include "trace/reader.h"

namespace {
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace faultline;
  analyzer::SyntheticOptions o;
  o.faults = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000000;
  o.threads = argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 4;
  analyzer::SessionOptions so;  // [MAX_PENDING [WINDOW_NS]]: the reorder window
  if (argc > 3) so.max_pending = std::strtoull(argv[3], nullptr, 10);
  if (argc > 4) so.window_ns = std::strtoull(argv[4], nullptr, 10);
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp ? tmp : "/tmp") + "/faultline-bench-" +
                     std::to_string(getpid()) + ".flt";
  auto written = analyzer::WriteSequentialTouchTrace(path, o);
  if (!written) {
    std::fprintf(stderr, "bench: %s\n", written.error().message.c_str());
    return 1;
  }
  struct stat st{};
  stat(path.c_str(), &st);
  double best = 0;
  uint64_t faults = 0;
  for (int run = 0; run < 3; ++run) {
    double t0 = CpuSeconds();
    auto reader = trace::TraceReader::Open(path);
    if (!reader) {
      std::fprintf(stderr, "bench: %s\n", reader.error().message.c_str());
      return 1;
    }
    // The whole report path: session (reorder window), names, address
    // spaces, the section analyses, the models and their JSON.
    analyzer::ReportAnalyses a((*reader)->header(), {}, so);
    if (auto ok = a.Run(**reader); !ok) return 1;
    auto json = analyzer::ToJson(a.Model((*reader)->stats(), nullptr));
    double secs = CpuSeconds() - t0;
    faults = a.faults().faults();
    best = std::max(best, (*reader)->stats().events / secs);
  }
  unlink(path.c_str());
  std::printf("events: %llu (faults analysed %llu), threads: %u\n",
              (unsigned long long)*written, (unsigned long long)faults, o.threads);
  std::printf("trace bytes: %lld, bytes/event: %.3f\n", (long long)st.st_size,
              double(st.st_size) / double(*written));
  std::printf("analyzer: %.2f M events/s per core (CPU time, best of 3)\n", best / 1e6);
  return 0;
}
