#include "tests/support/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/child_process.h"

namespace faultline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ProcessTest, RunCollectsOutputAndExitCode) {
  const RunResult r = faultline::testing::Run(
      {"sh", "-c", "echo out; echo err >&2; exit 3"}, seconds(10));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(ProcessTest, RunReportsExecFailure) {
  const RunResult r =
      faultline::testing::Run({"/nonexistent/faultline-no-such-program"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("exec /nonexistent/faultline-no-such-program"),
            std::string::npos)
      << r.err;
}

TEST(ProcessTest, RunTimesOutAndKillsTheGroup) {
  const auto start = std::chrono::steady_clock::now();
  // The shell's child (sleep) holds the pipes too; it must die with it.
  const RunResult r = faultline::testing::Run(
      {"sh", "-c", "sleep 30 & sleep 30"}, milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST(ProcessTest, LargeOutputDoesNotBlockTheChild) {
  // 1 MiB, far more than a pipe buffer.
  const RunResult r = faultline::testing::Run(
      {"sh", "-c", "head -c 1048576 /dev/zero"}, seconds(10));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 1048576u);
}

TEST(ProcessTest, ChildReadinessLineSignalAndWait) {
  Child c = Child::Spawn(
      {"sh", "-c",
       "trap 'echo got-term >&2; exit 7' TERM; echo 'starting' >&2; "
       "echo 'listening on 127.0.0.1:1234' >&2; while :; do sleep 0.05; done"});
  ASSERT_GT(c.pid(), 0);
  EXPECT_EQ(c.ReadStderrUntil("listening on", seconds(10)),
            "listening on 127.0.0.1:1234");
  // The cursor moved past that line: a second search does not find it.
  EXPECT_EQ(c.ReadStderrUntil("listening on", milliseconds(100)), "");
  EXPECT_TRUE(c.Running());
  EXPECT_TRUE(c.Signal(SIGTERM));
  const RunResult r = c.Wait(seconds(10));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_NE(r.err.find("got-term"), std::string::npos) << r.err;
  EXPECT_FALSE(c.Running());
  EXPECT_FALSE(c.Signal(SIGTERM));  // already reaped
}

TEST(ProcessTest, ReadStderrUntilReturnsEmptyWhenChildExits) {
  Child c = Child::Spawn({"sh", "-c", "echo nope >&2"});
  EXPECT_EQ(c.ReadStderrUntil("never printed", seconds(10)), "");
  EXPECT_EQ(c.Wait(seconds(10)).exit_code, 0);
}

TEST(ProcessTest, DestructorKillsRunningChild) {
  pid_t pid;
  {
    Child c = Child::Spawn({"sleep", "30"});
    pid = c.pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), 0);
  }
  // Reaped by the destructor: the pid no longer exists.
  EXPECT_EQ(kill(pid, 0), -1);
}

TEST(ProcessTest, EnvironmentProbes) {
  EXPECT_TRUE(HaveCommand("sh"));
  EXPECT_FALSE(HaveCommand("faultline-no-such-command"));
  EXPECT_EQ(IsRoot(), geteuid() == 0);
  const int port = FreePort();
  EXPECT_GT(port, 0);
  EXPECT_LT(port, 65536);
  EXPECT_EQ(BuildPath("faultline-server")
                .substr(BuildPath("faultline-server").size() - 17),
            "/faultline-server");
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The demo's way: output into files (one shared file for both), the child
// left in our process group with our signal dispositions.
TEST(ChildProcessTest, FilesSharedOrSeparateAndOurProcessGroup) {
  const std::string base =
      "/tmp/faultline-process-test-" + std::to_string(getpid());
  SpawnOptions shared;
  shared.stdout_path = shared.stderr_path = base + ".both";
  shared.new_process_group = false;
  shared.default_signals = false;
  ChildProcess c = ChildProcess::Spawn(
      {"sh", "-c", "echo out; echo err >&2; ps -o pgid= -p $$; exit 4"},
      shared);
  ASSERT_TRUE(c.WaitFor(seconds(10)));
  EXPECT_EQ(c.exit_code(), 4);
  const std::string both = ReadAll(base + ".both");
  EXPECT_EQ(both.substr(0, 8), "out\nerr\n") << both;
  // Not a group leader: its group is ours.
  EXPECT_EQ(std::stol(both.substr(8)), static_cast<long>(getpgrp())) << both;
  EXPECT_EQ(c.Stdout(), "");  // Nothing went through a pipe.

  SpawnOptions split;
  split.stdout_path = base + ".out";
  split.stderr_path = base + ".err";
  ChildProcess d = ChildProcess::Spawn(
      {"sh", "-c", "echo out; echo err >&2; ps -o pgid= -p $$"}, split);
  ASSERT_TRUE(d.WaitFor(seconds(10)));
  EXPECT_EQ(d.exit_code(), 0);
  const std::string out = ReadAll(base + ".out");
  EXPECT_EQ(out.substr(0, 4), "out\n");
  EXPECT_EQ(std::stol(out.substr(4)), static_cast<long>(d.pid())) << out;
  EXPECT_EQ(ReadAll(base + ".err"), "err\n");
  for (const char* ext : {".both", ".out", ".err"}) {
    std::remove((base + ext).c_str());
  }
}

TEST(ChildProcessTest, WaitForTimesOutWithoutKillingThenKillAndReap) {
  ChildProcess c = ChildProcess::Spawn({"sleep", "30"});
  EXPECT_FALSE(c.WaitFor(milliseconds(100)));
  EXPECT_TRUE(c.Running());
  c.KillAndReap();
  EXPECT_FALSE(c.Running());
  EXPECT_EQ(c.exit_code(), -SIGKILL);
  SpawnOptions unwritable;
  unwritable.stdout_path = "/nonexistent/dir/file";
  ChildProcess bad = ChildProcess::Spawn({"true"}, unwritable);
  EXPECT_FALSE(bad.Running());
  EXPECT_EQ(bad.exit_code(), 127);
  EXPECT_NE(bad.Stderr().find("open /nonexistent/dir/file"),
            std::string::npos)
      << bad.Stderr();
}

}  // namespace
}  // namespace faultline::testing
