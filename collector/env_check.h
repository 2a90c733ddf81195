// Up-front checks of the environment `faultline record` needs. Each failure
// is one line with exit code 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace faultline::collector {

// Effective capabilities from /proc/self/status: CAP_SYS_ADMIN, or CAP_BPF
// together with CAP_PERFMON.
Result<void> CheckPrivileges();
// /sys/kernel/btf/vmlinux must exist (CO-RE relocations).
Result<void> CheckBtf();
// Mounts tracefs on /sys/kernel/tracing when it is not mounted.
Result<void> EnsureTracefs();
// Every PID must be a live process (not a zombie).
Result<void> CheckPidsAlive(const std::vector<uint32_t>& pids);
// True when bit `cap` is set in the hex CapEff mask text of a status file.
bool HasCapability(const std::string& status_text, int cap);

}  // namespace faultline::collector
