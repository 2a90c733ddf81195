#include "analyzer/render_json.h"

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

Json ToJson(const ReportModel& m) {
  Json out;
  out["version"] = m.version;
  out["trace"] = ToJson(m.trace);
  Json faults = ToJson(m.faults);
  faults["tlb_shootdowns"] = ToJson(m.tlb);  // SPEC: inside "faults"
  out["faults"] = std::move(faults);
  return out;
}

}  // namespace faultline::analyzer
