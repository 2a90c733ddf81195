// Recording connections with `faultline record` and comparing the report's
// "connections" object (SPEC section 6) with a capture of the wire
// (capture.h). Everything here returns messages instead of asserting, so
// that the tests decide what is fatal.
#ifndef FAULTLINE_TESTS_SUPPORT_CONNECTIONS_H_
#define FAULTLINE_TESTS_SUPPORT_CONNECTIONS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/capture.h"
#include "tests/support/process.h"

namespace faultline::testing {

// True when this build's `faultline record` records TCP connections (its
// --help offers --tcp); otherwise false and *why says so.
bool RecordHasTcp(std::string* why);

// A running `faultline record TARGET... -o TRACE`.
class Recording {
 public:
  // target: e.g. {"-p", "123"} or {"--port", "8080"}. Returns once the
  // recorder says it is recording (its BPF programs are attached).
  static std::optional<Recording> Start(const std::vector<std::string>& target,
                                        const std::string& trace,
                                        std::string* error);
  // SIGINT, as Ctrl-C would, and waits for the trace to be complete.
  RunResult Stop();

 private:
  explicit Recording(Child child) : child_(std::move(child)) {}
  Child child_;
};

// `faultline report TRACE --format json`, parsed. nullopt + *error.
std::optional<nlohmann::json> ReportJson(const std::string& trace,
                                         std::string* error);

// One entry of connections.list.
struct ReportedConnection {
  int local_port = 0, remote_port = 0;
  int64_t pid = 0, accept_tid = 0;
  std::vector<int64_t> serving_tids;
  int64_t accept_wait_ns = -1, established_ns = 0, duration_ns = 0;
  std::string closed_by, close, close_reason;
  uint64_t bytes_in = 0, bytes_out = 0;
  nlohmann::json raw;  // the whole entry, for messages
};

// The entries of connections.list whose local_port is `port`, by remote
// port. A remote port listed twice, or a missing field, goes to *errors.
std::map<int, ReportedConnection> ReportedOnPort(
    const nlohmann::json& connections, int port,
    std::vector<std::string>* errors);

// Compares the report with the wire, connection by connection (matched by
// the client's ephemeral port): closed_by, close, bytes_in (= payload to
// the server), bytes_out (= payload to the client); and the totals total,
// closed_by_server, closed_by_client, fin, rst_sent (connections the server
// reset), rst_received (connections the client reset). Returns one message
// per difference, naming the connection and both values.
// With compare_bytes_in false, bytes_in is not compared (for bytes that
// reached the server's kernel after the application had closed: on the
// wire, never read).
std::vector<std::string> CompareWithWire(
    const nlohmann::json& connections,
    const std::vector<CapturedConnection>& wire, int server_port,
    bool compare_bytes_in = true);

// One observed run: the report's JSON and the wire's connections.
struct Observed {
  nlohmann::json report;
  std::vector<CapturedConnection> wire;
  std::string record_stderr;  // the recorder's summary (events, lost)
};

// Captures lo on `port`, starts `faultline record TARGET` into dir/t.flt,
// runs traffic(), waits `settle` for the last ACKs and closes, stops the
// recorder, then the capture, and reads both. nullopt + *error when any
// step fails (not when they disagree: that is for the caller to compare).
std::optional<Observed> Observe(const std::vector<std::string>& target,
                                int port, const std::string& dir,
                                const std::function<void()>& traffic,
                                std::string* error,
                                std::chrono::milliseconds settle =
                                    std::chrono::milliseconds(300));

// A client that lets the server close first: sends "GET path HTTP/1.1"
// with `headers` (e.g. "Connection: close\r\n") on a new connection to
// 127.0.0.1:port, reads until the server's FIN (at most 5 s), and only then
// closes. Returns the client's local port (0 on failure); *response gets
// what was read, *server_closed whether the server's FIN or RST arrived.
int GetUntilServerCloses(int port, const std::string& path,
                         const std::string& headers, std::string* response,
                         bool* server_closed);

// Copies everything in `dir` (trace, capture, strace log) to a fresh
// /tmp/faultline-kept-NAME-XXXXXX and returns that path, for a failure
// message: the evidence outlives the test's temporary directory.
std::string KeepArtifacts(const std::string& dir, const std::string& name);

// The lines of `messages`, one per line (for failure output).
std::string JoinLines(const std::vector<std::string>& messages);

// The local ports that curl printed with
// -w '%{local_port} %{num_connects}\n', counting only the transfers that
// opened a new connection.
std::vector<int> CurlNewConnectionPorts(const std::string& out);

// A short description of a captured connection, for messages.
std::string Describe(const CapturedConnection& c);

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SUPPORT_CONNECTIONS_H_
