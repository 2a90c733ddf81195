#include "analyzer/fault_analysis.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "analyzer/symbolizer.h"

namespace faultline::analyzer {

namespace {

constexpr uint32_t kKernelSite = 0xffffffffu;

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

// ++c.faults, c.ns += ns in general-purpose registers: vectorised, the two
// adds would load {1, ns} from two scalar stores just made, a failed
// store-to-load forward on every fault.
template <typename C>
inline void Book(C& c, uint64_t ns) {
  uint64_t faults = c.faults + 1;
  uint64_t total = c.ns + ns;
  asm("" : "+r"(faults), "+r"(total));
  c.faults = faults;
  c.ns = total;
}

}  // namespace

LatencyModel LatencyModel::Of(const LatencyHistogram& h) {
  LatencyModel m;
  m.count = h.count();
  m.total_ns = h.sum();
  m.p50 = h.Percentile(0.50);
  m.p90 = h.Percentile(0.90);
  m.p99 = h.Percentile(0.99);
  m.max = h.max();
  for (auto [upper, count] : h.Log2Rows()) m.histogram.emplace_back(upper, count);
  return m;
}

FaultAnalysis::FaultAnalysis(const trace::FileHeader& header,
                             const Names& names, AddressTracker& tracker,
                             AnalysisOptions options)
    : latency_sample_(std::max<uint32_t>(header.meta.latency_sample, 1)),
      names_(names),
      tracker_(tracker),
      options_(options) {
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

void FaultAnalysis::OnFault(const trace::FaultEvent& f) {
  ++total_;
  const bool kernel = f.flags & FL_FAULT_F_KERNEL;
  if (f.flags & FL_FAULT_F_ADDR_MISMATCH) ++addr_mismatch_;

  const AddressTracker::Resolved& where = tracker_.resolved();
  AddressSpace* as = where.space;
  FaultFacts facts;
  facts.error_code = f.error_code;
  facts.outcome = f.outcome;
  facts.flags = f.flags;
  facts.vma = where.vma;
  facts.below_stack = where.below_stack;
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

  AddressSpaces& spaces = tracker_.spaces();
  uint32_t name = facts.vma ? facts.vma->name : spaces.unknown_name();
  // Faults come in runs on one mapping and one site: the last entry of
  // each table is kept (unordered_map nodes do not move).
  const uint64_t mkey = uint64_t{f.pid} << 32 | name;
  if (last_mapping_ == nullptr || last_mapping_key_ != mkey) {
    last_mapping_ = &mappings_[mkey];
    last_mapping_key_ = mkey;
  }
  Book(*last_mapping_, ns);

  SiteKey site{f.pid, kKernelSite, 0};
  if (!kernel) {
    const Vma* code = as ? as->Find(f.ip, 1) : nullptr;
    if (code != nullptr && code->type == VmaType::kFile) {
      site.name = code->name;
      site.offset = f.ip - as->StartOf(f.ip) + code->pgoff;
    } else {
      site.name = code ? code->name : spaces.unknown_name();
      site.offset = f.ip;
    }
  }
  if (last_site_ == nullptr || !(last_site_key_ == site)) {
    last_site_ = &sites_[site];
    last_site_key_ = site;
  }
  Book(*last_site_, ns);
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

FaultsModel FaultAnalysis::Model(Symbolizer* symbolizer) const {
  FaultsModel f;
  f.total = total_;
  f.minor = minor_;
  f.major = major_;
  f.incomplete = incomplete_;
  f.user_mode = user_mode_;
  f.kernel_mode = kernel_mode_;
  f.address_mismatch = addr_mismatch_;
  f.timed = hist_.count();  // faults with a measured latency
  f.by_kind = by_kind_;
  f.latency = LatencyModel::Of(hist_);
  for (int k = 0; k < kFaultKinds; ++k) {
    f.latency_by_kind[k] = LatencyModel::Of(*kind_hist_[k]);
  }

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
  for (const Row& r : prow) {
    const ProcessStats& p = procs_.at(r.key);
    FaultsModel::Process& j = f.processes.emplace_back();
    j.pid = r.key;
    j.comm = names_.ProcessComm(r.key);
    j.faults = r.faults;
    j.minor = p.minor;
    j.major = p.major;
    j.incomplete = p.incomplete;
    j.user_mode = p.user_mode;
    j.kernel_mode = p.kernel_mode;
    j.fault_ns = p.hist.sum();
    j.by_kind = p.by_kind;
    j.latency = LatencyModel::Of(p.hist);
    auto it = threads_of.find(r.key);
    if (it != threads_of.end()) {
      SortByCost(it->second);
      for (const Row& tr : it->second) {
        const ThreadStats& t = threads_.at(tr.key);
        FaultsModel::Thread& tj = j.threads.emplace_back();
        tj.tid = tr.key;
        tj.comm = names_.ThreadComm(tr.key);
        tj.minor = t.minor;
        tj.major = t.major;
        tj.incomplete = t.incomplete;
        tj.fault_ns = t.hist.sum();
        tj.latency = LatencyModel::Of(t.hist);
      }
    }
  }

  // mappings
  const AddressSpaces& spaces = tracker_.spaces();
  struct MRow {
    uint64_t ns, faults, key;
  };
  std::vector<MRow> mrow;
  for (const auto& [key, c] : mappings_) mrow.push_back({c.ns, c.faults, key});
  SortByCost(mrow);
  for (size_t i = 0; i < mrow.size() && i < options_.max_mappings; ++i) {
    f.mappings.push_back({static_cast<uint32_t>(mrow[i].key >> 32),
                          spaces.name(static_cast<uint32_t>(mrow[i].key)),
                          mrow[i].faults, mrow[i].ns});
  }
  f.mappings_total = mrow.size();

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
      const std::string& mod = spaces.name(k.name);
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
  for (size_t i = 0; i < srow.size() && i < options_.max_sites; ++i) {
    f.sites.push_back({srow[i].key.first, srow[i].key.second, srow[i].faults,
                       srow[i].ns});
  }
  f.sites_total = srow.size();
  f.latency_sample = latency_sample_;
  return f;
}

}  // namespace faultline::analyzer
