#include "analyzer/trace_section.h"

#include <algorithm>

namespace faultline::analyzer {

TraceModel TraceAnalysis::Model(const trace::ReadStats& stats,
                                const SessionStats& session) const {
  TraceModel m;
  uint64_t lost = 0, recorded = 0;
  for (const trace::CpuCounts& c : footer_.per_cpu) {
    lost += c.lost;
    recorded += c.recorded;
  }
  const uint64_t start = header_.meta.start_monotonic_ns
                             ? header_.meta.start_monotonic_ns
                             : session.first_ts_ns;
  const uint64_t end = have_footer_ ? footer_.end_monotonic_ns : session.last_ts_ns;
  m.duration_ns = end > start ? end - start : 0;
  m.events = stats.events;
  if (!have_footer_) {
    m.lost_unknown_reason = "no footer";
  } else if (!footer_.stats_known) {
    m.lost_unknown_reason = "the recorder could not read the kernel's counters";
  } else {
    m.lost_events = lost;
  }
  m.kernel = header_.meta.kernel_release;
  m.host = header_.meta.hostname;
  m.command_line = header_.meta.command_line;
  m.start_realtime_ns = header_.meta.start_realtime_ns;
  m.ncpus = header_.meta.ncpus;
  m.summary_mode = (header_.meta.flags & trace::kTraceFlagSummary) != 0;
  // One fault in latency_sample had its latency measured (--summary
  // --latency-sample); 1: every completed fault.
  m.latency_sample = std::max<uint32_t>(header_.meta.latency_sample, 1);
  m.complete = have_footer_ && !stats.truncated && stats.corrupt_blocks == 0;
  m.truncated = stats.truncated;
  m.corrupt_blocks = stats.corrupt_blocks;
  m.recorded_events = recorded;
  m.unknown_events = opaque_;
  m.skipped_records = stats.skipped_records;
  m.skipped_event_types = stats.skipped_event_types;
  m.skipped_metadata_types = stats.skipped_metadata_types;
  if (have_footer_) m.counters = footer_.counters;
  m.late_events = session.late;
  m.max_late_ns = session.max_late_ns;
  return m;
}

}  // namespace faultline::analyzer
