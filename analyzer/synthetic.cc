#include "analyzer/synthetic.h"

#include <time.h>

#include <cstring>
#include <vector>

#include "bpf/faultline.h"
#include "trace/writer.h"

namespace faultline::analyzer {

namespace {
// xorshift32: cheap, deterministic jitter.
uint32_t Next(uint32_t& s) {
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}
}  // namespace

Result<uint64_t> WriteSequentialTouchTrace(const std::string& path,
                                           const SyntheticOptions& o) {
  uint64_t start_ns = o.start_ns;
  if (start_ns == 0) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    // Each fault advances time by at most 1800 ns (see below).
    start_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ull +
               static_cast<uint64_t>(now.tv_nsec) - o.faults * 1800 - 1000000;
  }
  trace::TraceMeta meta;
  meta.kernel_release = "6.1.0-synthetic";
  meta.hostname = "synthetic";
  meta.command_line = "synthetic sequential touch";
  meta.start_monotonic_ns = start_ns;
  meta.start_realtime_ns = 1700000000000000000ull;
  meta.ncpus = o.ncpus;
  auto w = trace::TraceWriter::Create(path, meta);
  if (!w) return std::unexpected(w.error());
  trace::TraceWriter& tw = **w;
  const uint32_t threads = o.threads ? o.threads : 1;
  const uint64_t per_thread = (o.faults + threads - 1) / threads;
  const uint64_t region = (per_thread + 1) * 4096;
  const uint64_t base = 0x7f0000000000ull;
  const uint64_t text = 0x555555554000ull;

  if (auto r = tw.AddProcess(o.pid, 1, "toucher", "/usr/bin/toucher"); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = tw.AddMapping(o.pid, text, text + 0x10000, 0, 5, "/usr/bin/toucher",
                             start_ns);
      !r) {
    return std::unexpected(r.error());
  }
  for (uint32_t t = 0; t < threads; ++t) {
    if (auto r = tw.AddThread(o.pid, o.pid + t, t ? "worker" : "toucher"); !r) {
      return std::unexpected(r.error());
    }
    if (auto r = tw.AddMapping(o.pid, base + t * region, base + (t + 1) * region,
                               0, 3, "", start_ns);
        !r) {
      return std::unexpected(r.error());
    }
  }

  uint32_t rng = o.seed ? o.seed : 1;
  uint64_t ts = start_ns;
  std::vector<uint64_t> next_page(threads, 0);
  fl_fault_batch batch;
  uint64_t written = 0;
  uint32_t t = 0;
  while (written < o.faults) {
    std::memset(&batch, 0, sizeof batch);
    batch.hdr.type = FL_EV_FAULT_BATCH;
    batch.hdr.cpu = static_cast<uint16_t>(t % (o.ncpus ? o.ncpus : 1));
    uint32_t n = 0;
    while (n < FL_BATCH && written < o.faults && next_page[t] < per_thread) {
      fl_fault_slim& f = batch.faults[n++];
      ts += 1200 + Next(rng) % 600;
      f.ts_ns = ts;
      f.address = base + t * region + next_page[t]++ * 4096;
      f.ip = text + 0x1234;
      f.pid = o.pid;
      f.tid = o.pid + t;
      f.latency_ns = 600 + Next(rng) % 1000;
      f.stack_id = -1;
      f.error_code = FL_PF_USER | FL_PF_WRITE;
      f.outcome = FL_FAULT_MINOR;
      ++written;
    }
    batch.count = n;
    batch.hdr.ts_ns = batch.faults[0].ts_ns;
    batch.hdr.size = static_cast<uint32_t>(offsetof(fl_fault_batch, faults) +
                                           n * sizeof(fl_fault_slim));
    if (auto r = tw.AddRecord(&batch, batch.hdr.size); !r) {
      return std::unexpected(r.error());
    }
    t = (t + 1) % threads;
  }
  std::vector<trace::CpuCounts> counts(o.ncpus ? o.ncpus : 1);
  counts[0].recorded = written;
  if (auto r = tw.Finish(counts); !r) return std::unexpected(r.error());
  return written;
}

}  // namespace faultline::analyzer
