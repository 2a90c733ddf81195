// /proc parsers of the collector: maps lines, status PPid, CapEff bits.
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "collector/env_check.h"
#include "collector/proc.h"
#include "trace/writer.h"

namespace faultline::collector {
namespace {

TEST(CollectorProc, MapsLineWithPath) {
  auto e = ParseMapsLine(
      "7f1c2a000000-7f1c2a022000 r-xp 00028000 08:01 1234567    "
      "/usr/lib/x86_64-linux-gnu/libc.so.6");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->start, 0x7f1c2a000000u);
  EXPECT_EQ(e->end, 0x7f1c2a022000u);
  EXPECT_EQ(e->pgoff, 0x28000u);
  EXPECT_EQ(e->prot, static_cast<uint32_t>(PROT_READ | PROT_EXEC));
  EXPECT_EQ(e->path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
}

TEST(CollectorProc, MapsLineAnonymousSharedAndSpecial) {
  auto anon = ParseMapsLine("7f00-8f00 rw-s 00000000 00:00 0 ");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->path, "");
  EXPECT_EQ(anon->prot, static_cast<uint32_t>(PROT_READ | PROT_WRITE) |
                            trace::kMappingShared);
  auto stack = ParseMapsLine(
      "7ffd1000-7ffd2000 rw-p 00000000 00:00 0                  [stack]");
  ASSERT_TRUE(stack);
  EXPECT_EQ(stack->path, "[stack]");
  auto spaces = ParseMapsLine("1000-2000 r--p 0 08:01 5 /tmp/a b (deleted)");
  ASSERT_TRUE(spaces);
  EXPECT_EQ(spaces->path, "/tmp/a b (deleted)");
}

TEST(CollectorProc, MapsLineRejectsGarbage) {
  EXPECT_FALSE(ParseMapsLine(""));
  EXPECT_FALSE(ParseMapsLine("hello"));
  EXPECT_FALSE(ParseMapsLine("2000-1000 r--p 0 08:01 5"));  // end < start
  EXPECT_FALSE(ParseMapsLine("zz-1000 r--p 0 08:01 5"));
  EXPECT_FALSE(ParseMapsLine("1000-2000 r-p 0 08:01 5"));   // 3 perms
}

TEST(CollectorProc, OwnMapsHaveTheStack) {
  bool stack = false;
  for (const auto& m : ReadMaps(getpid())) stack |= m.path == "[stack]";
  EXPECT_TRUE(stack);
  EXPECT_EQ(ReadPpid(getpid()), static_cast<uint32_t>(getppid()));
  EXPECT_FALSE(ReadComm(getpid()).empty());
}

TEST(CollectorProc, StatusPpidAndTgid) {
  const char* status = "\nName:\tx\nTgid:\t40\nPid:\t41\nPPid:\t42\n";
  EXPECT_EQ(ParseStatusPpid(status), 42u);
  EXPECT_EQ(ParseStatusTgid(status), 40u);
  EXPECT_FALSE(ParseStatusPpid("\nName:\tx\n"));
  EXPECT_EQ(ReadTgid(getpid()), static_cast<uint32_t>(getpid()));
}

TEST(CollectorProc, CapabilityBits) {
  EXPECT_TRUE(HasCapability("CapEff:\t0000000000200000\n", 21));
  EXPECT_FALSE(HasCapability("CapEff:\t0000000000000000\n", 21));
  EXPECT_TRUE(HasCapability("CapEff:\t000000c000000000\n", 39));
  EXPECT_TRUE(HasCapability("CapEff:\t000000c000000000\n", 38));
  EXPECT_FALSE(HasCapability("no caps line", 21));
}


// -p: descendants of the targets, at any depth, not the targets themselves.
TEST(CollectorProc, NewDescendantsWalksEveryGeneration) {
  // 1 -> 10 -> {11, 12}; 11 -> 13; 20 unrelated -> 21; 12 -> 14
  std::vector<std::pair<uint32_t, uint32_t>> table = {
      {10, 1}, {11, 10}, {12, 10}, {13, 11}, {14, 12}, {20, 1}, {21, 20}};
  EXPECT_EQ(NewDescendants(table, {10}),
            (std::vector<uint32_t>{11, 12, 13, 14}));
  // Already known descendants are not new; their children are.
  EXPECT_EQ(NewDescendants(table, {10, 11}),
            (std::vector<uint32_t>{12, 13, 14}));
  EXPECT_EQ(NewDescendants(table, {13}),
            std::vector<uint32_t>{});
  EXPECT_EQ(NewDescendants(table, {20, 12}),
            (std::vector<uint32_t>{14, 21}));
  // A self-parented entry (pid 1's ppid 0 is left out by ReadPpidTable;
  // a cycle must not loop).
  EXPECT_EQ(NewDescendants({{5, 5}, {6, 5}, {5, 6}},
                                                 {5}),
            (std::vector<uint32_t>{6}));
}

TEST(CollectorProc, PpidTableHasThisProcessAndItsChild) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto table = ReadPpidTable();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  bool self = false, kid = false;
  for (const auto& [pid, ppid] : table) {
    if (pid == static_cast<uint32_t>(getpid())) {
      self = ppid == static_cast<uint32_t>(getppid());
    }
    if (pid == static_cast<uint32_t>(child)) {
      kid = ppid == static_cast<uint32_t>(getpid());
    }
  }
  EXPECT_TRUE(self);
  EXPECT_TRUE(kid);
  EXPECT_EQ(NewDescendants(
                table, {static_cast<uint32_t>(getpid())}),
            std::vector<uint32_t>{static_cast<uint32_t>(child)});
}

}  // namespace
}  // namespace faultline::collector
