// Exact request accounting for faultline-load, and its report.
//
// A request is "sent" when its bytes are first handed to a connection
// (HTTP/1.1: the request is written to the socket; HTTP/2: its HEADERS frame
// is serialized for the socket). From then on it has exactly one final
// outcome: completed (a whole response arrived; counted by status class) or
// failed (by reason). A re-send of the same request is counted in `retried`
// (by reason), never again in `sent`. Hence at any time
//   sent == completed + failed + in_flight
// and in_flight is 0 once a run has drained.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/load/histogram.h"

namespace faultline::load {

// Why a sent request failed. Names (FailReasonName) are stable JSON keys.
enum class FailReason {
  kConnectRefused,        // its retry found no listener (ECONNREFUSED)
  kConnectError,          // its retry could not connect for another reason
  kReset,                 // RST before any response byte, not retryable
  kClosedBeforeResponse,  // FIN before any byte of the response, not retryable
  kClosedMidResponse,     // FIN/RST after part of the response
  kTimeout,               // no whole response within --timeout
  kProtocolError,         // malformed HTTP/1.1 response, HTTP/2 protocol error
  kStreamReset,           // HTTP/2 RST_STREAM other than REFUSED_STREAM
  kRetriesExhausted,      // safe to retry, but kMaxAttempts sends already made
  kDeadline,              // still in flight at the end of -d plus --timeout
  kCount,
};

// Why a request was re-sent; the only three cases where that is safe.
enum class RetryReason {
  kGoaway,           // HTTP/2 stream above GOAWAY's last-stream-id
  kRefusedStream,    // HTTP/2 RST_STREAM(REFUSED_STREAM)
  kKeepAliveClosed,  // HTTP/1.1 reused connection closed before any response byte
  kCount,
};

// Connection attempts that failed, by kind. These count connections, not
// requests: a request that was never sent because its connection failed is
// not in `sent`; a sent request whose retry could not connect is also in
// failed_by_reason (connect_refused / connect_error).
enum class ConnectError { kRefused, kTimeout, kOther, kCount };

// A request is sent at most this many times (1 + 4 retries).
inline constexpr int kMaxAttempts = 5;

std::string_view FailReasonName(FailReason r);
std::string_view RetryReasonName(RetryReason r);
std::string_view ConnectErrorName(ConnectError e);

struct Stats {
  uint64_t sent = 0;
  // completed_by_class[k] counts statuses k00..k99 for k in 1..5; [0] counts
  // anything else (a 6xx..9xx status).
  std::array<uint64_t, 6> completed_by_class{};
  std::array<uint64_t, static_cast<size_t>(FailReason::kCount)> failed_by_reason{};
  std::array<uint64_t, static_cast<size_t>(RetryReason::kCount)> retried_by_reason{};
  std::array<uint64_t, static_cast<size_t>(ConnectError::kCount)> connect_errors{};
  // Requests sent and not yet finished. Kept separately (incremented on the
  // first send, decremented on the final outcome), so the invariant above is
  // a check, not a definition.
  uint64_t in_flight = 0;
  uint64_t connections_opened = 0;
  uint64_t bytes_sent = 0;      // bytes written to sockets
  uint64_t bytes_received = 0;  // bytes read from sockets
  uint64_t body_bytes = 0;      // response body bytes of completed requests
  Histogram latency_ns;         // completed requests, first send to last byte
  std::vector<uint64_t> path_sent;       // per --paths entry
  std::vector<uint64_t> path_completed;  // per --paths entry

  uint64_t completed() const;
  uint64_t failed() const;
  uint64_t retried() const;
  void Merge(const Stats& other);
};

struct ReportInfo {
  std::string url;
  std::string protocol;  // "http/1.1" or "h2c"
  int connections = 0;
  int threads = 0;
  int streams = 1;
  bool close_per_request = false;
  double rate = 0;         // 0 = closed loop
  double elapsed_s = 0;    // first send to end of drain
  std::string stop_reason; // empty, or why the run ended early
  std::vector<std::string> paths;
  std::vector<uint32_t> weights;
};

std::string FormatText(const Stats& stats, const ReportInfo& info);
std::string FormatJson(const Stats& stats, const ReportInfo& info);

}  // namespace faultline::load
