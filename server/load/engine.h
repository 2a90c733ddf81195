// The load engine of faultline-load: a few threads, each with its own epoll
// instance and its share of the connections (non-blocking sockets, an
// HTTP/1.1 client of our own, HTTP/2 through nghttp2's client session).
#pragma once

#include <atomic>
#include <string>

#include "server/load/options.h"
#include "server/load/stats.h"

namespace faultline::load {

struct RunResult {
  Stats stats;
  double elapsed_s = 0;     // start to the end of the drain
  std::string stop_reason;  // why the run ended before -d/-n, or empty
};

// Runs the load described by `options` and returns the merged accounting.
// Setting *interrupt (e.g. from a SIGINT handler) stops new requests and
// drains as at the end of -d. Never returns with requests in flight unless
// the accounting is broken (stats.in_flight counts them).
RunResult RunLoad(const Options& options, const std::atomic<bool>* interrupt = nullptr);

}  // namespace faultline::load
