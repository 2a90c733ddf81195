#include "tests/support/server.h"

#include <cstdlib>

namespace faultline::testing {

std::string PatternTestName(std::string pattern) {
  for (char& c : pattern) {
    if (c == '-') c = '_';
  }
  return pattern;
}

std::optional<ServerProcess> StartServer(
    const std::string& pattern, int workers, double drain_timeout_s,
    std::string* error, const std::vector<std::string>& extra) {
  const std::string bin = BuildPath("faultline-server");
  if (!HaveCommand(bin)) {
    *error = bin + " is not built";
    return std::nullopt;
  }
  std::vector<std::string> argv = {bin,
                                   "--pattern",
                                   pattern,
                                   "--port",
                                   "0",
                                   "--workers",
                                   std::to_string(workers),
                                   "--drain-timeout",
                                   std::to_string(drain_timeout_s)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ServerProcess s{Child::Spawn(argv), 0};
  const std::string line = s.child.ReadStderrUntil("listening on 127.0.0.1:",
                                                   std::chrono::seconds(10));
  const size_t at = line.find("127.0.0.1:");
  if (at != std::string::npos) {
    s.port = std::atoi(line.c_str() + at + 10);
  }
  if (s.port <= 0) {
    *error = "faultline-server --pattern " + pattern +
             " did not report its port; stderr: " + s.child.StderrSoFar();
    return std::nullopt;
  }
  return s;
}

std::string ServerStatsJson(const std::string& err) {
  constexpr std::string_view kPrefix = "faultline-server: stats ";
  const size_t at = err.rfind(kPrefix);
  if (at == std::string::npos) return "";
  const size_t begin = at + kPrefix.size();
  const size_t end = err.find('\n', begin);
  return err.substr(begin,
                    end == std::string::npos ? std::string::npos : end - begin);
}

std::optional<uint64_t> JsonUint(std::string_view json, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  size_t at = json.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  at += quoted.size();
  while (at < json.size() && (json[at] == ' ' || json[at] == '\n')) ++at;
  if (at >= json.size() || json[at] != ':') return std::nullopt;
  ++at;
  while (at < json.size() && (json[at] == ' ' || json[at] == '\n')) ++at;
  if (at >= json.size() || json[at] < '0' || json[at] > '9')
    return std::nullopt;
  uint64_t v = 0;
  while (at < json.size() && json[at] >= '0' && json[at] <= '9') {
    v = v * 10 + static_cast<uint64_t>(json[at] - '0');
    ++at;
  }
  return v;
}

}  // namespace faultline::testing
