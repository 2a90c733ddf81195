// Symbolizer: file offset -> function, checked on this test binary's own
// code (found through /proc/self/maps like the collector's snapshot).
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "analyzer/symbolizer.h"

extern "C" __attribute__((noinline, used)) int FaultlineSymbolizerProbe(int x) {
  return x * 3 + 1;
}

namespace faultline::analyzer {
namespace {

// The file and file offset that hold `addr`, from /proc/self/maps.
bool FileOffsetOf(uintptr_t addr, std::string* path, uint64_t* offset) {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (!f) return false;
  char line[4096];
  bool found = false;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long start, end, pgoff;
    char perms[8];
    int pos = 0;
    if (std::sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms,
                    &pgoff, &pos) < 4) {
      continue;
    }
    if (addr < start || addr >= end) continue;
    std::string p = line + pos;
    while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
    *path = p;
    *offset = addr - start + pgoff;
    found = true;
    break;
  }
  std::fclose(f);
  return found;
}

TEST(Symbolizer, ResolvesAFunctionOfThisBinary) {
  std::string path;
  uint64_t off = 0;
  auto addr = reinterpret_cast<uintptr_t>(&FaultlineSymbolizerProbe);
  ASSERT_TRUE(FileOffsetOf(addr + 4, &path, &off));
  ASSERT_EQ(path[0], '/') << path;
  Symbolizer s;
  EXPECT_EQ(s.Symbolize(path, off), "FaultlineSymbolizerProbe");
  // Asked again: the module is cached, same answer.
  EXPECT_EQ(s.Symbolize(path, off), "FaultlineSymbolizerProbe");
}

TEST(Symbolizer, DemanglesCppNames) {
  std::string path;
  uint64_t off = 0;
  auto addr = reinterpret_cast<uintptr_t>(&FileOffsetOf);
  ASSERT_TRUE(FileOffsetOf(addr, &path, &off));
  Symbolizer s;
  std::string sym = s.Symbolize(path, off);
  EXPECT_NE(sym.find("FileOffsetOf("), std::string::npos) << sym;
}

TEST(Symbolizer, UnresolvableGivesPathPlusOffset) {
  Symbolizer s;
  EXPECT_EQ(s.Symbolize("/nonexistent/lib.so", 0x1234), "/nonexistent/lib.so+0x1234");
  EXPECT_EQ(s.Symbolize("/etc/hostname", 0x10), "/etc/hostname+0x10");  // not ELF
  EXPECT_EQ(s.Symbolize("[vdso]", 0x10), "[vdso]+0x10");
}

}  // namespace
}  // namespace faultline::analyzer
