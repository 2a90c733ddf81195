#include "collector/closing_line.h"

#include <cstdio>

namespace faultline::collector {

std::string FormatSize(uint64_t bytes) {
  char buf[64];
  if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / 1048576.0);
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%llu bytes",
                  static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string ClosingLine(const RunFigures& f) {
  uint64_t recorded = 0, lost = 0, incomplete = 0, stack_errors = 0;
  std::string lost_detail;
  for (size_t cpu = 0; cpu < f.per_cpu.size(); ++cpu) {
    const fl_cpu_stats& s = f.per_cpu[cpu];
    recorded += s.recorded_events;
    lost += s.lost_events;
    incomplete += s.incomplete;
    stack_errors += s.stack_errors;
    lost_detail += (cpu ? ", cpu" : "cpu") + std::to_string(cpu) + " " +
                   std::to_string(s.lost_events);
  }
  std::string events = f.stats_known
                           ? std::to_string(recorded) + " events recorded"
                           : std::to_string(f.events_written) +
                                 " events written";
  std::string what;
  if (f.summary) {
    what = std::to_string(f.summary_faults) +
           " faults aggregated in the kernel (" +
           std::to_string(f.summary_timed) + " timed, 1 in " +
           std::to_string(f.latency_sample) + "; " +
           (f.stats_known ? std::to_string(recorded) + " task events recorded"
                          : events) +
           ")";
  } else {
    what = events;
  }
  std::string loss;
  if (f.stats_known) {
    loss = std::to_string(lost) + " lost (" + lost_detail + "), " +
           std::to_string(incomplete) + " faults incomplete";
  } else {
    loss = "lost unknown (" + f.stats_error + "), faults incomplete unknown";
  }
  std::string stacks_note;
  if (f.stacks) {
    stacks_note = ", " +
                  (f.stats_known ? std::to_string(stack_errors) : "unknown") +
                  " faults without a stored stack";
  }
  std::string tcp_note;
  if (f.tcp) {
    tcp_note = f.tcp_known ? ", " + std::to_string(f.tcp_opened) +
                                 " connections opened, " +
                                 std::to_string(f.tcp_closed) + " closed"
                           : ", connections unknown";
  }
  char tail[128];
  std::snprintf(tail, sizeof(tail), "; recorder CPU %.2f s.",
                f.recorder_cpu_s);
  char head[64];
  std::snprintf(head, sizeof(head), "faultline record: %.2f s, ", f.seconds);
  return head + what + ", " + loss + stacks_note + tcp_note + "; wrote " +
         f.output + " (" + FormatSize(f.file_bytes) + ")" + tail;
}

}  // namespace faultline::collector
