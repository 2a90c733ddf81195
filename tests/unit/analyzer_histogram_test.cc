// LatencyHistogram percentiles against an exact sort of the same values,
// with the documented error bound (v <= reported <= v + v/16).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "analyzer/histogram.h"

namespace faultline::analyzer {
namespace {

uint64_t ExactNearestRank(std::vector<uint32_t> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * v.size()));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

void CheckAgainstSort(const std::vector<uint32_t>& values) {
  LatencyHistogram h;
  for (uint32_t v : values) h.Add(v);
  ASSERT_EQ(h.count(), values.size());
  for (double p : {0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const uint64_t exact = ExactNearestRank(values, p);
    const uint64_t got = h.Percentile(p);
    EXPECT_GE(got, exact) << "p=" << p;
    EXPECT_LE(got, exact + exact / 16) << "p=" << p;
  }
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  uint64_t sum = 0;
  for (uint32_t v : values) sum += v;
  EXPECT_EQ(h.sum(), sum);
}

TEST(LatencyHistogram, PercentilesMatchAnExactSortWithinOneSixteenth) {
  std::mt19937 rng(42);
  // Log-normal-ish fault latencies: most ~1 us, a tail into milliseconds.
  std::lognormal_distribution<double> lat(7.0, 1.0);
  std::vector<uint32_t> v;
  for (int i = 0; i < 100000; ++i) {
    v.push_back(static_cast<uint32_t>(std::min(lat(rng), 4e9)));
  }
  CheckAgainstSort(v);
}

TEST(LatencyHistogram, UniformAndEdgeValues) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  std::vector<uint32_t> v;
  for (int i = 0; i < 20000; ++i) v.push_back(any(rng));
  v.push_back(0);
  v.push_back(0xffffffffu);
  CheckAgainstSort(v);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  std::vector<uint32_t> v;
  for (uint32_t i = 0; i < 32; ++i) v.push_back(i);
  LatencyHistogram h;
  for (uint32_t x : v) h.Add(x);
  for (double p : {0.1, 0.5, 0.9, 1.0}) {
    EXPECT_EQ(h.Percentile(p), ExactNearestRank(v, p)) << p;
  }
}

TEST(LatencyHistogram, BucketsTileTheRangeWithBoundedWidth) {
  for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
    const uint64_t lo = LatencyHistogram::BucketLow(i);
    const uint64_t hi = LatencyHistogram::BucketHigh(i);
    EXPECT_EQ(LatencyHistogram::BucketOf(static_cast<uint32_t>(lo)), i);
    EXPECT_EQ(LatencyHistogram::BucketOf(static_cast<uint32_t>(hi)), i);
    EXPECT_LE(hi - lo, lo / 16) << i;
    if (i + 1 < LatencyHistogram::kBuckets) {
      EXPECT_EQ(LatencyHistogram::BucketLow(i + 1), hi + 1);
    }
  }
  EXPECT_EQ(LatencyHistogram::BucketHigh(LatencyHistogram::kBuckets - 1),
            0xffffffffull);
}

TEST(LatencyHistogram, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_TRUE(h.Log2Rows().empty());
}

TEST(LatencyHistogram, Log2RowsCountEveryValueOnce) {
  LatencyHistogram h;
  const uint32_t values[] = {0, 1, 2, 3, 900, 1023, 1024, 5000, 5000};
  for (uint32_t v : values) h.Add(v);
  auto rows = h.Log2Rows();
  // [0,2):2 [2,4):2 [4,8)..[256,512):0 [512,1024):2 [1024,2048):1
  // [2048,4096):0 [4096,8192):2
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows.front(), (std::pair<uint64_t, uint64_t>{2, 2}));
  EXPECT_EQ(rows[1], (std::pair<uint64_t, uint64_t>{4, 2}));
  EXPECT_EQ(rows[9], (std::pair<uint64_t, uint64_t>{1024, 2}));
  EXPECT_EQ(rows[10], (std::pair<uint64_t, uint64_t>{2048, 1}));
  EXPECT_EQ(rows.back(), (std::pair<uint64_t, uint64_t>{8192, 2}));
  uint64_t total = 0;
  for (auto [upper, n] : rows) total += n;
  EXPECT_EQ(total, std::size(values));
}

TEST(LatencyHistogram, SummaryLog2BucketsGiveUpperBounds) {
  LatencyHistogram h;
  h.AddLog2(10, 90, 5000);  // 90 values in [1024, 2048)
  h.AddLog2(12, 10, 5000);  // 10 values in [4096, 8192), max 5000
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.Percentile(0.5), 2047u);
  EXPECT_EQ(h.Percentile(0.99), 5000u);  // clamped to the known max
  EXPECT_EQ(h.max(), 5000u);
}

}  // namespace
}  // namespace faultline::analyzer
