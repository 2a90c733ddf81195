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

// A fixed-size char array that may not be NUL-terminated, possibly cut
// short by the record size.
std::string_view CString(const char* p, size_t max) {
  return std::string_view(p, strnlen(p, max));
}

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
    switch (hdr.type) {
      case FL_EV_FAULT: {
        if (size < sizeof(fl_fault)) return TooShort("FL_EV_FAULT", size, sizeof(fl_fault));
        PutFaults(bytes + offsetof(fl_fault, f), 1, hdr.cpu);
        break;
      }
      case FL_EV_FAULT_BATCH: {
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
        break;
      }
      case FL_EV_MMAP:
      case FL_EV_MUNMAP:
      case FL_EV_MREMAP:
      case FL_EV_BRK:
      case FL_EV_MPROTECT: {
        constexpr size_t kPath = offsetof(fl_mmap, path);
        if (size < kPath) return TooShort("fl_mmap", size, kPath);
        fl_mmap m;
        std::memset(&m, 0, sizeof m);
        std::memcpy(&m, bytes, std::min(size, sizeof m));
        std::string_view path =
            CString(m.path, std::min<size_t>(FL_PATH_LEN, size - kPath));
        PutEventStart(hdr);
        PutVarint(ev_, m.pid);
        PutSigned(ev_, int64_t{m.tid} - int64_t{m.pid});
        PutVarint(ev_, m.start);
        PutVarint(ev_, m.len);
        PutVarint(ev_, m.pgoff);
        PutVarint(ev_, m.aux);
        PutVarint(ev_, m.prot);
        PutVarint(ev_, m.flags);
        PutSigned(ev_, m.fd);
        PutBytes(ev_, path);
        break;
      }
      case FL_EV_FORK:
      case FL_EV_EXEC:
      case FL_EV_EXIT: {
        constexpr size_t kPath = offsetof(fl_task, path);
        if (size < kPath) return TooShort("fl_task", size, kPath);
        fl_task t;
        std::memset(&t, 0, sizeof t);
        std::memcpy(&t, bytes, std::min(size, sizeof t));
        PutEventStart(hdr);
        PutVarint(ev_, t.pid);
        PutSigned(ev_, int64_t{t.tid} - int64_t{t.pid});
        PutVarint(ev_, t.parent_pid);
        PutSigned(ev_, int64_t{t.parent_tid} - int64_t{t.parent_pid});
        PutSigned(ev_, t.exit_code);
        PutVarint(ev_, t.is_thread);
        PutBytes(ev_, CString(t.comm, FL_COMM_LEN));
        PutBytes(ev_, CString(t.path, std::min<size_t>(FL_PATH_LEN, size - kPath)));
        break;
      }
      case FL_EV_TLB_FLUSH: {
        if (size < sizeof(fl_tlb)) return TooShort("FL_EV_TLB_FLUSH", size, sizeof(fl_tlb));
        fl_tlb t;
        std::memcpy(&t, bytes, sizeof t);
        PutEventStart(hdr);
        PutVarint(ev_, t.pid);
        PutSigned(ev_, int64_t{t.tid} - int64_t{t.pid});
        PutSigned(ev_, t.reason);
        PutVarint(ev_, t.pages);
        break;
      }
      default: {
        // A record type this version does not know: keep its header fields
        // and body bytes so that a newer reader can still decode it.
        ev_.push_back(static_cast<char>(kTagOpaque));
        PutSigned(ev_, static_cast<int64_t>(hdr.ts_ns - prev_ts_));
        prev_ts_ = hdr.ts_ns;
        PutVarint(ev_, hdr.cpu);
        PutVarint(ev_, hdr.type);
        // hdr.size is the record's own length; the ring buffer may report
        // more (rounding). Never read past either.
        size_t total = size;
        if (hdr.size >= sizeof(fl_hdr) && hdr.size < size) total = hdr.size;
        size_t body = std::min<size_t>(total - sizeof(fl_hdr), kMaxStringBytes);
        PutBytes(ev_, std::string_view(
                          reinterpret_cast<const char*>(bytes + sizeof(fl_hdr)),
                          body));
        ++events_;
        break;
      }
    }
    if (ev_.size() >= kTargetBlockBytes) return Flush(/*wait=*/false);
    return {};
  }

  Result<void> AddProcess(uint32_t pid, uint32_t ppid, std::string_view comm,
                          std::string_view exe) {
    if (auto ok = CheckOpen(); !ok) return ok;
    meta_.push_back(static_cast<char>(MetaTag::kProcess));
    PutVarint(meta_, pid);
    PutVarint(meta_, ppid);
    PutBytes(meta_, Clamp(comm));
    PutBytes(meta_, Clamp(exe));
    return MaybeFlushMeta();
  }

  Result<void> AddThread(uint32_t pid, uint32_t tid, std::string_view comm) {
    if (auto ok = CheckOpen(); !ok) return ok;
    meta_.push_back(static_cast<char>(MetaTag::kThread));
    PutVarint(meta_, pid);
    PutVarint(meta_, tid);
    PutBytes(meta_, Clamp(comm));
    return MaybeFlushMeta();
  }

  Result<void> AddMapping(uint32_t pid, uint64_t start, uint64_t end,
                          uint64_t pgoff, uint32_t prot, std::string_view path,
                          uint64_t ts_ns) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (end < start) {
      return Fail(1, "trace writer: mapping end below start");
    }
    meta_.push_back(static_cast<char>(MetaTag::kMapping));
    PutVarint(meta_, pid);
    PutVarint(meta_, start);
    PutVarint(meta_, end - start);
    PutVarint(meta_, pgoff);
    PutVarint(meta_, prot);
    PutVarint(meta_, ts_ns);
    PutBytes(meta_, Clamp(path));
    return MaybeFlushMeta();
  }

  Result<void> AddStack(int32_t stack_id, std::span<const uint64_t> ips) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (ips.size() > kMaxStackDepth) ips = ips.first(kMaxStackDepth);
    meta_.push_back(static_cast<char>(MetaTag::kStack));
    PutSigned(meta_, stack_id);
    PutVarint(meta_, ips.size());
    uint64_t prev = 0;
    for (uint64_t ip : ips) {
      PutSigned(meta_, static_cast<int64_t>(ip - prev));
      prev = ip;
    }
    return MaybeFlushMeta();
  }

  Result<void> AddSummary(const fl_summary_key& key, const fl_summary_val& val) {
    if (auto ok = CheckOpen(); !ok) return ok;
    meta_.push_back(static_cast<char>(MetaTag::kSummary));
    PutVarint(meta_, key.pid);
    PutVarint(meta_, key.kind);
    PutVarint(meta_, val.count);
    PutVarint(meta_, val.total_ns);
    PutVarint(meta_, val.max_ns);
    PutVarint(meta_, FL_HIST_BUCKETS);
    for (uint64_t h : val.hist) PutVarint(meta_, h);
    return MaybeFlushMeta();
  }

  // Queues the pending metadata and events blocks (in that order) for the
  // worker; with `wait`, returns once they are in the file.
  Result<void> Flush(bool wait = true) {
    if (auto ok = CheckOpen(); !ok) return ok;
    if (!meta_.empty()) {
      if (auto ok = Enqueue(BlockType::kMetadata, meta_); !ok) return ok;
    }
    if (!ev_.empty()) {
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

  void PutEventStart(const fl_hdr& hdr) {
    ev_.push_back(static_cast<char>(hdr.type));
    PutSigned(ev_, static_cast<int64_t>(hdr.ts_ns - prev_ts_));
    prev_ts_ = hdr.ts_ns;
    PutVarint(ev_, hdr.cpu);
    ++events_;
  }

  // `n` consecutive fl_fault_slim at `src` (unaligned), encoded straight
  // into ev_: room for the worst case is made once per call and the
  // unused tail cut off, instead of a std::string append per field (the
  // drain thread's hottest code at millions of faults/s).
  void PutFaults(const uint8_t* src, uint32_t n, uint16_t cpu) {
    const size_t old = ev_.size();
    ev_.resize_and_overwrite(old + size_t{n} * kMaxFaultBytes,
                             [&](char* buf, size_t) {
                               char* p = buf + old;
                               for (uint32_t i = 0; i < n; ++i) {
                                 fl_fault_slim f;
                                 std::memcpy(&f, src + i * sizeof f, sizeof f);
                                 p = PutFault(p, f, cpu);
                               }
                               return static_cast<size_t>(p - buf);
                             });
  }

  // Tag, ts 10, address 10, latency 5, pid 5 + tid 10, ip 10, code 3 + 2,
  // cpu 3, stack 5: at most 64 bytes.
  static constexpr size_t kMaxFaultBytes = 64;

  char* PutFault(char* p, const fl_fault_slim& f, uint16_t cpu) {
    uint8_t mask = 0;
    if (f.pid != prev_pid_ || f.tid != prev_tid_) mask |= kFaultHasTask;
    if (f.ip != prev_ip_) mask |= kFaultHasIp;
    if (f.error_code != prev_code_ || f.outcome != prev_outcome_ ||
        f.flags != prev_flags_)
      mask |= kFaultHasCode;
    if (cpu != prev_cpu_) mask |= kFaultHasCpu;
    if (f.stack_id != prev_stack_) mask |= kFaultHasStack;
    *p++ = static_cast<char>(kTagFaultBase | mask);
    p = PutSigned(p, static_cast<int64_t>(f.ts_ns - prev_ts_));
    p = PutSigned(p, static_cast<int64_t>(f.address - prev_addr_));
    p = PutVarint(p, f.latency_ns);
    if (mask & kFaultHasTask) {
      p = PutVarint(p, f.pid);
      p = PutSigned(p, int64_t{f.tid} - int64_t{f.pid});
    }
    if (mask & kFaultHasIp) p = PutSigned(p, static_cast<int64_t>(f.ip - prev_ip_));
    if (mask & kFaultHasCode) {
      p = PutVarint(p, f.error_code);
      *p++ = static_cast<char>(f.outcome);
      *p++ = static_cast<char>(f.flags);
    }
    if (mask & kFaultHasCpu) p = PutVarint(p, cpu);
    if (mask & kFaultHasStack) p = PutSigned(p, f.stack_id);
    prev_ts_ = f.ts_ns;
    prev_addr_ = f.address;
    prev_ip_ = f.ip;
    prev_pid_ = f.pid;
    prev_tid_ = f.tid;
    prev_code_ = f.error_code;
    prev_outcome_ = f.outcome;
    prev_flags_ = f.flags;
    prev_cpu_ = cpu;
    prev_stack_ = f.stack_id;
    ++events_;
    return p;
  }

  void ResetDeltas() {
    prev_ts_ = prev_addr_ = prev_ip_ = 0;
    prev_pid_ = prev_tid_ = 0;
    prev_code_ = 0;
    prev_outcome_ = prev_flags_ = 0;
    prev_cpu_ = 0;
    prev_stack_ = 0;
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
  // Delta state of the current events block.
  uint64_t prev_ts_ = 0, prev_addr_ = 0, prev_ip_ = 0;
  uint32_t prev_pid_ = 0, prev_tid_ = 0;
  uint16_t prev_code_ = 0;
  uint8_t prev_outcome_ = 0, prev_flags_ = 0;
  uint16_t prev_cpu_ = 0;
  int32_t prev_stack_ = 0;
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
