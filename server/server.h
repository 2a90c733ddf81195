// faultline-server: the seven thread/socket patterns, each a policy over the
// same Loop and Connection code, and the graceful shutdown that drives them.
#ifndef FAULTLINE_SERVER_SERVER_H_
#define FAULTLINE_SERVER_SERVER_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace faultline::server {

struct Options {
  std::string pattern;
  int port = -1;
  int workers = 2;
  int readers = 2;  // dispatch: reader threads in front of the worker pool
  double drain_timeout_s = 10;
  std::string bind = "127.0.0.1";
  double header_timeout_s = 10;
  double idle_timeout_s = 30;
};

// Names accepted by --pattern, in documentation order: the names of
// Patterns() (server/patterns.h).
const std::vector<std::string>& PatternNames();

// Checks the options (pattern known, port 0..65535, workers 1..1024,
// timeouts > 0). The error's exit_code is 2.
Result<void> ValidateOptions(const Options& opts);

// Parses argv. Returns an error with exit code 0 for --help and
// --list-patterns (the message is what to print on stdout).
Result<Options> ParseArgs(int argc, char** argv);

// Serves until SIGTERM/SIGINT, then shuts down gracefully. Returns the exit
// code: 0 after a clean drain, 1 if the drain timeout cut requests or a
// prefork child failed, 2 for a bad environment (cannot bind, ...).
int RunServer(const Options& opts);

// Creates a listening TCP socket (non-blocking, SO_REUSEADDR, and
// SO_REUSEPORT when asked). Exposed for tests.
Result<int> Listen(const std::string& addr, int port, bool reuseport);
// The local port of a bound socket.
int LocalPort(int fd);

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_SERVER_H_
