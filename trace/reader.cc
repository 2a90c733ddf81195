#include "trace/reader.h"

#include <zlib.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>

#include "trace/format.h"
#include "trace/records.h"

namespace faultline::trace {

// Where the bytes come from: a FILE* (read sequentially, never seeked, so
// pipes work too) or a buffer in memory.
class TraceReader::Source {
 public:
  virtual ~Source() = default;
  // Reads up to n bytes; fewer means end of input (or an error, see error()).
  virtual size_t Read(uint8_t* dst, size_t n) = 0;
  virtual int error() const { return 0; }  // errno of a read failure
  // Bytes left, or SIZE_MAX when unknown (a pipe). Lets the reader see a
  // truncated block before allocating room for its claimed length.
  virtual size_t Remaining() { return SIZE_MAX; }
  virtual const std::string& name() const = 0;
};

namespace {

class FileSource : public TraceReader::Source {
 public:
  FileSource(FILE* f, std::string name) : f_(f), name_(std::move(name)) {
    setvbuf(f_, nullptr, _IOFBF, 1 << 16);
  }
  ~FileSource() override { std::fclose(f_); }
  size_t Read(uint8_t* dst, size_t n) override {
    size_t got = std::fread(dst, 1, n, f_);
    if (got < n && std::ferror(f_)) err_ = errno ? errno : EIO;
    return got;
  }
  int error() const override { return err_; }
  const std::string& name() const override { return name_; }
  size_t Remaining() override {
    struct stat st {};
    long pos = std::ftell(f_);
    if (pos < 0 || fstat(fileno(f_), &st) != 0 || !S_ISREG(st.st_mode)) {
      return SIZE_MAX;
    }
    // A file still being written may grow: fstat is asked again each time.
    return st.st_size > pos ? static_cast<size_t>(st.st_size - pos) : 0;
  }

 private:
  FILE* f_;
  std::string name_;
  int err_ = 0;
};

class MemorySource : public TraceReader::Source {
 public:
  explicit MemorySource(std::span<const uint8_t> d) : d_(d) {}
  size_t Read(uint8_t* dst, size_t n) override {
    size_t got = std::min(n, d_.size() - pos_);
    if (got) std::memcpy(dst, d_.data() + pos_, got);
    pos_ += got;
    return got;
  }
  const std::string& name() const override { return name_; }
  size_t Remaining() override { return d_.size() - pos_; }

 private:
  std::span<const uint8_t> d_;
  size_t pos_ = 0;
  std::string name_ = "<memory>";
};

uint32_t Crc(const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(crc32(0, p, static_cast<uInt>(n)));
}

// libFuzzer builds define this: CRCs are then not checked, so that mutated
// inputs reach the decoders instead of stopping at the checksum.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kCheckCrc = false;
#else
constexpr bool kCheckCrc = true;
#endif
bool CrcMatches(const uint8_t* p, size_t n, uint32_t want) {
  return !kCheckCrc || Crc(p, n) == want;
}

bool ValidBlockHeader(const uint8_t* h) {
  if (std::memcmp(h, kBlockMagic, 4) != 0) return false;
  if (!CrcMatches(h, 20, GetLe32(h + 20))) return false;
  uint8_t type = h[4], codec = h[5];
  if (type < 1 || type > 3 || codec > 1) return false;
  uint32_t stored = GetLe32(h + 8), raw = GetLe32(h + 12);
  if (stored > kMaxBlockBytes || raw > kMaxBlockBytes) return false;
  if (codec == static_cast<uint8_t>(Codec::kStored) && stored != raw) return false;
  return true;
}

}  // namespace

TraceReader::TraceReader(std::unique_ptr<Source> src) : src_(std::move(src)) {}
TraceReader::~TraceReader() = default;

Result<std::unique_ptr<TraceReader>> TraceReader::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return std::unexpected(ErrnoError("open trace " + path, errno, "", 2));
  }
  std::unique_ptr<TraceReader> r(
      new TraceReader(std::make_unique<FileSource>(f, path)));
  if (auto ok = r->ReadHeader(); !ok) return std::unexpected(ok.error());
  return r;
}

Result<std::unique_ptr<TraceReader>> TraceReader::FromMemory(
    std::span<const uint8_t> data) {
  std::unique_ptr<TraceReader> r(
      new TraceReader(std::make_unique<MemorySource>(data)));
  if (auto ok = r->ReadHeader(); !ok) return std::unexpected(ok.error());
  return r;
}

Result<void> TraceReader::ReadHeader() {
  const std::string& name = src_->name();
  uint8_t fixed[kHeaderFixedBytes];
  size_t got = src_->Read(fixed, sizeof fixed);
  if (src_->error()) return std::unexpected(ErrnoError("read " + name, src_->error(), "", 2));
  if (got < 8 || std::memcmp(fixed, kFileMagic, 8) != 0) {
    return Fail(2, name + ": not a faultline trace (no FLTRACE magic)");
  }
  if (got < sizeof fixed) {
    return Fail(2, name + ": trace header cut off (" + std::to_string(got) +
                       " bytes)");
  }
  header_.version = GetLe32(fixed + 8);
  if (header_.version < kOldestReadableVersion ||
      header_.version > kFormatVersion) {
    return Fail(2, name + ": trace format version " +
                       std::to_string(header_.version) +
                       " is not supported (this faultline reads versions " +
                       std::to_string(kOldestReadableVersion) + " to " +
                       std::to_string(kFormatVersion) + ")");
  }
  uint32_t size = GetLe32(fixed + 12);
  if (size < kHeaderFixedBytes + 12 + 4 || size > kMaxHeaderBytes) {
    return Fail(2, name + ": trace header size " + std::to_string(size) +
                       " is invalid");
  }
  std::vector<uint8_t> h(size);
  std::memcpy(h.data(), fixed, sizeof fixed);
  got = src_->Read(h.data() + sizeof fixed, size - sizeof fixed);
  if (got < size - sizeof fixed) {
    return Fail(2, name + ": trace header cut off");
  }
  if (!CrcMatches(h.data(), size - 4, GetLe32(h.data() + size - 4))) {
    return Fail(2, name + ": trace header corrupted (CRC mismatch)");
  }
  header_.clock = GetLe32(&h[16]);
  header_.meta.flags = GetLe32(&h[20]);
  header_.meta.ncpus = GetLe32(&h[24]);
  header_.meta.latency_sample = GetLe32(&h[28]);
  header_.meta.start_monotonic_ns = GetLe64(&h[32]);
  header_.meta.start_realtime_ns = GetLe64(&h[40]);
  size_t pos = kHeaderFixedBytes;
  std::string* fields[] = {&header_.meta.kernel_release, &header_.meta.hostname,
                           &header_.meta.command_line};
  for (std::string* field : fields) {
    if (pos + 4 > size - 4) return Fail(2, name + ": trace header malformed");
    uint32_t len = GetLe32(&h[pos]);
    pos += 4;
    if (len > size - 4 - pos) return Fail(2, name + ": trace header malformed");
    field->assign(reinterpret_cast<const char*>(&h[pos]), len);
    pos += len;
  }
  stats_.bytes = size;
  return {};
}

void TraceReader::Warn(TraceVisitor& v, std::string msg) {
  v.OnWarning(msg);
  // Keep the list short: a file with a million bad blocks must not make the
  // warnings unbounded.
  if (stats_.warnings.size() < 100) stats_.warnings.push_back(std::move(msg));
}

Result<void> TraceReader::ReadAll(TraceVisitor& v) {
  const std::string& name = src_->name();
  uint8_t h[kBlockHeaderBytes];
  for (;;) {
    uint64_t block_offset = stats_.bytes;
    size_t got = src_->Read(h, sizeof h);
    if (src_->error()) return std::unexpected(ErrnoError("read " + name, src_->error()));
    if (got == 0) break;  // clean end at a block boundary
    stats_.bytes += got;
    if (got < sizeof h) {
      stats_.truncated = true;
      Warn(v, name + ": cut off at byte " + std::to_string(stats_.bytes) +
                  " inside a block header; read up to the last whole block");
      break;
    }
    if (!ValidBlockHeader(h)) {
      // Garbage where a block header should be: scan byte by byte for the
      // next valid one.
      uint64_t skipped = 0;
      bool found = false;
      for (;;) {
        std::memmove(h, h + 1, sizeof h - 1);
        if (src_->Read(h + sizeof h - 1, 1) != 1) break;
        ++stats_.bytes;
        ++skipped;
        if (ValidBlockHeader(h)) {
          found = true;
          break;
        }
      }
      ++stats_.corrupt_blocks;
      Warn(v, name + ": corrupted block header at byte " +
                  std::to_string(block_offset) + "; skipped " +
                  std::to_string(skipped + (found ? 0 : sizeof h - 1)) +
                  " bytes" + (found ? " to the next block" : " to the end"));
      if (!found) break;
      block_offset = stats_.bytes - sizeof h;
    }
    auto type = static_cast<BlockType>(h[4]);
    auto codec = static_cast<Codec>(h[5]);
    uint32_t stored = GetLe32(h + 8), raw = GetLe32(h + 12);
    const size_t remaining = src_->Remaining();
    if (stored > remaining) {
      // Cut off inside this block: do not allocate its claimed length.
      stats_.bytes += remaining;
      got = 0;
    } else {
      stored_.Reserve(stored);
      got = src_->Read(stored_.data(), stored);
      if (src_->error()) {
        return std::unexpected(ErrnoError("read " + name, src_->error()));
      }
      stats_.bytes += got;
    }
    if (got < stored) {
      stats_.truncated = true;
      Warn(v, name + ": cut off at byte " + std::to_string(stats_.bytes) +
                  " inside the block at byte " + std::to_string(block_offset) +
                  "; read up to the last whole block");
      break;
    }
    if (!CrcMatches(stored_.data(), stored, GetLe32(h + 16))) {
      ++stats_.corrupt_blocks;
      Warn(v, name + ": block at byte " + std::to_string(block_offset) +
                  " is corrupted (CRC mismatch); skipped");
      continue;
    }
    const uint8_t* payload = stored_.data();
    if (codec == Codec::kZlib) {
      // deflate cannot expand more than ~1032:1: a larger claim is damage,
      // and must not make us allocate up to kMaxBlockBytes.
      if (raw > uint64_t{stored} * 1032 + 64) {
        ++stats_.corrupt_blocks;
        Warn(v, name + ": block at byte " + std::to_string(block_offset) +
                    " claims an impossible size; skipped");
        continue;
      }
      raw_.Reserve(raw);
      uLongf out = raw;
      int rc = uncompress(raw_.data(), &out, stored_.data(), stored);
      if (rc != Z_OK || out != raw) {
        ++stats_.corrupt_blocks;
        Warn(v, name + ": block at byte " + std::to_string(block_offset) +
                    " does not decompress; skipped");
        continue;
      }
      payload = raw_.data();
    }
    bool ok = false;
    const bool v1 = header_.version == 1;
    switch (type) {
      case BlockType::kEvents:
        ok = v1 ? DecodeEventsV1(payload, raw, v) : DecodeEvents(payload, raw, v);
        break;
      case BlockType::kMetadata:
        ok = v1 ? DecodeMetadataV1(payload, raw, v)
                : DecodeMetadata(payload, raw, v);
        break;
      case BlockType::kFooter: ok = DecodeFooter(payload, raw, v); break;
    }
    if (!ok) {
      ++stats_.corrupt_blocks;
      Warn(v, name + ": block at byte " + std::to_string(block_offset) +
                  " has malformed records; the rest of it was skipped");
      continue;
    }
    ++stats_.blocks;
    if (type == BlockType::kFooter) stats_.footer = true;
  }
  if (stats_.skipped_records > 0) {
    // One warning for the whole file, naming every type skipped.
    std::string types;
    auto list = [&](const std::map<uint32_t, uint64_t>& m, const char* what) {
      if (m.empty()) return;
      if (!types.empty()) types += "; ";
      types += what;
      bool first = true;
      for (const auto& [t, n] : m) {
        types += (first ? " " : ", ") + std::to_string(t);
        first = false;
      }
    };
    auto what = [](const std::map<uint32_t, uint64_t>& m, const char* kind) {
      return std::string(kind) + (m.size() == 1 ? " type" : " types");
    };
    list(stats_.skipped_event_types, what(stats_.skipped_event_types, "event").c_str());
    list(stats_.skipped_metadata_types,
         what(stats_.skipped_metadata_types, "metadata").c_str());
    Warn(v, name + ": skipped " + std::to_string(stats_.skipped_records) +
                " record" + (stats_.skipped_records == 1 ? "" : "s") + " of " +
                types + " that this faultline does not know (written by a newer "
                "version?)");
  }
  if (!stats_.footer && !stats_.truncated) {
    Warn(v, name + ": no footer (the recording did not finish); lost-event "
                   "counts are unknown");
  } else if (!stats_.footer) {
    Warn(v, name + ": no footer; lost-event counts are unknown");
  }
  // Drop the block buffers: a reader that is done holds no memory.
  stored_.Release();
  raw_.Release();
  return {};
}

namespace {
static_assert(kMaxDeltaTypes == 128 && kMaxDeltaFields == 16,
              "TraceReader::state_ in reader.h has these sizes");
// The visitor callback of each decoded event struct (trace/records.h's
// descriptors decode to these).
void Deliver(TraceVisitor& v, const MmapEvent& e) { v.OnMmap(e); }
void Deliver(TraceVisitor& v, const TaskEvent& e) { v.OnTask(e); }
void Deliver(TraceVisitor& v, const TlbEvent& e) { v.OnTlb(e); }
void Deliver(TraceVisitor& v, const TcpStateEvent& e) { v.OnTcpState(e); }
void Deliver(TraceVisitor& v, const TcpAcceptEvent& e) { v.OnTcpAccept(e); }
void Deliver(TraceVisitor& v, const TcpConnectEvent& e) { v.OnTcpConnect(e); }
void Deliver(TraceVisitor& v, const TcpResetEvent& e) { v.OnTcpReset(e); }
void Deliver(TraceVisitor& v, const TcpServeEvent& e) { v.OnTcpServe(e); }
void Deliver(TraceVisitor& v, const TcpCloseEvent& e) { v.OnTcpClose(e); }
void Deliver(TraceVisitor& v, const TcpNetstatEvent& e) { v.OnTcpNetstat(e); }
void Deliver(TraceVisitor& v, const UsdtEvent& e) { v.OnUsdt(e); }

template <class E>
concept HasTypeField = requires(E e) { e.type; };
}  // namespace

void TraceReader::Skipped(std::map<uint32_t, uint64_t>& by_type, uint64_t type) {
  ++stats_.skipped_records;
  // Bounded: a hostile file must not grow the map without limit.
  auto t = static_cast<uint32_t>(std::min<uint64_t>(type, UINT32_MAX));
  if (by_type.size() < 64 || by_type.count(t)) ++by_type[t];
}

// Version 2: type varint, length varint, body; see trace/records.h.
bool TraceReader::DecodeEvents(const uint8_t* p, size_t n, TraceVisitor& v) {
  ByteCursor c(p, n);
  std::memset(state_, 0, sizeof state_);
  uint64_t fault_ts = 0;
  FaultEvent f;  // previous fault: absent fields repeat it
  f.stack_id = 0;
  while (!c.done()) {
    const uint64_t type = c.Varint();
    const uint64_t len = c.Varint();
    const uint8_t* body = c.Take(len);
    if (!c.ok()) return false;
    ByteCursor b(body, len);
    if (type == kRecFaultRun) {
      while (!b.done()) {
        const uint8_t tag = b.Byte();
        if ((tag & 0xe0) != kTagFaultBase) return false;
        DecodeFault(b, tag, fault_ts, f);
        if (!b.ok()) return false;
        ++stats_.events;
        v.OnFault(f);
      }
      continue;
    }
    if (type == kRecOpaque) {
      OpaqueEvent o;
      if (!DecodeOpaque(b, state_[kRecOpaque], o)) return false;
      ++stats_.events;
      v.OnOpaque(o);
      continue;
    }
    bool ok = true;
    bool known = type < kMaxDeltaTypes &&
                 WithEventRecord(static_cast<uint32_t>(type), [&](const auto& d) {
                   typename std::remove_cvref_t<decltype(d)>::Event e;
                   if constexpr (HasTypeField<decltype(e)>) {
                     e.type = static_cast<uint16_t>(type);
                   }
                   ok = DecodeBody(d, b, state_[type], e);
                   if (!ok) return;
                   ++stats_.events;
                   Deliver(v, e);
                 });
    if (!ok) return false;
    if (!known) Skipped(stats_.skipped_event_types, type);
  }
  return true;
}

bool TraceReader::DecodeMetadata(const uint8_t* p, size_t n, TraceVisitor& v) {
  ByteCursor c(p, n);
  std::memset(state_, 0, sizeof state_);
  while (!c.done()) {
    const uint64_t type = c.Varint();
    const uint64_t len = c.Varint();
    const uint8_t* body = c.Take(len);
    if (!c.ok()) return false;
    ByteCursor b(body, len);
    switch (type) {
      case static_cast<uint64_t>(MetaTag::kProcess): {
        ProcessInfo i;
        if (!DecodeBody(kProcessRecord, b, state_[type], i)) return false;
        v.OnProcess(i);
        break;
      }
      case static_cast<uint64_t>(MetaTag::kThread): {
        ThreadInfo i;
        if (!DecodeBody(kThreadRecord, b, state_[type], i)) return false;
        v.OnThread(i);
        break;
      }
      case static_cast<uint64_t>(MetaTag::kMapping): {
        MappingInfo i;
        if (!DecodeBody(kMappingRecord, b, state_[type], i) || i.end < i.start) {
          return false;
        }
        v.OnMapping(i);
        break;
      }
      case static_cast<uint64_t>(MetaTag::kStack): {
        StackInfo i;
        if (!DecodeStack(b, ips_, i)) return false;
        v.OnStack(i);
        break;
      }
      case static_cast<uint64_t>(MetaTag::kSummary): {
        SummaryInfo i;
        if (!DecodeSummary(b, i)) return false;
        v.OnSummary(i);
        break;
      }
      default:
        Skipped(stats_.skipped_metadata_types, type);
        break;
    }
  }
  return true;
}

// Version 1 (legacy): a one-byte tag per record, no lengths.
bool TraceReader::DecodeEventsV1(const uint8_t* p, size_t n, TraceVisitor& v) {
  ByteCursor c(p, n);
  uint64_t ts = 0;
  FaultEvent f;  // previous fault: absent fields repeat it
  f.stack_id = 0;
  while (!c.done()) {
    uint8_t tag = c.Byte();
    if ((tag & 0xe0) == kTagFaultBase) {
      DecodeFault(c, tag, ts, f);
      if (!c.ok()) return false;
      ++stats_.events;
      v.OnFault(f);
      continue;
    }
    if (tag >= kTagFaultBase) return false;
    ts += static_cast<uint64_t>(c.Signed());
    uint16_t cpu = static_cast<uint16_t>(c.Varint());
    switch (tag) {
      case FL_EV_MMAP:
      case FL_EV_MUNMAP:
      case FL_EV_MREMAP:
      case FL_EV_BRK:
      case FL_EV_MPROTECT: {
        MmapEvent m;
        m.type = tag;
        m.cpu = cpu;
        m.ts_ns = ts;
        m.pid = c.U32();
        m.tid = static_cast<uint32_t>(m.pid + static_cast<uint64_t>(c.Signed()));
        m.start = c.Varint();
        m.len = c.Varint();
        m.pgoff = c.Varint();
        m.aux = c.Varint();
        m.prot = c.U32();
        m.flags = c.U32();
        m.fd = static_cast<int32_t>(c.Signed());
        m.path = c.Bytes(FL_PATH_LEN);
        if (!c.ok()) return false;
        ++stats_.events;
        v.OnMmap(m);
        break;
      }
      case FL_EV_FORK:
      case FL_EV_EXEC:
      case FL_EV_EXIT: {
        TaskEvent t;
        t.type = tag;
        t.cpu = cpu;
        t.ts_ns = ts;
        t.pid = c.U32();
        t.tid = static_cast<uint32_t>(t.pid + static_cast<uint64_t>(c.Signed()));
        t.parent_pid = c.U32();
        t.parent_tid = static_cast<uint32_t>(
            t.parent_pid + static_cast<uint64_t>(c.Signed()));
        t.exit_code = static_cast<int32_t>(c.Signed());
        t.is_thread = c.U32();
        t.comm = c.Bytes(FL_COMM_LEN);
        t.path = c.Bytes(FL_PATH_LEN);
        if (!c.ok()) return false;
        ++stats_.events;
        v.OnTask(t);
        break;
      }
      case FL_EV_TLB_FLUSH: {
        TlbEvent t;
        t.cpu = cpu;
        t.ts_ns = ts;
        t.pid = c.U32();
        t.tid = static_cast<uint32_t>(t.pid + static_cast<uint64_t>(c.Signed()));
        t.reason = static_cast<int32_t>(c.Signed());
        t.pages = c.Varint();
        if (!c.ok()) return false;
        ++stats_.events;
        v.OnTlb(t);
        break;
      }
      case kTagOpaque: {
        OpaqueEvent o;
        o.cpu = cpu;
        o.ts_ns = ts;
        o.type = static_cast<uint16_t>(c.Varint());
        o.body = c.Bytes();
        if (!c.ok()) return false;
        ++stats_.events;
        v.OnOpaque(o);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

bool TraceReader::DecodeMetadataV1(const uint8_t* p, size_t n,
                                   TraceVisitor& v) {
  ByteCursor c(p, n);
  while (!c.done()) {
    auto tag = static_cast<MetaTag>(c.Byte());
    switch (tag) {
      case MetaTag::kProcess: {
        ProcessInfo i;
        i.pid = c.U32();
        i.ppid = c.U32();
        i.comm = c.Bytes();
        i.exe = c.Bytes();
        if (!c.ok()) return false;
        v.OnProcess(i);
        break;
      }
      case MetaTag::kThread: {
        ThreadInfo i;
        i.pid = c.U32();
        i.tid = c.U32();
        i.comm = c.Bytes();
        if (!c.ok()) return false;
        v.OnThread(i);
        break;
      }
      case MetaTag::kMapping: {
        MappingInfo i;
        i.pid = c.U32();
        i.start = c.Varint();
        i.end = i.start + c.Varint();
        i.pgoff = c.Varint();
        i.prot = c.U32();
        i.ts_ns = c.Varint();
        i.path = c.Bytes();
        if (!c.ok() || i.end < i.start) return false;
        v.OnMapping(i);
        break;
      }
      case MetaTag::kStack: {
        StackInfo i;
        i.stack_id = static_cast<int32_t>(c.Signed());
        uint64_t depth = c.Varint();
        if (!c.ok() || depth > kMaxStackDepth) return false;
        ips_.resize(depth);
        uint64_t ip = 0;
        for (uint64_t k = 0; k < depth; ++k) {
          ip += static_cast<uint64_t>(c.Signed());
          ips_[k] = ip;
        }
        if (!c.ok()) return false;
        i.ips = ips_;
        v.OnStack(i);
        break;
      }
      case MetaTag::kSummary: {  // the same layout in both versions
        SummaryInfo i;
        if (!DecodeSummary(c, i)) return false;
        v.OnSummary(i);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

bool TraceReader::DecodeFooter(const uint8_t* p, size_t n, TraceVisitor& v) {
  ByteCursor c(p, n);
  Footer f;
  f.end_monotonic_ns = c.Varint();
  f.events_written = c.Varint();
  uint64_t ncpus = c.Varint();
  if (!c.ok() || ncpus > 65536 || ncpus * 2 > c.remaining()) return false;
  f.per_cpu.resize(ncpus);
  for (CpuCounts& cc : f.per_cpu) {
    cc.recorded = c.Varint();
    cc.lost = c.Varint();
  }
  if (!c.ok()) return false;
  if (!c.done()) {  // flags and named counters (absent in older footers)
    uint64_t flags = c.Varint();
    f.stats_known = (flags & kFooterStatsUnknown) == 0;
    uint64_t n = c.Varint();
    if (!c.ok() || n > c.remaining()) return false;
    for (uint64_t k = 0; k < n; ++k) {
      std::string_view name = c.Bytes(256);
      uint64_t value = c.Varint();
      if (!c.ok()) return false;
      f.counters.emplace_back(std::string(name), value);
    }
  }
  v.OnFooter(f);
  return true;
}

}  // namespace faultline::trace
