// The faultline trace file format: constants and the byte-level encoding
// shared by the writer (trace/writer.*) and the reader (trace/reader.*).
// The per-record-type layouts are in trace/records.h. docs/trace-format.md
// describes it byte by byte; change one and change the other.
//
// All integers in fixed-size fields are little-endian. Variable-size
// integers are LEB128 varints (7 bits per byte, low first, high bit = more);
// signed values are zigzag-mapped first ((v << 1) ^ (v >> 63)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace faultline::trace {

// ---- File header -----------------------------------------------------------
inline constexpr char kFileMagic[8] = {'F', 'L', 'T', 'R', 'A', 'C', 'E', '\0'};
// Version 2: every record in an events or metadata block is
// `type varint, length varint, body` (self-describing). Version 1 (fault
// tags without lengths) is still read.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kOldestReadableVersion = 1;
inline constexpr uint32_t kClockMonotonic = 1;  // CLOCK_MONOTONIC (+1 so 0 = unset)
// Fixed part: magic[8] version u32 header_size u32 clock u32 flags u32
// ncpus u32 reserved u32 start_monotonic u64 start_realtime u64 = 48 bytes;
// then three strings (u32 length + bytes), then crc32 u32 over all before it.
inline constexpr size_t kHeaderFixedBytes = 48;
inline constexpr uint32_t kMaxHeaderBytes = 1 << 20;

// ---- Blocks ----------------------------------------------------------------
inline constexpr char kBlockMagic[4] = {'F', 'L', 'B', 'K'};
// magic[4] type u8 codec u8 reserved u16 stored_len u32 raw_len u32
// payload_crc u32 header_crc u32 (crc32 of the 20 bytes before it).
inline constexpr size_t kBlockHeaderBytes = 24;
// Readers refuse blocks larger than this (a corrupt length must not make
// them allocate gigabytes). Writers cut blocks at ~1 MiB.
inline constexpr uint32_t kMaxBlockBytes = 16 << 20;

enum class BlockType : uint8_t {
  kEvents = 1,    // delta-encoded event records (faults, mmap, task, tlb, ...)
  kMetadata = 2,  // processes, threads, mappings, stacks, summary entries
  kFooter = 3,    // end time, per-CPU recorded/lost counts; last block
};

enum class Codec : uint8_t {
  kStored = 0,  // payload is the raw bytes
  kZlib = 1,    // payload is a zlib stream (RFC 1950) of raw_len bytes
};

// ---- Version 2 records (events and metadata blocks) --------------------------
// Every record: type varint, body length varint, body. A reader skips (and
// counts) a type it does not know; it ignores bytes at the end of a body
// that it does not expect (a newer writer may append fields). Delta state
// (the previous value of a kDelta field) is kept per record type and
// restarts at zero in every block, so that skipping an unknown type never
// desynchronises the others and each block decodes on its own.
//
// Events block record types: the fl_event_type of the raw record (3..11,
// 32..63 later), plus these two:
inline constexpr uint32_t kRecOpaque = 0;    // a raw type the writer did not know
inline constexpr uint32_t kRecFaultRun = 2;  // = FL_EV_FAULT_BATCH: many faults
// Metadata block record types: MetaTag below (same numbers as version 1).
//
// The writer writes every record length as a 3-byte padded varint
// (patched once the body is encoded); readers accept any varint.
inline constexpr size_t kPaddedLenBytes = 3;
inline constexpr uint32_t kMaxPaddedLen = (1u << 21) - 1;
// Per-type delta state: record types below this have a slot.
inline constexpr uint32_t kMaxDeltaTypes = 128;
inline constexpr size_t kMaxDeltaFields = 16;

// ---- Faults (v2 fault-run bodies, and v1 events blocks) -------------------
// One fault: tag = kTagFaultBase | mask, mask bits say which fields follow
// (absent fields repeat the previous fault's value in this block). In
// version 2 a fault run's body is a sequence of these; in version 1 they
// stand between the other records of the block.
inline constexpr uint8_t kTagFaultBase = 0x80;
inline constexpr uint8_t kFaultHasTask = 1 << 0;    // pid, tid changed
inline constexpr uint8_t kFaultHasIp = 1 << 1;      // ip changed
inline constexpr uint8_t kFaultHasCode = 1 << 2;    // error_code/outcome/flags
inline constexpr uint8_t kFaultHasCpu = 1 << 3;     // cpu changed
inline constexpr uint8_t kFaultHasStack = 1 << 4;   // stack_id changed
inline constexpr uint8_t kFaultMaskAll = 0x1f;
// Version 1 only: non-fault events use their fl_event_type as the tag
// (3..11), and kTagOpaque for any type the writer did not know.
inline constexpr uint8_t kTagOpaque = 0x7f;

// ---- Records inside a metadata block -----------------------------------------
enum class MetaTag : uint8_t {
  kProcess = 1,
  kThread = 2,
  kMapping = 3,
  kStack = 4,
  kSummary = 5,
};

inline constexpr uint32_t kMaxStringBytes = 1 << 16;
inline constexpr uint32_t kMaxStackDepth = 1024;

// ---- Encoding helpers ---------------------------------------------------------
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Writes at `p`, which must have room for 10 bytes; returns the end.
inline char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline char* PutSigned(char* p, int64_t v) { return PutVarint(p, ZigZag(v)); }

// Appends to a std::string used as a byte buffer.
inline void PutVarint(std::string& out, uint64_t v) {
  char buf[10];
  out.append(buf, PutVarint(buf, v) - buf);
}
inline void PutSigned(std::string& out, int64_t v) { PutVarint(out, ZigZag(v)); }
inline void PutBytes(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}
// The padded form of a record length: always kPaddedLenBytes bytes, so that
// the writer can reserve it before encoding the body. v <= kMaxPaddedLen.
inline void PutPaddedLen(char* p, uint32_t v) {
  p[0] = static_cast<char>((v & 0x7f) | 0x80);
  p[1] = static_cast<char>(((v >> 7) & 0x7f) | 0x80);
  p[2] = static_cast<char>((v >> 14) & 0x7f);
}
inline void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutLe64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 |
         uint32_t{p[3]} << 24;
}
inline uint64_t GetLe64(const uint8_t* p) {
  return uint64_t{GetLe32(p)} | uint64_t{GetLe32(p + 4)} << 32;
}

// Bounds-checked cursor over a decoded payload. Every getter returns false
// (and leaves the cursor failed) when the input is exhausted or malformed;
// callers check ok() once per record.
class ByteCursor {
 public:
  ByteCursor(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool ok() const { return ok_; }
  bool done() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  uint8_t Byte() {
    if (p_ == end_) return Fail();
    return *p_++;
  }
  uint64_t Varint() {
    // Fast path: one byte.
    if (p_ != end_ && *p_ < 0x80) return *p_++;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return Fail();
      uint8_t b = *p_++;
      v |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) return v;
    }
    return Fail();  // more than 10 bytes
  }
  int64_t Signed() { return UnZigZag(Varint()); }
  uint32_t U32() {
    uint64_t v = Varint();
    if (v > 0xffffffffu) return Fail();
    return static_cast<uint32_t>(v);
  }
  // The next n bytes (nullptr and failed when fewer are left).
  const uint8_t* Take(size_t n) {
    if (!ok_ || n > remaining()) {
      Fail();
      return nullptr;
    }
    const uint8_t* p = p_;
    p_ += n;
    return p;
  }
  std::string_view Bytes(size_t max = kMaxStringBytes) {
    uint64_t n = Varint();
    if (!ok_ || n > max || n > remaining()) {
      Fail();
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

 private:
  uint8_t Fail() {
    ok_ = false;
    p_ = end_;
    return 0;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

}  // namespace faultline::trace
