#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "server/load/histogram.h"

namespace faultline::load {
namespace {

TEST(LoadHistogram, Empty) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}

// Small values are exact, and the nearest-rank definition is followed.
TEST(LoadHistogram, NearestRankOnExactValues) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(90), 90u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(99.5), 100u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.Percentile(0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LoadHistogram, SingleValueIsReportedExactly) {
  Histogram h;
  h.Record(123456789);
  EXPECT_EQ(h.Percentile(50), 123456789u);  // clamped to min/max
  EXPECT_EQ(h.Percentile(99), 123456789u);
}

// The documented bound: v <= reported < v * (1 + 2^-7), for every bucket
// boundary region and across the whole 64-bit range.
TEST(LoadHistogram, BucketErrorBound) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> values;
  for (int shift = 0; shift < 64; ++shift) {
    uint64_t base = uint64_t{1} << shift;
    values.push_back(base);
    values.push_back(base - 1);
    values.push_back(base + 1);
    values.push_back(base | (base >> 1));
  }
  for (int i = 0; i < 100000; ++i) values.push_back(rng() >> (rng() % 64));
  values.push_back(UINT64_MAX);
  for (uint64_t v : values) {
    size_t idx = Histogram::BucketIndex(v);
    uint64_t upper = Histogram::BucketUpperBound(idx);
    ASSERT_GE(upper, v) << v;
    long double rel = (static_cast<long double>(upper) - v) / std::max<long double>(1, v);
    ASSERT_LT(rel, 1.0L / Histogram::kSubBuckets) << v;
    if (idx > 0) {
      ASSERT_LT(Histogram::BucketUpperBound(idx - 1), v) << v;  // buckets are ordered
    }
  }
}

TEST(LoadHistogram, PercentilesWithinBoundOfSorted) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(11.0, 1.5);  // ~60us median, in ns
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 50000; ++i) {
    uint64_t v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
    uint64_t truth = values[std::max<size_t>(rank, 1) - 1];
    uint64_t got = h.Percentile(p);
    EXPECT_GE(got, truth) << p;
    EXPECT_LT(static_cast<double>(got), truth * (1.0 + 1.0 / Histogram::kSubBuckets)) << p;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
}

TEST(LoadHistogram, MergeEqualsRecordingAll) {
  Histogram a, b, all;
  for (uint64_t v = 0; v < 5000; v += 7) {
    a.Record(v * 1000);
    all.Record(v * 1000);
  }
  for (uint64_t v = 3; v < 9000; v += 11) {
    b.Record(v * 997);
    all.Record(v * 997);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.sum(), all.sum());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {10.0, 50.0, 90.0, 99.0}) EXPECT_EQ(a.Percentile(p), all.Percentile(p)) << p;
}

}  // namespace
}  // namespace faultline::load
