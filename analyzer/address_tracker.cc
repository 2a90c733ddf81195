#include "analyzer/address_tracker.h"

namespace faultline::analyzer {

namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

void AddressTracker::OnFault(const trace::FaultEvent& f) {
  Resolved r;
  r.space = spaces_.Find(f.pid);
  if (r.space != nullptr) {
    r.vma = r.space->Find(f.address);
    if (r.vma == nullptr) {
      // Unmapped since? A fault later than the reorder window (it waited
      // in another CPU's partial batch) still finds what it hit.
      r.vma = r.space->FindRetired(f.address, f.ts_ns);
    }
    if (r.vma == nullptr) {
      r.vma = r.space->GrowStack(f.address);
      r.below_stack = r.vma != nullptr;
    }
  }
  resolved_ = r;
}

void AddressTracker::OnMmap(const trace::MmapEvent& m) {
  AddressSpace& as = spaces_.Of(m.pid);
  const uint64_t len = (m.len + kPage - 1) & ~(kPage - 1);
  if (m.ts_ns < as.snapshot_ts()) {
    // An event from before the maps snapshot in use (the collector may
    // write a snapshot in the same flush as earlier events, and metadata
    // comes first). The snapshot already shows its lasting effect; only a
    // short-lived mapping it missed is worth keeping, where the snapshot
    // has nothing, until its own munmap.
    if (m.type == FL_EV_MMAP && !as.Overlaps(m.start, m.start + len)) {
      as.Map(m.start, m.start + len,
             spaces_.FromMmap(m.start + len, m.pgoff, m.prot, m.flags, m.fd,
                              m.path));
    } else if (m.type == FL_EV_MUNMAP) {
      as.UnmapEventMappings(m.start, m.start + len);
    }
    return;
  }
  switch (m.type) {
    case FL_EV_MMAP:
      as.Map(m.start, m.start + len,
             spaces_.FromMmap(m.start + len, m.pgoff, m.prot, m.flags, m.fd,
                              m.path));
      break;
    case FL_EV_MUNMAP:
      as.Retire(m.start, m.start + len, m.ts_ns);
      break;
    case FL_EV_MREMAP:
      as.Remap(m.start, len, m.pgoff, (m.aux + kPage - 1) & ~(kPage - 1));
      break;
    case FL_EV_BRK:
      as.SetBrk(m.start, m.start + m.len, spaces_.heap_name());
      break;
    case FL_EV_MPROTECT:
      as.Protect(m.start, m.start + len, m.prot);
      break;
    default:
      break;
  }
}

void AddressTracker::OnTask(const trace::TaskEvent& t) {
  switch (t.type) {
    case FL_EV_FORK:
      if (!t.is_thread) {
        AddressSpace* child_space = spaces_.Find(t.pid);
        // A snapshot of the child taken after the fork is better than a
        // copy of the parent.
        if (child_space == nullptr || child_space->snapshot_ts() <= t.ts_ns) {
          spaces_.Fork(t.parent_pid, t.pid);
          spaces_.Of(t.pid).set_snapshot_ts(t.ts_ns);
        }
      }
      break;
    case FL_EV_EXEC: {
      AddressSpace& as = spaces_.Of(t.pid);
      // The old image is gone, unless a snapshot after the exec already
      // describes the new one.
      if (as.snapshot_ts() <= t.ts_ns) as.Clear();
      break;
    }
    default:
      break;
  }
}

void AddressTracker::OnMapping(const trace::MappingInfo& m) {
  AddressSpace& as = spaces_.Of(m.pid);
  // Lines of one snapshot share its time. A newer snapshot replaces the
  // whole address space; a line older than the snapshot in use is stale.
  if (m.ts_ns != as.snapshot_ts()) {
    if (m.ts_ns < as.snapshot_ts()) return;
    as.Clear();
    as.set_snapshot_ts(m.ts_ns);
  }
  as.Map(m.start, m.end, spaces_.FromMapsLine(m.end, m.pgoff, m.prot, m.path));
}

}  // namespace faultline::analyzer
