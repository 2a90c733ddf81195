// `faultline report` as a user runs it: RunReport() with real argument
// lists, the JSON names of SPEC section 6, and bad input giving one line and
// exit code 2 (or a warning and exit 0 for a truncated trace).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analyzer/report.h"
#include "analyzer/synthetic.h"
#include "trace/writer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/trace_builder.h"

namespace faultline::analyzer {
namespace {

using ::faultline::testing::TempDir;

using ::faultline::testing::Slurp;

// Runs RunReport with stderr captured.
struct RunResult {
  int code;
  std::string err;
};
RunResult Report(const std::vector<std::string>& args) {
  ::testing::internal::CaptureStderr();
  int code = RunReport(args);
  return {code, ::testing::internal::GetCapturedStderr()};
}

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SyntheticOptions o;
    o.faults = 3000;
    o.threads = 2;
    ASSERT_TRUE(WriteSequentialTouchTrace(trace_, o).has_value());
  }
  TempDir dir_;
  std::string trace_ = dir_.File("t.flt");
};

TEST_F(ReportTest, JsonHasTheSpecNames) {
  const std::string out = dir_.File("r.json");
  RunResult r = Report({trace_, "--format", "json", "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto j = nlohmann::json::parse(Slurp(out));
  ASSERT_TRUE(j.contains("version"));
  for (const char* k : {"duration_ns", "events", "lost_events", "kernel"}) {
    EXPECT_TRUE(j["trace"].contains(k)) << k;
  }
  const auto& f = j["faults"];
  for (const char* k : {"total", "minor", "major", "incomplete", "user_mode",
                        "kernel_mode", "by_kind", "latency_ns", "processes",
                        "mappings", "sites", "tlb_shootdowns"}) {
    EXPECT_TRUE(f.contains(k)) << k;
  }
  for (const char* k : {"anon_first_touch", "file", "cow", "stack", "huge_page",
                        "swap_in", "permission", "other"}) {
    EXPECT_TRUE(f["by_kind"].contains(k)) << k;
  }
  for (const char* k : {"p50", "p90", "p99", "max", "histogram"}) {
    EXPECT_TRUE(f["latency_ns"].contains(k)) << k;
  }
  ASSERT_FALSE(f["latency_ns"]["histogram"].empty());
  EXPECT_EQ(f["latency_ns"]["histogram"][0].size(), 2u);
  ASSERT_EQ(f["processes"].size(), 1u);
  const auto& p = f["processes"][0];
  for (const char* k : {"pid", "comm", "minor", "major", "by_kind", "latency_ns", "threads"}) {
    EXPECT_TRUE(p.contains(k)) << k;
  }
  ASSERT_EQ(p["threads"].size(), 2u);
  for (const char* k : {"tid", "comm", "minor", "major", "fault_ns"}) {
    EXPECT_TRUE(p["threads"][0].contains(k)) << k;
  }
  for (const char* k : {"pid", "name", "faults", "fault_ns"}) {
    EXPECT_TRUE(f["mappings"][0].contains(k)) << k;
  }
  for (const char* k : {"pid", "symbol", "faults", "fault_ns"}) {
    EXPECT_TRUE(f["sites"][0].contains(k)) << k;
  }
  EXPECT_EQ(f["total"], 3000);
  EXPECT_EQ(j["trace"]["events"], 3000);
  EXPECT_EQ(j["trace"]["lost_events"], 0);
}

TEST_F(ReportTest, TextIsTheDefaultAndStatesLostEvents) {
  const std::string out = dir_.File("r.txt");
  RunResult r = Report({trace_, "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string text = Slurp(out);
  EXPECT_NE(text.find("events: 3000 read, 0 lost"), std::string::npos) << text;
  EXPECT_NE(text.find("page faults: 3000"), std::string::npos) << text;
  EXPECT_NE(text.find("anon_first_touch"), std::string::npos);
}

TEST_F(ReportTest, HelpExitsZero) {
  ::testing::internal::CaptureStdout();
  int code = RunReport({"--help"});
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("--format"), std::string::npos);
  EXPECT_NE(out.find("examples"), std::string::npos);
}

TEST_F(ReportTest, BadInputIsOneLineAndExitCode2) {
  const std::string junk = dir_.File("junk.txt");
  std::ofstream(junk) << "not a trace\n";
  const std::string empty = dir_.File("empty.flt");
  std::ofstream(empty).flush();
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"/nonexistent/trace.flt"},
      {junk},
      {empty},
      {dir_.File("")},  // a directory
      {trace_, "--format", "yaml"},
      {trace_, "--bogus"},
      {trace_, trace_},
      {trace_, "-o", "/nonexistent/dir/out.txt"},
      {trace_, "--format"},
  };
  for (const auto& args : cases) {
    RunResult r = Report(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined;
    EXPECT_EQ(Lines(r.err), 1) << joined << ": " << r.err;
    EXPECT_EQ(r.err.rfind("faultline report: ", 0), 0u) << r.err;
  }
}

TEST_F(ReportTest, TruncatedTraceReportsWhatWasReadWithAWarning) {
  std::string bytes = Slurp(trace_);
  const std::string cut = dir_.File("cut.flt");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 10);
  const std::string out = dir_.File("cut.json");
  RunResult r = Report({cut, "--format", "json", "-o", out});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("warning"), std::string::npos);
  EXPECT_NE(r.err.find("cut off"), std::string::npos);
  auto j = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(j["trace"]["truncated"], true);
  EXPECT_EQ(j["trace"]["lost_events_known"], false);
  EXPECT_TRUE(j["trace"]["lost_events"].is_null()) << "unknown, never 0";
  EXPECT_EQ(j["faults"]["total"], 3000);  // only the footer was cut
}

TEST_F(ReportTest, CorruptedBlockIsSkippedWithAWarning) {
  std::string bytes = Slurp(trace_);
  bytes[bytes.size() / 2] ^= 0x55;  // inside the one events block
  const std::string bad = dir_.File("bad.flt");
  std::ofstream(bad, std::ios::binary) << bytes;
  const std::string out = dir_.File("bad.json");
  RunResult r = Report({bad, "--format", "json", "-o", out});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("corrupted"), std::string::npos) << r.err;
  auto j = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(j["trace"]["corrupt_blocks"], 1);
  EXPECT_EQ(j["faults"]["total"], 0);
}

TEST_F(ReportTest, NamesThatAreNotUtf8StillGiveValidJson) {
  // comm is whatever the program set with prctl(PR_SET_NAME): any bytes.
  const std::string path = dir_.File("utf.flt");
  auto w = trace::TraceWriter::Create(path, {});
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->AddProcess(9, 1, "bad\xff\xfe", "/bin/\xc3"));
  fl_fault_batch b{};
  b.count = 1;
  b.faults[0].ts_ns = 10;
  b.faults[0].pid = b.faults[0].tid = 9;
  b.faults[0].outcome = FL_FAULT_MINOR;
  b.hdr = {10, FL_EV_FAULT_BATCH, 0,
           static_cast<uint32_t>(offsetof(fl_fault_batch, faults) + sizeof(fl_fault_slim))};
  ASSERT_TRUE((*w)->AddRecord(&b, b.hdr.size));
  ASSERT_TRUE((*w)->Finish(std::vector<trace::CpuCounts>{}));
  const std::string out = dir_.File("utf.json");
  RunResult r = Report({path, "--format", "json", "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(j["faults"]["processes"][0]["comm"], "bad\xef\xbf\xbd\xef\xbf\xbd");
}

// The footer's named counters reach the report, and a recorder that could
// not read the kernel's counters gives "unknown", never 0 lost.
TEST_F(ReportTest, FooterCountersAndUnknownLoss) {
  const std::string path = dir_.File("stats.flt");
  trace::TraceMeta meta;
  meta.ncpus = 2;
  auto w = trace::TraceWriter::Create(path, meta);
  ASSERT_TRUE(w.has_value());
  trace::FooterData fd;
  fd.per_cpu = {{0, 0}, {0, 0}};
  fd.stats_known = false;
  fd.counters = {{"unpaired", 3}, {"summary_full", 1}, {"stack_errors", 0}};
  ASSERT_TRUE((*w)->Finish(fd));
  const std::string out = dir_.File("stats.json");
  RunResult r = Report({path, "--format", "json", "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(Slurp(out));
  EXPECT_TRUE(j["trace"]["lost_events"].is_null());
  EXPECT_EQ(j["trace"]["lost_events_known"], false);
  EXPECT_EQ(j["trace"]["counters"]["unpaired"], 3);
  EXPECT_EQ(j["trace"]["counters"]["summary_full"], 1);
  EXPECT_EQ(j["trace"]["counters"]["stack_errors"], 0);
  EXPECT_EQ(j["trace"]["counters"].size(), 3u);
  const std::string txt = dir_.File("stats.txt");
  r = Report({path, "-o", txt});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string text = Slurp(txt);
  EXPECT_NE(text.find("events: 0 read, lost unknown"), std::string::npos) << text;
  EXPECT_EQ(text.find(" 0 lost"), std::string::npos) << text;
  EXPECT_NE(text.find("counters: unpaired 3, summary_full 1, stack_errors 0"),
            std::string::npos)
      << text;

  // Known stats: a number, and the same counters.
  const std::string known = dir_.File("known.flt");
  auto w2 = trace::TraceWriter::Create(known, meta);
  ASSERT_TRUE(w2.has_value());
  fd.per_cpu = {{10, 4}, {5, 1}};
  fd.stats_known = true;
  ASSERT_TRUE((*w2)->Finish(fd));
  r = Report({known, "--format", "json", "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(j["trace"]["lost_events"], 5);
  EXPECT_EQ(j["trace"]["lost_events_known"], true);
  EXPECT_EQ(j["trace"]["counters"]["unpaired"], 3);
}

// A record type this build does not know (a newer writer's) is skipped by
// the reader with a warning; the report counts it and keeps the faults.
TEST_F(ReportTest, SkippedRecordTypesAreCounted) {
  const std::string path = dir_.File("skip.flt");
  auto w = trace::TraceWriter::Create(path, {});
  ASSERT_TRUE(w.has_value());
  fl_fault_batch b{};
  b.count = 2;
  for (int i = 0; i < 2; ++i) {
    b.faults[i].ts_ns = 10 + i;
    b.faults[i].pid = b.faults[i].tid = 9;
    b.faults[i].outcome = FL_FAULT_MINOR;
  }
  b.hdr = {10, FL_EV_FAULT_BATCH, 0,
           static_cast<uint32_t>(offsetof(fl_fault_batch, faults) + 2 * sizeof(fl_fault_slim))};
  ASSERT_TRUE((*w)->AddRecord(&b, b.hdr.size));
  ASSERT_TRUE((*w)->AddEncodedForTesting(false, 40, "newer"));
  ASSERT_TRUE((*w)->Finish(std::vector<trace::CpuCounts>{{2, 0}}));
  const std::string out = dir_.File("skip.json");
  RunResult r = Report({path, "--format", "json", "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped"), std::string::npos) << r.err;
  auto j = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(j["trace"]["skipped_records"], 1);
  EXPECT_EQ(j["trace"]["skipped_event_types"]["40"], 1);
  EXPECT_EQ(j["faults"]["total"], 2);
  const std::string txt = dir_.File("skip.txt");
  r = Report({path, "-o", txt});
  EXPECT_NE(Slurp(txt).find("1 record(s) of unknown types skipped"), std::string::npos)
      << Slurp(txt);
}

}  // namespace
}  // namespace faultline::analyzer
