// LatencyHistogram: fault latencies in log-linear buckets, small and fixed
// in size (kBuckets counters), so that one can be kept per kind, per process
// and per thread without keeping any per-event data.
//
// Buckets: values 0..15 each have their own bucket; above that every power
// of two [2^e, 2^(e+1)) is split into 16 equal sub-buckets. A bucket's width
// is therefore at most 1/16 of its lower bound.
//
// Percentile(p) uses the nearest-rank definition (the value at sorted index
// ceil(p*n)-1) and returns the inclusive upper bound of the bucket holding
// that value, clamped to the largest value seen. Error bound: for the true
// value v, v <= Percentile(p) <= v + v/16 (exact for v < 32). max() is exact.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace faultline::analyzer {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 4;
  static constexpr int kSub = 1 << kSubBits;  // sub-buckets per power of two
  // Latencies are 32-bit (fl_fault_slim.latency_ns): e = 4..31.
  static constexpr int kBuckets = kSub + (32 - kSubBits) * kSub;

  static int BucketOf(uint32_t v) {
    if (v < kSub) return static_cast<int>(v);
    int e = 31 - std::countl_zero(v);  // >= kSubBits
    int sub = static_cast<int>((v >> (e - kSubBits)) & (kSub - 1));
    return kSub + (e - kSubBits) * kSub + sub;
  }
  // Smallest and largest value of bucket i (inclusive).
  static uint64_t BucketLow(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    int e = (i - kSub) / kSub + kSubBits;
    int sub = (i - kSub) % kSub;
    return static_cast<uint64_t>(kSub + sub) << (e - kSubBits);
  }
  static uint64_t BucketHigh(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    int e = (i - kSub) / kSub + kSubBits;
    return BucketLow(i) + (uint64_t{1} << (e - kSubBits)) - 1;
  }

  void Add(uint32_t v) {
    ++counts_[BucketOf(v)];
    ++count_;
    sum_ += v;
    max_ = std::max<uint64_t>(max_, v);
  }
  // --summary traces: `n` values known only to lie in the log2 bucket
  // [2^k, 2^(k+1)) (k = 0 also holds 0). They are booked at the bucket's
  // top, so percentiles stay upper bounds, now within a factor of 2.
  void AddLog2(int k, uint64_t n, uint64_t max_ns) {
    if (n == 0) return;
    uint64_t top = (k >= 31) ? 0xffffffffull : (uint64_t{2} << k) - 1;
    counts_[BucketOf(static_cast<uint32_t>(top))] += n;
    count_ += n;
    max_ = std::max(max_, std::min(top, max_ns));
  }
  void AddSum(uint64_t ns) { sum_ += ns; }
  void Merge(const LatencyHistogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
  }

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t max() const { return max_; }

  uint64_t Percentile(double p) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(count_));
    if (static_cast<double>(rank) < p * static_cast<double>(count_)) ++rank;
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(BucketHigh(i), max_);
    }
    return max_;
  }

  // Coarse view for reports: log2 buckets as (exclusive upper bound, count):
  // row k counts values in [2^k, 2^(k+1)) (row 0: [0, 2)), from the first
  // non-empty row to the last.
  std::vector<std::pair<uint64_t, uint64_t>> Log2Rows() const {
    std::array<uint64_t, 33> rows{};
    for (int i = 0; i < kBuckets; ++i) {
      if (counts_[i] == 0) continue;
      uint64_t low = BucketLow(i);
      int k = low < 2 ? 0 : 63 - std::countl_zero(low);
      rows[k] += counts_[i];
    }
    std::vector<std::pair<uint64_t, uint64_t>> out;
    int first = 0, last = 32;
    while (first <= 32 && rows[first] == 0) ++first;
    while (last >= 0 && rows[last] == 0) --last;
    for (int k = first; k <= last; ++k) out.emplace_back(uint64_t{2} << k, rows[k]);
    return out;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace faultline::analyzer
