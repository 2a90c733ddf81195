// LatencyHistogram: fault latencies in log-linear buckets, small and fixed
// in size (kBuckets counters, kept inline), so that one can be kept per
// kind, per process and per thread without keeping any per-event data.
//
// The one log-linear histogram (common/histogram.h) at the analyzer's
// precision: 32-bit values (fl_fault_slim.latency_ns), 4 sub-bucket bits.
// Values 0..15 each have their own bucket; above that every power of two is
// split into 16 equal sub-buckets. Percentile(p) takes p in [0, 1] (nearest
// rank, the bucket's upper bound clamped to the largest value seen): for the
// true value v, v <= Percentile(p) <= v + v/16 (exact for v < 32). max() is
// exact. AddLog2() books the log2 buckets of --summary traces.
#pragma once

#include "common/histogram.h"

namespace faultline::analyzer {

using LatencyHistogram = LogLinearHistogram<32, 4>;

}  // namespace faultline::analyzer
