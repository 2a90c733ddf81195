// Starting faultline-server from system tests and reading its counters.
#ifndef FAULTLINE_TESTS_SUPPORT_SERVER_H_
#define FAULTLINE_TESTS_SUPPORT_SERVER_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/server.h"
#include "tests/support/process.h"

namespace faultline::testing {

// The seven --pattern values of faultline-server (SPEC section 2), read
// from the server's pattern table (server/patterns.h).
inline const std::vector<std::string>& ServerPatterns() {
  return faultline::server::PatternNames();
}

// "acceptor-workers" -> "acceptor_workers" (gtest parameter names).
std::string PatternTestName(std::string pattern);

struct ServerProcess {
  Child child;
  int port = 0;
};

// Runs build/faultline-server --pattern P --port 0 --workers N
// --drain-timeout S [extra...] and waits (up to 10 s) for its
// "listening on 127.0.0.1:PORT" line. On failure returns nullopt and says why
// in *error (including the server's stderr).
std::optional<ServerProcess> StartServer(
    const std::string& pattern, int workers, double drain_timeout_s,
    std::string* error, const std::vector<std::string>& extra = {});

// The JSON object of the "faultline-server: stats {...}" line in `err`, or ""
// when there is none.
std::string ServerStatsJson(const std::string& err);

// The unsigned integer value of "key": N, the first occurrence anywhere in a
// JSON text (enough for the flat counters of the stats line and of
// faultline-load --json), or nullopt.
std::optional<uint64_t> JsonUint(std::string_view json, std::string_view key);

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SUPPORT_SERVER_H_
