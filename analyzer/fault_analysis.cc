#include "analyzer/fault_analysis.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "analyzer/symbolizer.h"

#ifndef FAULTLINE_VERSION
#define FAULTLINE_VERSION "unknown"
#endif

namespace faultline::analyzer {

namespace {

constexpr uint32_t kKernelSite = 0xffffffffu;
constexpr uint64_t kPage = 4096;

using Json = nlohmann::ordered_json;

Json LatencyJson(const LatencyHistogram& h) {
  Json j;
  j["count"] = h.count();
  j["total_ns"] = h.sum();
  j["p50"] = h.Percentile(0.50);
  j["p90"] = h.Percentile(0.90);
  j["p99"] = h.Percentile(0.99);
  j["max"] = h.max();
  Json rows = Json::array();
  for (auto [upper, count] : h.Log2Rows()) rows.push_back({upper, count});
  j["histogram"] = std::move(rows);
  return j;
}

template <typename Array>
Json KindsJson(const Array& counts) {
  Json j;
  for (int k = 0; k < kFaultKinds; ++k) {
    j[FaultKindName(static_cast<FaultKind>(k))] = counts[k];
  }
  return j;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Largest cost first; ties by count, then by the given key for a stable
// order.
template <typename T>
void SortByCost(std::vector<T>& v) {
  std::sort(v.begin(), v.end(), [](const T& a, const T& b) {
    if (a.ns != b.ns) return a.ns > b.ns;
    if (a.faults != b.faults) return a.faults > b.faults;
    return a.key < b.key;
  });
}

}  // namespace

FaultAnalysis::FaultAnalysis(const trace::FileHeader& header,
                             AnalysisOptions options)
    : header_(header), options_(options) {
  for (auto& h : kind_hist_) h = std::make_unique<LatencyHistogram>();
}
FaultAnalysis::~FaultAnalysis() = default;

FaultAnalysis::ProcessStats& FaultAnalysis::Proc(uint32_t pid) {
  if (last_proc_ != nullptr && last_pid_ == pid) return *last_proc_;
  last_proc_ = &procs_[pid];
  last_pid_ = pid;
  return *last_proc_;
}

FaultAnalysis::ThreadStats& FaultAnalysis::Thread(uint32_t pid, uint32_t tid) {
  if (last_thread_ != nullptr && last_tid_ == tid && last_thread_->pid == pid) {
    return *last_thread_;
  }
  last_thread_ = &threads_[tid];
  // A recycled tid in another process starts afresh under that pid only if
  // it had no faults; otherwise the faults stay with the first owner.
  if (last_thread_->minor + last_thread_->major + last_thread_->incomplete == 0) {
    last_thread_->pid = pid;
  }
  last_tid_ = tid;
  return *last_thread_;
}

void FaultAnalysis::Seen(uint64_t ts) {
  if (first_ts_ == 0 || ts < first_ts_) first_ts_ = ts;
  last_ts_ = std::max(last_ts_, ts);
}

void FaultAnalysis::OnFault(const trace::FaultEvent& f) {
  Seen(f.ts_ns);
  ++total_;
  const bool kernel = f.flags & FL_FAULT_F_KERNEL;
  if (f.flags & FL_FAULT_F_ADDR_MISMATCH) ++addr_mismatch_;

  AddressSpace* as = spaces_.Find(f.pid);
  FaultFacts facts;
  facts.error_code = f.error_code;
  facts.outcome = f.outcome;
  facts.flags = f.flags;
  if (as != nullptr) {
    facts.vma = as->Find(f.address);
    if (facts.vma == nullptr) {
      // Unmapped since? The fault may have waited in another CPU's
      // partial batch while its thread went on to munmap the page.
      facts.vma = as->FindRetired(f.address, f.ts_ns);
    }
    if (facts.vma == nullptr) {
      facts.vma = as->GrowStack(f.address);
      facts.below_stack = facts.vma != nullptr;
    }
  }
  const FaultKind kind = Classify(facts);
  const int k = static_cast<int>(kind);

  ProcessStats& p = Proc(f.pid);
  ThreadStats& t = Thread(f.pid, f.tid);
  ++by_kind_[k];
  ++p.by_kind[k];
  if (kernel) {
    ++kernel_mode_;
    ++p.kernel_mode;
  } else {
    ++user_mode_;
    ++p.user_mode;
  }
  uint64_t ns = 0;
  if (f.outcome == FL_FAULT_MINOR || f.outcome == FL_FAULT_MAJOR) {
    if (f.outcome == FL_FAULT_MINOR) {
      ++minor_;
      ++p.minor;
      ++t.minor;
    } else {
      ++major_;
      ++p.major;
      ++t.major;
    }
    ns = f.latency_ns;
    hist_.Add(f.latency_ns);
    kind_hist_[k]->Add(f.latency_ns);
    p.hist.Add(f.latency_ns);
    t.hist.Add(f.latency_ns);
  } else {
    ++incomplete_;
    ++p.incomplete;
    ++t.incomplete;
  }

  uint32_t name = facts.vma ? facts.vma->name : spaces_.unknown_name();
  Cost& m = mappings_[uint64_t{f.pid} << 32 | name];
  ++m.faults;
  m.ns += ns;

  SiteKey site{f.pid, kKernelSite, 0};
  if (!kernel) {
    const Vma* code = as ? as->Find(f.ip, 1) : nullptr;
    if (code != nullptr && code->type == VmaType::kFile) {
      site.name = code->name;
      site.offset = f.ip - as->StartOf(f.ip) + code->pgoff;
    } else {
      site.name = code ? code->name : spaces_.unknown_name();
      site.offset = f.ip;
    }
  }
  Cost& s = sites_[site];
  ++s.faults;
  s.ns += ns;
}

void FaultAnalysis::OnMmap(const trace::MmapEvent& m) {
  Seen(m.ts_ns);
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

void FaultAnalysis::OnTask(const trace::TaskEvent& t) {
  Seen(t.ts_ns);
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
        ProcInfo& child = proc_info_[t.pid];
        child.ppid = t.parent_pid;
        auto parent = proc_info_.find(t.parent_pid);
        if (!t.comm.empty()) {
          child.comm = std::string(t.comm);
        } else if (parent != proc_info_.end()) {
          child.comm = parent->second.comm;
        }
        if (parent != proc_info_.end()) child.exe = parent->second.exe;
      }
      if (!t.comm.empty()) thread_comm_[t.tid] = std::string(t.comm);
      break;
    case FL_EV_EXEC: {
      AddressSpace& as = spaces_.Of(t.pid);
      // The old image is gone, unless a snapshot after the exec already
      // describes the new one.
      if (as.snapshot_ts() <= t.ts_ns) as.Clear();
      ProcInfo& info = proc_info_[t.pid];
      if (!t.comm.empty()) info.comm = std::string(t.comm);
      if (!t.path.empty()) info.exe = std::string(t.path);
      if (!t.comm.empty()) thread_comm_[t.tid] = std::string(t.comm);
      break;
    }
    default:
      break;
  }
}

void FaultAnalysis::OnTlb(const trace::TlbEvent& t) {
  Seen(t.ts_ns);
  // enum tlb_flush_reason (include/linux/mm_types.h). Task-switch flushes
  // (0) are not shootdowns; the collector no longer records them, and older
  // traces' are skipped here.
  enum { kTaskSwitch = 0, kRemote = 1, kLocal = 2, kLocalMm = 3, kSendIpi = 4 };
  if (t.reason == kTaskSwitch) return;
  Tlb& x = tlb_[t.pid];
  ++x.count;
  if (t.reason == kSendIpi) ++x.ipis_sent;
  if (t.reason == kRemote) ++x.remote;
  if (t.reason == kLocal || t.reason == kLocalMm) ++x.local;
  if (t.pages == ~uint64_t{0}) {
    ++x.full;
  } else {
    x.pages += t.pages;
  }
}

void FaultAnalysis::OnOpaque(const trace::OpaqueEvent& o) {
  Seen(o.ts_ns);
  ++other_events_;
}

void FaultAnalysis::OnProcess(const trace::ProcessInfo& p) {
  ProcInfo& info = proc_info_[p.pid];
  info.ppid = p.ppid;
  info.comm = std::string(p.comm);
  info.exe = std::string(p.exe);
}

void FaultAnalysis::OnThread(const trace::ThreadInfo& t) {
  thread_comm_[t.tid] = std::string(t.comm);
}

void FaultAnalysis::OnMapping(const trace::MappingInfo& m) {
  AddressSpace& as = spaces_.Of(m.pid);
  // Lines of one snapshot share its time. A newer snapshot replaces the
  // whole address space; a line older than the snapshot in use is stale.
  if (m.ts_ns != as.snapshot_ts()) {
    if (m.ts_ns < as.snapshot_ts()) return;
    as.Clear();
    as.set_snapshot_ts(m.ts_ns);
  }
  as.Map(
      m.start, m.end, spaces_.FromMapsLine(m.end, m.pgoff, m.prot, m.path));
}

void FaultAnalysis::OnSummary(const trace::SummaryInfo& s) {
  // --summary: counts per process and (minor|major) x (user|kernel) and
  // incomplete; kinds are not known, so the faults are booked as "other".
  const uint32_t pid = s.key.pid;
  const uint64_t n = s.val.count;
  ProcessStats& p = Proc(pid);
  const int other = static_cast<int>(FaultKind::kOther);
  total_ += n;
  by_kind_[other] += n;
  p.by_kind[other] += n;
  switch (s.key.kind) {
    case FL_SK_MINOR_USER:
    case FL_SK_MAJOR_USER:
      user_mode_ += n;
      p.user_mode += n;
      break;
    case FL_SK_MINOR_KERNEL:
    case FL_SK_MAJOR_KERNEL:
      kernel_mode_ += n;
      p.kernel_mode += n;
      break;
    default:
      break;
  }
  switch (s.key.kind) {
    case FL_SK_MINOR_USER:
    case FL_SK_MINOR_KERNEL:
      minor_ += n;
      p.minor += n;
      break;
    case FL_SK_MAJOR_USER:
    case FL_SK_MAJOR_KERNEL:
      major_ += n;
      p.major += n;
      break;
    default:
      incomplete_ += n;
      p.incomplete += n;
      return;  // no latency for faults that did not complete
  }
  LatencyHistogram h;
  for (int b = 0; b < FL_HIST_BUCKETS; ++b) h.AddLog2(b, s.val.hist[b], s.val.max_ns);
  h.AddSum(s.val.total_ns);
  hist_.Merge(h);
  kind_hist_[other]->Merge(h);
  p.hist.Merge(h);
}

void FaultAnalysis::OnFooter(const trace::Footer& f) {
  have_footer_ = true;
  footer_ = f;
}

std::string FaultAnalysis::ProcessComm(uint32_t pid) const {
  auto it = proc_info_.find(pid);
  if (it != proc_info_.end() && !it->second.comm.empty()) return it->second.comm;
  return ThreadComm(pid);
}

std::string FaultAnalysis::ThreadComm(uint32_t tid) const {
  auto it = thread_comm_.find(tid);
  return it == thread_comm_.end() ? std::string() : it->second;
}

Json FaultAnalysis::ToJson(const trace::ReadStats& stats,
                           Symbolizer* symbolizer) const {
  Json out;
  out["version"] = FAULTLINE_VERSION;

  // ---- trace
  uint64_t lost = 0, recorded = 0;
  for (const trace::CpuCounts& c : footer_.per_cpu) {
    lost += c.lost;
    recorded += c.recorded;
  }
  uint64_t start = header_.meta.start_monotonic_ns ? header_.meta.start_monotonic_ns
                                                   : first_ts_;
  uint64_t end = have_footer_ ? footer_.end_monotonic_ns : last_ts_;
  Json tr;
  tr["duration_ns"] = end > start ? end - start : 0;
  tr["events"] = stats.events;
  tr["lost_events"] = lost;
  tr["kernel"] = header_.meta.kernel_release;
  tr["host"] = header_.meta.hostname;
  tr["command_line"] = header_.meta.command_line;
  tr["start_realtime_ns"] = header_.meta.start_realtime_ns;
  tr["ncpus"] = header_.meta.ncpus;
  tr["summary_mode"] = (header_.meta.flags & trace::kTraceFlagSummary) != 0;
  // One fault in latency_sample had its latency measured (--summary
  // --latency-sample); 1: every completed fault.
  tr["latency_sample"] = std::max<uint32_t>(header_.meta.latency_sample, 1);
  tr["complete"] = have_footer_ && !stats.truncated && stats.corrupt_blocks == 0;
  tr["lost_events_known"] = have_footer_;
  tr["truncated"] = stats.truncated;
  tr["corrupt_blocks"] = stats.corrupt_blocks;
  tr["recorded_events"] = recorded;
  tr["unknown_events"] = other_events_;
  out["trace"] = std::move(tr);

  // ---- faults
  Json f;
  f["total"] = total_;
  f["minor"] = minor_;
  f["major"] = major_;
  f["incomplete"] = incomplete_;
  f["user_mode"] = user_mode_;
  f["kernel_mode"] = kernel_mode_;
  f["address_mismatch"] = addr_mismatch_;
  f["timed"] = hist_.count();  // faults with a measured latency
  f["by_kind"] = KindsJson(by_kind_);
  f["latency_ns"] = LatencyJson(hist_);
  Json by_kind_lat;
  for (int k = 0; k < kFaultKinds; ++k) {
    by_kind_lat[FaultKindName(static_cast<FaultKind>(k))] = LatencyJson(*kind_hist_[k]);
  }
  f["latency_by_kind_ns"] = std::move(by_kind_lat);

  // processes, with their threads
  struct Row {
    uint64_t ns, faults;
    uint32_t key;
  };
  std::map<uint32_t, std::vector<Row>> threads_of;
  for (const auto& [tid, t] : threads_) {
    threads_of[t.pid].push_back({t.hist.sum(), t.minor + t.major + t.incomplete, tid});
  }
  std::vector<Row> prow;
  for (const auto& [pid, p] : procs_) {
    prow.push_back({p.hist.sum(), p.minor + p.major + p.incomplete, pid});
  }
  SortByCost(prow);
  Json procs = Json::array();
  for (const Row& r : prow) {
    const ProcessStats& p = procs_.at(r.key);
    Json j;
    j["pid"] = r.key;
    j["comm"] = ProcessComm(r.key);
    j["faults"] = r.faults;
    j["minor"] = p.minor;
    j["major"] = p.major;
    j["incomplete"] = p.incomplete;
    j["user_mode"] = p.user_mode;
    j["kernel_mode"] = p.kernel_mode;
    j["fault_ns"] = p.hist.sum();
    j["by_kind"] = KindsJson(p.by_kind);
    j["latency_ns"] = LatencyJson(p.hist);
    Json th = Json::array();
    auto it = threads_of.find(r.key);
    if (it != threads_of.end()) {
      SortByCost(it->second);
      for (const Row& tr : it->second) {
        const ThreadStats& t = threads_.at(tr.key);
        Json tj;
        tj["tid"] = tr.key;
        tj["comm"] = ThreadComm(tr.key);
        tj["minor"] = t.minor;
        tj["major"] = t.major;
        tj["incomplete"] = t.incomplete;
        tj["fault_ns"] = t.hist.sum();
        tj["latency_ns"] = LatencyJson(t.hist);
        th.push_back(std::move(tj));
      }
    }
    j["threads"] = std::move(th);
    procs.push_back(std::move(j));
  }
  f["processes"] = std::move(procs);

  // mappings
  struct MRow {
    uint64_t ns, faults, key;
  };
  std::vector<MRow> mrow;
  for (const auto& [key, c] : mappings_) mrow.push_back({c.ns, c.faults, key});
  SortByCost(mrow);
  Json maps = Json::array();
  for (size_t i = 0; i < mrow.size() && i < options_.max_mappings; ++i) {
    Json j;
    j["pid"] = static_cast<uint32_t>(mrow[i].key >> 32);
    j["name"] = spaces_.name(static_cast<uint32_t>(mrow[i].key));
    j["faults"] = mrow[i].faults;
    j["fault_ns"] = mrow[i].ns;
    maps.push_back(std::move(j));
  }
  f["mappings"] = std::move(maps);
  f["mappings_total"] = mrow.size();

  // sites: symbolize every distinct (module, offset), then merge per
  // (pid, symbol) so that one function is one row.
  struct SRow {
    uint64_t ns = 0, faults = 0;
    std::pair<uint32_t, std::string> key;
  };
  std::map<std::pair<uint32_t, std::string>, SRow> merged;
  for (const auto& [k, c] : sites_) {
    std::string sym;
    if (k.name == kKernelSite) {
      sym = "[kernel]";
    } else {
      const std::string& mod = spaces_.name(k.name);
      if (!mod.empty() && mod[0] == '/') {
        sym = symbolizer ? symbolizer->Symbolize(mod, k.offset)
                         : mod + "+" + Hex(k.offset);
      } else {
        sym = mod + "+" + Hex(k.offset);
      }
    }
    SRow& r = merged[{k.pid, sym}];
    r.key = {k.pid, sym};
    r.faults += c.faults;
    r.ns += c.ns;
  }
  std::vector<SRow> srow;
  srow.reserve(merged.size());
  for (auto& [key, r] : merged) srow.push_back(std::move(r));
  SortByCost(srow);
  Json sites = Json::array();
  for (size_t i = 0; i < srow.size() && i < options_.max_sites; ++i) {
    Json j;
    j["pid"] = srow[i].key.first;
    j["symbol"] = srow[i].key.second;
    j["faults"] = srow[i].faults;
    j["fault_ns"] = srow[i].ns;
    sites.push_back(std::move(j));
  }
  f["sites"] = std::move(sites);
  f["sites_total"] = srow.size();

  // TLB shootdowns, most first
  struct TRow {
    uint64_t count, pages;
    uint32_t pid;
  };
  std::vector<TRow> trow;
  for (const auto& [pid, t] : tlb_) trow.push_back({t.count, t.pages, pid});
  std::sort(trow.begin(), trow.end(), [](const TRow& a, const TRow& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.pages != b.pages) return a.pages > b.pages;
    return a.pid < b.pid;
  });
  Json tlb = Json::array();
  for (const TRow& r : trow) {
    Json j;
    j["pid"] = r.pid;
    j["comm"] = ProcessComm(r.pid);
    j["count"] = r.count;
    j["pages"] = r.pages;
    const Tlb& t = tlb_.at(r.pid);
    j["full_flushes"] = t.full;
    j["ipis_sent"] = t.ipis_sent;
    j["remote_flushes"] = t.remote;
    j["local_flushes"] = t.local;
    tlb.push_back(std::move(j));
  }
  f["tlb_shootdowns"] = std::move(tlb);
  out["faults"] = std::move(f);
  return out;
}

}  // namespace faultline::analyzer
