// /proc parsers of the collector: maps lines, status PPid, CapEff bits.
#include <sys/mman.h>
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

}  // namespace
}  // namespace faultline::collector
