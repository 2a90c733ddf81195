// FaultAnalysis: the "faults" section. A visitor (added to the Session after
// Names and AddressTracker) that classifies every fault against the mapping
// the tracker resolved for it and accumulates counts, latency histograms and
// costs per kind, process, thread, mapping and code site. Memory is bounded
// by the number of processes, threads, mappings and distinct fault sites,
// never by the number of events. Model() turns it into FaultsModel, which
// the renderers print (SPEC section 6 "faults"; docs/report.md).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyzer/address_tracker.h"
#include "analyzer/histogram.h"
#include "analyzer/names.h"
#include "trace/reader.h"

namespace faultline::analyzer {

class Symbolizer;

struct AnalysisOptions {
  size_t max_mappings = 100;  // longest "mappings" list in the report
  size_t max_sites = 100;     // longest "sites" list
};

// A latency histogram as reported: percentiles and log2 rows.
struct LatencyModel {
  uint64_t count = 0, total_ns = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  std::vector<std::pair<uint64_t, uint64_t>> histogram;  // [upper_ns, count]
  static LatencyModel Of(const LatencyHistogram& h);
};

struct FaultsModel {
  uint64_t total = 0, minor = 0, major = 0, incomplete = 0;
  uint64_t user_mode = 0, kernel_mode = 0, address_mismatch = 0, timed = 0;
  std::array<uint64_t, kFaultKinds> by_kind{};
  LatencyModel latency;
  std::array<LatencyModel, kFaultKinds> latency_by_kind;
  struct Thread {
    uint32_t tid = 0;
    std::string comm;
    uint64_t minor = 0, major = 0, incomplete = 0, fault_ns = 0;
    LatencyModel latency;
  };
  struct Process {
    uint32_t pid = 0;
    std::string comm;
    uint64_t faults = 0, minor = 0, major = 0, incomplete = 0;
    uint64_t user_mode = 0, kernel_mode = 0, fault_ns = 0;
    std::array<uint64_t, kFaultKinds> by_kind{};
    LatencyModel latency;
    std::vector<Thread> threads;  // largest fault_ns first
  };
  std::vector<Process> processes;  // largest fault_ns first
  struct Cost {
    uint32_t pid = 0;
    std::string name;  // mapping name, or site symbol
    uint64_t faults = 0, fault_ns = 0;
  };
  std::vector<Cost> mappings;  // at most max_mappings
  size_t mappings_total = 0;
  std::vector<Cost> sites;  // at most max_sites
  size_t sites_total = 0;
  // From the trace header (as trace.latency_sample; not repeated in the
  // JSON): > 1 when only one fault in this many was timed.
  uint32_t latency_sample = 1;
};

class FaultAnalysis : public trace::TraceVisitor {
 public:
  FaultAnalysis(const trace::FileHeader& header, const Names& names,
                AddressTracker& tracker, AnalysisOptions options = {});
  ~FaultAnalysis() override;

  void OnFault(const trace::FaultEvent& f) override;
  void OnSummary(const trace::SummaryInfo& s) override;

  // `symbolizer` may be null: sites are then "path+0xoff".
  FaultsModel Model(Symbolizer* symbolizer) const;

  uint64_t faults() const { return total_; }

 private:
  struct Cost {
    uint64_t faults = 0;
    uint64_t ns = 0;
  };
  struct ThreadStats {
    uint32_t pid = 0;
    uint64_t minor = 0, major = 0, incomplete = 0;
    LatencyHistogram hist;
  };
  struct ProcessStats {
    uint64_t minor = 0, major = 0, incomplete = 0;
    uint64_t user_mode = 0, kernel_mode = 0;
    std::array<uint64_t, kFaultKinds> by_kind{};
    LatencyHistogram hist;
  };
  struct SiteKey {
    uint32_t pid;
    uint32_t name;     // mapping name id; kKernelSite for kernel-mode IPs
    uint64_t offset;   // file offset (file mappings) or the raw IP
    bool operator==(const SiteKey&) const = default;
  };
  struct SiteHash {
    size_t operator()(const SiteKey& k) const {
      return std::hash<uint64_t>()(k.offset * 0x9e3779b97f4a7c15ull ^
                                   (uint64_t{k.pid} << 32 | k.name));
    }
  };

  ProcessStats& Proc(uint32_t pid);
  ThreadStats& Thread(uint32_t pid, uint32_t tid);

  uint32_t latency_sample_;
  const Names& names_;
  AddressTracker& tracker_;
  AnalysisOptions options_;

  uint64_t total_ = 0, minor_ = 0, major_ = 0, incomplete_ = 0;
  uint64_t user_mode_ = 0, kernel_mode_ = 0, addr_mismatch_ = 0;
  std::array<uint64_t, kFaultKinds> by_kind_{};
  LatencyHistogram hist_;
  std::array<std::unique_ptr<LatencyHistogram>, kFaultKinds> kind_hist_;

  std::unordered_map<uint32_t, ProcessStats> procs_;
  std::unordered_map<uint32_t, ThreadStats> threads_;
  uint32_t last_pid_ = 0, last_tid_ = 0;
  ProcessStats* last_proc_ = nullptr;
  ThreadStats* last_thread_ = nullptr;

  std::unordered_map<uint64_t, Cost> mappings_;  // pid << 32 | name id
  std::unordered_map<SiteKey, Cost, SiteHash> sites_;
  uint64_t last_mapping_key_ = 0;
  Cost* last_mapping_ = nullptr;
  SiteKey last_site_key_{};
  Cost* last_site_ = nullptr;
};

}  // namespace faultline::analyzer
