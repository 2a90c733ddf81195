// The seven thread/socket patterns of faultline-server, as one table: the
// only list of them. `--help`, the unknown-pattern error and
// `--list-patterns` print it; RunServer runs the row named by --pattern;
// the tests (linking faultline_server_core) and the demo (through
// `faultline-server --list-patterns`) read it.
//
// Adding a pattern: write its Build function in server/server.cc (a threaded
// pattern only creates its Loops and listeners; the shared runner starts
// the threads, takes the signal and drives the graceful shutdown) and add
// one row to kPatterns there. See docs/server.md.
#ifndef FAULTLINE_SERVER_PATTERNS_H_
#define FAULTLINE_SERVER_PATTERNS_H_

#include <span>
#include <string>
#include <string_view>

namespace faultline::server {

struct Options;
struct ServerConfig;

struct Pattern {
  std::string_view name;     // the --pattern value
  std::string_view summary;  // one line: who accepts, who serves
  // Serves with this pattern until SIGTERM/SIGINT, then shuts down
  // gracefully; returns the process exit code (see RunServer). Called once,
  // on the main thread, before any other thread exists; it blocks the
  // shutdown signals itself.
  int (*run)(const Options& opts, const ServerConfig* cfg);
};

// Every pattern, in documentation order.
std::span<const Pattern> Patterns();
// The row named `name`, or nullptr.
const Pattern* FindPattern(std::string_view name);
// "event-loop, acceptor-workers, ..." (for error messages).
std::string PatternList();

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_PATTERNS_H_
