#include "analyzer/render_text.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace faultline::analyzer {

namespace {

constexpr size_t kTextTop = 10;

std::string Pct(uint64_t part, uint64_t whole) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%5.1f%%", whole ? 100.0 * part / whole : 0.0);
  return buf;
}

std::string Fmt(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

using ull = unsigned long long;

std::string Latency(const LatencyModel& l) {
  return "p50 " + FormatNs(l.p50) + "  p90 " + FormatNs(l.p90) + "  p99 " +
         FormatNs(l.p99) + "  max " + FormatNs(l.max);
}

void CostTable(const char* title, const char* column,
               const std::vector<FaultsModel::Cost>& rows, std::ostream& o) {
  if (rows.empty()) return;
  o << "\n" << title << ":\n";
  o << Fmt("  %8s %10s %10s  %s\n", "PID", "FAULTS", "TIME", column);
  size_t n = 0;
  for (const FaultsModel::Cost& row : rows) {
    if (n++ == kTextTop) break;
    o << Fmt("  %8u %10llu %10s  %s\n", row.pid, (ull)row.faults,
             FormatNs(row.fault_ns).c_str(), row.name.c_str());
  }
}

}  // namespace

std::string FormatNs(uint64_t ns) {
  char buf[32];
  if (ns < 10000) {
    std::snprintf(buf, sizeof buf, "%lluns", static_cast<ull>(ns));
  } else if (ns < 10000000) {
    std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  } else if (ns < 10000000000ull) {
    std::snprintf(buf, sizeof buf, "%.1fms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  }
  return buf;
}

void RenderText(const TraceModel& t, std::ostream& o) {
  const std::string lost_note =
      t.lost_events ? std::to_string(*t.lost_events) + " lost"
                    : "lost unknown (" + t.lost_unknown_reason + ")";
  o << "trace: " << FormatNs(t.duration_ns) << " on " << t.host << " (kernel "
    << t.kernel << ")" << (t.summary_mode ? ", --summary" : "") << "\n";
  if (!t.command_line.empty()) o << "command: " << t.command_line << "\n";
  o << "events: " << t.events << " read, " << lost_note;
  if (t.truncated) o << "; file truncated";
  if (t.corrupt_blocks > 0) {
    o << "; " << t.corrupt_blocks << " corrupted block(s) skipped";
  }
  if (t.skipped_records > 0) {
    o << "; " << t.skipped_records << " record(s) of unknown types skipped";
  }
  if (t.late_events > 0) {
    o << "; " << t.late_events << " out of time order (up to "
      << FormatNs(t.max_late_ns) << " late)";
  }
  o << "\n";
  if (!t.counters.empty()) {
    o << "counters:";
    bool first = true;
    for (const auto& [name, value] : t.counters) {
      o << (first ? " " : ", ") << name << " " << value;
      first = false;
    }
    o << "\n";
  }
  if (t.lost_events && *t.lost_events > 0) {
    o << "WARNING: " << *t.lost_events << " events were lost while recording: every "
      << "count below is a lower bound.\n";
  } else if (!t.lost_events && t.lost_unknown_reason != "no footer") {
    o << "WARNING: lost events unknown (" << t.lost_unknown_reason
      << "): every count below may be a lower bound.\n";
  }
  o << "\n";
}

void RenderText(const FaultsModel& f, std::ostream& o) {
  const uint64_t total = f.total;
  o << Fmt("page faults: %llu  (minor %llu, major %llu, incomplete %llu; user "
           "mode %llu, kernel mode %llu)\n",
           (ull)total, (ull)f.minor, (ull)f.major, (ull)f.incomplete,
           (ull)f.user_mode, (ull)f.kernel_mode);
  const uint64_t sample = f.latency_sample;
  if (sample > 1) {
    // --summary --latency-sample: times and percentiles come from the
    // timed faults only; the counts above are of every fault.
    o << Fmt("fault time: %s measured over %llu timed faults (1 in %llu at "
             "random; ~%s for all)  latency ",
             FormatNs(f.latency.total_ns).c_str(), (ull)f.timed, (ull)sample,
             FormatNs(f.latency.total_ns * sample).c_str())
      << Latency(f.latency) << "\n\n";
  } else {
    o << "fault time: " << FormatNs(f.latency.total_ns) << "  latency "
      << Latency(f.latency) << "\n\n";
  }

  o << "by kind:\n";
  for (int k = 0; k < kFaultKinds; ++k) {
    const uint64_t n = f.by_kind[k];
    if (n == 0) continue;
    const LatencyModel& l = f.latency_by_kind[k];
    o << Fmt("  %-17s %10llu %s  ", FaultKindName(static_cast<FaultKind>(k)),
             (ull)n, Pct(n, total).c_str());
    if (l.count > 0) o << "time " << FormatNs(l.total_ns) << "  " << Latency(l);
    o << "\n";
  }

  const auto& hist = f.latency.histogram;
  if (!hist.empty()) {
    uint64_t most = 1;
    for (const auto& row : hist) most = std::max<uint64_t>(most, row.second);
    o << (sample > 1 ? "\nlatency histogram (timed faults):\n"
                     : "\nlatency histogram (completed faults):\n");
    for (const auto& [upper, n] : hist) {
      o << Fmt("  < %-9s %10llu  ", FormatNs(upper).c_str(), (ull)n)
        << std::string(static_cast<size_t>(40.0 * n / most), '#') << "\n";
    }
  }

  o << "\nprocesses (by fault time):\n";
  o << Fmt("  %8s %-16s %10s %10s %8s %10s  %s\n", "PID", "COMM", "FAULTS",
           "MINOR", "MAJOR", sample > 1 ? "TIMED" : "TIME", "LATENCY");
  size_t shown = 0;
  for (const FaultsModel::Process& p : f.processes) {
    if (shown++ == kTextTop) break;
    o << Fmt("  %8u %-16s %10llu %10llu %8llu %10s  ", p.pid, p.comm.c_str(),
             (ull)p.faults, (ull)p.minor, (ull)p.major, FormatNs(p.fault_ns).c_str())
      << Latency(p.latency) << "\n";
    size_t tshown = 0;
    if (p.threads.size() > 1) {
      for (const FaultsModel::Thread& th : p.threads) {
        if (tshown++ == 5) {
          o << "           ... " << p.threads.size() - 5 << " more threads\n";
          break;
        }
        o << Fmt("    tid %-7u %-14s %10llu %10llu %8llu %10s  ", th.tid,
                 th.comm.c_str(), (ull)(th.minor + th.major + th.incomplete),
                 (ull)th.minor, (ull)th.major, FormatNs(th.fault_ns).c_str())
          << Latency(th.latency) << "\n";
      }
    }
  }
  if (f.processes.size() > kTextTop) {
    o << "  ... " << f.processes.size() - kTextTop << " more processes\n";
  }
  CostTable("top mappings (by fault time)", "MAPPING", f.mappings, o);
  CostTable("top code sites (by fault time)", "SITE", f.sites, o);
}

void RenderText(const TlbModel& m, std::ostream& o) {
  if (m.rows.empty()) return;
  o << "\nTLB shootdowns:\n";
  o << Fmt("  %8s %-16s %10s %10s %10s %10s %12s\n", "PID", "COMM", "FLUSHES",
           "IPIS SENT", "RECEIVED", "LOCAL", "PAGES");
  size_t n = 0;
  for (const TlbModel::Row& r : m.rows) {
    if (n++ == kTextTop) break;
    o << Fmt("  %8u %-16s %10llu %10llu %10llu %10llu %12llu\n", r.pid,
             r.comm.c_str(), (ull)r.count, (ull)r.ipis_sent, (ull)r.remote_flushes,
             (ull)r.local_flushes, (ull)r.pages);
  }
}

void RenderText(const ConnectionsModel& m, std::ostream& o) {
  if (!m.recorded) return;
  o << "\nconnections: " << m.total << " (" << m.servers << " server, " << m.clients
    << " client sockets)";
  if (m.partial) {
    o << "  PARTIAL:";
    bool first = true;
    for (const std::string& r : m.partial_reasons) {
      o << (first ? " " : "; ") << r;
      first = false;
    }
  }
  o << "\n";
  o << Fmt("  closed by server %llu, by client %llu, still open %llu; fin %llu, "
           "rst %llu (resets sent %llu, received %llu)\n",
           (ull)m.closed_by_server, (ull)m.closed_by_client, (ull)m.open, (ull)m.fin,
           (ull)m.rst, (ull)m.rst_sent, (ull)m.rst_received);
  if (m.open_at_start > 0 || m.open_at_end > 0) {
    o << Fmt("  open at the start %llu, open at the end %llu\n", (ull)m.open_at_start,
             (ull)m.open_at_end);
  }
  if (!m.rst_sent_by_reason.empty()) {
    o << "  resets sent by reason:";
    bool first = true;
    for (const auto& [reason, n] : m.rst_sent_by_reason) {
      o << (first ? " " : ", ") << reason << " " << n;
      first = false;
    }
    o << "\n";
  }
  if (m.accept_wait_count > 0) {
    o << "  accept wait (ESTABLISHED to accept() return): p50 "
      << FormatNs(m.accept_wait_p50) << "  p99 " << FormatNs(m.accept_wait_p99)
      << "  max " << FormatNs(m.accept_wait_max) << "  (" << m.accept_wait_count
      << " accepted)\n";
  }
  if (m.listen_overflows) {
    o << Fmt("  /proc/net/netstat over the recording: ListenOverflows +%llu, "
             "ListenDrops +%llu (dropped SYNs, machine-wide)\n",
             (ull)*m.listen_overflows, (ull)*m.listen_drops);
  } else {
    o << "  /proc/net/netstat: not sampled in this trace\n";
  }
  for (const auto& l : m.listeners) {
    o << Fmt("  listener %s:%u pid %u (%s): accepted %llu, accept queue up to %u of "
             "%u, %llu over the max\n",
             l.addr.c_str(), l.port, l.pid, l.comm.c_str(), (ull)l.accepted,
             l.max_backlog_seen, l.max_ack_backlog, (ull)l.queue_full);
  }
  if (!m.anomalies.empty()) {
    o << "\nconnection anomalies:\n";
    for (const auto& a : m.anomalies) {
      o << "  " << a.kind << ": " << a.detail;
      if (!a.connections.empty()) {
        o << " [ids";
        size_t n = 0;
        for (uint64_t id : a.connections) {
          if (n++ == kTextTop) {
            o << " ...";
            break;
          }
          o << " " << id;
        }
        o << "]";
      }
      o << "\n";
    }
  }
  if (!m.threads.empty()) {
    o << "\nconnections per thread (the thread of the last I/O):\n";
    o << Fmt("  %8s %8s %-16s %8s %8s %12s %12s\n", "TID", "PID", "COMM", "CONNS",
             "ACCEPTED", "BYTES IN", "BYTES OUT");
    size_t n = 0;
    for (const auto& t : m.threads) {
      if (n++ == kTextTop) break;
      o << Fmt("  %8u %8u %-16s %8llu %8llu %12llu %12llu\n", t.id, t.pid,
               t.comm.c_str(), (ull)t.connections, (ull)t.accepted, (ull)t.bytes_in,
               (ull)t.bytes_out);
    }
    if (m.threads_total > kTextTop) {
      o << "  ... " << m.threads_total - kTextTop << " more threads\n";
    }
  }
  if (m.processes.size() > 1) {
    o << "\nconnections per process:\n";
    size_t n = 0;
    for (const auto& p : m.processes) {
      if (n++ == kTextTop) break;
      o << Fmt("  %8u %-16s %8llu connections, %llu accepted\n", p.id, p.comm.c_str(),
               (ull)p.connections, (ull)p.accepted);
    }
  }
  if (!m.list.empty()) {
    o << "\nlongest connections:\n";
    o << Fmt("  %6s %-6s %-22s %-22s %8s %10s %-7s %-5s %10s %10s  %s\n", "ID", "ROLE",
             "LOCAL", "REMOTE", "PID", "DURATION", "CLOSER", "CLOSE", "IN", "OUT",
             "REASON");
    size_t n = 0;
    for (const auto& c : m.list) {
      if (n++ == kTextTop) break;
      const std::string local = c.local_addr + ":" + std::to_string(c.local_port);
      const std::string remote = c.remote_addr + ":" + std::to_string(c.remote_port);
      o << Fmt("  %6llu %-6s %-22s %-22s %8u %10s %-7s %-5s %10llu %10llu  %s\n",
               (ull)c.id, c.role.c_str(), local.c_str(), remote.c_str(), c.pid,
               FormatNs(c.duration_ns).c_str(), c.closed_by.c_str(), c.close.c_str(),
               (ull)c.bytes_in, (ull)c.bytes_out, c.close_reason.c_str());
    }
    const uint64_t more = m.list.size() + m.list_omitted - std::min<uint64_t>(
                                                               m.list.size(), kTextTop);
    if (more > 0) o << "  ... " << more << " more (see --format json)\n";
  }
}

std::string RenderText(const ReportModel& m, const std::string& file) {
  std::ostringstream o;
  o << "faultline report " << m.version << ": " << file << "\n";
  RenderText(m.trace, o);
  RenderText(m.faults, o);
  RenderText(m.tlb, o);
  RenderText(m.connections, o);
  return o.str();
}

}  // namespace faultline::analyzer
