// LogLinearHistogram: latencies in log-linear buckets (in the manner of
// HdrHistogram), the one implementation behind the analyzer's fault
// latencies (analyzer::LatencyHistogram, 32-bit values, 4 sub-bucket bits)
// and the load generator's request latencies (load::Histogram, 64-bit
// values, 7 sub-bucket bits). It keeps no per-value data: kBuckets counters.
//
// Buckets: values 0 .. kSub-1 (kSub = 2^kSubBits) each have their own
// bucket; above that every power of two [2^e, 2^(e+1)) is split into kSub
// equal sub-buckets, each 2^(e - kSubBits) wide. A bucket's width is at most
// 1/kSub of its lower bound. Bucket i > kSub-1 of octave e holds
//   [(kSub + sub) << (e - kSubBits), (kSub + sub + 1) << (e - kSubBits))
// with i = kSub + (e - kSubBits) * kSub + sub.
//
// Percentile(q) uses the nearest-rank definition (the value at sorted index
// ceil(q*n)-1, at least the first) and returns the inclusive upper bound of
// the bucket holding that value, clamped to the largest value seen. For the
// true value v: v <= Percentile(q) < v * (1 + 1/kSub) (exact for v < 2*kSub).
// count, sum, min and max are exact for values given to Add().
//
// kValueBits: the range of the values, 32 or 64 (values must be below
// 2^kValueBits). Small tables are kept inline (std::array), large ones on
// the heap, so copies of a small one allocate nothing.
#ifndef FAULTLINE_COMMON_HISTOGRAM_H_
#define FAULTLINE_COMMON_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

namespace faultline {

template <int kValueBitsT, int kSubBitsT>
class LogLinearHistogram {
 public:
  static constexpr int kValueBits = kValueBitsT;
  static constexpr int kSubBits = kSubBitsT;
  static constexpr int kSub = 1 << kSubBits;  // sub-buckets per power of two
  // The exact range, then one row of kSub per octave e = kSubBits .. top.
  static constexpr int kBuckets = kSub + (kValueBits - kSubBits) * kSub;
  static constexpr uint64_t kMaxValue =
      kValueBits >= 64 ? ~uint64_t{0} : (uint64_t{1} << kValueBits) - 1;
  static_assert(kValueBits == 32 || kValueBits == 64);
  static_assert(kSubBits >= 1 && kSubBits < kValueBits);

  LogLinearHistogram() {
    if constexpr (kHeap) counts_.assign(kBuckets, 0);
  }

  static int BucketOf(uint64_t v) {
    if (v < static_cast<uint64_t>(kSub)) return static_cast<int>(v);
    int e = 63 - std::countl_zero(v);  // >= kSubBits
    int sub = static_cast<int>((v >> (e - kSubBits)) & (kSub - 1));
    return kSub + (e - kSubBits) * kSub + sub;
  }
  // Smallest and largest value of bucket i (inclusive).
  static uint64_t BucketLow(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    int shift = (i - kSub) / kSub;  // e - kSubBits
    int sub = (i - kSub) % kSub;
    return static_cast<uint64_t>(kSub + sub) << shift;
  }
  static uint64_t BucketHigh(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    int shift = (i - kSub) / kSub;
    // Low + width - 1, without overflowing at the top bucket.
    return BucketLow(i) + ((uint64_t{1} << shift) - 1);
  }

  void Add(uint64_t v) {
    ++counts_[BucketOf(v)];
    ++count_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  // Summary data: `n` values known only to lie in the log2 bucket
  // [2^k, 2^(k+1)) (k = 0 also holds 0), the largest of all of them being
  // max_value. They are booked at the bucket's top, so percentiles stay upper
  // bounds, now within a factor of 2; min becomes the bucket's bottom.
  void AddLog2(int k, uint64_t n, uint64_t max_value) {
    if (n == 0) return;
    uint64_t top = (k >= kValueBits - 1) ? kMaxValue : (uint64_t{2} << k) - 1;
    counts_[BucketOf(top)] += n;
    count_ += n;
    min_ = std::min(min_, k == 0 ? uint64_t{0} : uint64_t{1} << k);
    max_ = std::max(max_, std::min(top, max_value));
  }
  // Adds to the sum only (a sum known apart from the values, as with
  // AddLog2).
  void AddSum(uint64_t s) { sum_ += s; }
  void Merge(const LogLinearHistogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_)
                  : 0;
  }

  // q in [0, 1]; 0 when empty.
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    double x = q * static_cast<double>(count_);
    uint64_t rank = x > 0 ? static_cast<uint64_t>(x) : 0;
    if (static_cast<double>(rank) < x) ++rank;  // ceil
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
    constexpr int kRows = kValueBits + 1;
    std::array<uint64_t, kRows> rows{};
    for (int i = 0; i < kBuckets; ++i) {
      if (counts_[i] == 0) continue;
      uint64_t low = BucketLow(i);
      int k = low < 2 ? 0 : 63 - std::countl_zero(low);
      rows[k] += counts_[i];
    }
    std::vector<std::pair<uint64_t, uint64_t>> out;
    int first = 0, last = kRows - 1;
    while (first < kRows && rows[first] == 0) ++first;
    while (last >= 0 && rows[last] == 0) --last;
    for (int k = first; k <= last; ++k) {
      out.emplace_back(k >= 63 ? kMaxValue : uint64_t{2} << k, rows[k]);
    }
    return out;
  }

 private:
  static constexpr bool kHeap = kBuckets > 1024;
  using Counts = std::conditional_t<kHeap, std::vector<uint64_t>,
                                    std::array<uint64_t, kBuckets>>;
  Counts counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace faultline

#endif  // FAULTLINE_COMMON_HISTOGRAM_H_
