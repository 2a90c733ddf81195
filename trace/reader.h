// TraceReader: a streaming reader of faultline trace files
// (docs/trace-format.md). It reads one block at a time and hands every
// decoded record to a TraceVisitor, so memory is bounded by the block size
// (at most kMaxBlockBytes stored + raw), never by the file size.
//
// Damage is reported, not trusted: a block whose CRC does not match is
// skipped with a warning; a block header that is garbage makes the reader
// scan forward to the next valid block header; a file cut off mid-block is
// read up to its last whole block with a warning. Only a missing or foreign
// file header is an error (exit code 2).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/faultline.h"
#include "trace/writer.h"
#include "common/error.h"

namespace faultline::trace {

struct FileHeader {
  uint32_t version = 0;
  uint32_t clock = 0;  // kClockMonotonic
  TraceMeta meta;
};

// Decoded records. string_views and spans point into the reader's block
// buffer and are valid only during the callback.
struct FaultEvent {
  uint64_t ts_ns = 0;  // entry time, CLOCK_MONOTONIC
  uint64_t address = 0;
  uint64_t ip = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t latency_ns = 0;
  int32_t stack_id = -1;
  uint16_t error_code = 0;  // FL_PF_*
  uint16_t cpu = 0;
  uint8_t outcome = 0;  // enum fl_fault_outcome
  uint8_t flags = 0;    // enum fl_fault_flags
};

struct MmapEvent {  // FL_EV_MMAP/MUNMAP/MREMAP/BRK/MPROTECT, see fl_mmap
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t start = 0, len = 0, pgoff = 0, aux = 0;
  uint32_t pid = 0, tid = 0, prot = 0, flags = 0;
  int32_t fd = -1;
  std::string_view path;
};

struct TaskEvent {  // FL_EV_FORK/EXEC/EXIT, see fl_task
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint32_t pid = 0, tid = 0, parent_pid = 0, parent_tid = 0;
  int32_t exit_code = 0;
  uint32_t is_thread = 0;
  std::string_view comm;
  std::string_view path;
};

struct TlbEvent {  // FL_EV_TLB_FLUSH
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint32_t pid = 0, tid = 0;
  int32_t reason = 0;
  uint64_t pages = 0;
};

struct OpaqueEvent {  // a record type this version does not know
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  std::string_view body;  // the record bytes after struct fl_hdr
};

struct ProcessInfo {
  uint32_t pid = 0, ppid = 0;
  std::string_view comm, exe;
};
struct ThreadInfo {
  uint32_t pid = 0, tid = 0;
  std::string_view comm;
};
struct MappingInfo {
  uint32_t pid = 0;
  uint64_t start = 0, end = 0, pgoff = 0;
  uint32_t prot = 0;  // PROT_* | kMappingShared
  uint64_t ts_ns = 0;
  std::string_view path;
};
struct StackInfo {
  int32_t stack_id = 0;
  std::span<const uint64_t> ips;
};
struct SummaryInfo {
  fl_summary_key key{};
  fl_summary_val val{};
};
struct Footer {
  uint64_t end_monotonic_ns = 0;
  uint64_t events_written = 0;
  std::vector<CpuCounts> per_cpu;
  // false: the recorder could not read the kernel's counters; the lost
  // count is unknown (per_cpu holds zeros). Footers written before this
  // field existed read as true.
  bool stats_known = true;
  std::vector<std::pair<std::string, uint64_t>> counters;  // FooterData
};

class TraceVisitor {
 public:
  virtual ~TraceVisitor() = default;
  virtual void OnFault(const FaultEvent&) {}
  virtual void OnMmap(const MmapEvent&) {}
  virtual void OnTask(const TaskEvent&) {}
  virtual void OnTlb(const TlbEvent&) {}
  virtual void OnOpaque(const OpaqueEvent&) {}
  virtual void OnProcess(const ProcessInfo&) {}
  virtual void OnThread(const ThreadInfo&) {}
  virtual void OnMapping(const MappingInfo&) {}
  virtual void OnStack(const StackInfo&) {}
  virtual void OnSummary(const SummaryInfo&) {}
  virtual void OnFooter(const Footer&) {}
  // A damaged part of the file (one line, no trailing newline).
  virtual void OnWarning(std::string_view) {}
};

struct ReadStats {
  uint64_t blocks = 0;          // whole blocks decoded
  uint64_t corrupt_blocks = 0;  // skipped: CRC mismatch or bad encoding
  uint64_t events = 0;          // event records delivered (faults each count)
  uint64_t bytes = 0;           // file bytes consumed
  bool truncated = false;       // the file ends inside a block
  bool footer = false;          // the footer block was read
  std::vector<std::string> warnings;
};

class TraceReader {
 public:
  // Opens `path` and reads its header. A missing file, a file that is not a
  // faultline trace, or a header of an unknown version: Error, exit_code 2.
  static Result<std::unique_ptr<TraceReader>> Open(const std::string& path);
  // Same over bytes in memory (tests, fuzzing). `data` must outlive reading.
  static Result<std::unique_ptr<TraceReader>> FromMemory(
      std::span<const uint8_t> data);

  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const FileHeader& header() const { return header_; }
  // Reads every block after the header, in file order, calling `v`.
  // Damage becomes warnings (v.OnWarning and stats().warnings); the call
  // itself fails only on an I/O error.
  Result<void> ReadAll(TraceVisitor& v);
  const ReadStats& stats() const { return stats_; }

  class Source;  // where bytes come from (file or memory); internal

 private:
  explicit TraceReader(std::unique_ptr<Source> src);
  Result<void> ReadHeader();
  void Warn(TraceVisitor& v, std::string msg);
  bool DecodeEvents(const uint8_t* p, size_t n, TraceVisitor& v);
  bool DecodeMetadata(const uint8_t* p, size_t n, TraceVisitor& v);
  bool DecodeFooter(const uint8_t* p, size_t n, TraceVisitor& v);

  std::unique_ptr<Source> src_;
  FileHeader header_;
  ReadStats stats_;
  // A growable byte buffer that does not zero what it allocates.
  class Buffer {
   public:
    void Reserve(size_t n) {
      if (n <= cap_) return;
      p_.reset(new uint8_t[n]);
      cap_ = n;
    }
    void Release() {
      p_.reset();
      cap_ = 0;
    }
    uint8_t* data() { return p_.get(); }

   private:
    std::unique_ptr<uint8_t[]> p_;
    size_t cap_ = 0;
  };
  Buffer stored_;
  Buffer raw_;
  std::vector<uint64_t> ips_;
};

}  // namespace faultline::trace
