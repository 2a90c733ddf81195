// TraceWriter: writes a faultline trace file (docs/trace-format.md).
//
// The collector hands it raw ring-buffer records (each starting with struct
// fl_hdr from bpf/faultline.h) plus metadata (processes, threads, a
// /proc/PID/maps snapshot, stacks, --summary aggregates). Records are
// delta-encoded into an in-memory block. A block that reaches
// kTargetBlockBytes is handed to an internal worker thread, which
// compresses it with zlib and appends it to the file while the caller goes
// on encoding (zlib is most of the writer's CPU time); Flush() (about once a
// second) queues what is pending and returns once everything is in the
// file. Finish() writes the footer with per-CPU recorded/lost counts and
// closes the file.
//
// A file whose writer died (SIGKILL, full disk) is readable up to its last
// whole block. Not thread-safe: one thread (the ring-buffer drain) owns it;
// the worker is internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/faultline.h"
#include "common/error.h"

namespace faultline::trace {

struct TraceMeta {
  std::string kernel_release;  // uname -r
  std::string hostname;
  std::string command_line;    // the faultline command line, space-joined
  uint64_t start_monotonic_ns = 0;  // CLOCK_MONOTONIC at start (BPF clock)
  uint64_t start_realtime_ns = 0;   // CLOCK_REALTIME at the same moment
  uint32_t ncpus = 0;               // possible CPUs (per-CPU counts)
  uint32_t flags = 0;               // kTraceFlag* bits
  // --summary: one fault in this many was timed (its latency is in the
  // histograms; every fault is counted). 0 in traces that time every fault
  // (streaming, and files written before the field existed).
  uint32_t latency_sample = 0;
};

// The trace was recorded with --summary: no per-fault events, the numbers
// are in AddSummary() records.
constexpr uint32_t kTraceFlagSummary = 1;

// AddMapping(): bits of `prot` besides PROT_READ/PROT_WRITE/PROT_EXEC
// (1/2/4). Set kMappingShared when the maps line's 4th permission column is
// 's' (MAP_SHARED); private ('p') is the default.
constexpr uint32_t kMappingShared = 1u << 16;

struct CpuCounts {
  uint64_t recorded = 0;  // records the CPU committed to the ring buffer
  uint64_t lost = 0;      // failed bpf_ringbuf_reserve on that CPU
};

// Footer flags (FooterData::stats_known == false sets kFooterStatsUnknown).
constexpr uint64_t kFooterStatsUnknown = 1;

// What the footer says about the whole recording.
struct FooterData {
  std::vector<CpuCounts> per_cpu;  // recorded/lost per CPU
  // false when the kernel-side counters could not be read: then lost
  // events are unknown, never 0 (the per-CPU counts are written as 0).
  bool stats_known = true;
  // Every other counter the kernel side keeps, by name (e.g. "unpaired",
  // "summary_full", "stack_errors"); docs/trace-format.md lists them.
  std::vector<std::pair<std::string, uint64_t>> counters;
};

class TraceWriter {
 public:
  // Creates (truncates) `path` and writes the file header. Errors name the
  // path and the errno text; exit_code 2 when the path cannot be created.
  static Result<std::unique_ptr<TraceWriter>> Create(const std::string& path,
                                                     const TraceMeta& meta);

  // Flushes what is pending (no footer) so the file stays readable, closes.
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // One raw ring-buffer record starting with struct fl_hdr; `size` is the
  // record size the ring buffer reported. FL_EV_FAULT_BATCH (its faults
  // join the block's open fault run), FL_EV_FAULT (the same, one fault; the
  // kernel does not send it), FL_EV_MMAP/MUNMAP/MREMAP/BRK/MPROTECT
  // (struct fl_mmap; the path may be cut short by `size`), FL_EV_FORK/EXEC/
  // EXIT (struct fl_task), FL_EV_TLB_FLUSH (struct fl_tlb), FL_EV_TCP_*
  // (struct fl_tcp_*, bpf/faultline.h). Unknown types
  // are stored as opaque records (header fields + body bytes). A record too
  // short for its type is an error and is not written.
  Result<void> AddRecord(const void* data, size_t size);

  // Metadata. comm/exe/path are stored as given (at most 64 KiB each).
  Result<void> AddProcess(uint32_t pid, uint32_t ppid, std::string_view comm,
                          std::string_view exe);
  Result<void> AddThread(uint32_t pid, uint32_t tid, std::string_view comm);
  // One /proc/PID/maps line: [start, end), file offset pgoff, prot =
  // PROT_* | kMappingShared, path "" for anonymous, "[heap]", "[stack]",
  // "[vdso]", ... ts_ns = CLOCK_MONOTONIC time of the snapshot.
  Result<void> AddMapping(uint32_t pid, uint64_t start, uint64_t end,
                          uint64_t pgoff, uint32_t prot, std::string_view path,
                          uint64_t ts_ns);
  // User stack of `stack_id` (fl_fault_slim.stack_id), innermost IP first.
  Result<void> AddStack(int32_t stack_id, std::span<const uint64_t> ips);
  // --summary aggregates, one per map entry.
  Result<void> AddSummary(const fl_summary_key& key, const fl_summary_val& val);

  // Tests only: appends a version-2 record of any `type` with body bytes
  // `body` as given (no checks) to the pending metadata block (`metadata`)
  // or events block: how a test makes a record type that this reader does
  // not know, written by the real writer beside real ones.
  Result<void> AddEncodedForTesting(bool metadata, uint32_t type,
                                    std::string_view body);

  // Compresses and writes the pending blocks now (returns when they are in
  // the file). Metadata pending at a flush is written before that flush's
  // event block.
  Result<void> Flush();
  // Flushes, writes the footer (per-CPU counts, end time), closes the file.
  // Further calls fail.
  Result<void> Finish(const FooterData& data);
  // Shorthand: per-CPU counts only, stats known, no named counters.
  Result<void> Finish(const std::vector<CpuCounts>& per_cpu);

  // Statistics for the collector's closing summary.
  uint64_t events_written() const;  // event records (a batch counts each fault)
  uint64_t bytes_written() const;   // file bytes so far

  // Blocks are cut at about this many uncompressed bytes.
  static constexpr size_t kTargetBlockBytes = 1 << 20;

 private:
  class Impl;
  explicit TraceWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::trace
