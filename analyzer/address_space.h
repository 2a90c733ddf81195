// The address space of each traced process through time, rebuilt from the
// /proc/PID/maps snapshot in the trace and the mmap/munmap/mremap/brk/
// mprotect/exec/fork events, and the classification of a fault from its
// error code, its outcome and the mapping it hit.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace faultline::analyzer {

// Fault kinds, a partition: every fault gets exactly one. Names are the
// JSON keys of faults.by_kind (docs/report.md).
enum class FaultKind : uint8_t {
  kAnonFirstTouch = 0,  // not-present fault on private anonymous memory
  kHeap,                // the same on the [heap]/brk range
  kFile,                // file-backed mapping (page cache hit or read)
  kCow,                 // copy-on-write: write to a write-protected page of
                        // a private writable mapping (after fork, or the
                        // first write to a private file page)
  kStack,               // [stack], MAP_GROWSDOWN, or just below the stack
  kHugePage,            // MAP_HUGETLB / hugetlbfs mapping, or a fault
                        // that mapped a transparent huge page
  kSwapIn,              // major fault on anonymous memory
  kPermission,          // access the mapping forbids, or an incomplete fault
                        // on no mapping (SIGSEGV)
  kOther,               // none of the above, or the mapping is unknown
  kCount,
};
constexpr int kFaultKinds = static_cast<int>(FaultKind::kCount);
const char* FaultKindName(FaultKind k);

// What a mapping is, as far as classification cares.
enum class VmaType : uint8_t {
  kAnon = 0,
  kFile,
  kHeap,
  kStack,
  kSpecial,  // [vdso], [vvar], [vsyscall], other [...] names
};

// Bits of Vma::prot (PROT_* values).
constexpr uint32_t kProtRead = 1, kProtWrite = 2, kProtExec = 4;

struct Vma {
  uint64_t end = 0;     // exclusive
  uint64_t pgoff = 0;   // file offset of the mapping's start
  uint32_t prot = 0;    // kProt* bits
  uint32_t name = 0;    // index into AddressSpaces::names()
  VmaType type = VmaType::kAnon;
  bool shared = false;     // MAP_SHARED
  bool huge = false;       // MAP_HUGETLB or a hugetlbfs file
  bool growsdown = false;  // MAP_GROWSDOWN
  bool from_snapshot = false;  // a /proc/PID/maps line, not an event
};

// Everything Classify() looks at. vma == nullptr: no known mapping.
struct FaultFacts {
  uint16_t error_code = 0;  // FL_PF_* bits
  uint8_t outcome = 0;      // enum fl_fault_outcome
  uint8_t flags = 0;        // enum fl_fault_flags (FL_FAULT_F_HUGE)
  const Vma* vma = nullptr;
  bool below_stack = false;  // no mapping, but just below a stack mapping
};
FaultKind Classify(const FaultFacts& f);

// One process's mappings: start -> Vma, non-overlapping.
class AddressSpace {
 public:
  // The mapping containing addr, or nullptr. `slot` picks one of two
  // one-entry caches (0: data addresses, 1: instruction pointers) so that
  // alternating lookups of both do not evict each other.
  const Vma* Find(uint64_t addr, int slot = 0);
  // Returns the start of the mapping containing addr (Find() must have
  // succeeded for addr).
  uint64_t StartOf(uint64_t addr) const;
  // A fault at addr just below a stack mapping (within kStackGap and with
  // nothing in between) grows that mapping down to addr's page; returns it.
  const Vma* GrowStack(uint64_t addr);

  void Map(uint64_t start, uint64_t end, const Vma& v);  // replaces overlaps
  void Unmap(uint64_t start, uint64_t end);
  // Unmap() for a munmap at time `ts` that remembers what it removed (the
  // last kRetiredMax pieces): a fault taken before the munmap can reach the
  // analyzer after it (it waited in another CPU's partial batch of the
  // collector) and still find its mapping with FindRetired().
  void Retire(uint64_t start, uint64_t end, uint64_t ts);
  // The most recently retired mapping that contained addr and was unmapped
  // after `ts`; nullptr if none is remembered.
  const Vma* FindRetired(uint64_t addr, uint64_t ts) const;
  static constexpr size_t kRetiredMax = 256;
  // Whether any mapping intersects [start, end).
  bool Overlaps(uint64_t start, uint64_t end) const;
  // Unmap() that spares mappings that came from a maps snapshot.
  void UnmapEventMappings(uint64_t start, uint64_t end);
  void Protect(uint64_t start, uint64_t end, uint32_t prot);
  void Remap(uint64_t old_start, uint64_t old_len, uint64_t new_start,
             uint64_t new_len);
  void SetBrk(uint64_t heap_start, uint64_t heap_end, uint32_t heap_name);
  void Clear();
  // CLOCK_MONOTONIC time of the /proc/PID/maps snapshot this address space
  // was last rebuilt from (0: none). Address-space events older than it are
  // already reflected in it.
  uint64_t snapshot_ts() const { return snapshot_ts_; }
  void set_snapshot_ts(uint64_t ts) { snapshot_ts_ = ts; }
  // Copies share no lookup cache with their origin.
  void ResetCache() { cache_[0] = cache_[1] = nullptr; }
  size_t size() const { return vmas_.size(); }

  static constexpr uint64_t kStackGap = 128ull << 20;

 private:
  // Splits so that no mapping straddles addr.
  void SplitAt(uint64_t addr);
  std::map<uint64_t, Vma> vmas_;
  struct Retired {
    uint64_t start;
    Vma vma;      // vma.end: the end of the removed piece
    uint64_t ts;  // when it was unmapped
  };
  std::deque<Retired> retired_;  // oldest first
  // Range holding the heap mapping(s) ([heap] line or the last brk).
  uint64_t heap_lo_ = 0, heap_hi_ = 0;
  uint64_t snapshot_ts_ = 0;
  // Lookup caches (faults come in runs on one mapping).
  uint64_t cache_start_[2] = {0, 0};
  const Vma* cache_[2] = {nullptr, nullptr};
};

// All processes' address spaces and the interned mapping names.
class AddressSpaces {
 public:
  AddressSpaces();
  AddressSpace& Of(uint32_t pid);
  AddressSpace* Find(uint32_t pid);
  void Fork(uint32_t parent, uint32_t child);
  uint32_t Intern(std::string_view name);
  const std::string& name(uint32_t id) const { return names_[id]; }

  // Builds a Vma from a /proc/PID/maps line's fields or an mmap event.
  Vma FromMapsLine(uint64_t end, uint64_t pgoff, uint32_t prot_and_shared,
                   std::string_view path);
  Vma FromMmap(uint64_t end, uint64_t pgoff, uint32_t prot, uint32_t flags,
               int32_t fd, std::string_view path);

  uint32_t anon_name() const { return anon_; }
  uint32_t heap_name() const { return heap_; }
  uint32_t stack_name() const { return stack_; }
  uint32_t unknown_name() const { return unknown_; }

 private:
  std::unordered_map<uint32_t, AddressSpace> spaces_;
  uint32_t last_pid_ = 0;
  AddressSpace* last_ = nullptr;
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> ids_;
  uint32_t anon_, heap_, stack_, unknown_;
};

}  // namespace faultline::analyzer
