// FaultAnalysis: one streaming pass over a trace (it is a TraceVisitor)
// that classifies every fault against the address space of its process at
// that moment and accumulates counts, latency histograms and costs per
// kind, process, thread, mapping and code site. Memory is bounded by the
// number of processes, threads, mappings and distinct fault sites, never by
// the number of events. ToJson() renders SPEC section 6's "trace" and
// "faults" objects (docs/report.md explains each field).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzer/address_space.h"
#include "analyzer/histogram.h"
#include "trace/reader.h"

namespace faultline::analyzer {

class Symbolizer;

struct AnalysisOptions {
  size_t max_mappings = 100;  // longest "mappings" list in the report
  size_t max_sites = 100;     // longest "sites" list
};

class FaultAnalysis : public trace::TraceVisitor {
 public:
  explicit FaultAnalysis(const trace::FileHeader& header,
                         AnalysisOptions options = {});
  ~FaultAnalysis() override;

  void OnFault(const trace::FaultEvent& f) override;
  void OnMmap(const trace::MmapEvent& m) override;
  void OnTask(const trace::TaskEvent& t) override;
  void OnTlb(const trace::TlbEvent& t) override;
  void OnOpaque(const trace::OpaqueEvent& o) override;
  void OnProcess(const trace::ProcessInfo& p) override;
  void OnThread(const trace::ThreadInfo& t) override;
  void OnMapping(const trace::MappingInfo& m) override;
  void OnSummary(const trace::SummaryInfo& s) override;
  void OnFooter(const trace::Footer& f) override;

  // The report ("version", "trace", "faults"). `symbolizer` may be null:
  // sites are then "path+0xoff".
  nlohmann::ordered_json ToJson(const trace::ReadStats& stats,
                                Symbolizer* symbolizer) const;

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
  std::string ProcessComm(uint32_t pid) const;
  std::string ThreadComm(uint32_t tid) const;
  void Seen(uint64_t ts);

  trace::FileHeader header_;
  AnalysisOptions options_;
  AddressSpaces spaces_;

  uint64_t total_ = 0, minor_ = 0, major_ = 0, incomplete_ = 0;
  uint64_t user_mode_ = 0, kernel_mode_ = 0, addr_mismatch_ = 0;
  uint64_t other_events_ = 0;  // opaque records (newer event types)
  std::array<uint64_t, kFaultKinds> by_kind_{};
  LatencyHistogram hist_;
  std::array<std::unique_ptr<LatencyHistogram>, kFaultKinds> kind_hist_;

  std::unordered_map<uint32_t, ProcessStats> procs_;
  std::unordered_map<uint32_t, ThreadStats> threads_;
  uint32_t last_pid_ = 0, last_tid_ = 0;
  ProcessStats* last_proc_ = nullptr;
  ThreadStats* last_thread_ = nullptr;

  struct ProcInfo {
    uint32_t ppid = 0;
    std::string comm, exe;
  };
  std::unordered_map<uint32_t, ProcInfo> proc_info_;
  std::unordered_map<uint32_t, std::string> thread_comm_;

  std::unordered_map<uint64_t, Cost> mappings_;  // pid << 32 | name id
  std::unordered_map<SiteKey, Cost, SiteHash> sites_;
  struct Tlb {
    uint64_t count = 0, pages = 0, full = 0;
    // By enum tlb_flush_reason: IPIs sent to other CPUs (4), flushes done
    // for another CPU's request (1), local flushes of this mm (2, 3).
    uint64_t ipis_sent = 0, remote = 0, local = 0;
  };
  std::unordered_map<uint32_t, Tlb> tlb_;

  uint64_t first_ts_ = 0, last_ts_ = 0;
  bool have_footer_ = false;
  trace::Footer footer_;
};

}  // namespace faultline::analyzer
