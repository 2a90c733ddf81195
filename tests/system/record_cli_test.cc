// `faultline record` as a user meets it: bad input (one line, exit code 2),
// the traced command's exit code and output passed through, children of a
// -p target followed, clean stop on SIGINT, and a SIGKILLed recorder that
// leaves no BPF program behind and a trace readable up to its last block.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.h"

namespace {

using nlohmann::json;
namespace ft = faultline::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Faultline() { return ft::BuildPath("faultline"); }

int Lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// IDs of the BPF programs whose descriptors process `pid` holds, from
// /proc/PID/fdinfo ("prog_id:" lines).
std::set<int> ProgIdsHeldBy(pid_t pid) {
  std::set<int> ids;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("prog_id:", 0) == 0) ids.insert(std::stoi(line.substr(8)));
    }
  }
  return ids;
}

bool ProgExists(int id) {
  ft::RunResult r =
      ft::Run({"bpftool", "prog", "show", "id", std::to_string(id)});
  return r.exit_code == 0;
}

class RecordCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("record_cli_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Skips the test when BPF cannot load here. GTEST_SKIP() returns from
  // this helper only: every caller follows it with
  // `if (IsSkipped()) return;`.
  void NeedRoot() {
    if (auto why = ft::NoBpfReason(); !why.empty()) GTEST_SKIP() << why;
  }

  // Lets the -p target go on (it waits for the file `go`), stops the
  // recorder once the target is done, and checks the report: the helper
  // that `touch anon 3000` ran as (`who`) has its faults, and only the
  // target and its descendants were traced: the shells, the sleeps of
  // their wait loops and the helper (on this machine other processes fault
  // all the time, so a broken filter shows here).
  void ReleaseAndCheckOnlyTargets(ft::Child& target, ft::Child& rec,
                                  const std::string& go, const char* who) {
    std::ofstream(go).put('x');
    ft::RunResult t = target.Wait(seconds(30));
    ASSERT_EQ(t.exit_code, 0) << t.err;
    json line = json::parse(t.out);
    ASSERT_TRUE(rec.Signal(SIGINT));
    ft::RunResult r = rec.Wait(seconds(30));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json rep = Report(Trace());
    bool found = false;
    for (const json& p : rep["faults"]["processes"]) {
      if (p["pid"] == line["pid"]) {
        found = true;
        EXPECT_GE(p["by_kind"]["anon_first_touch"].get<int64_t>(), 3000);
      }
      std::string comm = p["comm"].get<std::string>();
      EXPECT_TRUE(comm == "sh" || comm == "sleep" || comm == "touch")
          << "pid " << p["pid"] << " (" << comm << ") is not a target";
    }
    EXPECT_TRUE(found) << who << " is missing from the report: " << r.err;
    EXPECT_TRUE(rep["trace"]["complete"].get<bool>());
  }

  std::string Trace() const { return (dir_ / "t.flt").string(); }

  json Report(const std::string& trace) {
    ft::RunResult rep =
        ft::Run({Faultline(), "report", trace, "--format", "json"});
    EXPECT_EQ(rep.exit_code, 0) << rep.err;
    return json::parse(rep.out);
  }

  std::filesystem::path dir_;
};

// Bad flags fail before anything is loaded: no root needed.
TEST_F(RecordCliTest, BadFlagsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"--no-such-flag"},
      {"-p", "abc"},
      {"-p", "12,,13"},
      {"-p", "0"},
      {"--ring-mb", "3"},
      {"-d", "0"},
      {"-d", "soon"},
      {"--faults", "--no-faults"},
      {"--summary", "--stacks"},
      {"-p", "1", "--", "true"},
      {"--"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {Faultline(), "record", "-o", Trace()};
    argv.insert(argv.end(), c.begin(), c.end());
    ft::RunResult r = ft::Run(argv, seconds(20));
    std::string shown = c.front() + (c.size() > 1 ? " " + c[1] : "");
    EXPECT_EQ(r.exit_code, 2) << shown << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << shown << ": " << r.err;
    EXPECT_EQ(r.err.rfind("faultline record: ", 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST_F(RecordCliTest, HelpShowsExamples) {
  ft::RunResult r = ft::Run({Faultline(), "record", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("examples:"), std::string::npos);
  EXPECT_NE(r.out.find("--summary"), std::string::npos);
}

TEST_F(RecordCliTest, NotRootExitsTwo) {
  if (!ft::IsRoot()) GTEST_SKIP() << "needs root to switch to nobody";
  if (!ft::HaveCommand("setpriv")) GTEST_SKIP() << "no setpriv";
  std::string trace = (dir_ / "nobody.flt").string();
  std::filesystem::permissions(dir_, std::filesystem::perms::all);
  ft::RunResult r = ft::Run({"setpriv", "--reuid=65534", "--regid=65534",
                             "--clear-groups", "--inh-caps=-all",
                             Faultline(), "record", "-o", trace, "--",
                             "true"},
                            seconds(20));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
}

// The checks below run faultline in a private mount namespace (unshare -m)
// so that hiding BTF or unmounting tracefs there leaves the machine alone.
TEST_F(RecordCliTest, NoBtfExitsTwo) {
  NeedRoot();
  if (IsSkipped()) return;
  if (!ft::HaveCommand("unshare")) GTEST_SKIP() << "no unshare";
  // An empty tmpfs over /sys/kernel/btf: no vmlinux.
  ft::RunResult r = ft::Run(
      {"unshare", "-m", "sh", "-c",
       "mount -t tmpfs none /sys/kernel/btf && exec \"$0\" record -o \"$1\" "
       "-- true",
       Faultline(), Trace()},
      seconds(20));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/sys/kernel/btf/vmlinux"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("BTF"), std::string::npos) << r.err;
}

TEST_F(RecordCliTest, MountsTracefsWhenMissing) {
  NeedRoot();
  if (IsSkipped()) return;
  if (!ft::HaveCommand("unshare")) GTEST_SKIP() << "no unshare";
  // tracefs unmounted (as on a fresh machine): faultline mounts it, records,
  // and the mount is there afterwards (in that namespace).
  ft::RunResult r = ft::Run(
      {"unshare", "-m", "sh", "-c",
       "umount /sys/kernel/tracing 2>/dev/null; "
       "if mountpoint -q /sys/kernel/tracing; then echo still-mounted; "
       "exit 3; fi; \"$0\" record -o \"$1\" -- true || exit $?; "
       "mountpoint -q /sys/kernel/tracing && echo mounted-after",
       Faultline(), Trace()},
      seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("mounted-after"), std::string::npos) << r.out;
  json rep = Report(Trace());
  EXPECT_TRUE(rep["trace"]["complete"].get<bool>());
}

TEST_F(RecordCliTest, TracefsThatCannotBeMountedExitsTwo) {
  NeedRoot();
  if (IsSkipped()) return;
  if (!ft::HaveCommand("unshare") || !ft::HaveCommand("setpriv")) {
    GTEST_SKIP() << "no unshare or setpriv";
  }
  // Without CAP_SYS_ADMIN (CAP_BPF + CAP_PERFMON still pass the privilege
  // check) the mount fails: one line that says so and how to mount it.
  ft::RunResult r = ft::Run(
      {"unshare", "-m", "sh", "-c",
       "umount /sys/kernel/tracing 2>/dev/null; exec setpriv "
       "--inh-caps=-sys_admin --bounding-set=-sys_admin \"$0\" record -o "
       "\"$1\" -- true",
       Faultline(), Trace()},
      seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("tracefs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mount -t tracefs"), std::string::npos) << r.err;
}

TEST_F(RecordCliTest, DeadPidExitsTwo) {
  NeedRoot();
  if (IsSkipped()) return;
  ft::RunResult gone = ft::Run({"sh", "-c", "echo $$"});
  ASSERT_EQ(gone.exit_code, 0);
  std::string pid = gone.out.substr(0, gone.out.find('\n'));
  ft::RunResult r = ft::Run(
      {Faultline(), "record", "-o", Trace(), "-p", pid, "-d", "1"},
      seconds(20));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("no such process: " + pid), std::string::npos)
      << r.err;
}

TEST_F(RecordCliTest, UnwritableOutputExitsTwoAndDoesNotRunTheCommand) {
  NeedRoot();
  if (IsSkipped()) return;
  std::string marker = (dir_ / "ran").string();
  ft::RunResult r = ft::Run({Faultline(), "record", "-o",
                             (dir_ / "no-such-dir" / "t.flt").string(), "--",
                             "touch", marker},
                            seconds(20));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("no-such-dir"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the command ran";
}

TEST_F(RecordCliTest, CommandNotFoundExits127) {
  NeedRoot();
  if (IsSkipped()) return;
  ft::RunResult r = ft::Run(
      {Faultline(), "record", "-o", Trace(), "--", "no-such-command-xyz"},
      seconds(20));
  EXPECT_EQ(r.exit_code, 127) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST_F(RecordCliTest, ExitCodeAndOutputPassThrough) {
  NeedRoot();
  if (IsSkipped()) return;
  ft::RunResult r = ft::Run({Faultline(), "record", "-o", Trace(), "--", "sh",
                             "-c", "echo to-stdout; echo to-stderr >&2; "
                                   "exit 7"},
                            seconds(60));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "to-stdout\n");  // faultline adds nothing to stdout
  EXPECT_EQ(r.err.rfind("to-stderr\n", 0), 0u) << r.err;
  // Then faultline's closing paragraph: one line with the numbers.
  EXPECT_NE(r.err.find("events recorded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lost"), std::string::npos) << r.err;
  EXPECT_EQ(Lines(r.err), 2) << r.err;

  ft::RunResult killed = ft::Run(
      {Faultline(), "record", "-o", Trace(), "--", "sh", "-c", "kill -TERM $$"},
      seconds(60));
  EXPECT_EQ(killed.exit_code, 128 + SIGTERM) << killed.err;
}

TEST_F(RecordCliTest, FollowsChildrenOfPidTarget) {
  NeedRoot();
  if (IsSkipped()) return;
  // The target waits for the recorder's start line, then forks a helper.
  std::string go = (dir_ / "go").string();
  ft::Child target = ft::Child::Spawn(
      {"sh", "-c",
       "while [ ! -e " + go + " ]; do sleep 0.05; done; " +
           ft::BuildPath("tests/helpers/touch") + " anon 3000"});
  ft::Child rec = ft::Child::Spawn({Faultline(), "record", "-o", Trace(), "-p",
                                    std::to_string(target.pid()), "-d", "30"});
  ASSERT_NE(rec.ReadStderrUntil("recording", seconds(30)), "")
      << rec.StderrSoFar();
  ReleaseAndCheckOnlyTargets(target, rec, go, "the forked helper");
}

// -p also traces the descendants that exist before the recording starts,
// at any depth: here a grandchild of the target, forked before faultline
// ran, that later exec-s the helper (only the /proc walk can find it).
TEST_F(RecordCliTest, FollowsDescendantsThatExistedBeforeRecording) {
  NeedRoot();
  if (IsSkipped()) return;
  std::string go = (dir_ / "go").string();
  std::string ready = (dir_ / "ready").string();
  std::string inner = "touch " + ready + "; while [ ! -e " + go +
                      " ]; do sleep 0.05; done; exec " +
                      ft::BuildPath("tests/helpers/touch") + " anon 3000";
  // target sh -> sh -> sh (loops, then becomes the helper)
  ft::Child target = ft::Child::Spawn(
      {"sh", "-c", "sh -c \"sh -c '" + inner + "' & wait\" & wait"});
  for (int i = 0; i < 200 && !std::filesystem::exists(ready); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(std::filesystem::exists(ready)) << target.StderrSoFar();
  ft::Child rec = ft::Child::Spawn({Faultline(), "record", "-o", Trace(), "-p",
                                    std::to_string(target.pid()), "-d", "30"});
  std::string started = rec.ReadStderrUntil("recording", seconds(30));
  ASSERT_NE(started, "") << rec.StderrSoFar();
  // The two inner shells (and maybe a sleep of the innermost's loop).
  size_t at = started.find(" running already)");
  EXPECT_NE(at, std::string::npos) << started;
  if (at != std::string::npos) {
    size_t open = started.rfind('(', at);
    EXPECT_GE(std::stoi(started.substr(open + 1, at - open - 1)), 2)
        << started;
  }
  ReleaseAndCheckOnlyTargets(target, rec, go, "the grandchild");
}

TEST_F(RecordCliTest, SigkillLeavesNoProgramsAndAReadableTrace) {
  NeedRoot();
  if (IsSkipped()) return;
  ft::Child rec = ft::Child::Spawn(
      {Faultline(), "record", "-o", Trace(), "--", "sh", "-c",
       ft::BuildPath("tests/helpers/touch") + " anon 5000; sleep 60"});
  // Wait until the programs are attached and the helper's faults are in.
  std::set<int> ids;
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         rec.StdoutSoFar().find("\"anon\"") == std::string::npos) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_NE(rec.StdoutSoFar().find("\"anon\""), std::string::npos)
      << rec.StderrSoFar();
  ids = ProgIdsHeldBy(rec.pid());
  ASSERT_FALSE(ids.empty()) << "no BPF programs held by the recorder";
  std::this_thread::sleep_for(milliseconds(2500));  // > one flush period
  ASSERT_TRUE(rec.Signal(SIGKILL));
  ft::RunResult r = rec.Wait(seconds(10));
  EXPECT_EQ(r.exit_code, -SIGKILL);
  // Links and programs die with the descriptors; give the kernel's
  // deferred freeing a moment.
  std::set<int> left = ids;
  for (int i = 0; i < 100 && !left.empty(); ++i) {
    std::set<int> still;
    for (int id : left) {
      if (ProgExists(id)) still.insert(id);
    }
    left.swap(still);
    if (!left.empty()) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " programs still loaded";

  json rep = Report(Trace());
  EXPECT_FALSE(rep["trace"]["complete"].get<bool>());
  EXPECT_GE(rep["faults"]["total"].get<int64_t>(), 4000)
      << "faults flushed before the kill are missing";
}

}  // namespace
