// The task and address-space families (their programs keep no state of
// their own to collect at the end), and the list of all families.
#include <linux/perf_event.h>

#include "collector/family.h"

namespace faultline::collector {

bool Wanted(When when, const BpfSettings& s) {
  switch (when) {
    case When::kAlways:
      return true;
    case When::kFaults:
      return s.faults;
    case When::kFaultsStreaming:
      return s.faults && !s.summary;
    case When::kFaultsSummary:
      return s.faults && s.summary;
    case When::kAddressSpace:
      return s.mmap_events && !s.summary;
    case When::kTcp:
      return s.tcp && !s.summary;
  }
  return false;
}

uint32_t NeedsOf(const std::vector<std::unique_ptr<Family>>& families,
                 const BpfSettings& s) {
  uint32_t needs = 0;
  for (const auto& f : families) {
    for (const Probe& p : f->probes()) {
      if (Wanted(p.when, s)) needs |= p.needs;
    }
  }
  return needs;
}

namespace {

constexpr uint32_t kRaw = kNeedBtf;
constexpr uint32_t kTp = kNeedBtf | kNeedTracefs;

// bpf/tasks.bpf.c: fork/exec/exit of targets; follows the target set.
constexpr Probe kTaskProbes[] = {
    {"handle_fork", Hook::kRawTracepoint, "sched_process_fork", 0,
     When::kAlways, kRaw, false},
    {"handle_exec", Hook::kRawTracepoint, "sched_process_exec", 0,
     When::kAlways, kRaw, false},
    {"handle_exit", Hook::kRawTracepoint, "sched_process_exit", 0,
     When::kAlways, kRaw, false},
};

class TasksFamily : public Family {
 public:
  std::string_view name() const override { return "tasks"; }
  Stage stage() const override { return Stage::kFollow; }
  std::span<const Probe> probes() const override { return kTaskProbes; }
};

// bpf/mm.bpf.c: the address-space syscalls of targets, and TLB shootdowns
// (an extra: off, not an error, on a kernel without tlb:tlb_flush).
constexpr Probe kMmProbes[] = {
    {"handle_enter_mmap", Hook::kTracepoint, "syscalls:sys_enter_mmap", 0,
     When::kAddressSpace, kTp, false},
    {"handle_exit_mmap", Hook::kTracepoint, "syscalls:sys_exit_mmap", 0,
     When::kAddressSpace, kTp, false},
    {"handle_enter_munmap", Hook::kTracepoint, "syscalls:sys_enter_munmap", 0,
     When::kAddressSpace, kTp, false},
    {"handle_exit_munmap", Hook::kTracepoint, "syscalls:sys_exit_munmap", 0,
     When::kAddressSpace, kTp, false},
    {"handle_enter_mremap", Hook::kTracepoint, "syscalls:sys_enter_mremap", 0,
     When::kAddressSpace, kTp, false},
    {"handle_exit_mremap", Hook::kTracepoint, "syscalls:sys_exit_mremap", 0,
     When::kAddressSpace, kTp, false},
    {"handle_enter_brk", Hook::kTracepoint, "syscalls:sys_enter_brk", 0,
     When::kAddressSpace, kTp, false},
    {"handle_exit_brk", Hook::kTracepoint, "syscalls:sys_exit_brk", 0,
     When::kAddressSpace, kTp, false},
    {"handle_enter_mprotect", Hook::kTracepoint, "syscalls:sys_enter_mprotect",
     0, When::kAddressSpace, kTp, false},
    {"handle_exit_mprotect", Hook::kTracepoint, "syscalls:sys_exit_mprotect",
     0, When::kAddressSpace, kTp, false},
    {"handle_tlb_flush", Hook::kTracepoint, "tlb:tlb_flush", 0,
     When::kAddressSpace, kTp, true},
};

class MmFamily : public Family {
 public:
  std::string_view name() const override { return "mm"; }
  std::span<const Probe> probes() const override { return kMmProbes; }
};

}  // namespace

std::unique_ptr<Family> MakeTasksFamily() {
  return std::make_unique<TasksFamily>();
}

std::unique_ptr<Family> MakeMmFamily() { return std::make_unique<MmFamily>(); }

std::vector<std::unique_ptr<Family>> MakeFamilies() {
  std::vector<std::unique_ptr<Family>> f;
  f.push_back(MakeTasksFamily());
  f.push_back(MakeMmFamily());
  f.push_back(MakeTcpFamily());
  // Last: its entry programs are the last probes attached, after the
  // completions, so that the first entries pair.
  f.push_back(MakeFaultsFamily());
  return f;
}

}  // namespace faultline::collector
