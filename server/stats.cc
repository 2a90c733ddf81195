#include "server/stats.h"

namespace faultline::server {

void Stats::Add(const Stats& o) {
  connections_accepted += o.connections_accepted;
  connections_closed += o.connections_closed;
  h1_requests += o.h1_requests;
  h2_requests += o.h2_requests;
  requests_cut += o.requests_cut;
  for (int i = 0; i < 600; ++i) by_status[i] += o.by_status[i];
}

std::string Stats::ToJson() const {
  std::string s =
      "{\"connections_accepted\":" + std::to_string(connections_accepted) +
      ",\"connections_closed\":" + std::to_string(connections_closed) +
      ",\"requests_completed\":" + std::to_string(RequestsCompleted()) +
      ",\"h1_requests\":" + std::to_string(h1_requests) +
      ",\"h2_requests\":" + std::to_string(h2_requests) +
      ",\"requests_cut\":" + std::to_string(requests_cut) + ",\"by_status\":{";
  bool first = true;
  for (int i = 100; i < 600; ++i) {
    if (by_status[i] == 0) continue;
    if (!first) s += ',';
    first = false;
    s += '"' + std::to_string(i) + "\":" + std::to_string(by_status[i]);
  }
  s += "}}";
  return s;
}

}  // namespace faultline::server
