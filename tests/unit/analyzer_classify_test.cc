// Fault classification from error code + outcome + mapping (table-driven),
// and the address-space bookkeeping that finds the mapping.
#include <gtest/gtest.h>

#include <string>

#include "analyzer/address_space.h"
#include "bpf/faultline.h"
#include "trace/writer.h"

namespace faultline::analyzer {
namespace {

constexpr uint16_t W = FL_PF_WRITE, P = FL_PF_PROT, U = FL_PF_USER,
                   I = FL_PF_INSTR, K = FL_PF_PK;
constexpr uint8_t kMin = FL_FAULT_MINOR, kMaj = FL_FAULT_MAJOR,
                  kInc = FL_FAULT_INCOMPLETE;
constexpr uint32_t R_ = kProtRead, RW = kProtRead | kProtWrite,
                   RX = kProtRead | kProtExec;

Vma MakeVma(VmaType type, uint32_t prot, bool shared = false, bool huge = false,
            bool growsdown = false) {
  Vma v;
  v.end = 0x2000;
  v.type = type;
  v.prot = prot;
  v.shared = shared;
  v.huge = huge;
  v.growsdown = growsdown;
  return v;
}

struct Case {
  const char* name;
  uint16_t error_code;
  uint8_t outcome;
  bool has_vma;
  Vma vma;
  bool below_stack;
  FaultKind want;
};

TEST(Classify, Table) {
  const Vma anon = MakeVma(VmaType::kAnon, RW);
  const Vma heap = MakeVma(VmaType::kHeap, RW);
  const Vma stack = MakeVma(VmaType::kStack, RW);
  const Vma growsdown = MakeVma(VmaType::kAnon, RW, false, false, true);
  const Vma file_ro = MakeVma(VmaType::kFile, R_);
  const Vma file_text = MakeVma(VmaType::kFile, RX);
  const Vma file_priv_rw = MakeVma(VmaType::kFile, RW);
  const Vma file_shared_rw = MakeVma(VmaType::kFile, RW, true);
  const Vma anon_shared = MakeVma(VmaType::kAnon, RW, true);
  const Vma huge = MakeVma(VmaType::kAnon, RW, false, true);
  const Vma none = MakeVma(VmaType::kAnon, 0);
  const Vma ro_anon = MakeVma(VmaType::kAnon, R_);
  const Vma vdso = MakeVma(VmaType::kSpecial, RX);
  const Case cases[] = {
      {"write first touch of anon", U | W, kMin, true, anon, false, FaultKind::kAnonFirstTouch},
      {"read first touch of anon", U, kMin, true, anon, false, FaultKind::kAnonFirstTouch},
      {"kernel-mode first touch (read() into buffer)", W, kMin, true, anon, false, FaultKind::kAnonFirstTouch},
      {"shared anon first touch", U | W, kMin, true, anon_shared, false, FaultKind::kAnonFirstTouch},
      {"heap first touch", U | W, kMin, true, heap, false, FaultKind::kHeap},
      {"stack touch", U | W, kMin, true, stack, false, FaultKind::kStack},
      {"MAP_GROWSDOWN touch", U | W, kMin, true, growsdown, false, FaultKind::kStack},
      {"below the stack, no mapping yet", U | W, kMin, false, {}, true, FaultKind::kStack},
      {"file read, page cache hit", U, kMin, true, file_ro, false, FaultKind::kFile},
      {"file read from disk", U, kMaj, true, file_ro, false, FaultKind::kFile},
      {"instruction fetch of text", U | I, kMaj, true, file_text, false, FaultKind::kFile},
      {"shared file write", U | W, kMin, true, file_shared_rw, false, FaultKind::kFile},
      {"shared file write-protect (dirty tracking)", U | W | P, kMin, true, file_shared_rw, false, FaultKind::kFile},
      {"private file first write: copy of file page", U | W, kMin, true, file_priv_rw, false, FaultKind::kCow},
      {"cow after fork on anon", U | W | P, kMin, true, anon, false, FaultKind::kCow},
      {"cow after fork on heap", U | W | P, kMin, true, heap, false, FaultKind::kCow},
      {"cow after fork on stack", U | W | P, kMin, true, stack, false, FaultKind::kCow},
      {"cow on private file page already mapped", U | W | P, kMin, true, file_priv_rw, false, FaultKind::kCow},
      {"swap-in of anon", U, kMaj, true, anon, false, FaultKind::kSwapIn},
      {"swap-in of heap", U | W, kMaj, true, heap, false, FaultKind::kSwapIn},
      {"huge page", U | W, kMin, true, huge, false, FaultKind::kHugePage},
      {"write to read-only file", U | W | P, kInc, true, file_ro, false, FaultKind::kPermission},
      {"write to read-only anon (not present)", U | W, kInc, true, ro_anon, false, FaultKind::kPermission},
      {"exec of non-exec anon", U | I | P, kInc, true, anon, false, FaultKind::kPermission},
      {"PROT_NONE guard page", U, kInc, true, none, false, FaultKind::kPermission},
      {"protection key", U | W | P | K, kInc, true, anon, false, FaultKind::kPermission},
      // A fault that completed was allowed by the kernel: a read-only view
      // of the mapping is stale (snapshot taken after an mprotect).
      {"completed write, stale read-only private file", U | W, kMin, true, file_ro, false, FaultKind::kCow},
      {"completed present write, stale read-only anon", U | W | P, kMin, true, ro_anon, false, FaultKind::kCow},
      {"completed exec of stale non-exec file", U | I, kMaj, true, file_ro, false, FaultKind::kFile},
      {"SIGSEGV on no mapping", U | W, kInc, false, {}, false, FaultKind::kPermission},
      {"completed fault, mapping unknown", U | W, kMin, false, {}, false, FaultKind::kOther},
      {"read protection fault on anon (NUMA hint)", U | P, kMin, true, anon, false, FaultKind::kOther},
      {"vdso", U, kMin, true, vdso, false, FaultKind::kOther},
  };
  for (const Case& c : cases) {
    FaultFacts f;
    f.error_code = c.error_code;
    f.outcome = c.outcome;
    f.vma = c.has_vma ? &c.vma : nullptr;
    f.below_stack = c.below_stack;
    EXPECT_EQ(FaultKindName(Classify(f)), std::string(FaultKindName(c.want)))
        << c.name;
  }
}

// FL_FAULT_F_HUGE: the kernel side saw a PMD's worth of RSS appear inside
// the fault (a transparent huge page): huge_page whatever the mapping, but
// only for a fault that completed.
TEST(Classify, TransparentHugePageFlag) {
  const Vma anon = MakeVma(VmaType::kAnon, RW);
  const Vma file = MakeVma(VmaType::kFile, R_);
  FaultFacts f;
  f.error_code = U | W;
  f.outcome = kMin;
  f.vma = &anon;
  EXPECT_EQ(Classify(f), FaultKind::kAnonFirstTouch);
  f.flags = FL_FAULT_F_HUGE;
  EXPECT_EQ(Classify(f), FaultKind::kHugePage);
  f.vma = &file;
  f.error_code = U;
  EXPECT_EQ(Classify(f), FaultKind::kHugePage);
  f.flags = FL_FAULT_F_HUGE | FL_FAULT_F_KERNEL;
  EXPECT_EQ(Classify(f), FaultKind::kHugePage);
  f.outcome = kInc;
  f.vma = nullptr;
  EXPECT_EQ(Classify(f), FaultKind::kPermission);
}

TEST(Classify, KindNamesAreTheJsonNames) {
  const char* want[] = {"anon_first_touch", "heap", "file", "cow", "stack",
                        "huge_page", "swap_in", "permission", "other"};
  ASSERT_EQ(kFaultKinds, 9);
  for (int k = 0; k < kFaultKinds; ++k) {
    EXPECT_STREQ(FaultKindName(static_cast<FaultKind>(k)), want[k]);
  }
}

// ---- address spaces -------------------------------------------------------------

class AddressSpaceTest : public ::testing::Test {
 protected:
  AddressSpaces spaces;
  AddressSpace& as = spaces.Of(1);
  Vma Anon(uint32_t prot = RW) {
    return spaces.FromMmap(0, 0, prot, 0x22 /*PRIVATE|ANONYMOUS*/, -1, "");
  }
  std::string NameAt(uint64_t addr) {
    const Vma* v = as.Find(addr);
    return v ? spaces.name(v->name) : "-";
  }
};

TEST_F(AddressSpaceTest, MapFindUnmapSplits) {
  as.Map(0x10000, 0x20000, spaces.FromMmap(0, 0x5000, R_, 0x02, 3, "/lib/a.so"));
  EXPECT_EQ(NameAt(0x10000), "/lib/a.so");
  EXPECT_EQ(NameAt(0x1ffff), "/lib/a.so");
  EXPECT_EQ(NameAt(0x20000), "-");
  EXPECT_EQ(NameAt(0xffff), "-");
  // Punch a hole in the middle: two pieces, the right one with its file
  // offset moved along.
  as.Unmap(0x14000, 0x16000);
  EXPECT_EQ(as.size(), 2u);
  EXPECT_EQ(NameAt(0x13fff), "/lib/a.so");
  EXPECT_EQ(NameAt(0x14000), "-");
  EXPECT_EQ(NameAt(0x15fff), "-");
  ASSERT_NE(as.Find(0x16000), nullptr);
  EXPECT_EQ(as.Find(0x16000)->pgoff, 0x5000u + 0x6000u);
  EXPECT_EQ(as.StartOf(0x17000), 0x16000u);
}

TEST_F(AddressSpaceTest, MapFixedReplacesOverlap) {
  as.Map(0x10000, 0x20000, Anon());
  as.Map(0x18000, 0x28000, spaces.FromMmap(0, 0, R_, 0x12 /*PRIVATE|FIXED*/, 4, "/f"));
  EXPECT_EQ(NameAt(0x17fff), "[anon]");
  EXPECT_EQ(NameAt(0x18000), "/f");
  EXPECT_EQ(NameAt(0x27fff), "/f");
  EXPECT_EQ(as.size(), 2u);
}

TEST_F(AddressSpaceTest, MprotectChangesOnlyTheRange) {
  as.Map(0x10000, 0x20000, Anon());
  as.Protect(0x11000, 0x12000, 0);  // a guard page
  ASSERT_NE(as.Find(0x11000), nullptr);
  EXPECT_EQ(as.Find(0x11000)->prot, 0u);
  EXPECT_EQ(as.Find(0x10000)->prot, RW);
  EXPECT_EQ(as.Find(0x12000)->prot, RW);
  FaultFacts f;
  f.error_code = U | W;
  f.outcome = kInc;
  f.vma = as.Find(0x11800);
  EXPECT_EQ(Classify(f), FaultKind::kPermission);
}

TEST_F(AddressSpaceTest, MremapMovesTheMapping) {
  as.Map(0x10000, 0x12000, spaces.FromMmap(0, 0x3000, R_, 0x02, 3, "/f"));
  as.Remap(0x10000, 0x2000, 0x50000, 0x4000);
  EXPECT_EQ(NameAt(0x10000), "-");
  EXPECT_EQ(NameAt(0x50000), "/f");
  EXPECT_EQ(NameAt(0x53fff), "/f");
  EXPECT_EQ(as.Find(0x50000)->pgoff, 0x3000u);
}

TEST_F(AddressSpaceTest, BrkMovesTheHeap) {
  as.SetBrk(0x600000, 0x601800, spaces.heap_name());
  EXPECT_EQ(NameAt(0x600000), "[heap]");
  EXPECT_EQ(NameAt(0x601fff), "[heap]");  // rounded up to the page
  EXPECT_EQ(NameAt(0x602000), "-");
  as.SetBrk(0x600000, 0x640000, spaces.heap_name());
  EXPECT_EQ(NameAt(0x63ffff), "[heap]");
  as.SetBrk(0x600000, 0x610000, spaces.heap_name());
  EXPECT_EQ(NameAt(0x620000), "-");
  EXPECT_EQ(as.size(), 1u);
}

TEST_F(AddressSpaceTest, StackGrowsDownOnAFaultJustBelowIt) {
  as.Map(0x7ffff0000000, 0x7ffff0021000,
         spaces.FromMapsLine(0, 0, RW, "[stack]"));
  as.Map(0x7fff00000000, 0x7fff00001000, Anon());
  EXPECT_EQ(as.Find(0x7fffefff0000), nullptr);
  const Vma* grown = as.GrowStack(0x7fffefff0123);
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(grown->type, VmaType::kStack);
  EXPECT_EQ(NameAt(0x7fffefff0000), "[stack]");
  // Too far below (more than kStackGap) is not stack growth.
  EXPECT_EQ(as.GrowStack(0x7fffefff0000 - AddressSpace::kStackGap - 0x1000), nullptr);
  // Below an ordinary mapping is not stack growth either.
  EXPECT_EQ(as.GrowStack(0x7ffeffff0000), nullptr);
}

TEST_F(AddressSpaceTest, ForkCopiesAndExecClears) {
  as.Map(0x10000, 0x20000, Anon());
  spaces.Fork(1, 2);
  AddressSpace& child = spaces.Of(2);
  ASSERT_NE(child.Find(0x10000), nullptr);
  // The child's changes do not touch the parent.
  child.Unmap(0x10000, 0x20000);
  EXPECT_EQ(child.Find(0x10000), nullptr);
  EXPECT_NE(spaces.Of(1).Find(0x10000), nullptr);
  spaces.Of(1).Clear();
  EXPECT_EQ(spaces.Of(1).Find(0x10000), nullptr);
}

TEST_F(AddressSpaceTest, MapsLineKinds) {
  EXPECT_EQ(spaces.FromMapsLine(0, 0, RW, "").type, VmaType::kAnon);
  EXPECT_EQ(spaces.FromMapsLine(0, 0, RW, "[heap]").type, VmaType::kHeap);
  EXPECT_EQ(spaces.FromMapsLine(0, 0, RW, "[stack]").type, VmaType::kStack);
  EXPECT_EQ(spaces.FromMapsLine(0, 0, RX, "[vdso]").type, VmaType::kSpecial);
  EXPECT_EQ(spaces.FromMapsLine(0, 0, RW, "[anon:buf]").type, VmaType::kAnon);
  Vma f = spaces.FromMapsLine(0, 0, RW | trace::kMappingShared, "/dev/shm/x");
  EXPECT_EQ(f.type, VmaType::kFile);
  EXPECT_TRUE(f.shared);
  EXPECT_EQ(f.prot, RW);
  EXPECT_TRUE(spaces.FromMapsLine(0, 0, RW, "/anon_hugepage (deleted)").huge);
  EXPECT_TRUE(spaces.FromMmap(0, 0, RW, 0x40022, -1, "").huge);
  EXPECT_TRUE(spaces.FromMmap(0, 0, RW, 0x01, 3, "/x").shared);
  EXPECT_FALSE(spaces.FromMmap(0, 0, RW, 0x02, 3, "/x").shared);
}

}  // namespace
}  // namespace faultline::analyzer
