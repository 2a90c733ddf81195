// Command-line options of `faultline record`, parsed without side effects
// so that they can be unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace faultline::collector {

struct RecordOptions {
  std::vector<uint32_t> pids;        // -p: trace these processes (+children)
  std::vector<std::string> command;  // -- CMD ARGS: start and trace it
  std::string output = "faultline.flt";
  double duration_s = 0;             // -d: 0 = until signal / command exit
  bool faults = true;                // --faults / --no-faults
  bool tcp = true;                   // --tcp / --no-tcp (off with --summary)
  uint16_t port = 0;                 // --port: the processes listening on
                                     // it (+children) and its connections
  std::string cgroup;                // --cgroup: a cgroup v2 directory
  bool stacks = false;               // --stacks: user stack ids
  bool summary = false;              // --summary: in-kernel aggregation
  uint32_t latency_sample = 1;       // --latency-sample: with --summary,
                                     // time 1 fault in N (power of two)
  uint32_t ring_mb = 32;             // --ring-mb: ring buffer size (MiB)
  bool verbose = false;              // -v: libbpf debug output on stderr
  bool help = false;                 // --help was asked for
  std::string command_line;          // "faultline record ..." as given
};

// --summary times one fault in this many unless --latency-sample says
// otherwise: two clock reads per fault cost more than --summary's budget
// (docs/benchmarks.md).
inline constexpr uint32_t kDefaultLatencySample = 16;

// Usage text with examples (printed by --help).
std::string RecordUsage();

// Parses `args` (without "faultline record"). Errors have exit_code 2 and
// a one-line message.
Result<RecordOptions> ParseRecordArgs(const std::vector<std::string>& args);

// "8080" -> 8080; 1..65535 only.
Result<uint16_t> ParsePort(const std::string& text);

// "1234,5678" -> {1234, 5678}; rejects empty items, signs, non-digits, 0.
Result<std::vector<uint32_t>> ParsePidList(const std::string& text);

}  // namespace faultline::collector
