// Command line of faultline-load.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "server/load/path_mix.h"

namespace faultline::load {

struct Target {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string authority;  // Host header / :authority, e.g. "127.0.0.1:8080"
  std::string path;       // path of the URL, "/" if none
};

// Parses "http://HOST[:PORT][/PATH]". HOST must be a loopback address:
// 127.0.0.0/8, [::1], or "localhost" (taken as 127.0.0.1). Errors have
// exit_code 2.
Result<Target> ParseUrl(const std::string& url);

struct Options {
  std::string url;
  Target target;
  int connections = 10;
  double duration_s = 10;  // used when requests == 0
  uint64_t requests = 0;   // -n; 0 = run for duration_s
  bool h2 = false;
  bool close = false;
  double rate = 0;         // requests/s over all connections; 0 = closed loop
  std::vector<PathWeight> paths;
  int streams = 1;
  int threads = 0;
  double timeout_s = 10;
  bool json = false;
  bool help = false;       // --help: print HelpText() and exit 0
};

// Errors have exit_code 2 and a one-line message.
Result<Options> ParseOptions(int argc, const char* const* argv);
std::string HelpText();

}  // namespace faultline::load
