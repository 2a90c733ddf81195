// The load generator's latency histogram: the one log-linear histogram
// (common/histogram.h) at 64-bit values and 7 sub-bucket bits.
//
// Values below 2^kSubBucketBits are stored exactly. A larger value v with
// 2^e <= v < 2^(e+1) falls in one of 2^kSubBucketBits equal sub-buckets of
// [2^e, 2^(e+1)), each 2^(e - kSubBucketBits) wide. A percentile is
// reported as the upper bound of its bucket (clamped to the largest value
// recorded), so for a true rank value v the reported value r satisfies
//   v <= r < v * (1 + 2^-kSubBucketBits)      (relative error < 0.79 %).
// min, max, count and sum are exact.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/histogram.h"

namespace faultline::load {

class Histogram : public LogLinearHistogram<64, 7> {
 public:
  using Base = LogLinearHistogram<64, 7>;
  static constexpr int kSubBucketBits = kSubBits;
  static constexpr uint64_t kSubBuckets = kSub;

  void Record(uint64_t value) { Add(value); }
  void Merge(const Histogram& other) { Base::Merge(other); }

  // The nearest-rank percentile: the smallest recorded value (within the
  // error bound above) such that at least p percent of the values are <= it.
  // p in [0, 100]; 0 values recorded gives 0.
  uint64_t Percentile(double p) const {
    return Base::Percentile(std::clamp(p, 0.0, 100.0) / 100.0);
  }

  // Bucket index of a value and the largest value of a bucket (exposed for
  // tests of the error bound).
  static size_t BucketIndex(uint64_t value) {
    return static_cast<size_t>(BucketOf(value));
  }
  static uint64_t BucketUpperBound(size_t index) {
    return BucketHigh(static_cast<int>(index));
  }
};

}  // namespace faultline::load
