#include "server/load/stats.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace faultline::load {

std::string_view FailReasonName(FailReason r) {
  switch (r) {
    case FailReason::kConnectRefused: return "connect_refused";
    case FailReason::kConnectError: return "connect_error";
    case FailReason::kReset: return "reset";
    case FailReason::kClosedBeforeResponse: return "closed_before_response";
    case FailReason::kClosedMidResponse: return "closed_mid_response";
    case FailReason::kTimeout: return "timeout";
    case FailReason::kProtocolError: return "protocol_error";
    case FailReason::kStreamReset: return "stream_reset";
    case FailReason::kRetriesExhausted: return "retries_exhausted";
    case FailReason::kDeadline: return "deadline";
    case FailReason::kCount: break;
  }
  return "?";
}

std::string_view RetryReasonName(RetryReason r) {
  switch (r) {
    case RetryReason::kGoaway: return "goaway";
    case RetryReason::kRefusedStream: return "refused_stream";
    case RetryReason::kKeepAliveClosed: return "keepalive_closed";
    case RetryReason::kCount: break;
  }
  return "?";
}

std::string_view ConnectErrorName(ConnectError e) {
  switch (e) {
    case ConnectError::kRefused: return "refused";
    case ConnectError::kTimeout: return "timeout";
    case ConnectError::kOther: return "other";
    case ConnectError::kCount: break;
  }
  return "?";
}

uint64_t Stats::completed() const {
  uint64_t n = 0;
  for (uint64_t c : completed_by_class) n += c;
  return n;
}

uint64_t Stats::failed() const {
  uint64_t n = 0;
  for (uint64_t c : failed_by_reason) n += c;
  return n;
}

uint64_t Stats::retried() const {
  uint64_t n = 0;
  for (uint64_t c : retried_by_reason) n += c;
  return n;
}

void Stats::Merge(const Stats& o) {
  sent += o.sent;
  for (size_t i = 0; i < completed_by_class.size(); ++i) completed_by_class[i] += o.completed_by_class[i];
  for (size_t i = 0; i < failed_by_reason.size(); ++i) failed_by_reason[i] += o.failed_by_reason[i];
  for (size_t i = 0; i < retried_by_reason.size(); ++i) retried_by_reason[i] += o.retried_by_reason[i];
  for (size_t i = 0; i < connect_errors.size(); ++i) connect_errors[i] += o.connect_errors[i];
  in_flight += o.in_flight;
  connections_opened += o.connections_opened;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  body_bytes += o.body_bytes;
  latency_ns.Merge(o.latency_ns);
  if (path_sent.size() < o.path_sent.size()) path_sent.resize(o.path_sent.size());
  if (path_completed.size() < o.path_completed.size()) path_completed.resize(o.path_completed.size());
  for (size_t i = 0; i < o.path_sent.size(); ++i) path_sent[i] += o.path_sent[i];
  for (size_t i = 0; i < o.path_completed.size(); ++i) path_completed[i] += o.path_completed[i];
}

namespace {

constexpr const char* kClassNames[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

std::string Duration(uint64_t ns) {
  char buf[32];
  if (ns < 10'000) {
    std::snprintf(buf, sizeof buf, "%lluns", static_cast<unsigned long long>(ns));
  } else if (ns < 10'000'000) {
    std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  } else if (ns < 10'000'000'000ULL) {
    std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  }
  return buf;
}

double Rps(const Stats& s, const ReportInfo& info) {
  return info.elapsed_s > 0 ? static_cast<double>(s.completed()) / info.elapsed_s : 0;
}

}  // namespace

std::string FormatText(const Stats& s, const ReportInfo& info) {
  std::ostringstream out;
  char line[256];
  out << "faultline-load " << info.url << "  " << info.protocol << ", " << info.connections
      << " connections";
  if (info.protocol == "h2c") out << " x " << info.streams << " streams";
  if (info.close_per_request) out << ", new connection per request";
  out << ", " << info.threads << " threads, ";
  if (info.rate > 0) {
    out << "open loop at " << info.rate << " req/s\n";
  } else {
    out << "closed loop\n";
  }
  if (!info.stop_reason.empty()) out << "stopped early: " << info.stop_reason << "\n";
  std::snprintf(line, sizeof line, "%-24s %llu\n", "requests sent", static_cast<unsigned long long>(s.sent));
  out << line;
  std::snprintf(line, sizeof line, "%-24s %llu", "completed", static_cast<unsigned long long>(s.completed()));
  out << line;
  bool first = true;
  for (size_t k = 1; k <= 6; ++k) {
    size_t i = k % 6;  // 1xx..5xx, then other
    if (s.completed_by_class[i] == 0) continue;
    out << (first ? "  (" : ", ") << kClassNames[i] << " " << s.completed_by_class[i];
    first = false;
  }
  out << (first ? "\n" : ")\n");
  std::snprintf(line, sizeof line, "%-24s %llu\n", "failed", static_cast<unsigned long long>(s.failed()));
  out << line;
  for (size_t i = 0; i < s.failed_by_reason.size(); ++i) {
    if (s.failed_by_reason[i] == 0) continue;
    std::snprintf(line, sizeof line, "  %-22s %llu\n",
                  std::string(FailReasonName(static_cast<FailReason>(i))).c_str(),
                  static_cast<unsigned long long>(s.failed_by_reason[i]));
    out << line;
  }
  std::snprintf(line, sizeof line, "%-24s %llu\n", "in flight at end", static_cast<unsigned long long>(s.in_flight));
  out << line;
  std::snprintf(line, sizeof line, "%-24s %llu\n", "retried", static_cast<unsigned long long>(s.retried()));
  out << line;
  for (size_t i = 0; i < s.retried_by_reason.size(); ++i) {
    if (s.retried_by_reason[i] == 0) continue;
    std::snprintf(line, sizeof line, "  %-22s %llu\n",
                  std::string(RetryReasonName(static_cast<RetryReason>(i))).c_str(),
                  static_cast<unsigned long long>(s.retried_by_reason[i]));
    out << line;
  }
  for (size_t i = 0; i < s.connect_errors.size(); ++i) {
    if (s.connect_errors[i] == 0) continue;
    std::snprintf(line, sizeof line, "connect errors: %-8s %llu\n",
                  std::string(ConnectErrorName(static_cast<ConnectError>(i))).c_str(),
                  static_cast<unsigned long long>(s.connect_errors[i]));
    out << line;
  }
  std::snprintf(line, sizeof line, "%-24s %llu\n", "connections opened",
                static_cast<unsigned long long>(s.connections_opened));
  out << line;
  std::snprintf(line, sizeof line, "%-24s %.3fs\n%-24s %.1f\n", "elapsed", info.elapsed_s,
                "requests/s (completed)", Rps(s, info));
  out << line;
  const Histogram& h = s.latency_ns;
  out << "latency (first send to last byte; percentiles within +0.8%)\n";
  out << "  p50 " << Duration(h.Percentile(50)) << "  p90 " << Duration(h.Percentile(90))
      << "  p99 " << Duration(h.Percentile(99)) << "  max " << Duration(h.max()) << "  mean "
      << Duration(static_cast<uint64_t>(h.mean())) << "\n";
  std::snprintf(line, sizeof line, "bytes sent %llu, received %llu (response bodies %llu)\n",
                static_cast<unsigned long long>(s.bytes_sent),
                static_cast<unsigned long long>(s.bytes_received),
                static_cast<unsigned long long>(s.body_bytes));
  out << line;
  if (info.paths.size() > 1) {
    out << "paths\n";
    for (size_t i = 0; i < info.paths.size(); ++i) {
      out << "  " << info.paths[i] << "  weight " << info.weights[i] << ": sent "
          << (i < s.path_sent.size() ? s.path_sent[i] : 0) << ", completed "
          << (i < s.path_completed.size() ? s.path_completed[i] : 0) << "\n";
    }
  }
  return out.str();
}

std::string FormatJson(const Stats& s, const ReportInfo& info) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["url"] = info.url;
  j["protocol"] = info.protocol;
  j["connections"] = info.connections;
  j["streams"] = info.streams;
  j["threads"] = info.threads;
  j["close_per_request"] = info.close_per_request;
  j["rate"] = info.rate;
  j["elapsed_s"] = info.elapsed_s;
  j["stop_reason"] = info.stop_reason.empty() ? ordered_json(nullptr) : ordered_json(info.stop_reason);
  j["sent"] = s.sent;
  j["completed"] = s.completed();
  ordered_json by_class = ordered_json::object();
  for (size_t k = 1; k <= 6; ++k) by_class[kClassNames[k % 6]] = s.completed_by_class[k % 6];
  j["completed_by_class"] = by_class;
  j["failed"] = s.failed();
  ordered_json by_reason = ordered_json::object();
  for (size_t i = 0; i < s.failed_by_reason.size(); ++i) {
    by_reason[std::string(FailReasonName(static_cast<FailReason>(i)))] = s.failed_by_reason[i];
  }
  j["failed_by_reason"] = by_reason;
  j["in_flight_at_end"] = s.in_flight;
  j["retried"] = s.retried();
  ordered_json retried = ordered_json::object();
  for (size_t i = 0; i < s.retried_by_reason.size(); ++i) {
    retried[std::string(RetryReasonName(static_cast<RetryReason>(i)))] = s.retried_by_reason[i];
  }
  j["retried_by_reason"] = retried;
  ordered_json connect = ordered_json::object();
  for (size_t i = 0; i < s.connect_errors.size(); ++i) {
    connect[std::string(ConnectErrorName(static_cast<ConnectError>(i)))] = s.connect_errors[i];
  }
  j["connect_errors"] = connect;
  j["connections_opened"] = s.connections_opened;
  j["rps"] = Rps(s, info);
  const Histogram& h = s.latency_ns;
  j["latency_ns"] = {{"count", h.count()}, {"min", h.min()},
                     {"p50", h.Percentile(50)}, {"p90", h.Percentile(90)},
                     {"p99", h.Percentile(99)}, {"max", h.max()},
                     {"mean", static_cast<uint64_t>(h.mean())}};
  j["bytes"] = {{"sent", s.bytes_sent}, {"received", s.bytes_received}, {"body", s.body_bytes}};
  ordered_json paths = ordered_json::array();
  for (size_t i = 0; i < info.paths.size(); ++i) {
    paths.push_back({{"path", info.paths[i]}, {"weight", info.weights[i]},
                     {"sent", i < s.path_sent.size() ? s.path_sent[i] : 0},
                     {"completed", i < s.path_completed.size() ? s.path_completed[i] : 0}});
  }
  j["paths"] = paths;
  return j.dump(2) + "\n";
}

}  // namespace faultline::load
