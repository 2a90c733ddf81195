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
//
// Reads format versions 1 and 2. In version 2 every record carries its type
// and length: a record of a type this reader does not know (a newer
// writer's) is skipped and counted per type in ReadStats, the records
// around it are delivered, and one warning at the end names the types.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/faultline.h"
#include "trace/events.h"
#include "trace/writer.h"
#include "common/error.h"

namespace faultline::trace {

struct FileHeader {
  uint32_t version = 0;
  uint32_t clock = 0;  // kClockMonotonic
  TraceMeta meta;
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
  // TCP (bpf/faultline.h, "TCP connections"). OnTcpState gets both
  // FL_EV_TCP_STATE and FL_EV_TCP_SEEN (e.type).
  virtual void OnTcpState(const TcpStateEvent&) {}
  virtual void OnTcpAccept(const TcpAcceptEvent&) {}
  virtual void OnTcpConnect(const TcpConnectEvent&) {}
  virtual void OnTcpReset(const TcpResetEvent&) {}
  virtual void OnTcpServe(const TcpServeEvent&) {}
  virtual void OnTcpClose(const TcpCloseEvent&) {}
  virtual void OnTcpNetstat(const TcpNetstatEvent&) {}
  // Application probes (FL_EV_USDT). The strings live until the callback
  // returns.
  virtual void OnUsdt(const UsdtEvent&) {}
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
  // Version 2 records of types this faultline does not know (a newer
  // writer's), skipped: in all, and per record type (events and metadata
  // blocks number their types separately). One warning names them.
  uint64_t skipped_records = 0;
  std::map<uint32_t, uint64_t> skipped_event_types;
  std::map<uint32_t, uint64_t> skipped_metadata_types;
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
  bool DecodeEventsV1(const uint8_t* p, size_t n, TraceVisitor& v);
  bool DecodeMetadataV1(const uint8_t* p, size_t n, TraceVisitor& v);
  void Skipped(std::map<uint32_t, uint64_t>& by_type, uint64_t type);
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
  // Per record type delta state of the block being decoded (version 2).
  uint64_t state_[128][16] = {};
};

}  // namespace faultline::trace
