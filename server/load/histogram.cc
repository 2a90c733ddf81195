#include "server/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace faultline::load {
namespace {

// Octaves above the exact range: e = kSubBucketBits .. 63.
constexpr size_t kNumBuckets =
    Histogram::kSubBuckets * (64 - Histogram::kSubBucketBits + 1);

}  // namespace

Histogram::Histogram() : counts_(kNumBuckets, 0) {}

size_t Histogram::BucketIndex(uint64_t value) {
  if (value < kSubBuckets) return static_cast<size_t>(value);
  int e = 63 - std::countl_zero(value);  // 2^e <= value
  int shift = e - kSubBucketBits;
  uint64_t sub = (value >> shift) - kSubBuckets;  // 0 .. kSubBuckets-1
  return static_cast<size_t>((static_cast<uint64_t>(shift) + 1) * kSubBuckets + sub);
}

uint64_t Histogram::BucketUpperBound(size_t index) {
  if (index < kSubBuckets) return index;
  uint64_t shift = index / kSubBuckets - 1;
  uint64_t sub = index % kSubBuckets + kSubBuckets;
  // ((sub + 1) << shift) - 1, without overflowing at the top bucket.
  return (sub << shift) + ((uint64_t{1} << shift) - 1);
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketIndex(value)];
  if (count_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  ++count_;
  sum_ += value;
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank: ceil(p/100 * N), at least 1.
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketUpperBound(i), min_, max_);
  }
  return max_;
}

}  // namespace faultline::load
