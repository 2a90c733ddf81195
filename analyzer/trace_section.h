// The "trace" section: what the file says about the recording (header,
// duration, events read, events lost, the footer's counters) and how the
// read went (truncation, corrupt blocks, records later than the reorder
// window). TraceAnalysis is the visitor; TraceModel is what the renderers
// (render_json.cc, render_text.cc) print.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/session.h"
#include "trace/reader.h"

namespace faultline::analyzer {

struct TraceModel {
  uint64_t duration_ns = 0;
  uint64_t events = 0;                 // event records read
  std::optional<uint64_t> lost_events;  // nullopt: unknown
  std::string lost_unknown_reason;     // why, when unknown
  std::string kernel, host, command_line;
  uint64_t start_realtime_ns = 0;
  uint32_t ncpus = 0;
  bool summary_mode = false;
  uint32_t latency_sample = 1;
  bool complete = false;
  bool truncated = false;
  uint64_t corrupt_blocks = 0;
  uint64_t recorded_events = 0;
  uint64_t unknown_events = 0;  // opaque records (ring types not decoded)
  // Trace records of types this build does not know (a newer writer's),
  // skipped by the reader: in all and by type number.
  uint64_t skipped_records = 0;
  std::map<uint32_t, uint64_t> skipped_event_types, skipped_metadata_types;
  // The footer's named counters (unpaired, summary_full, stack_errors, ...)
  // in file order.
  std::vector<std::pair<std::string, uint64_t>> counters;
  uint64_t late_events = 0;  // delivered out of time order (Session)
  uint64_t max_late_ns = 0;
};

class TraceAnalysis : public trace::TraceVisitor {
 public:
  explicit TraceAnalysis(const trace::FileHeader& header) : header_(header) {}

  // The events' first and last times come from the Session's stats.
  void OnOpaque(const trace::OpaqueEvent&) override { ++opaque_; }
  void OnFooter(const trace::Footer& f) override {
    have_footer_ = true;
    footer_ = f;
  }

  TraceModel Model(const trace::ReadStats& stats,
                   const SessionStats& session) const;

 private:
  trace::FileHeader header_;
  uint64_t opaque_ = 0;
  bool have_footer_ = false;
  trace::Footer footer_;
};

}  // namespace faultline::analyzer
