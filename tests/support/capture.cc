#include "tests/support/capture.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

namespace faultline::testing {

const std::vector<std::string> kTsharkFields = {
    "frame.time_epoch", "tcp.stream",      "tcp.srcport",     "tcp.dstport",
    "tcp.flags.syn",    "tcp.flags.ack",   "tcp.flags.fin",   "tcp.flags.reset",
    "tcp.seq",          "tcp.len",         "tcp.ack"};

namespace {

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> out;
  while (true) {
    size_t tab = line.find('\t');
    out.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return out;
    line.remove_prefix(tab + 1);
  }
}

bool ParseU64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  *v = x;
  return true;
}

bool ParseBool(std::string_view s, bool* v) {
  if (s == "1" || s == "True") return *v = true, true;
  if (s == "0" || s == "False") return *v = false, true;
  return false;
}

// "1764685599.123456789" (any number of decimals) -> ns.
bool ParseEpochNs(std::string_view s, int64_t* ns) {
  const size_t dot = s.find('.');
  uint64_t sec = 0, frac = 0;
  if (!ParseU64(s.substr(0, dot), &sec)) return false;
  std::string digits;
  if (dot != std::string_view::npos) digits = std::string(s.substr(dot + 1));
  if (digits.size() > 9) digits.resize(9);
  while (digits.size() < 9) digits += '0';
  if (!ParseU64(digits, &frac)) return false;
  *ns = static_cast<int64_t>(sec * 1000000000ull + frac);
  return true;
}

}  // namespace

std::string CapturedConnection::Close() const {
  if (server_rst || client_rst) return "rst";
  if (server_fin || client_fin) return "fin";
  return "open";
}

std::optional<std::vector<CapturedPacket>> ParseTsharkFields(
    std::string_view text, std::string* error) {
  std::vector<CapturedPacket> out;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::vector<std::string_view> f = SplitTabs(line);
    CapturedPacket p;
    uint64_t stream = 0, sport = 0, dport = 0;
    if (f.size() != kTsharkFields.size() || !ParseEpochNs(f[0], &p.time_ns) ||
        !ParseU64(f[1], &stream) || !ParseU64(f[2], &sport) ||
        !ParseU64(f[3], &dport) || !ParseBool(f[4], &p.syn) ||
        !ParseBool(f[5], &p.ack) || !ParseBool(f[6], &p.fin) ||
        !ParseBool(f[7], &p.rst) || !ParseU64(f[8], &p.seq) ||
        !ParseU64(f[9], &p.len) ||
        !(f[10].empty() || ParseU64(f[10], &p.ack_no))) {
      *error = "tshark line " + std::to_string(line_no) +
               " does not parse: '" + std::string(line) + "'";
      return std::nullopt;
    }
    p.stream = static_cast<int>(stream);
    p.src_port = static_cast<int>(sport);
    p.dst_port = static_cast<int>(dport);
    out.push_back(p);
  }
  return out;
}

std::optional<std::vector<CapturedConnection>> ConnectionsFromPackets(
    const std::vector<CapturedPacket>& packets, int server_port,
    std::string* error) {
  std::map<int, size_t> index;  // tcp.stream -> position in `out`
  std::vector<CapturedConnection> out;
  // Highest sequence number + 1 carried each way (relative: data starts
  // at 1), so that a retransmitted segment is counted once.
  std::map<int, uint64_t> end_to_server, end_to_client;
  // Per stream: the sequence number of the first FIN and who sent it.
  std::map<int, std::pair<uint64_t, bool>> first_fin;  // seq, from client
  for (const CapturedPacket& p : packets) {
    const bool from_client = p.dst_port == server_port;
    if (!from_client && p.src_port != server_port) continue;
    auto [it, fresh] = index.try_emplace(p.stream, out.size());
    if (fresh) {
      if (!(from_client && p.syn && !p.ack)) {
        *error = "tcp.stream " + std::to_string(p.stream) +
                 " starts without the client's SYN (capture started late?)";
        return std::nullopt;
      }
      CapturedConnection c;
      c.stream = p.stream;
      c.client_port = from_client ? p.src_port : p.dst_port;
      c.server_port = server_port;
      out.push_back(c);
    }
    CapturedConnection& c = out[it->second];
    if (p.syn && !p.ack && from_client && c.syn_ns == 0) c.syn_ns = p.time_ns;
    if (p.syn && p.ack && !from_client && c.syn_ack_ns == 0) {
      c.syn_ack_ns = p.time_ns;
    }
    if (!p.syn && p.ack && from_client && c.syn_ack_ns != 0 && c.ack_ns == 0) {
      c.ack_ns = p.time_ns;
    }
    if (p.len > 0) {
      uint64_t& end = from_client ? end_to_server[p.stream]
                                  : end_to_client[p.stream];
      end = std::max(end, p.seq + p.len);
    }
    if ((p.fin || p.rst) && c.first_close == "open") {
      c.first_close = from_client ? "client" : "server";
      c.first_close_ns = p.time_ns;
    }
    if (p.fin) {
      auto f = first_fin.find(p.stream);
      if (f == first_fin.end()) {
        first_fin[p.stream] = {p.seq + p.len, from_client};
      } else if (f->second.second != from_client &&
                 !(from_client ? c.client_fin : c.server_fin) &&
                 (!p.ack || p.ack_no <= f->second.first)) {
        // The other side's first FIN, not acknowledging ours (its ack
        // does not pass our FIN's sequence number).
        c.fins_crossed = true;
      }
      (from_client ? c.client_fin : c.server_fin) = true;
    }
    if (p.rst) (from_client ? c.client_rst : c.server_rst) = true;
  }
  for (CapturedConnection& c : out) {
    if (auto e = end_to_server.find(c.stream); e != end_to_server.end()) {
      c.bytes_to_server = e->second - 1;
    }
    if (auto e = end_to_client.find(c.stream); e != end_to_client.end()) {
      c.bytes_to_client = e->second - 1;
    }
  }
  return out;
}

std::optional<std::vector<CapturedConnection>> ReadCapture(
    const std::string& pcap_path, int server_port, std::string* error) {
  std::vector<std::string> argv = {
      "tshark", "-r", pcap_path, "-n",
      "-o", "tcp.relative_sequence_numbers:TRUE",
      "-o", "tcp.analyze_sequence_numbers:TRUE",
      "-Y", "tcp.port == " + std::to_string(server_port),
      "-T", "fields", "-E", "separator=/t"};
  for (const std::string& f : kTsharkFields) {
    argv.push_back("-e");
    argv.push_back(f);
  }
  RunResult r = Run(argv, std::chrono::seconds(60));
  if (r.exit_code != 0) {
    *error = "tshark -r " + pcap_path + " failed (" +
             std::to_string(r.exit_code) + "): " + r.err;
    return std::nullopt;
  }
  auto packets = ParseTsharkFields(r.out, error);
  if (!packets) return std::nullopt;
  return ConnectionsFromPackets(*packets, server_port, error);
}

std::optional<LoopbackCapture> LoopbackCapture::Start(
    int port, const std::string& pcap_path, std::string* error) {
  if (!HaveCommand("dumpcap") || !HaveCommand("tshark")) {
    *error = "dumpcap/tshark are not installed";
    return std::nullopt;
  }
  Child c = Child::Spawn({"dumpcap", "-q", "-i", "lo", "-f",
                          "tcp port " + std::to_string(port), "-w",
                          pcap_path});
  if (c.ReadStderrUntil("Capturing on", std::chrono::seconds(10)).empty()) {
    *error = "dumpcap did not start capturing: " + c.StderrSoFar();
    return std::nullopt;
  }
  return LoopbackCapture(std::move(c), pcap_path);
}

bool LoopbackCapture::Stop(std::string* error) {
  if (stopped_) return true;
  stopped_ = true;
  child_.Signal(SIGINT);
  RunResult r = child_.Wait(std::chrono::seconds(10));
  if (r.timed_out || r.exit_code != 0) {
    *error = "dumpcap did not stop cleanly (" + std::to_string(r.exit_code) +
             "): " + r.err;
    return false;
  }
  return true;
}

int64_t RealtimeMinusMonotonicNs() {
  int64_t best_gap = INT64_MAX, best = 0;
  for (int i = 0; i < 20; ++i) {
    timespec m0, r, m1;
    clock_gettime(CLOCK_MONOTONIC, &m0);
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    auto ns = [](const timespec& t) {
      return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
    };
    const int64_t gap = ns(m1) - ns(m0);
    if (gap < best_gap) {
      best_gap = gap;
      best = ns(r) - (ns(m0) + gap / 2);
    }
  }
  return best;
}

}  // namespace faultline::testing
