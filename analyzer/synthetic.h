// Synthetic traces written with the real TraceWriter, for tests, the fuzz
// seed corpus and the analyzer benchmark. Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace faultline::analyzer {

struct SyntheticOptions {
  uint64_t faults = 100000;  // page faults in total
  uint32_t threads = 1;      // each touches its own region, in turn per batch
  uint32_t pid = 1000;
  // CLOCK_MONOTONIC of the trace start; 0: now minus the stream's span, so
  // that the writer's footer time (now) comes after the last event.
  uint64_t start_ns = 0;
  uint32_t seed = 1;
  uint32_t ncpus = 2;
};

// A process that mmaps one anonymous region per thread and touches it page
// by page (a memset of fresh memory): faults come in FL_EV_FAULT_BATCH
// records of 32, one every ~1.5 us, latencies ~0.6-1.6 us, one code site,
// plus the /proc maps snapshot, process/thread metadata and a footer.
// Returns the number of event records written.
Result<uint64_t> WriteSequentialTouchTrace(const std::string& path,
                                           const SyntheticOptions& options);

}  // namespace faultline::analyzer
