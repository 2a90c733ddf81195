// Traces written by version 1 (the format before self-describing records)
// still read. tests/fixtures/v1-touch.flt was recorded by the version-1
// build (`faultline record -- tests/helpers/touch anon 64`, as root), and
// v1-touch.report.json is that build's `faultline report --format json` of
// it. The new reader must deliver the same events, and today's report must
// give the same figures.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "analyzer/report.h"
#include "trace/format.h"
#include "trace/reader.h"
#include "tests/support/temp_dir.h"

namespace faultline::trace {
namespace {

const std::string kFixture =
    std::string(FAULTLINE_SOURCE_DIR) + "/tests/fixtures/v1-touch.flt";
const std::string kExpected =
    std::string(FAULTLINE_SOURCE_DIR) + "/tests/fixtures/v1-touch.report.json";

nlohmann::json Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(
      std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

struct Count : TraceVisitor {
  std::map<std::string, uint64_t> n;
  std::vector<std::string> warnings;
  uint64_t faults_user = 0, faults_kernel = 0;
  void OnFault(const FaultEvent& f) override {
    ++n["fault"];
    ((f.flags & FL_FAULT_F_KERNEL) ? faults_kernel : faults_user)++;
  }
  void OnMmap(const MmapEvent&) override { ++n["mmap"]; }
  void OnTask(const TaskEvent&) override { ++n["task"]; }
  void OnTlb(const TlbEvent&) override { ++n["tlb"]; }
  void OnOpaque(const OpaqueEvent&) override { ++n["opaque"]; }
  void OnProcess(const ProcessInfo&) override { ++n["process"]; }
  void OnMapping(const MappingInfo&) override { ++n["mapping"]; }
  void OnFooter(const Footer&) override { ++n["footer"]; }
  void OnWarning(std::string_view w) override { warnings.emplace_back(w); }
};

TEST(TraceV1Fixture, ReadsWithTheSameEventCounts) {
  const nlohmann::json want = Load(kExpected);
  auto r = TraceReader::Open(kFixture);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)->header().version, 1u);
  EXPECT_LT(1u, kFormatVersion);
  Count c;
  ASSERT_TRUE((*r)->ReadAll(c));
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
  const ReadStats& st = (*r)->stats();
  EXPECT_TRUE(st.footer);
  EXPECT_EQ(st.corrupt_blocks, 0u);
  EXPECT_EQ(st.skipped_records, 0u);
  EXPECT_EQ(st.events, want["trace"]["events"].get<uint64_t>());
  EXPECT_EQ(c.n["fault"], want["faults"]["total"].get<uint64_t>());
  EXPECT_EQ(c.faults_user, want["faults"]["user_mode"].get<uint64_t>());
  EXPECT_EQ(c.faults_kernel, want["faults"]["kernel_mode"].get<uint64_t>());
  EXPECT_EQ(c.n["fault"] + c.n["mmap"] + c.n["task"] + c.n["tlb"] + c.n["opaque"],
            st.events);
  // The recording really had the other kinds: exec, mmaps of the loader,
  // TLB shootdowns, the /proc snapshot.
  EXPECT_GT(c.n["mmap"], 0u);
  EXPECT_GT(c.n["task"], 0u);
  EXPECT_GT(c.n["tlb"], 0u);
  EXPECT_GT(c.n["mapping"], 0u);
  EXPECT_EQ(c.n["footer"], 1u);
}

TEST(TraceV1Fixture, ReportGivesTheSameFiguresAsTheVersion1Build) {
  faultline::testing::TempDir dir;
  const std::string out = dir.File("report.json");
  ASSERT_EQ(analyzer::RunReport({kFixture, "--format", "json", "-o", out}), 0);
  nlohmann::json got = Load(out);
  nlohmann::json want = Load(kExpected);
  // Code sites come from symbolizing the binaries on this disk (they change
  // when the tree is rebuilt), and the version string from the build:
  // everything else is a figure of the trace.
  for (nlohmann::json* j : {&got, &want}) {
    j->erase("version");
    (*j)["faults"].erase("sites");
    (*j)["faults"].erase("sites_total");
  }
  // Every figure the version-1 build reported (a later report may add
  // keys: those are not compared).
  for (const char* section : {"trace", "faults"}) {
    ASSERT_TRUE(got.contains(section)) << section;
    for (const auto& [key, value] : want[section].items()) {
      EXPECT_EQ(got[section][key], value) << section << "." << key;
    }
  }
}

TEST(TraceV1Fixture, DamagedVersion1FileReadsUpToTheDamage) {
  // The legacy decoders keep the damage rules: a cut file yields a prefix
  // of the events with a warning; a flipped byte is caught or harmless.
  std::ifstream in(kFixture, std::ios::binary);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()};
  ASSERT_GT(bytes.size(), 1000u);
  auto full_reader = TraceReader::FromMemory(bytes);
  ASSERT_TRUE(full_reader.has_value());
  Count full;
  ASSERT_TRUE((*full_reader)->ReadAll(full));
  const uint64_t all = (*full_reader)->stats().events;
  for (size_t len = 0; len < bytes.size(); len += 7) {
    auto r = TraceReader::FromMemory(std::span(bytes.data(), len));
    if (!r.has_value()) {
      EXPECT_EQ(r.error().exit_code, 2);
      continue;
    }
    Count c;
    ASSERT_TRUE((*r)->ReadAll(c));
    EXPECT_LE((*r)->stats().events, all) << len;
    EXPECT_FALSE(c.warnings.empty()) << len;
  }
  for (size_t i = 0; i < bytes.size(); i += 5) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x10;
    auto r = TraceReader::FromMemory(bad);
    if (!r.has_value()) continue;
    Count c;
    ASSERT_TRUE((*r)->ReadAll(c));
    if (c.warnings.empty()) EXPECT_EQ(c.n, full.n) << "flip at " << i;
  }
}

}  // namespace
}  // namespace faultline::trace
