// The one log-linear histogram (common/histogram.h) at both precisions it
// is used with: 32-bit/4 sub-bucket bits (analyzer) and 64-bit/7 (load).
#include "common/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace faultline {
namespace {

template <typename H>
void ExpectBucketsTileTheRange() {
  for (int i = 0; i < H::kBuckets; ++i) {
    const uint64_t lo = H::BucketLow(i);
    const uint64_t hi = H::BucketHigh(i);
    ASSERT_LE(lo, hi) << i;
    ASSERT_EQ(H::BucketOf(lo), i);
    ASSERT_EQ(H::BucketOf(hi), i);
    // Width at most 1/kSub of the lower bound (each value exact below 2*kSub).
    ASSERT_LE(hi - lo, lo / H::kSub) << i;
    if (i + 1 < H::kBuckets) {
      ASSERT_EQ(H::BucketLow(i + 1), hi + 1) << i;
    }
  }
  EXPECT_EQ(H::BucketLow(0), 0u);
  EXPECT_EQ(H::BucketHigh(H::kBuckets - 1), H::kMaxValue);
}

TEST(CommonHistogram, BucketsTileTheWholeRangeAtBothPrecisions) {
  ExpectBucketsTileTheRange<LogLinearHistogram<32, 4>>();
  ExpectBucketsTileTheRange<LogLinearHistogram<64, 7>>();
  EXPECT_EQ((LogLinearHistogram<32, 4>::kBuckets), 16 + 28 * 16);
  EXPECT_EQ((LogLinearHistogram<64, 7>::kBuckets), 128 * 58);
}

uint64_t ExactNearestRank(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * v.size()));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

template <typename H>
void ExpectPercentilesWithinBound(const std::vector<uint64_t>& values) {
  H h;
  for (uint64_t v : values) h.Add(v);
  for (double q : {0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const uint64_t exact = ExactNearestRank(values, q);
    const uint64_t got = h.Percentile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(got, exact + exact / H::kSub) << q;
  }
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.count(), values.size());
}

TEST(CommonHistogram, PercentilesAgainstAnExactSort) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(8.0, 2.5);
  std::vector<uint64_t> values;
  for (int i = 0; i < 20000; ++i) {
    values.push_back(std::min<uint64_t>(static_cast<uint64_t>(d(rng)),
                                        0xffffffffu));
  }
  ExpectPercentilesWithinBound<LogLinearHistogram<32, 4>>(values);
  ExpectPercentilesWithinBound<LogLinearHistogram<64, 7>>(values);
  values.push_back(uint64_t{1} << 62);  // only the 64-bit one takes this
  ExpectPercentilesWithinBound<LogLinearHistogram<64, 7>>(values);
}

TEST(CommonHistogram, MergeEqualsAddingAllAndKeepsSeparateSums) {
  LogLinearHistogram<32, 4> a, b, all;
  for (uint64_t v = 0; v < 5000; v += 7) {
    (v % 2 ? a : b).Add(v);
    all.Add(v);
  }
  LogLinearHistogram<32, 4> sum_only;
  sum_only.AddSum(123);  // a sum with no values (--summary) survives Merge
  a.Merge(b);
  a.Merge(sum_only);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.sum(), all.sum() + 123);
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {0.1, 0.5, 0.99}) EXPECT_EQ(a.Percentile(q), all.Percentile(q));
}

TEST(CommonHistogram, EmptyAndLog2Summary) {
  LogLinearHistogram<64, 7> h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_TRUE(h.Log2Rows().empty());
  h.AddLog2(20, 4, 1500000);  // 4 values in [2^20, 2^21), max 1.5 M
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.min(), uint64_t{1} << 20);
  EXPECT_EQ(h.max(), 1500000u);
  EXPECT_EQ(h.Percentile(0.5), 1500000u);  // bucket top, clamped to the max
  auto rows = h.Log2Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::pair<uint64_t, uint64_t>{uint64_t{2} << 20, 4}));
  h.AddLog2(63, 1, ~uint64_t{0});  // the top row of a 64-bit histogram
  EXPECT_EQ(h.max(), ~uint64_t{0});
  EXPECT_EQ(h.Log2Rows().back().first, ~uint64_t{0});
}

}  // namespace
}  // namespace faultline
