// A log-linear latency histogram in the manner of HdrHistogram.
//
// Values below 2^kSubBucketBits are stored exactly. A larger value v with
// 2^e <= v < 2^(e+1) falls in one of 2^kSubBucketBits equal sub-buckets of
// [2^e, 2^(e+1)), each 2^(e - kSubBucketBits) wide. A percentile is
// reported as the upper bound of its bucket (clamped to the largest value
// recorded), so for a true rank value v the reported value r satisfies
//   v <= r < v * (1 + 2^-kSubBucketBits)      (relative error < 0.79 %).
// min, max, count and sum are exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faultline::load {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;

  Histogram();

  void Record(uint64_t value);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  uint64_t sum() const { return sum_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }

  // The nearest-rank percentile: the smallest recorded value (within the
  // error bound above) such that at least p percent of the values are <= it.
  // p in [0, 100]; 0 values recorded gives 0.
  uint64_t Percentile(double p) const;

  // Bucket index of a value and the largest value of a bucket (exposed for
  // tests of the error bound).
  static size_t BucketIndex(uint64_t value);
  static uint64_t BucketUpperBound(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace faultline::load
