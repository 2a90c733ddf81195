#include "analyzer/tlb_analysis.h"

#include <algorithm>

namespace faultline::analyzer {

void TlbAnalysis::OnTlb(const trace::TlbEvent& t) {
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

TlbModel TlbAnalysis::Model() const {
  TlbModel m;
  for (const auto& [pid, t] : tlb_) {
    m.rows.push_back({pid, names_.ProcessComm(pid), t.count, t.pages, t.full,
                      t.ipis_sent, t.remote, t.local});
  }
  std::sort(m.rows.begin(), m.rows.end(),
            [](const TlbModel::Row& a, const TlbModel::Row& b) {
              if (a.count != b.count) return a.count > b.count;
              if (a.pages != b.pages) return a.pages > b.pages;
              return a.pid < b.pid;
            });
  return m;
}

}  // namespace faultline::analyzer
