#include "tests/support/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>

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

}  // namespace
}  // namespace faultline::testing
