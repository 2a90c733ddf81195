#include "tests/support/connections.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "tests/support/net.h"

namespace faultline::testing {

using nlohmann::json;

bool RecordHasTcp(std::string* why) {
  const std::string bin = BuildPath("faultline");
  if (!HaveCommand(bin)) {
    *why = bin + " is not built";
    return false;
  }
  RunResult r = Run({bin, "record", "--help"}, std::chrono::seconds(20));
  if (r.out.find("--tcp") == std::string::npos &&
      r.err.find("--tcp") == std::string::npos) {
    *why = "this build's `faultline record --help` has no --tcp: TCP "
           "connection recording is not built yet";
    return false;
  }
  return true;
}

std::optional<Recording> Recording::Start(
    const std::vector<std::string>& target, const std::string& trace,
    std::string* error) {
  std::vector<std::string> argv = {BuildPath("faultline"), "record", "-o",
                                   trace};
  argv.insert(argv.end(), target.begin(), target.end());
  Child c = Child::Spawn(argv);
  if (c.ReadStderrUntil("recording", std::chrono::seconds(30)).empty()) {
    RunResult r = c.Wait(std::chrono::seconds(5));
    *error = "faultline record did not start (exit " +
             std::to_string(r.exit_code) + "): " + r.err;
    return std::nullopt;
  }
  return Recording(std::move(c));
}

RunResult Recording::Stop() {
  child_.Signal(SIGINT);
  return child_.Wait(std::chrono::seconds(60));
}

std::optional<json> ReportJson(const std::string& trace, std::string* error) {
  RunResult r = Run({BuildPath("faultline"), "report", trace, "--format",
                     "json"},
                    std::chrono::seconds(60));
  if (r.exit_code != 0) {
    *error = "faultline report failed (" + std::to_string(r.exit_code) +
             "): " + r.err;
    return std::nullopt;
  }
  json j = json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "faultline report --format json printed no JSON object";
    return std::nullopt;
  }
  return j;
}

namespace {

template <typename T>
bool Get(const json& o, const char* key, T* out) {
  if (!o.contains(key) || o[key].is_null()) return false;
  try {
    *out = o[key].get<T>();
  } catch (const json::exception&) {
    return false;
  }
  return true;
}

}  // namespace

std::map<int, ReportedConnection> ReportedOnPort(
    const json& connections, int port, std::vector<std::string>* errors) {
  std::map<int, ReportedConnection> out;
  if (!connections.is_object()) {
    errors->push_back("the report has no \"connections\" object");
    return out;
  }
  if (!connections.contains("list") || !connections["list"].is_array()) {
    errors->push_back("connections.list is missing");
    return out;
  }
  for (const json& e : connections["list"]) {
    ReportedConnection c;
    c.raw = e;
    if (!Get(e, "local_port", &c.local_port) || c.local_port != port) continue;
    bool ok = Get(e, "remote_port", &c.remote_port) && Get(e, "pid", &c.pid) &&
              Get(e, "closed_by", &c.closed_by) && Get(e, "close", &c.close) &&
              Get(e, "bytes_in", &c.bytes_in) &&
              Get(e, "bytes_out", &c.bytes_out);
    if (!ok) {
      errors->push_back("connections.list entry lacks a contract field: " +
                        e.dump());
      continue;
    }
    Get(e, "accept_tid", &c.accept_tid);
    Get(e, "accept_wait_ns", &c.accept_wait_ns);
    Get(e, "established_ns", &c.established_ns);
    Get(e, "duration_ns", &c.duration_ns);
    Get(e, "close_reason", &c.close_reason);
    if (e.contains("serving_tids") && e["serving_tids"].is_array()) {
      // A tid, or an object with "tid" (and the times it served).
      for (const json& t : e["serving_tids"]) {
        if (t.is_number_integer()) {
          c.serving_tids.push_back(t.get<int64_t>());
        } else if (t.is_object() && t.contains("tid")) {
          c.serving_tids.push_back(t["tid"].get<int64_t>());
        }
      }
    }
    if (out.count(c.remote_port)) {
      errors->push_back("client port " + std::to_string(c.remote_port) +
                        " is listed twice: " + out[c.remote_port].raw.dump() +
                        " and " + e.dump());
      continue;
    }
    out[c.remote_port] = std::move(c);
  }
  return out;
}

std::string Describe(const CapturedConnection& c) {
  return "client port " + std::to_string(c.client_port) + " (wire: first " +
         (c.first_close == "open" ? "close none"
                                  : "FIN/RST from " + c.first_close) +
         (c.fins_crossed ? " (FINs crossed)" : "") + ", close " + c.Close() +
         ", " + std::to_string(c.bytes_to_server) +
         " B in, " + std::to_string(c.bytes_to_client) + " B out)";
}

std::vector<std::string> CompareWithWire(
    const json& connections, const std::vector<CapturedConnection>& wire,
    int server_port, bool compare_bytes_in) {
  std::vector<std::string> msgs;
  std::map<int, ReportedConnection> rep =
      ReportedOnPort(connections, server_port, &msgs);
  int64_t by_server = 0, by_client = 0, fin = 0, rst_sent = 0, rst_recv = 0;
  int64_t crossed = 0;  // either side is right (fins_crossed)
  std::map<int, int> seen;
  for (const CapturedConnection& w : wire) {
    if (++seen[w.client_port] > 1) {
      msgs.push_back("the capture has client port " +
                     std::to_string(w.client_port) +
                     " twice (port reuse): cannot match by port");
      continue;
    }
    if (w.fins_crossed && w.Close() == "fin") {
      ++crossed;
    } else {
      by_server += w.first_close == "server";
      by_client += w.first_close == "client";
    }
    fin += w.Close() == "fin";
    rst_sent += w.server_rst;
    rst_recv += w.client_rst;
    auto it = rep.find(w.client_port);
    if (it == rep.end()) {
      msgs.push_back(Describe(w) + ": not in connections.list");
      continue;
    }
    const ReportedConnection& r = it->second;
    auto diff = [&](const char* field, const auto& want, const auto& got) {
      if (want == got) return;
      std::ostringstream m;
      m << Describe(w) << ": " << field << " expected " << want << ", got "
        << got << " (entry " << r.raw.dump() << ")";
      msgs.push_back(m.str());
    };
    if (w.fins_crossed && w.Close() == "fin") {
      if (r.closed_by != "server" && r.closed_by != "client") {
        msgs.push_back(Describe(w) + ": FINs crossed, closed_by expected "
                       "server or client, got " + r.closed_by);
      }
    } else {
      diff("closed_by", w.first_close, r.closed_by);
    }
    diff("close", w.Close(), r.close);
    if (compare_bytes_in) diff("bytes_in", w.bytes_to_server, r.bytes_in);
    diff("bytes_out", w.bytes_to_client, r.bytes_out);
  }
  for (const auto& [port, r] : rep) {
    if (!seen.count(port)) {
      msgs.push_back("connections.list has client port " +
                     std::to_string(port) +
                     " that the capture does not: " + r.raw.dump());
    }
  }
  auto total = [&](const char* key, int64_t want) {
    int64_t got = -1;
    if (!connections.is_object()) return;
    if (!Get(connections, key, &got)) {
      msgs.push_back(std::string("connections.") + key + " is missing");
    } else if (got != want) {
      msgs.push_back(std::string("connections.") + key + " expected " +
                     std::to_string(want) + " (capture), got " +
                     std::to_string(got));
    }
  };
  total("total", static_cast<int64_t>(wire.size()));
  // With crossed FINs the two counts may split those either way.
  auto between = [&](const char* key, int64_t lo, int64_t hi) {
    int64_t got = -1;
    if (!connections.is_object()) return;
    if (!Get(connections, key, &got)) {
      msgs.push_back(std::string("connections.") + key + " is missing");
    } else if (got < lo || got > hi) {
      msgs.push_back(std::string("connections.") + key + " expected " +
                     std::to_string(lo) +
                     (hi > lo ? ".." + std::to_string(hi) +
                                    " (FINs crossed in " +
                                    std::to_string(crossed) + ")"
                              : std::string(" (capture)")) +
                     ", got " + std::to_string(got));
    }
  };
  between("closed_by_server", by_server, by_server + crossed);
  between("closed_by_client", by_client, by_client + crossed);
  int64_t got_server = 0, got_client = 0;
  if (connections.is_object() &&
      Get(connections, "closed_by_server", &got_server) &&
      Get(connections, "closed_by_client", &got_client) &&
      got_server + got_client != by_server + by_client + crossed) {
    msgs.push_back("connections.closed_by_server + closed_by_client expected " +
                   std::to_string(by_server + by_client + crossed) +
                   " (capture), got " + std::to_string(got_server + got_client));
  }
  total("fin", fin);
  total("rst_sent", rst_sent);
  total("rst_received", rst_recv);
  return msgs;
}

std::optional<Observed> Observe(const std::vector<std::string>& target,
                                int port, const std::string& dir,
                                const std::function<void()>& traffic,
                                std::string* error,
                                std::chrono::milliseconds settle) {
  auto cap = LoopbackCapture::Start(port, dir + "/lo.pcapng", error);
  if (!cap) return std::nullopt;
  const std::string trace = dir + "/t.flt";
  auto rec = Recording::Start(target, trace, error);
  if (!rec) return std::nullopt;
  traffic();
  std::this_thread::sleep_for(settle);
  RunResult r = rec->Stop();
  if (r.exit_code != 0) {
    *error = "faultline record exited " + std::to_string(r.exit_code) + ": " +
             r.err;
    return std::nullopt;
  }
  if (!cap->Stop(error)) return std::nullopt;
  Observed o;
  o.record_stderr = r.err;
  auto wire = ReadCapture(cap->path(), port, error);
  if (!wire) return std::nullopt;
  o.wire = std::move(*wire);
  auto report = ReportJson(trace, error);
  if (!report) return std::nullopt;
  o.report = std::move(*report);
  return o;
}

int GetUntilServerCloses(int port, const std::string& path,
                         const std::string& headers, std::string* response,
                         bool* server_closed) {
  TcpClient c(port);
  if (!c.ok()) return 0;
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (getsockname(c.fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return 0;
  }
  if (!c.Send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
              "\r\n")) {
    return 0;
  }
  *response = c.ReadUntilClose(std::chrono::seconds(5), server_closed);
  return ntohs(a.sin_port);
}

std::string KeepArtifacts(const std::string& dir, const std::string& name) {
  std::string tmpl = "/tmp/faultline-kept-" + name + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return "(could not keep " + dir + ")";
  std::error_code ec;
  std::filesystem::copy(dir, tmpl, std::filesystem::copy_options::recursive,
                        ec);
  return ec ? "(could not copy " + dir + ": " + ec.message() + ")" : tmpl;
}

std::string JoinLines(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) out += "  " + m + "\n";
  return out;
}

std::vector<int> CurlNewConnectionPorts(const std::string& out) {
  std::vector<int> ports;
  std::istringstream in(out);
  int port = 0, connects = 0;
  while (in >> port >> connects) {
    if (connects > 0) ports.push_back(port);
  }
  return ports;
}

}  // namespace faultline::testing
