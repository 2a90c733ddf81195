// Reading /proc: process and thread names, memory maps. Pure parsers are
// separate from the file reads so that they can be unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/error.h"

namespace faultline::collector {

struct MapsEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t pgoff = 0;
  uint32_t prot = 0;  // PROT_READ/WRITE/EXEC | trace::kMappingShared
  std::string path;   // "" for anonymous, "[heap]", "/usr/lib/..." etc.
};

// One line of /proc/PID/maps, e.g.
// "7f00-7f10 r-xp 00001000 08:01 1234   /usr/lib/libc.so.6".
std::optional<MapsEntry> ParseMapsLine(std::string_view line);

// PPid from the text of /proc/PID/status; nullopt when missing.
std::optional<uint32_t> ParseStatusPpid(std::string_view status);

bool ProcessExists(uint32_t pid);
std::vector<MapsEntry> ReadMaps(uint32_t pid);
std::string ReadComm(uint32_t pid);                 // "" when gone
std::string ReadThreadComm(uint32_t pid, uint32_t tid);
std::string ReadExe(uint32_t pid);                  // "" when unreadable
uint32_t ReadPpid(uint32_t pid);                    // 0 when gone
// Thread group of a pid or thread id; 0 when gone.
uint32_t ReadTgid(uint32_t pid);
// Tgid from the text of /proc/PID/status; nullopt when missing.
std::optional<uint32_t> ParseStatusTgid(std::string_view status);
std::vector<uint32_t> ListThreads(uint32_t pid);
std::vector<uint32_t> ListProcesses();

// (pid, ppid) of every process now (a /proc scan; processes that vanish
// during the scan are left out).
std::vector<std::pair<uint32_t, uint32_t>> ReadPpidTable();
// The processes of `table` descending from one in `known` (child,
// grandchild, ...) that are not in `known` themselves, sorted. Pure.
std::vector<uint32_t> NewDescendants(
    const std::vector<std::pair<uint32_t, uint32_t>>& table,
    const std::unordered_set<uint32_t>& known);
// Path of the file mapped at exactly [start, end) via /proc/PID/map_files;
// "" when it cannot be read (process gone, mapping changed).
std::string MappedFilePath(uint32_t pid, uint64_t start, uint64_t end);

// Where cgroup2 is mounted (/proc/mounts): /sys/fs/cgroup on a unified
// system, /sys/fs/cgroup/unified on a hybrid one; /sys/fs/cgroup if none.
std::string Cgroup2Mount();

// A cgroup v2 directory: `path` absolute, or relative to Cgroup2Mount().
struct CgroupDir {
  std::string path;  // the absolute directory
  uint64_t id = 0;   // its cgroup id (= the directory's inode number, what
                     // bpf_get_current_cgroup_id() returns)
};
// Errors (exit code 2, one line): no such directory, not on cgroup2.
Result<CgroupDir> ResolveCgroup(const std::string& path);
// The processes listed in DIR/cgroup.procs now (not those of sub-cgroups).
std::vector<uint32_t> CgroupProcs(const CgroupDir& dir);

}  // namespace faultline::collector
