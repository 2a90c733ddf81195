#include "collector/proc.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <fstream>
#include <sstream>

#include "trace/writer.h"

namespace faultline::collector {

namespace {

bool ParseHex(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

// Next space-separated field of `line` starting at *pos.
std::string_view NextField(std::string_view line, size_t* pos) {
  while (*pos < line.size() && line[*pos] == ' ') ++*pos;
  size_t start = *pos;
  while (*pos < line.size() && line[*pos] != ' ') ++*pos;
  return line.substr(start, *pos - start);
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<uint32_t> ListNumericDir(const std::string& path) {
  std::vector<uint32_t> out;
  DIR* dir = opendir(path.c_str());
  if (!dir) return out;
  while (struct dirent* de = readdir(dir)) {
    uint32_t v = 0;
    const char* name = de->d_name;
    size_t len = std::char_traits<char>::length(name);
    auto [p, ec] = std::from_chars(name, name + len, v);
    if (ec == std::errc() && p == name + len && v > 0) out.push_back(v);
  }
  closedir(dir);
  return out;
}

}  // namespace

std::optional<MapsEntry> ParseMapsLine(std::string_view line) {
  size_t pos = 0;
  std::string_view range = NextField(line, &pos);
  std::string_view perms = NextField(line, &pos);
  std::string_view offset = NextField(line, &pos);
  std::string_view dev = NextField(line, &pos);
  std::string_view inode = NextField(line, &pos);
  size_t dash = range.find('-');
  MapsEntry e;
  if (dash == std::string_view::npos || perms.size() != 4 || dev.empty() ||
      inode.empty() || !ParseHex(range.substr(0, dash), &e.start) ||
      !ParseHex(range.substr(dash + 1), &e.end) ||
      !ParseHex(offset, &e.pgoff) || e.end < e.start) {
    return std::nullopt;
  }
  if (perms[0] == 'r') e.prot |= PROT_READ;
  if (perms[1] == 'w') e.prot |= PROT_WRITE;
  if (perms[2] == 'x') e.prot |= PROT_EXEC;
  if (perms[3] == 's') e.prot |= trace::kMappingShared;
  while (pos < line.size() && line[pos] == ' ') ++pos;
  e.path = std::string(line.substr(pos));
  while (!e.path.empty() && e.path.back() == '\n') e.path.pop_back();
  return e;
}

namespace {

std::optional<uint32_t> ParseStatusField(std::string_view status,
                                         std::string_view key) {
  size_t at = status.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  at += key.size();
  while (at < status.size() && (status[at] == ' ' || status[at] == '\t')) ++at;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(status.data() + at,
                                 status.data() + status.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<uint32_t> ParseStatusPpid(std::string_view status) {
  return ParseStatusField(status, "\nPPid:");
}

std::optional<uint32_t> ParseStatusTgid(std::string_view status) {
  return ParseStatusField(status, "\nTgid:");
}

uint32_t ReadTgid(uint32_t pid) {
  auto v = ParseStatusTgid(
      "\n" + ReadSmallFile("/proc/" + std::to_string(pid) + "/status"));
  return v.value_or(0);
}

bool ProcessExists(uint32_t pid) {
  if (kill(static_cast<pid_t>(pid), 0) == 0) return true;
  return errno == EPERM;
}

std::vector<MapsEntry> ReadMaps(uint32_t pid) {
  std::vector<MapsEntry> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(in, line)) {
    if (auto e = ParseMapsLine(line)) out.push_back(std::move(*e));
  }
  return out;
}

std::string ReadComm(uint32_t pid) {
  return Chomp(ReadSmallFile("/proc/" + std::to_string(pid) + "/comm"));
}

std::string ReadThreadComm(uint32_t pid, uint32_t tid) {
  return Chomp(ReadSmallFile("/proc/" + std::to_string(pid) + "/task/" +
                             std::to_string(tid) + "/comm"));
}

std::string ReadExe(uint32_t pid) {
  char buf[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

uint32_t ReadPpid(uint32_t pid) {
  auto v = ParseStatusPpid(
      "\n" + ReadSmallFile("/proc/" + std::to_string(pid) + "/status"));
  return v.value_or(0);
}

std::vector<uint32_t> ListThreads(uint32_t pid) {
  return ListNumericDir("/proc/" + std::to_string(pid) + "/task");
}

std::vector<uint32_t> ListProcesses() { return ListNumericDir("/proc"); }

std::string MappedFilePath(uint32_t pid, uint64_t start, uint64_t end) {
  char name[128];
  std::snprintf(name, sizeof(name), "/proc/%u/map_files/%llx-%llx", pid,
                static_cast<unsigned long long>(start),
                static_cast<unsigned long long>(end));
  char buf[4096];
  ssize_t n = readlink(name, buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::pair<uint32_t, uint32_t>> ReadPpidTable() {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (uint32_t pid : ListProcesses()) {
    uint32_t ppid = ReadPpid(pid);
    if (ppid != 0) out.emplace_back(pid, ppid);
  }
  return out;
}

std::vector<uint32_t> NewDescendants(
    const std::vector<std::pair<uint32_t, uint32_t>>& table,
    const std::unordered_set<uint32_t>& known) {
  std::unordered_map<uint32_t, std::vector<uint32_t>> children;
  for (const auto& [pid, ppid] : table) {
    if (pid != ppid) children[ppid].push_back(pid);
  }
  std::unordered_set<uint32_t> seen(known.begin(), known.end());
  std::vector<uint32_t> queue(known.begin(), known.end());
  std::vector<uint32_t> out;
  while (!queue.empty()) {
    uint32_t p = queue.back();
    queue.pop_back();
    auto it = children.find(p);
    if (it == children.end()) continue;
    for (uint32_t c : it->second) {
      if (!seen.insert(c).second) continue;
      out.push_back(c);
      queue.push_back(c);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Cgroup2Mount() {
  std::ifstream in("/proc/mounts");
  std::string dev, dir, type;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    if (f >> dev >> dir >> type && type == "cgroup2") return dir;
  }
  return "/sys/fs/cgroup";
}

Result<CgroupDir> ResolveCgroup(const std::string& path) {
  CgroupDir d;
  d.path = path[0] == '/' ? path : Cgroup2Mount() + "/" + path;
  struct stat st {};
  if (stat(d.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(2, "faultline record: --cgroup " + path + ": no such cgroup "
                   "directory (" + d.path + ")");
  }
  struct statfs fs {};
  constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
  if (statfs(d.path.c_str(), &fs) != 0 || fs.f_type != kCgroup2Magic) {
    return Fail(2, "faultline record: --cgroup " + path + ": " + d.path +
                   " is not on a cgroup v2 file system");
  }
  d.id = st.st_ino;
  return d;
}

std::vector<uint32_t> CgroupProcs(const CgroupDir& dir) {
  std::vector<uint32_t> out;
  std::ifstream in(dir.path + "/cgroup.procs");
  uint32_t pid;
  while (in >> pid) out.push_back(pid);
  return out;
}

}  // namespace faultline::collector
