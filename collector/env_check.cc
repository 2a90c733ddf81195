#include "collector/env_check.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "collector/proc.h"

namespace faultline::collector {

namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;
constexpr long kTracefsMagic = 0x74726163;
constexpr const char* kTracefsDir = "/sys/kernel/tracing";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

bool HasCapability(const std::string& status_text, int cap) {
  size_t at = status_text.find("CapEff:");
  if (at == std::string::npos) return false;
  unsigned long long mask = std::strtoull(status_text.c_str() + at + 7,
                                          nullptr, 16);
  return (mask >> cap) & 1ULL;
}

Result<void> CheckPrivileges() {
  std::string status = ReadFile("/proc/self/status");
  if (HasCapability(status, kCapSysAdmin) ||
      (HasCapability(status, kCapBpf) && HasCapability(status, kCapPerfmon))) {
    return {};
  }
  return Fail(2, "faultline record: needs root (CAP_SYS_ADMIN, or CAP_BPF "
                 "and CAP_PERFMON) to load BPF programs; run it with sudo");
}

Result<void> CheckBtf() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) return {};
  return Fail(2, std::string("faultline record: /sys/kernel/btf/vmlinux: ") +
                     std::strerror(errno) +
                     " (the kernel needs CONFIG_DEBUG_INFO_BTF=y)");
}

Result<void> EnsureTracefs() {
  struct statfs st;
  if (statfs(kTracefsDir, &st) == 0 && st.f_type == kTracefsMagic) return {};
  if (mount("tracefs", kTracefsDir, "tracefs", 0, nullptr) == 0) return {};
  int err = errno;
  return Fail(2, std::string("faultline record: tracefs is not mounted on ") +
                     kTracefsDir + " and mounting it failed: " +
                     std::strerror(err) +
                     " (try: mount -t tracefs tracefs /sys/kernel/tracing)");
}

Result<void> CheckPidsAlive(const std::vector<uint32_t>& pids) {
  for (uint32_t pid : pids) {
    std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    bool zombie = paren != std::string::npos && paren + 2 < stat.size() &&
                  (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
    if (!ProcessExists(pid) || stat.empty() || zombie) {
      return Fail(2, "faultline record: no such process: " +
                         std::to_string(pid));
    }
  }
  return {};
}

}  // namespace faultline::collector
