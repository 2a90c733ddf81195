// Server counters. Each event loop (one thread) owns one Stats and updates it
// without atomics; they are summed once the threads have stopped, and printed
// as one JSON line ("faultline-server: stats {...}") at exit.
#ifndef FAULTLINE_SERVER_STATS_H_
#define FAULTLINE_SERVER_STATS_H_

#include <cstdint>
#include <string>

namespace faultline::server {

struct Stats {
  uint64_t connections_accepted = 0;
  uint64_t connections_closed = 0;
  uint64_t h1_requests = 0;  // Completed HTTP/1.x requests (any status).
  uint64_t h2_requests = 0;  // Completed HTTP/2 streams (any status).
  // Requests in flight when the drain timeout forced their connection shut.
  uint64_t requests_cut = 0;
  // Completed requests by status code (index = status, 100..599).
  uint64_t by_status[600] = {};

  void CountStatus(int status) {
    if (status >= 100 && status < 600) ++by_status[status];
  }
  void Add(const Stats& o);
  uint64_t RequestsCompleted() const { return h1_requests + h2_requests; }
  // {"connections_accepted":N,...,"by_status":{"200":N}} on one line.
  std::string ToJson() const;
};

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_STATS_H_
