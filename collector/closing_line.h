// The one line `faultline record` prints on stderr at the end, built from
// the run's figures (pure, unit-tested in tests/unit/collector_closing_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/faultline.h"

namespace faultline::collector {

struct RunFigures {
  double seconds = 0;              // recording time
  // Per-CPU kernel counters (partial batches included), or unknown.
  bool stats_known = true;
  std::vector<fl_cpu_stats> per_cpu;
  std::string stats_error;         // why they are unknown
  uint64_t events_written = 0;     // the writer's count (used when unknown)
  bool summary = false;            // --summary
  uint64_t summary_faults = 0;     // faults aggregated in the kernel
  uint64_t summary_timed = 0;      // ... of which timed
  uint32_t latency_sample = 1;
  bool stacks = false;             // --stacks
  bool tcp = false;                // the TCP family ran
  bool tcp_known = false;          // ... and its counters could be read
  uint64_t tcp_opened = 0;         // connections that entered its map
  uint64_t tcp_closed = 0;         // ... and that were destroyed
  std::string output;              // trace path
  uint64_t file_bytes = 0;
  double recorder_cpu_s = 0;
};

// "faultline record: 2.01 s, 118 events recorded, 0 lost (cpu0 0, cpu1 0),
// 0 faults incomplete, 12 connections opened, 12 closed; wrote t.flt
// (7.3 KiB); recorder CPU 0.05 s." (connections: when TCP was traced). When
// the counters are unknown: "..., lost unknown (<why>), faults incomplete
// unknown; ...", never "0 lost".
std::string ClosingLine(const RunFigures& f);

// "512 bytes", "7.3 KiB", "1.2 MiB".
std::string FormatSize(uint64_t bytes);

}  // namespace faultline::collector
