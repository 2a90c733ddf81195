#include "trace/writer.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "trace/format.h"
#include "trace/records.h"

namespace faultline::trace {

namespace {

// zlib level 1 with Z_RLE (matches at distance 1 only, then Huffman
// coding): still a plain zlib stream for any reader, but about 1.6x less
// recorder CPU per event than level 1's default strategy, for ~20% more
// bytes (on the collector-rate benchmark's synthetic storm 5.7 instead of
// 4.8 bytes/event, recorder CPU 1.0 s instead of 1.55 s for 6M events at
// 2M/s, three interleaved runs each; docs/benchmarks-collector.md). The
// delta encoding already removed most redundancy, and the drain must keep
// up with millions of records/s on a loaded 2-core machine; the trace size
// bar (10 bytes/event) leaves room.
constexpr int kZlibLevel = 1;
constexpr int kZlibStrategy = Z_RLE;

uint64_t MonotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

// Strings are stored up to kMaxStringBytes.
std::string_view Clamp(std::string_view s) {
  return s.substr(0, kMaxStringBytes);
}

}  // namespace

// Blocks are compressed and written by a worker thread, in the order they
// were cut, so that the thread draining the ring buffer only encodes: zlib
// is about two thirds of the writer's CPU time, and with the worker the two
// halves run on two cores. At most kMaxQueuedBlocks wait for the worker;
// beyond that the caller waits (memory stays bounded). Flush() and Finish()
// wait until everything queued is in the file, so their callers see the
// same file as with a synchronous writer. The first write error stops the
// worker; every later call returns it.
constexpr size_t kMaxQueuedBlocks = 4;

class TraceWriter::Impl {
 public:
  Impl(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    ev_.reserve(kTargetBlockBytes + kSlackBytes);
  }
  ~Impl() {
    StopWorker();
    if (zinit_) deflateEnd(&zs_);
    if (fd_ >= 0) close(fd_);
  }

  Result<void> WriteHeader(const TraceMeta& meta) {
    std::string h(kHeaderFixedBytes, '\0');
    std::memcpy(h.data(), kFileMagic, 8);
    PutLe32(&h[8], kFormatVersion);
    // header_size at [12] filled in below.
    PutLe32(&h[16], kClockMonotonic);
    PutLe32(&h[20], meta.flags);
    PutLe32(&h[24], meta.ncpus);
    PutLe32(&h[28], meta.latency_sample);
    PutLe64(&h[32], meta.start_monotonic_ns);
    PutLe64(&h[40], meta.start_realtime_ns);
    for (std::string_view s :
         {Clamp(meta.kernel_release), Clamp(meta.hostname),
          Clamp(meta.command_line)}) {
      char len[4];
      PutLe32(len, static_cast<uint32_t>(s.size()));
      h.append(len, 4);
      h.append(s);
    }
    PutLe32(&h[12], static_cast<uint32_t>(h.size() + 4));
    char crc[4];
    PutLe32(crc, static_cast<uint32_t>(crc32(
                     0, reinterpret_cast<const Bytef*>(h.data()), h.size())));
    h.append(crc, 4);
    return WriteAll(h.data(), h.size());
  }

  Result<void> AddRecord(const void* data, size_t size) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (data == nullptr || size < sizeof(fl_hdr)) {
      return Fail(1, "trace writer: record of " + std::to_string(size) +
                         " bytes is shorter than its header");
    }
    const auto* bytes = static_cast<const uint8_t*>(data);
    fl_hdr hdr;
    std::memcpy(&hdr, bytes, sizeof hdr);
    if (hdr.type == FL_EV_FAULT_BATCH) {
      constexpr size_t kFirst = offsetof(fl_fault_batch, faults);
      if (size < kFirst) return TooShort("FL_EV_FAULT_BATCH", size, kFirst);
      uint32_t count;
      std::memcpy(&count, bytes + offsetof(fl_fault_batch, count), 4);
      if (count > FL_BATCH ||
          size < kFirst + size_t{count} * sizeof(fl_fault_slim)) {
        return Fail(1, "trace writer: FL_EV_FAULT_BATCH of " +
                           std::to_string(size) + " bytes cannot hold " +
                           std::to_string(count) + " faults");
      }
      PutFaults(bytes + kFirst, count, hdr.cpu);
    } else if (hdr.type == FL_EV_FAULT) {
      // The kernel sends batches only; a single fault (older code paths,
      // tools) goes into the same fault run.
      if (size < sizeof(fl_fault)) return TooShort("FL_EV_FAULT", size, sizeof(fl_fault));
      PutFaults(bytes + offsetof(fl_fault, f), 1, hdr.cpu);
    } else {
      const char* too_short = nullptr;  // the type's name, when it is
      size_t need = 0;
      bool known = WithEventRecord(hdr.type, [&](const auto& d) {
        using Raw = typename std::remove_cvref_t<decltype(d)>::Raw;
        if (size < d.min_size) {
          too_short = d.name;
          need = d.min_size;
          return;
        }
        // A zeroed copy: a char[] cut short by `size` ends at the cut.
        Raw raw;
        std::memset(&raw, 0, sizeof raw);
        std::memcpy(&raw, bytes, std::min(size, sizeof raw));
        size_t pos = BeginEvent(hdr.type);
        EncodeBody(d, raw, EventState(hdr.type), ev_);
        EndRecord(ev_, pos);
      });
      if (too_short) return TooShort(too_short, size, need);
      if (!known) {
        // A record type this version does not know: keep its header fields
        // and body bytes so that a newer reader can still decode it.
        // hdr.size is the record's own length; the ring buffer may report
        // more (rounding). Never read past either.
        size_t total = size;
        if (hdr.size >= sizeof(fl_hdr) && hdr.size < size) total = hdr.size;
        size_t pos = BeginEvent(kRecOpaque);
        EncodeOpaque(hdr,
                     std::string_view(
                         reinterpret_cast<const char*>(bytes + sizeof(fl_hdr)),
                         total - sizeof(fl_hdr)),
                     EventState(kRecOpaque), ev_);
        EndRecord(ev_, pos);
      }
      ++events_;
    }
    if (ev_.size() >= kTargetBlockBytes) return Flush(/*wait=*/false);
    return {};
  }

  Result<void> AddProcess(uint32_t pid, uint32_t ppid, std::string_view comm,
                          std::string_view exe) {
    if (auto ok = CheckOpen(); !ok) return ok;
    ProcessInfo i;
    i.pid = pid;
    i.ppid = ppid;
    i.comm = Clamp(comm);
    i.exe = Clamp(exe);
    PutMeta(MetaTag::kProcess, kProcessRecord, i);
    return MaybeFlushMeta();
  }

  Result<void> AddThread(uint32_t pid, uint32_t tid, std::string_view comm) {
    if (auto ok = CheckOpen(); !ok) return ok;
    ThreadInfo i;
    i.pid = pid;
    i.tid = tid;
    i.comm = Clamp(comm);
    PutMeta(MetaTag::kThread, kThreadRecord, i);
    return MaybeFlushMeta();
  }

  Result<void> AddMapping(uint32_t pid, uint64_t start, uint64_t end,
                          uint64_t pgoff, uint32_t prot, std::string_view path,
                          uint64_t ts_ns) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (end < start) {
      return Fail(1, "trace writer: mapping end below start");
    }
    MappingInfo i;
    i.pid = pid;
    i.start = start;
    i.end = end;
    i.pgoff = pgoff;
    i.prot = prot;
    i.ts_ns = ts_ns;
    i.path = Clamp(path);
    PutMeta(MetaTag::kMapping, kMappingRecord, i);
    return MaybeFlushMeta();
  }

  Result<void> AddStack(int32_t stack_id, std::span<const uint64_t> ips) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (ips.size() > kMaxStackDepth) ips = ips.first(kMaxStackDepth);
    size_t pos = BeginRecord(meta_, static_cast<uint32_t>(MetaTag::kStack));
    EncodeStack(stack_id, ips.data(), ips.size(), meta_);
    EndRecord(meta_, pos);
    return MaybeFlushMeta();
  }

  Result<void> AddSummary(const fl_summary_key& key, const fl_summary_val& val) {
    if (auto ok = CheckOpen(); !ok) return ok;
    size_t pos = BeginRecord(meta_, static_cast<uint32_t>(MetaTag::kSummary));
    EncodeSummary(key, val, meta_);
    EndRecord(meta_, pos);
    return MaybeFlushMeta();
  }

  Result<void> AddEncodedForTesting(bool metadata, uint32_t type,
                                    std::string_view body) {
    if (auto ok = CheckOpen(); !ok) return ok;
    std::string& out = metadata ? meta_ : ev_;
    size_t pos = metadata ? BeginRecord(meta_, type) : BeginEvent(type);
    out.append(body);
    EndRecord(out, pos);
    return {};
  }

  // Queues the pending metadata and events blocks (in that order) for the
  // worker; with `wait`, returns once they are in the file.
  Result<void> Flush(bool wait = true) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (!meta_.empty()) {
      if (auto ok = Enqueue(BlockType::kMetadata, meta_); !ok) return ok;
      std::memset(meta_state_, 0, sizeof meta_state_);
    }
    if (!ev_.empty()) {
      CloseRun();
      if (auto ok = Enqueue(BlockType::kEvents, ev_); !ok) return ok;
      ResetDeltas();
    }
    if (wait) return WaitIdle();
    return {};
  }

  Result<void> Finish(const FooterData& data) {
    if (auto ok = Flush(); !ok) return ok;
    StopWorker();
    std::string footer;
    PutVarint(footer, MonotonicNowNs());
    PutVarint(footer, events_);
    PutVarint(footer, data.per_cpu.size());
    for (const CpuCounts& c : data.per_cpu) {
      PutVarint(footer, c.recorded);
      PutVarint(footer, c.lost);
    }
    // Trailing fields (docs/trace-format.md, "Footer"): flags, then named
    // counters. A reader that predates them stops after the per-CPU pairs.
    PutVarint(footer, data.stats_known ? 0 : kFooterStatsUnknown);
    PutVarint(footer, data.counters.size());
    for (const auto& [name, value] : data.counters) {
      PutBytes(footer, name);
      PutVarint(footer, value);
    }
    if (auto ok = WriteBlock(BlockType::kFooter, footer); !ok) {
      failed_ = true;
      return ok;
    }
    if (fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
      return std::unexpected(ErrnoError("fsync " + path_, errno));
    }
    if (close(fd_) != 0) {
      fd_ = -1;
      return std::unexpected(ErrnoError("close " + path_, errno));
    }
    fd_ = -1;
    finished_ = true;
    return {};
  }

  void FlushQuietly() {
    if (fd_ >= 0 && !failed_ && !finished_) (void)Flush();
  }

  uint64_t events() const { return events_; }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  Result<void> CheckOpen() {
    if (finished_) return Fail(1, "trace writer: " + path_ + " already finished");
    if (failed_) return Fail(1, "trace writer: " + path_ + " failed earlier");
    if (worker_failed_.load(std::memory_order_acquire)) {
      failed_ = true;
      std::lock_guard lock(mu_);
      return std::unexpected(*worker_error_);
    }
    return {};
  }

  // Hands `raw` (left empty, with a recycled buffer) to the worker.
  Result<void> Enqueue(BlockType type, std::string& raw) {
    if (!worker_.joinable()) worker_ = std::thread([this] { WorkerLoop(); });
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] {
      return queue_.size() < kMaxQueuedBlocks || worker_error_.has_value();
    });
    if (worker_error_) {
      failed_ = true;
      return std::unexpected(*worker_error_);
    }
    queue_.push_back({type, std::move(raw)});
    raw = std::string();
    if (!spare_.empty()) {
      raw = std::move(spare_.back());
      spare_.pop_back();
    }
    lock.unlock();
    work_.notify_one();
    raw.clear();
    if (type == BlockType::kEvents) raw.reserve(kTargetBlockBytes + kSlackBytes);
    return {};
  }

  // Until the queue is empty and the worker idle: everything is written.
  Result<void> WaitIdle() {
    if (!worker_.joinable()) return {};
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] {
      return (queue_.empty() && !busy_) || worker_error_.has_value();
    });
    if (worker_error_) {
      failed_ = true;
      return std::unexpected(*worker_error_);
    }
    return {};
  }

  void StopWorker() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_.notify_one();
    worker_.join();
  }

  void WorkerLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_, and nothing left to write
      Job job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      Result<void> ok = worker_error_ ? Result<void>()
                                      : WriteBlock(job.type, job.raw);
      lock.lock();
      busy_ = false;
      if (!ok && !worker_error_) {
        worker_error_ = ok.error();
        worker_failed_.store(true, std::memory_order_release);
      }
      if (job.raw.capacity() >= kTargetBlockBytes && spare_.size() < 2) {
        spare_.push_back(std::move(job.raw));
      }
      space_.notify_all();
    }
  }

  static Result<void> TooShort(const char* what, size_t size, size_t need) {
    return Fail(1, std::string("trace writer: ") + what + " record of " +
                       std::to_string(size) + " bytes, need " +
                       std::to_string(need));
  }

  Result<void> MaybeFlushMeta() {
    if (meta_.size() < kTargetBlockBytes) return {};
    return Flush(/*wait=*/false);
  }

  // Starts a record (type varint, room for a padded length) in `out`;
  // returns where the length goes.
  static size_t BeginRecord(std::string& out, uint32_t type) {
    PutVarint(out, type);
    size_t pos = out.size();
    out.append(kPaddedLenBytes, '\0');
    return pos;
  }
  static void EndRecord(std::string& out, size_t pos) {
    PutPaddedLen(&out[pos], static_cast<uint32_t>(out.size() - pos - kPaddedLenBytes));
  }
  // An events-block record other than a fault ends the open fault run.
  size_t BeginEvent(uint32_t type) {
    CloseRun();
    return BeginRecord(ev_, type);
  }
  void CloseRun() {
    if (run_pos_ == kNoRun) return;
    EndRecord(ev_, run_pos_);
    run_pos_ = kNoRun;
  }
  uint64_t* EventState(uint32_t type) {
    return ev_state_[type < kMaxDeltaTypes ? type : 0];
  }

  template <class D>
  void PutMeta(MetaTag tag, const D& d, const typename D::Raw& raw) {
    size_t pos = BeginRecord(meta_, static_cast<uint32_t>(tag));
    EncodeBody(d, raw, meta_state_[static_cast<uint32_t>(tag)], meta_);
    EndRecord(meta_, pos);
  }

  // `n` consecutive fl_fault_slim at `src` (unaligned), appended to the
  // open fault run (one is opened when none is), encoded straight into ev_:
  // room for the worst case is made once per call and the unused tail cut
  // off, instead of a std::string append per field (the drain thread's
  // hottest code at millions of faults/s). A run lasts until another record
  // or the end of the block.
  void PutFaults(const uint8_t* src, uint32_t n, uint16_t cpu) {
    if (run_pos_ == kNoRun ||
        ev_.size() - run_pos_ + size_t{n} * kMaxFaultBytes > kMaxPaddedLen) {
      CloseRun();
      run_pos_ = BeginRecord(ev_, kRecFaultRun);
    }
    const size_t old = ev_.size();
    ev_.resize_and_overwrite(old + size_t{n} * kMaxFaultBytes,
                             [&](char* buf, size_t) {
                               char* p = buf + old;
                               for (uint32_t i = 0; i < n; ++i) {
                                 fl_fault_slim f;
                                 std::memcpy(&f, src + i * sizeof f, sizeof f);
                                 p = EncodeFault(p, f, cpu, faults_);
                               }
                               return static_cast<size_t>(p - buf);
                             });
    events_ += n;
  }

  void ResetDeltas() {
    faults_ = FaultDeltas();
    std::memset(ev_state_, 0, sizeof ev_state_);
    run_pos_ = kNoRun;
  }

  // One zlib stream (RFC 1950) of `raw` into zbuf_; *out_len in: room, out:
  // bytes. The deflate state is kept between blocks (deflateReset) instead
  // of being allocated and initialised per block as compress2() does.
  int Deflate(const std::string& raw, uLongf* out_len) {
    if (!zinit_) {
      zs_ = {};
      int rc = deflateInit2(&zs_, kZlibLevel, Z_DEFLATED, 15, 8,
                            kZlibStrategy);
      if (rc != Z_OK) return rc;
      zinit_ = true;
    } else if (int rc = deflateReset(&zs_); rc != Z_OK) {
      return rc;
    }
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
    zs_.avail_in = static_cast<uInt>(raw.size());
    zs_.next_out = reinterpret_cast<Bytef*>(zbuf_.data());
    zs_.avail_out = static_cast<uInt>(*out_len);
    int rc = deflate(&zs_, Z_FINISH);
    if (rc != Z_STREAM_END) return rc == Z_OK ? Z_BUF_ERROR : rc;
    *out_len = zs_.total_out;
    return Z_OK;
  }

  Result<void> WriteBlock(BlockType type, const std::string& raw) {
    uLongf bound = compressBound(raw.size());
    zbuf_.resize(bound);
    Codec codec = Codec::kZlib;
    int rc = Deflate(raw, &bound);
    const char* payload = zbuf_.data();
    size_t stored = bound;
    if (rc != Z_OK || bound >= raw.size()) {
      codec = Codec::kStored;
      payload = raw.data();
      stored = raw.size();
    }
    char h[kBlockHeaderBytes];
    std::memcpy(h, kBlockMagic, 4);
    h[4] = static_cast<char>(type);
    h[5] = static_cast<char>(codec);
    h[6] = h[7] = 0;
    PutLe32(h + 8, static_cast<uint32_t>(stored));
    PutLe32(h + 12, static_cast<uint32_t>(raw.size()));
    PutLe32(h + 16, static_cast<uint32_t>(crc32(
                        0, reinterpret_cast<const Bytef*>(payload), stored)));
    PutLe32(h + 20, static_cast<uint32_t>(
                        crc32(0, reinterpret_cast<const Bytef*>(h), 20)));
    if (auto ok = WriteAll(h, sizeof h); !ok) return ok;
    return WriteAll(payload, stored);
  }

  // Called by the worker for blocks and by the owner for the header and
  // the footer (the worker is not running then). Touches only fd_, bytes_
  // and its arguments.
  Result<void> WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(ErrnoError("write " + path_, errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
      bytes_.fetch_add(static_cast<uint64_t>(w), std::memory_order_relaxed);
    }
    return {};
  }

  // Room past kTargetBlockBytes for the record that crosses it (a batch of
  // FL_BATCH faults encodes to well under 4 KiB; bigger records just grow
  // the string).
  static constexpr size_t kSlackBytes = 64 << 10;

  struct Job {
    BlockType type;
    std::string raw;
  };

  int fd_;
  std::string path_;
  bool failed_ = false;    // owner thread only
  bool finished_ = false;  // owner thread only
  std::string ev_;
  std::string meta_;
  std::string zbuf_;       // worker (or owner while no worker runs)
  z_stream zs_{};          // with zbuf_
  bool zinit_ = false;
  uint64_t events_ = 0;
  std::atomic<uint64_t> bytes_{0};
  // The worker and its queue; mu_ guards queue_, spare_, busy_, stop_ and
  // worker_error_.
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable work_;   // owner -> worker: a job, or stop
  std::condition_variable space_;  // worker -> owner: a job done
  std::deque<Job> queue_;
  std::vector<std::string> spare_;  // written event buffers, for reuse
  bool busy_ = false;
  bool stop_ = false;
  std::optional<Error> worker_error_;
  std::atomic<bool> worker_failed_{false};
  // Delta state of the current events block: faults, and per record type
  // (trace/records.h); the metadata block's per type.
  FaultDeltas faults_;
  uint64_t ev_state_[kMaxDeltaTypes][kMaxDeltaFields] = {};
  uint64_t meta_state_[kMaxDeltaTypes][kMaxDeltaFields] = {};
  // Where the open fault run's length goes in ev_, or kNoRun.
  static constexpr size_t kNoRun = ~size_t{0};
  size_t run_pos_ = kNoRun;
};

Result<std::unique_ptr<TraceWriter>> TraceWriter::Create(const std::string& path,
                                                         const TraceMeta& meta) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return std::unexpected(ErrnoError("create trace file " + path, errno, "", 2));
  }
  auto impl = std::make_unique<Impl>(fd, path);
  if (auto ok = impl->WriteHeader(meta); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<TraceWriter>(new TraceWriter(std::move(impl)));
}

TraceWriter::TraceWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TraceWriter::~TraceWriter() {
  if (impl_) impl_->FlushQuietly();
}

Result<void> TraceWriter::AddRecord(const void* data, size_t size) {
  return impl_->AddRecord(data, size);
}
Result<void> TraceWriter::AddProcess(uint32_t pid, uint32_t ppid,
                                     std::string_view comm,
                                     std::string_view exe) {
  return impl_->AddProcess(pid, ppid, comm, exe);
}
Result<void> TraceWriter::AddThread(uint32_t pid, uint32_t tid,
                                    std::string_view comm) {
  return impl_->AddThread(pid, tid, comm);
}
Result<void> TraceWriter::AddMapping(uint32_t pid, uint64_t start, uint64_t end,
                                     uint64_t pgoff, uint32_t prot,
                                     std::string_view path, uint64_t ts_ns) {
  return impl_->AddMapping(pid, start, end, pgoff, prot, path, ts_ns);
}
Result<void> TraceWriter::AddStack(int32_t stack_id,
                                   std::span<const uint64_t> ips) {
  return impl_->AddStack(stack_id, ips);
}
Result<void> TraceWriter::AddSummary(const fl_summary_key& key,
                                     const fl_summary_val& val) {
  return impl_->AddSummary(key, val);
}
Result<void> TraceWriter::AddEncodedForTesting(bool metadata, uint32_t type,
                                               std::string_view body) {
  return impl_->AddEncodedForTesting(metadata, type, body);
}
Result<void> TraceWriter::Flush() { return impl_->Flush(); }
Result<void> TraceWriter::Finish(const FooterData& data) {
  return impl_->Finish(data);
}

Result<void> TraceWriter::Finish(const std::vector<CpuCounts>& per_cpu) {
  FooterData data;
  data.per_cpu = per_cpu;
  return impl_->Finish(data);
}
uint64_t TraceWriter::events_written() const { return impl_->events(); }
uint64_t TraceWriter::bytes_written() const { return impl_->bytes(); }

}  // namespace faultline::trace
