#include "analyzer/render_json.h"

#include <cstdio>
#include <optional>
#include <string>

namespace faultline::analyzer {

namespace {

using Json = nlohmann::ordered_json;

template <typename Array>
Json KindsJson(const Array& counts) {
  Json j;
  for (int k = 0; k < kFaultKinds; ++k) {
    j[FaultKindName(static_cast<FaultKind>(k))] = counts[k];
  }
  return j;
}

}  // namespace

Json ToJson(const LatencyModel& m) {
  Json j;
  j["count"] = m.count;
  j["total_ns"] = m.total_ns;
  j["p50"] = m.p50;
  j["p90"] = m.p90;
  j["p99"] = m.p99;
  j["max"] = m.max;
  Json rows = Json::array();
  for (auto [upper, count] : m.histogram) rows.push_back({upper, count});
  j["histogram"] = std::move(rows);
  return j;
}

Json ToJson(const TraceModel& m) {
  Json tr;
  tr["duration_ns"] = m.duration_ns;
  tr["events"] = m.events;
  if (m.lost_events) {
    tr["lost_events"] = *m.lost_events;
  } else {
    tr["lost_events"] = nullptr;  // unknown, never 0
  }
  tr["kernel"] = m.kernel;
  tr["host"] = m.host;
  tr["command_line"] = m.command_line;
  tr["start_realtime_ns"] = m.start_realtime_ns;
  tr["ncpus"] = m.ncpus;
  tr["summary_mode"] = m.summary_mode;
  tr["latency_sample"] = m.latency_sample;
  tr["complete"] = m.complete;
  tr["lost_events_known"] = m.lost_events.has_value();
  tr["truncated"] = m.truncated;
  tr["corrupt_blocks"] = m.corrupt_blocks;
  tr["recorded_events"] = m.recorded_events;
  tr["unknown_events"] = m.unknown_events;
  Json counters = Json::object();
  for (const auto& [name, value] : m.counters) counters[name] = value;
  tr["counters"] = std::move(counters);
  auto types = [](const std::map<uint32_t, uint64_t>& by_type) {
    Json j = Json::object();
    for (const auto& [type, n] : by_type) j[std::to_string(type)] = n;
    return j;
  };
  tr["skipped_records"] = m.skipped_records;
  tr["skipped_event_types"] = types(m.skipped_event_types);
  tr["skipped_metadata_types"] = types(m.skipped_metadata_types);
  tr["late_events"] = m.late_events;
  tr["max_late_ns"] = m.max_late_ns;
  return tr;
}

Json ToJson(const FaultsModel& m) {
  Json f;
  f["total"] = m.total;
  f["minor"] = m.minor;
  f["major"] = m.major;
  f["incomplete"] = m.incomplete;
  f["user_mode"] = m.user_mode;
  f["kernel_mode"] = m.kernel_mode;
  f["address_mismatch"] = m.address_mismatch;
  f["timed"] = m.timed;
  f["by_kind"] = KindsJson(m.by_kind);
  f["latency_ns"] = ToJson(m.latency);
  Json by_kind_lat;
  for (int k = 0; k < kFaultKinds; ++k) {
    by_kind_lat[FaultKindName(static_cast<FaultKind>(k))] = ToJson(m.latency_by_kind[k]);
  }
  f["latency_by_kind_ns"] = std::move(by_kind_lat);

  Json procs = Json::array();
  for (const FaultsModel::Process& p : m.processes) {
    Json j;
    j["pid"] = p.pid;
    j["comm"] = p.comm;
    j["faults"] = p.faults;
    j["minor"] = p.minor;
    j["major"] = p.major;
    j["incomplete"] = p.incomplete;
    j["user_mode"] = p.user_mode;
    j["kernel_mode"] = p.kernel_mode;
    j["fault_ns"] = p.fault_ns;
    j["by_kind"] = KindsJson(p.by_kind);
    j["latency_ns"] = ToJson(p.latency);
    Json th = Json::array();
    for (const FaultsModel::Thread& t : p.threads) {
      Json tj;
      tj["tid"] = t.tid;
      tj["comm"] = t.comm;
      tj["minor"] = t.minor;
      tj["major"] = t.major;
      tj["incomplete"] = t.incomplete;
      tj["fault_ns"] = t.fault_ns;
      tj["latency_ns"] = ToJson(t.latency);
      th.push_back(std::move(tj));
    }
    j["threads"] = std::move(th);
    procs.push_back(std::move(j));
  }
  f["processes"] = std::move(procs);

  auto costs = [](const std::vector<FaultsModel::Cost>& rows, const char* field) {
    Json a = Json::array();
    for (const FaultsModel::Cost& c : rows) {
      Json j;
      j["pid"] = c.pid;
      j[field] = c.name;
      j["faults"] = c.faults;
      j["fault_ns"] = c.fault_ns;
      a.push_back(std::move(j));
    }
    return a;
  };
  f["mappings"] = costs(m.mappings, "name");
  f["mappings_total"] = m.mappings_total;
  f["sites"] = costs(m.sites, "symbol");
  f["sites_total"] = m.sites_total;
  return f;
}

Json ToJson(const TlbModel& m) {
  Json tlb = Json::array();
  for (const TlbModel::Row& r : m.rows) {
    Json j;
    j["pid"] = r.pid;
    j["comm"] = r.comm;
    j["count"] = r.count;
    j["pages"] = r.pages;
    j["full_flushes"] = r.full_flushes;
    j["ipis_sent"] = r.ipis_sent;
    j["remote_flushes"] = r.remote_flushes;
    j["local_flushes"] = r.local_flushes;
    tlb.push_back(std::move(j));
  }
  return tlb;
}

namespace {

template <class T>
Json OrNull(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json ConnJson(const ConnectionsModel::Conn& c) {
  Json j;
  j["id"] = c.id;
  j["local_addr"] = c.local_addr;
  j["local_port"] = c.local_port;
  j["remote_addr"] = c.remote_addr;
  j["remote_port"] = c.remote_port;
  j["family"] = c.family == 10 ? "ipv6" : "ipv4";
  j["role"] = c.role;
  j["role_guessed"] = c.role_guessed;
  j["pid"] = c.pid;
  j["comm"] = c.comm;
  j["accept_tid"] = OrNull(c.accept_tid);
  j["serving_tids"] = c.serving_tids;
  Json serving = Json::array();
  for (const auto& s : c.serving) {
    serving.push_back({{"tid", s.tid}, {"pid", s.pid}, {"from_ns", s.from_ns},
                       {"bytes_in", s.bytes_in}, {"bytes_out", s.bytes_out}});
  }
  j["serving"] = std::move(serving);
  j["serving_more"] = c.serving_more;
  j["last_tid"] = c.last_tid;
  j["opened_ns"] = c.opened_ns;
  j["established_ns"] = OrNull(c.established_ns);
  j["established_monotonic_ns"] = OrNull(c.established_monotonic_ns);
  j["handshake_ns"] = OrNull(c.handshake_ns);
  j["accept_wait_ns"] = OrNull(c.accept_wait_ns);
  j["duration_ns"] = c.duration_ns;
  j["closed_by"] = c.closed_by;
  j["close"] = c.close;
  j["close_reason"] = c.close_reason;
  j["reset_reason"] = c.first_reset.empty() ? Json(nullptr) : Json(c.first_reset);
  j["bytes_in"] = c.bytes_in;
  j["bytes_out"] = c.bytes_out;
  j["requests"] = nullptr;  // the server's USDT probes: a later issue
  j["faults"] = nullptr;    // the fault correlation: a later issue
  j["fault_ns"] = nullptr;
  j["retransmits"] = c.retransmits;
  j["open_at_start"] = c.open_at_start;
  j["open_at_end"] = c.open_at_end;
  j["state_at_end"] = c.open_at_end ? Json(c.state_at_end) : Json(nullptr);
  j["state_ns"] = {{"fin_wait1", OrNull(c.fin_wait1_ns)},
                   {"fin_wait2", OrNull(c.fin_wait2_ns)},
                   {"closing", OrNull(c.closing_ns)},
                   {"close_wait", OrNull(c.close_wait_ns)},
                   {"last_ack", OrNull(c.last_ack_ns)},
                   {"time_wait", nullptr}};  // no kernel event shows it
  j["time_wait"] = c.time_wait;
  j["partial"] = c.partial;
  char sk[24];
  std::snprintf(sk, sizeof sk, "0x%llx", static_cast<unsigned long long>(c.sk));
  j["sk"] = sk;
  j["gen"] = c.gen;
  return j;
}

Json TallyJson(const std::vector<ConnectionsModel::Tally>& rows, const char* id) {
  Json a = Json::array();
  for (const auto& r : rows) {
    Json j;
    j[id] = r.id;
    if (std::string(id) == "tid") j["pid"] = r.pid;
    j["comm"] = r.comm;
    j["connections"] = r.connections;
    j["accepted"] = r.accepted;
    j["bytes_in"] = r.bytes_in;
    j["bytes_out"] = r.bytes_out;
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace

Json ToJson(const ConnectionsModel& m) {
  Json c;
  c["recorded"] = m.recorded;
  c["lost_events"] = OrNull(m.lost_events);
  c["partial"] = m.partial;
  c["partial_reasons"] = m.partial_reasons;
  c["total"] = m.total;
  c["servers"] = m.servers;
  c["clients"] = m.clients;
  c["closed_by_server"] = m.closed_by_server;
  c["closed_by_client"] = m.closed_by_client;
  c["open"] = m.open;
  c["fin"] = m.fin;
  c["rst"] = m.rst;
  c["rst_sent"] = m.rst_sent;
  c["rst_received"] = m.rst_received;
  Json by_reason = Json::object();
  for (const auto& [reason, n] : m.rst_sent_by_reason) by_reason[reason] = n;
  c["rst_sent_by_reason"] = std::move(by_reason);
  c["rst_unmatched"] = m.rst_unmatched;
  c["open_at_start"] = m.open_at_start;
  c["open_at_end"] = m.open_at_end;
  c["listen_overflows"] = OrNull(m.listen_overflows);
  c["listen_drops"] = OrNull(m.listen_drops);
  c["netstat_samples"] = m.netstat_samples;
  c["accept_wait_ns"] = {{"p50", m.accept_wait_p50},
                         {"p99", m.accept_wait_p99},
                         {"max", m.accept_wait_max},
                         {"count", m.accept_wait_count}};
  c["time_wait_server"] = m.time_wait_server;
  c["unmatched_records"] = m.unmatched_records;
  Json anomalies = Json::array();
  for (const auto& a : m.anomalies) {
    Json j;
    j["kind"] = a.kind;
    j["detail"] = a.detail;
    j["connections"] = a.connections;
    j["connections_total"] = a.connections_total;
    for (const auto& [k, v] : a.figures) j[k] = v;
    anomalies.push_back(std::move(j));
  }
  c["anomalies"] = std::move(anomalies);
  Json listeners = Json::array();
  for (const auto& l : m.listeners) {
    listeners.push_back({{"addr", l.addr},
                         {"port", l.port},
                         {"pid", l.pid},
                         {"comm", l.comm},
                         {"sockets", l.sockets},
                         {"accepted", l.accepted},
                         {"max_backlog_seen", l.max_backlog_seen},
                         {"max_ack_backlog", l.max_ack_backlog},
                         {"queue_full", l.queue_full}});
  }
  c["listeners"] = std::move(listeners);
  c["threads"] = TallyJson(m.threads, "tid");
  c["threads_total"] = m.threads_total;
  c["processes"] = TallyJson(m.processes, "pid");
  c["processes_total"] = m.processes_total;
  Json list = Json::array();
  for (const auto& conn : m.list) list.push_back(ConnJson(conn));
  c["list"] = std::move(list);
  c["list_omitted"] = m.list_omitted;
  return c;
}

Json ToJson(const ReportModel& m) {
  Json out;
  out["version"] = m.version;
  out["trace"] = ToJson(m.trace);
  Json faults = ToJson(m.faults);
  faults["tlb_shootdowns"] = ToJson(m.tlb);  // SPEC: inside "faults"
  out["faults"] = std::move(faults);
  out["connections"] = ToJson(m.connections);
  return out;
}

}  // namespace faultline::analyzer
