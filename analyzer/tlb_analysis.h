// TlbAnalysis: TLB shootdowns (tlb:tlb_flush) per process, the page-table
// cost of munmap/mprotect on multi-threaded processes. A visitor; Model()
// is what the renderers print (JSON "faults.tlb_shootdowns").
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzer/names.h"
#include "trace/reader.h"

namespace faultline::analyzer {

struct TlbModel {
  struct Row {
    uint32_t pid = 0;
    std::string comm;
    uint64_t count = 0, pages = 0, full_flushes = 0;
    uint64_t ipis_sent = 0, remote_flushes = 0, local_flushes = 0;
  };
  std::vector<Row> rows;  // most flushes first
};

class TlbAnalysis : public trace::TraceVisitor {
 public:
  explicit TlbAnalysis(const Names& names) : names_(names) {}
  void OnTlb(const trace::TlbEvent& t) override;
  TlbModel Model() const;

 private:
  struct Tlb {
    uint64_t count = 0, pages = 0, full = 0;
    // By enum tlb_flush_reason: IPIs sent to other CPUs (4), flushes done
    // for another CPU's request (1), local flushes of this mm (2, 3).
    uint64_t ipis_sent = 0, remote = 0, local = 0;
  };
  const Names& names_;
  std::unordered_map<uint32_t, Tlb> tlb_;
};

}  // namespace faultline::analyzer
