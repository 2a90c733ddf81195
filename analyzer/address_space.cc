#include "analyzer/address_space.h"

#include <algorithm>
#include <iterator>

#include "bpf/faultline.h"
#include "trace/writer.h"

namespace faultline::analyzer {

namespace {
constexpr uint64_t kPage = 4096;
// MAP_* bits (Linux x86-64 values; not taken from <sys/mman.h> so that the
// meaning of a trace does not depend on the machine reading it).
constexpr uint32_t kMapShared = 0x01;
constexpr uint32_t kMapSharedValidate = 0x03;
constexpr uint32_t kMapAnonymous = 0x20;
constexpr uint32_t kMapGrowsdown = 0x100;
constexpr uint32_t kMapHugetlb = 0x40000;
}  // namespace

const char* FaultKindName(FaultKind k) {
  switch (k) {
    case FaultKind::kAnonFirstTouch: return "anon_first_touch";
    case FaultKind::kHeap: return "heap";
    case FaultKind::kFile: return "file";
    case FaultKind::kCow: return "cow";
    case FaultKind::kStack: return "stack";
    case FaultKind::kHugePage: return "huge_page";
    case FaultKind::kSwapIn: return "swap_in";
    case FaultKind::kPermission: return "permission";
    case FaultKind::kOther: return "other";
    case FaultKind::kCount: break;
  }
  return "other";
}

FaultKind Classify(const FaultFacts& f) {
  const bool write = f.error_code & FL_PF_WRITE;
  const bool present = f.error_code & FL_PF_PROT;
  const bool instr = f.error_code & FL_PF_INSTR;
  const bool major = f.outcome == FL_FAULT_MAJOR;
  const bool completed = f.outcome == FL_FAULT_MINOR || major;
  if ((f.error_code & FL_PF_PK) && !completed) return FaultKind::kPermission;
  if (f.vma == nullptr) {
    if (f.below_stack) return FaultKind::kStack;
    return f.outcome == FL_FAULT_INCOMPLETE ? FaultKind::kPermission
                                            : FaultKind::kOther;
  }
  Vma v = *f.vma;
  // An access the mapping does not allow is a SIGSEGV (or a fixup inside
  // the kernel): x86 has no write-only or execute-only pages, so a read is
  // forbidden only when the mapping has no access at all.
  if ((write && !(v.prot & kProtWrite)) || (instr && !(v.prot & kProtExec)) ||
      (v.prot & (kProtRead | kProtWrite | kProtExec)) == 0) {
    // The kernel checks access before handling a fault: a fault that
    // completed was allowed, so our view of the mapping's protection is
    // stale (a maps snapshot taken after an mprotect, e.g. ld.so's RELRO).
    // Judge it with the access granted.
    if (!completed) return FaultKind::kPermission;
    v.prot |= (write ? kProtWrite : 0) | (instr ? kProtExec : 0) | kProtRead;
  }
  // The kernel side saw the process's RSS grow by a PMD's worth of pages
  // inside this fault: a transparent huge page (anon, shmem or file).
  if (completed && (f.flags & FL_FAULT_F_HUGE)) return FaultKind::kHugePage;
  // A present page, write-protected although the mapping is writable and
  // private: copy-on-write (fork, or a private file page already mapped).
  if (present && write && !v.shared) return FaultKind::kCow;
  const bool anon = v.type == VmaType::kAnon || v.type == VmaType::kHeap ||
                    v.type == VmaType::kStack;
  if (major && anon && !v.huge) return FaultKind::kSwapIn;
  if (v.type == VmaType::kStack || v.growsdown) return FaultKind::kStack;
  if (v.huge) return FaultKind::kHugePage;
  switch (v.type) {
    case VmaType::kFile:
      // First write to a not-present page of a private file mapping: the
      // kernel reads the file page and copies it (do_cow_fault).
      if (!present && write && !v.shared) return FaultKind::kCow;
      return FaultKind::kFile;
    case VmaType::kHeap:
      return present ? FaultKind::kOther : FaultKind::kHeap;
    case VmaType::kAnon:
      return present ? FaultKind::kOther : FaultKind::kAnonFirstTouch;
    default:
      return FaultKind::kOther;
  }
}

const Vma* AddressSpace::Find(uint64_t addr, int slot) {
  const Vma*& cache = cache_[slot];
  if (cache != nullptr && addr >= cache_start_[slot] && addr < cache->end) {
    return cache;
  }
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return nullptr;
  --it;
  if (addr >= it->second.end) return nullptr;
  cache_start_[slot] = it->first;
  cache = &it->second;
  return cache;
}

uint64_t AddressSpace::StartOf(uint64_t addr) const {
  auto it = vmas_.upper_bound(addr);
  return it == vmas_.begin() ? 0 : std::prev(it)->first;
}

const Vma* AddressSpace::GrowStack(uint64_t addr) {
  auto it = vmas_.upper_bound(addr);  // first mapping above addr
  if (it == vmas_.end()) return nullptr;
  if (it->second.type != VmaType::kStack && !it->second.growsdown) return nullptr;
  if (it->first - addr > kStackGap) return nullptr;
  if (it != vmas_.begin() && std::prev(it)->second.end > addr) return nullptr;
  Vma v = it->second;
  vmas_.erase(it);
  ResetCache();
  auto [ins, ok] = vmas_.emplace(addr & ~(kPage - 1), v);
  (void)ok;
  return &ins->second;
}

void AddressSpace::SplitAt(uint64_t addr) {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return;
  --it;
  if (it->first == addr || addr >= it->second.end) return;
  Vma right = it->second;
  right.pgoff += addr - it->first;
  it->second.end = addr;
  vmas_.emplace(addr, right);
}

void AddressSpace::Unmap(uint64_t start, uint64_t end) {
  if (end <= start) return;
  ResetCache();
  SplitAt(start);
  SplitAt(end);
  auto it = vmas_.lower_bound(start);
  while (it != vmas_.end() && it->first < end) it = vmas_.erase(it);
}

void AddressSpace::Retire(uint64_t start, uint64_t end, uint64_t ts) {
  if (end <= start) return;
  ResetCache();
  SplitAt(start);
  SplitAt(end);
  auto it = vmas_.lower_bound(start);
  while (it != vmas_.end() && it->first < end) {
    retired_.push_back({it->first, it->second, ts});
    if (retired_.size() > kRetiredMax) retired_.pop_front();
    it = vmas_.erase(it);
  }
}

const Vma* AddressSpace::FindRetired(uint64_t addr, uint64_t ts) const {
  for (auto it = retired_.rbegin(); it != retired_.rend(); ++it) {
    if (addr >= it->start && addr < it->vma.end && ts < it->ts) {
      return &it->vma;
    }
  }
  return nullptr;
}

bool AddressSpace::Overlaps(uint64_t start, uint64_t end) const {
  auto it = vmas_.lower_bound(start);
  if (it != vmas_.end() && it->first < end) return true;
  return it != vmas_.begin() && std::prev(it)->second.end > start;
}

void AddressSpace::UnmapEventMappings(uint64_t start, uint64_t end) {
  if (end <= start) return;
  ResetCache();
  SplitAt(start);
  SplitAt(end);
  for (auto it = vmas_.lower_bound(start); it != vmas_.end() && it->first < end;) {
    it = it->second.from_snapshot ? std::next(it) : vmas_.erase(it);
  }
}

void AddressSpace::Map(uint64_t start, uint64_t end, const Vma& v) {
  if (end <= start) return;
  Unmap(start, end);
  Vma copy = v;
  copy.end = end;
  vmas_[start] = copy;
  if (v.type == VmaType::kHeap) {
    heap_lo_ = heap_hi_ > heap_lo_ ? std::min(heap_lo_, start) : start;
    heap_hi_ = std::max(heap_hi_, end);
  }
}

void AddressSpace::Protect(uint64_t start, uint64_t end, uint32_t prot) {
  if (end <= start) return;
  ResetCache();
  SplitAt(start);
  SplitAt(end);
  for (auto it = vmas_.lower_bound(start); it != vmas_.end() && it->first < end;
       ++it) {
    it->second.prot = prot & (kProtRead | kProtWrite | kProtExec);
  }
}

void AddressSpace::Remap(uint64_t old_start, uint64_t old_len,
                         uint64_t new_start, uint64_t new_len) {
  const Vma* found = Find(old_start);
  if (found == nullptr) return;
  Vma v = *found;
  v.pgoff += old_start - StartOf(old_start);
  Unmap(old_start, old_start + old_len);
  Map(new_start, new_start + new_len, v);
}

void AddressSpace::SetBrk(uint64_t heap_start, uint64_t heap_end,
                          uint32_t heap_name) {
  ResetCache();
  // Drop the old heap: only heap mappings inside the last known heap range
  // (no scan of the whole address space per brk()).
  if (heap_hi_ > heap_lo_) {
    SplitAt(heap_lo_);
    SplitAt(heap_hi_);
    for (auto it = vmas_.lower_bound(heap_lo_);
         it != vmas_.end() && it->first < heap_hi_;) {
      it = it->second.type == VmaType::kHeap ? vmas_.erase(it) : std::next(it);
    }
  }
  heap_lo_ = heap_hi_ = 0;
  heap_end = (heap_end + kPage - 1) & ~(kPage - 1);
  if (heap_end <= heap_start) return;
  Vma v;
  v.type = VmaType::kHeap;
  v.prot = kProtRead | kProtWrite;
  v.name = heap_name;
  Map(heap_start, heap_end, v);
}

void AddressSpace::Clear() {
  vmas_.clear();
  retired_.clear();
  heap_lo_ = heap_hi_ = 0;
  ResetCache();
}

AddressSpaces::AddressSpaces() {
  anon_ = Intern("[anon]");
  heap_ = Intern("[heap]");
  stack_ = Intern("[stack]");
  unknown_ = Intern("[unknown]");
}

AddressSpace& AddressSpaces::Of(uint32_t pid) {
  if (last_ != nullptr && last_pid_ == pid) return *last_;
  // unordered_map keeps element addresses stable across rehashing.
  last_ = &spaces_[pid];
  last_pid_ = pid;
  return *last_;
}

AddressSpace* AddressSpaces::Find(uint32_t pid) {
  if (last_ != nullptr && last_pid_ == pid) return last_;
  auto it = spaces_.find(pid);
  if (it == spaces_.end()) return nullptr;
  last_ = &it->second;
  last_pid_ = pid;
  return last_;
}

void AddressSpaces::Fork(uint32_t parent, uint32_t child) {
  AddressSpace* p = Find(parent);
  AddressSpace copy = p ? *p : AddressSpace();
  AddressSpace& c = Of(child);
  c = std::move(copy);
  c.ResetCache();
}

uint32_t AddressSpaces::Intern(std::string_view name) {
  auto it = ids_.find(std::string(name));
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

Vma AddressSpaces::FromMapsLine(uint64_t end, uint64_t pgoff,
                                uint32_t prot_and_shared,
                                std::string_view path) {
  Vma v;
  v.end = end;
  v.pgoff = pgoff;
  v.from_snapshot = true;
  v.prot = prot_and_shared & (kProtRead | kProtWrite | kProtExec);
  v.shared = prot_and_shared & trace::kMappingShared;
  if (path.empty()) {
    v.type = VmaType::kAnon;
    v.name = anon_;
  } else if (path == "[heap]") {
    v.type = VmaType::kHeap;
    v.name = heap_;
  } else if (path == "[stack]" || path.starts_with("[stack:")) {
    v.type = VmaType::kStack;
    v.name = stack_;
  } else if (path.starts_with("[anon")) {  // [anon:name] (prctl PR_SET_VMA)
    v.type = VmaType::kAnon;
    v.name = Intern(path);
  } else if (path.starts_with("[")) {
    v.type = VmaType::kSpecial;
    v.name = Intern(path);
  } else {
    v.type = VmaType::kFile;
    v.name = Intern(path);
    v.huge = path.starts_with("/anon_hugepage") ||
             path.find("/hugepages") != std::string_view::npos;
    // Shared anonymous memory shows up as "/dev/zero (deleted)" or
    // "/SYSV...": shmem, first touch is like anonymous memory.
    if (path.starts_with("/dev/zero") || path.starts_with("/SYSV")) {
      v.type = VmaType::kAnon;
    }
  }
  return v;
}

Vma AddressSpaces::FromMmap(uint64_t end, uint64_t pgoff, uint32_t prot,
                            uint32_t flags, int32_t fd, std::string_view path) {
  Vma v;
  v.end = end;
  v.pgoff = pgoff;
  v.prot = prot & (kProtRead | kProtWrite | kProtExec);
  v.shared = (flags & kMapSharedValidate) == kMapShared ||
             (flags & kMapSharedValidate) == kMapSharedValidate;
  v.growsdown = flags & kMapGrowsdown;
  v.huge = flags & kMapHugetlb;
  if (fd < 0 || (flags & kMapAnonymous)) {
    v.type = v.growsdown ? VmaType::kStack : VmaType::kAnon;
    v.name = v.growsdown ? stack_ : anon_;
  } else {
    v.type = VmaType::kFile;
    v.name = Intern(path.empty() ? "[file fd " + std::to_string(fd) + "]"
                                 : std::string(path));
    if (path.find("/hugepages") != std::string_view::npos) v.huge = true;
  }
  return v;
}

}  // namespace faultline::analyzer
