#include "server/load/options.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <sstream>
#include <thread>

namespace faultline::load {

namespace po = boost::program_options;

Result<Target> ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return Fail(2, "URL '" + url + "': https is not supported (use http://, h2c with --h2)");
  }
  if (url.rfind(kScheme, 0) != 0) return Fail(2, "URL '" + url + "': must start with http://");
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Target t;
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (t.path.find_first_of(" \t\r\n") != std::string::npos) {
    return Fail(2, "URL '" + url + "': space in path");
  }
  std::string host;
  std::string port_str;
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) return Fail(2, "URL '" + url + "': unterminated [");
    host = hostport.substr(1, close - 1);
    std::string after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Fail(2, "URL '" + url + "': bad port");
      port_str = after.substr(1);
    }
  } else {
    size_t colon = hostport.find(':');
    host = hostport.substr(0, colon);
    if (colon != std::string::npos) port_str = hostport.substr(colon + 1);
  }
  int port = 80;
  if (!port_str.empty() || hostport.find(':') != std::string::npos) {
    if (port_str.empty() || port_str.size() > 5 ||
        !std::all_of(port_str.begin(), port_str.end(), ::isdigit)) {
      return Fail(2, "URL '" + url + "': bad port '" + port_str + "'");
    }
    port = std::stoi(port_str);
    if (port < 1 || port > 65535) return Fail(2, "URL '" + url + "': port out of range");
  }
  if (host == "localhost") host = "127.0.0.1";
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    if ((ntohl(a4.s_addr) >> 24) != 127) {
      return Fail(2, "URL '" + url + "': only loopback targets are allowed (127.0.0.0/8, ::1)");
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    sin->sin_addr = a4;
    t.addr_len = sizeof(sockaddr_in);
    t.authority = host + ":" + std::to_string(port);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&a6)) {
      return Fail(2, "URL '" + url + "': only loopback targets are allowed (127.0.0.0/8, ::1)");
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    sin6->sin6_addr = a6;
    t.addr_len = sizeof(sockaddr_in6);
    t.authority = "[" + host + "]:" + std::to_string(port);
  } else {
    return Fail(2, "URL '" + url + "': host must be a loopback address (127.0.0.1, [::1], localhost)");
  }
  return t;
}

namespace {

po::options_description Described() {
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "show this help")
      ("connections,c", po::value<int>()->default_value(10), "connections (total, over all threads)")
      ("duration,d", po::value<double>(), "run for SECONDS (default 10 when -n is not given)")
      ("requests,n", po::value<uint64_t>(), "send exactly REQUESTS requests, then stop")
      ("h2", "HTTP/2 over cleartext with prior knowledge (h2c)")
      ("close", "HTTP/1.1: a new connection per request (Connection: close)")
      ("rate", po::value<double>(), "open loop: R requests/s in total (default: closed loop)")
      ("paths", po::value<std::string>(), "weighted endpoint mix, e.g. \"/:5,/alloc?kb=64:2\"")
      ("streams", po::value<int>()->default_value(1), "--h2: concurrent streams per connection")
      ("threads", po::value<int>(), "threads, each with its own epoll (default: min(cores, -c))")
      ("timeout", po::value<double>()->default_value(10), "per-request timeout and -d drain time, seconds")
      ("json", "print the report as JSON");
  return desc;
}

}  // namespace

std::string HelpText() {
  std::ostringstream out;
  out << "usage: faultline-load URL [-c CONNS] [-d SECONDS | -n REQUESTS] [--h2] [--close]\n"
         "                      [--rate R] [--paths MIX] [--streams N] [--threads T]\n"
         "                      [--timeout S] [--json]\n"
         "Drives an HTTP/1.1 or h2c server on a loopback address and counts every request\n"
         "exactly: sent = completed + failed + in flight; retries only where safe.\n\n"
      << Described()
      << "\nexamples:\n"
         "  faultline-load http://127.0.0.1:8080/ -c 50 -d 10\n"
         "  faultline-load http://127.0.0.1:8080/ --h2 -c 4 --streams 16 -n 100000 --json\n"
         "  faultline-load http://[::1]:8080/ --close --rate 2000 -d 30 \\\n"
         "      --paths \"/:5,/alloc?kb=64:2,/file?kb=16:1\"\n";
  return out.str();
}

Result<Options> ParseOptions(int argc, const char* const* argv) {
  po::options_description desc = Described();
  po::options_description hidden;
  hidden.add_options()("url", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("url", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Fail(2, std::string(e.what()) + " (see --help)");
  }
  Options o;
  if (vm.count("help")) {
    o.help = true;
    return o;
  }
  if (!vm.count("url")) return Fail(2, "missing URL (see --help)");
  const auto& urls = vm["url"].as<std::vector<std::string>>();
  if (urls.size() != 1) return Fail(2, "exactly one URL expected, got " + std::to_string(urls.size()));
  o.url = urls[0];
  auto target = ParseUrl(o.url);
  if (!target) return std::unexpected(target.error());
  o.target = *target;

  o.connections = vm["connections"].as<int>();
  if (o.connections < 1 || o.connections > 100000) return Fail(2, "-c must be 1..100000");
  if (vm.count("duration") && vm.count("requests")) return Fail(2, "-d and -n are exclusive");
  if (vm.count("duration")) {
    o.duration_s = vm["duration"].as<double>();
    if (!(o.duration_s > 0) || !std::isfinite(o.duration_s)) return Fail(2, "-d must be > 0 seconds");
  }
  if (vm.count("requests")) {
    o.requests = vm["requests"].as<uint64_t>();
    if (o.requests == 0) return Fail(2, "-n must be at least 1");
  }
  o.h2 = vm.count("h2") > 0;
  o.close = vm.count("close") > 0;
  if (o.h2 && o.close) return Fail(2, "--close is for HTTP/1.1; it cannot be combined with --h2");
  if (vm.count("rate")) {
    o.rate = vm["rate"].as<double>();
    if (!(o.rate > 0) || !std::isfinite(o.rate)) return Fail(2, "--rate must be > 0 requests/s");
  }
  if (vm.count("paths")) {
    auto mix = ParsePathMix(vm["paths"].as<std::string>());
    if (!mix) return std::unexpected(mix.error());
    o.paths = *mix;
  } else {
    o.paths = {PathWeight{o.target.path, 1}};
  }
  o.streams = vm["streams"].as<int>();
  if (o.streams < 1 || o.streams > 10000) return Fail(2, "--streams must be 1..10000");
  if (o.streams > 1 && !o.h2) return Fail(2, "--streams needs --h2");
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.threads = std::min(cores, o.connections);
  if (vm.count("threads")) {
    o.threads = vm["threads"].as<int>();
    if (o.threads < 1 || o.threads > 1024) return Fail(2, "--threads must be 1..1024");
    if (o.threads > o.connections) return Fail(2, "--threads must not exceed -c");
  }
  o.timeout_s = vm["timeout"].as<double>();
  if (!(o.timeout_s > 0) || !std::isfinite(o.timeout_s)) return Fail(2, "--timeout must be > 0 seconds");
  o.json = vm.count("json") > 0;
  return o;
}

}  // namespace faultline::load
