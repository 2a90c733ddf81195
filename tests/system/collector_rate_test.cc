// The collector-rate benchmark's producer under `faultline record` at a
// modest rate (bench/collector-rate/): every synthetic fault batch it sends
// into the recorder's own ring buffer must be recorded (zero loss, counted
// in the closing line), and written: the report reads back as many events as
// the closing line recorded, and at least every produced fault.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

namespace ft = faultline::testing;
using nlohmann::json;

// The first decimal number after `prefix` in `text`, or -1.
int64_t NumberAfter(const std::string& text, const std::string& prefix) {
  std::smatch m;
  std::regex re(prefix + "([0-9]+)");
  if (!std::regex_search(text, m, re)) return -1;
  return std::stoll(m[1].str());
}

TEST(CollectorRateTest, ProducerOutsideTheRecorderFailsWithOneLine) {
  // Our parent (the test) holds no faultline maps.
  ft::RunResult r = ft::Run({ft::BuildPath("collector-rate-producer"),
                             "--rate", "1000", "--seconds", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("faultline record"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CollectorRateTest, EveryProducedEventIsRecordedAndWritten) {
  if (auto why = ft::NoBpfReason(); !why.empty()) GTEST_SKIP() << why;
  ft::TempDir dir("collector-rate");
  const std::string trace = dir.File("t.flt");
  // 500K events/s for 2 s: well below what the recorder drains on these
  // machines (docs/benchmarks-collector.md), so any loss is a bug.
  ft::RunResult rec =
      ft::Run({ft::BuildPath("faultline"), "record", "-o", trace, "--",
               ft::BuildPath("collector-rate-producer"), "--rate", "500000",
               "--seconds", "2"},
              std::chrono::seconds(30));
  ASSERT_EQ(rec.exit_code, 0) << rec.err << rec.out;

  const int64_t produced = NumberAfter(rec.out, "produced ");
  const int64_t refused = NumberAfter(rec.out, "ring refused ");
  const int64_t recorded = NumberAfter(rec.err, "s, ");
  const int64_t lost = NumberAfter(rec.err, "events recorded, ");
  ASSERT_EQ(produced, 1000000) << rec.out;  // 500000/s x 2 s, whole batches
  EXPECT_EQ(refused, 0) << rec.out;
  EXPECT_EQ(lost, 0) << rec.err;
  // recorded = produced + the producer's own real faults and task/TLB
  // records (a few thousand at most).
  EXPECT_GE(recorded, produced) << rec.err;
  EXPECT_LT(recorded, produced + 20000) << rec.err;

  ft::RunResult rep = ft::Run(
      {ft::BuildPath("faultline"), "report", trace, "--format", "json"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  json j = json::parse(rep.out);
  EXPECT_EQ(j["trace"]["events"].get<int64_t>(), recorded);
  EXPECT_EQ(j["trace"]["recorded_events"].get<int64_t>(), recorded);
  EXPECT_EQ(j["trace"]["lost_events"].get<int64_t>(), 0);
  EXPECT_TRUE(j["trace"]["complete"].get<bool>());
  const int64_t faults = j["faults"]["total"].get<int64_t>();
  EXPECT_GE(faults, produced);
  EXPECT_LT(faults, produced + 5000);
}

}  // namespace
