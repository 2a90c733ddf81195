// `faultline demo` end to end on one pattern: it must record, shut the
// server down under load without losing a request, write its files, and its
// request counts must agree with the server's own.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace fs = std::filesystem;
using faultline::testing::BuildPath;


namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Demo, NotRootOrBadFlagsIsExit2) {
  auto r = faultline::testing::Run({BuildPath("faultline"), "demo", "--patterns", "no-such"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown pattern"), std::string::npos) << r.err;
  r = faultline::testing::Run({BuildPath("faultline"), "demo", "--duration", "-1"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Demo, OnePatternEndToEnd) {
  if (geteuid() != 0) GTEST_SKIP() << "faultline demo needs root to load BPF";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    GTEST_SKIP() << "no /sys/kernel/btf/vmlinux (kernel without BTF)";
  }
  fs::path out = fs::temp_directory_path() /
                 ("faultline-demo-test-" + std::to_string(getpid()));
  auto r = faultline::testing::Run({BuildPath("faultline"), "demo", "--out", out.string(),
                "--duration", "1", "--patterns", "event-loop"},
               std::chrono::seconds(120));
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("event-loop"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("MISMATCH:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exit 0,"), std::string::npos) << r.out;
  for (const char* f : {"event-loop.flt", "event-loop.txt", "event-loop.json",
                        "event-loop.load-h1.json",
                        "event-loop.load-drain-h1.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  // The shutdown lost nothing: every request the drain load generators sent
  // completed, or was safely retried.
  for (const char* f :
       {"event-loop.load-drain-h1.json", "event-loop.load-drain-h2.json"}) {
    auto j = nlohmann::json::parse(Slurp(out / f));
    EXPECT_EQ(j["failed"].get<uint64_t>(), 0u) << f << ": " << j.dump();
    EXPECT_GT(j["completed"].get<uint64_t>(), 0u) << f;
  }
  // The report saw the server's faults and lost nothing.
  auto rep = nlohmann::json::parse(Slurp(out / "event-loop.json"));
  EXPECT_GT(rep["faults"]["total"].get<uint64_t>(), 0u);
  EXPECT_EQ(rep["trace"]["lost_events"].get<uint64_t>(), 0u);
  fs::remove_all(out);
}

}  // namespace
