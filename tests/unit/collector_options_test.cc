// ParseRecordArgs / ParsePidList: flags of `faultline record` without
// loading anything.
#include <gtest/gtest.h>

#include "collector/options.h"

namespace faultline::collector {
namespace {

TEST(CollectorOptions, Defaults) {
  auto o = ParseRecordArgs({});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->output, "faultline.flt");
  EXPECT_TRUE(o->pids.empty());
  EXPECT_TRUE(o->command.empty());
  EXPECT_TRUE(o->faults);
  EXPECT_FALSE(o->summary);
  EXPECT_FALSE(o->stacks);
  EXPECT_EQ(o->ring_mb, 32u);
  EXPECT_EQ(o->duration_s, 0);
}

TEST(CollectorOptions, CommandAfterDashDashIsUntouched) {
  auto o = ParseRecordArgs({"-o", "x.flt", "--", "ls", "-l", "--", "-p"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->output, "x.flt");
  EXPECT_EQ(o->command,
            (std::vector<std::string>{"ls", "-l", "--", "-p"}));
  EXPECT_EQ(o->command_line, "faultline record -o x.flt -- ls -l -- -p");
}

TEST(CollectorOptions, PidsDurationAndModes) {
  auto o = ParseRecordArgs({"-p", "12,345", "-d", "2.5", "--summary",
                            "--ring-mb", "64", "--no-faults", "-v"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->pids, (std::vector<uint32_t>{12, 345}));
  EXPECT_DOUBLE_EQ(o->duration_s, 2.5);
  EXPECT_TRUE(o->summary);
  EXPECT_FALSE(o->faults);
  EXPECT_TRUE(o->verbose);
  EXPECT_EQ(o->ring_mb, 64u);
}

TEST(CollectorOptions, BadInputIsExitCodeTwo) {
  const std::vector<std::vector<std::string>> bad = {
      {"--bogus"},          {"-p"},          {"-p", ""},
      {"-p", "1,"},         {"-p", "-5"},    {"-p", "99999999999"},
      {"-d", "-1"},         {"-d", "nan"},   {"--ring-mb", "0"},
      {"--ring-mb", "48"},  {"--"},          {"-p", "1", "--", "x"},
      {"--summary", "--stacks"},             {"--faults", "--no-faults"},
      {"-o", ""},           {"extra"},
      {"--latency-sample", "4"},  // without --summary
      {"--summary", "--latency-sample", "0"},
      {"--summary", "--latency-sample", "12"},
      {"--summary", "--latency-sample", "131072"},
      {"--summary", "--latency-sample", "x"},
      {"--tcp", "--no-tcp"},  {"--summary", "--tcp"},
      {"--port", "0"},        {"--port", "65536"},   {"--port", "http"},
      {"--port", "-1"},       {"--port", ""},        {"--port"},
      {"--cgroup", ""},       {"--port", "80", "--", "x"},
      {"--cgroup", "a", "--", "x"},
  };
  for (const auto& args : bad) {
    auto o = ParseRecordArgs(args);
    ASSERT_FALSE(o) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_EQ(o.error().exit_code, 2) << args[0];
    EXPECT_EQ(o.error().message.find('\n'), std::string::npos);
    EXPECT_EQ(o.error().message.rfind("faultline record: ", 0), 0u)
        << o.error().message;
  }
}

TEST(CollectorOptions, LatencySampleGoesWithSummary) {
  auto o = ParseRecordArgs({});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->latency_sample, 1u);  // streaming times every fault
  o = ParseRecordArgs({"--summary"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->latency_sample, kDefaultLatencySample);
  o = ParseRecordArgs({"--summary", "--latency-sample", "1"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->latency_sample, 1u);
  o = ParseRecordArgs({"--summary", "--latency-sample", "256"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->latency_sample, 256u);
}

TEST(CollectorOptions, TcpIsOnByDefaultAndOffWithSummary) {
  auto d = ParseRecordArgs({});
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->tcp);
  EXPECT_EQ(d->port, 0);
  EXPECT_TRUE(d->cgroup.empty());
  auto off = ParseRecordArgs({"--no-tcp"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->tcp);
  auto on = ParseRecordArgs({"--tcp"});
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->tcp);
  auto sum = ParseRecordArgs({"--summary"});
  ASSERT_TRUE(sum);
  EXPECT_FALSE(sum->tcp);
}

TEST(CollectorOptions, PortAndCgroup) {
  auto o = ParseRecordArgs({"--port", "8080", "--cgroup", "system.slice/x",
                            "-p", "7"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(o->cgroup, "system.slice/x");
  EXPECT_EQ(o->pids, (std::vector<uint32_t>{7}));
  EXPECT_EQ(*ParsePort("1"), 1);
  EXPECT_EQ(*ParsePort("65535"), 65535);
  auto bad = ParsePort("70000");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().exit_code, 2);
  EXPECT_EQ(bad.error().message,
            "faultline record: bad port '70000' in --port (want 1..65535)");
}

TEST(CollectorOptions, Help) {
  auto o = ParseRecordArgs({"--help"});
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->help);
  EXPECT_NE(RecordUsage().find("examples:"), std::string::npos);
}

TEST(CollectorOptions, PidList) {
  EXPECT_EQ(*ParsePidList("1"), (std::vector<uint32_t>{1}));
  EXPECT_EQ(*ParsePidList("7,8,9"), (std::vector<uint32_t>{7, 8, 9}));
  EXPECT_FALSE(ParsePidList("0"));
  EXPECT_FALSE(ParsePidList("a"));
  EXPECT_FALSE(ParsePidList("1 2"));
  EXPECT_FALSE(ParsePidList(",1"));
}

}  // namespace
}  // namespace faultline::collector
