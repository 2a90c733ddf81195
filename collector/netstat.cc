#include "collector/netstat.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "collector/proc.h"

namespace faultline::collector {

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <class T>
bool ParseNum(std::string_view s, T* out, int base = 10) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::map<std::string, uint64_t> ParseNetstat(std::string_view text) {
  std::map<std::string, uint64_t> out;
  std::vector<std::string_view> names;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.substr(0, 7) != "TcpExt:") continue;
    std::vector<std::string_view> f = Fields(line.substr(7));
    if (names.empty()) {
      names = f;
      continue;
    }
    if (f.size() != names.size()) return {};
    for (size_t i = 0; i < f.size(); ++i) {
      uint64_t v = 0;
      if (!ParseNum(f[i], &v)) return {};
      out.emplace(std::string(names[i]), v);
    }
    return out;
  }
  return {};
}

void FillNetstat(const std::map<std::string, uint64_t>& c, fl_tcp_netstat* out) {
  auto get = [&](const char* name) -> uint64_t {
    auto it = c.find(name);
    return it == c.end() ? 0 : it->second;
  };
  out->listen_overflows = get("ListenOverflows");
  out->listen_drops = get("ListenDrops");
  out->abort_on_data = get("TCPAbortOnData");
  out->abort_on_close = get("TCPAbortOnClose");
  out->abort_on_linger = get("TCPAbortOnLinger");
  out->abort_on_timeout = get("TCPAbortOnTimeout");
}

std::optional<fl_tcp_netstat> ReadNetstat(uint64_t ts_ns, uint32_t phase) {
  auto counters = ParseNetstat(ReadFile("/proc/net/netstat"));
  if (counters.empty()) return std::nullopt;
  fl_tcp_netstat n;
  std::memset(&n, 0, sizeof n);
  n.hdr.ts_ns = ts_ns;
  n.hdr.type = FL_EV_TCP_NETSTAT;
  n.hdr.size = sizeof n;
  FillNetstat(counters, &n);
  n.phase = phase;
  return n;
}

std::vector<ProcTcpEntry> ParseProcNetTcp(std::string_view text) {
  // "  0: 0100007F:4917 00000000:0000 0A 00000000:00000000 00:00000000
  //  00000000     0        0 1622627 1 ..."
  std::vector<ProcTcpEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::vector<std::string_view> f = Fields(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (f.size() < 10 || f[0].empty() || f[0].back() != ':') continue;
    size_t colon = f[1].rfind(':');
    if (colon == std::string_view::npos) continue;
    ProcTcpEntry e;
    unsigned port = 0, state = 0;
    if (!ParseNum(f[1].substr(colon + 1), &port, 16) || port > 0xffff ||
        !ParseNum(f[3], &state, 16) || state > 0xff ||
        !ParseNum(f[9], &e.inode)) {
      continue;
    }
    e.local_port = static_cast<uint16_t>(port);
    e.state = static_cast<uint8_t>(state);
    out.push_back(e);
  }
  return out;
}

std::vector<ProcTcpEntry> ReadProcNetTcp() {
  std::vector<ProcTcpEntry> all = ParseProcNetTcp(ReadFile("/proc/net/tcp"));
  std::vector<ProcTcpEntry> v6 = ParseProcNetTcp(ReadFile("/proc/net/tcp6"));
  all.insert(all.end(), v6.begin(), v6.end());
  return all;
}

std::set<uint64_t> SocketInodes(uint32_t pid) {
  std::set<uint64_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  char buf[64];
  while (struct dirent* de = readdir(d)) {
    if (de->d_name[0] == '.') continue;
    ssize_t n = readlink((dir + "/" + de->d_name).c_str(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    std::string_view link(buf, static_cast<size_t>(n));
    if (link.substr(0, 8) != "socket:[" || link.back() != ']') continue;
    uint64_t inode = 0;
    if (ParseNum(link.substr(8, link.size() - 9), &inode)) out.insert(inode);
  }
  closedir(d);
  return out;
}

std::set<uint16_t> ListeningPorts(const std::vector<uint32_t>& pids) {
  std::set<uint16_t> ports;
  std::map<uint64_t, uint16_t> listen_inodes;
  for (const ProcTcpEntry& e : ReadProcNetTcp()) {
    if (e.state == kProcTcpListen && e.inode) listen_inodes[e.inode] = e.local_port;
  }
  if (listen_inodes.empty()) return ports;
  for (uint32_t pid : pids) {
    for (uint64_t inode : SocketInodes(pid)) {
      auto it = listen_inodes.find(inode);
      if (it != listen_inodes.end()) ports.insert(it->second);
    }
  }
  return ports;
}

std::vector<uint32_t> ProcessesListeningOn(uint16_t port) {
  std::set<uint64_t> inodes;
  for (const ProcTcpEntry& e : ReadProcNetTcp()) {
    if (e.state == kProcTcpListen && e.local_port == port && e.inode) {
      inodes.insert(e.inode);
    }
  }
  std::vector<uint32_t> out;
  if (inodes.empty()) return out;
  for (uint32_t pid : ListProcesses()) {
    for (uint64_t inode : SocketInodes(pid)) {
      if (inodes.count(inode)) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

}  // namespace faultline::collector
