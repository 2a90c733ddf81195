// Owns the fault-tracing BPF objects: the skeleton, the per-CPU perf events
// and every link. Set-up is chained phase by phase (Open -> Configure ->
// Load -> AddTargets -> Attach), each returning Result<> with one line that
// names the failing step. Everything is released by the destructor; links
// also die with the process, so a SIGKILLed collector leaves nothing
// attached.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "bpf/faultline.h"
#include "common/error.h"

struct faultline_bpf;
struct bpf_link;
struct ring_buffer;
struct bpf_program;

namespace faultline::collector {

struct BpfSettings {
  bool filter = false;    // only the tgids given to AddTargets (+children)
  bool faults = true;     // fault programs
  bool summary = false;   // aggregate in maps, no per-fault stream
  uint32_t latency_sample = 1;  // --summary: time 1 fault in N (power of 2)
  bool stacks = false;    // user stack ids
  bool mmap_events = true;  // mmap/munmap/... and tlb_flush of targets
  uint32_t ring_bytes = 32u << 20;
};

struct LinkDeleter {
  void operator()(bpf_link* link) const;
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

struct SkelDeleter {
  void operator()(faultline_bpf* skel) const;
};

struct RingDeleter {
  void operator()(ring_buffer* rb) const;
};

// A perf event file descriptor (closed by the destructor).
class PerfEventFd {
 public:
  explicit PerfEventFd(int fd = -1) : fd_(fd) {}
  PerfEventFd(PerfEventFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  PerfEventFd& operator=(PerfEventFd&& o) noexcept;
  PerfEventFd(const PerfEventFd&) = delete;
  PerfEventFd& operator=(const PerfEventFd&) = delete;
  ~PerfEventFd();
  int get() const { return fd_; }

 private:
  int fd_;
};

class FaultsBpf {
 public:
  // Called for each ring-buffer record; return non-zero to stop consuming.
  using RecordFn = std::function<int(const void* data, size_t size)>;

  static Result<std::unique_ptr<FaultsBpf>> Open(const BpfSettings& s);
  ~FaultsBpf();
  FaultsBpf(const FaultsBpf&) = delete;
  FaultsBpf& operator=(const FaultsBpf&) = delete;

  Result<void> Load();
  Result<void> AddTarget(uint32_t tgid);
  Result<void> Attach();
  Result<void> StartRing(RecordFn fn);
  // Drains what the ring buffer holds now (no waiting). Returns records.
  Result<int> Consume();
  // Waits up to timeout_ms (less when a record asked for a wakeup), then
  // drains the ring buffer.
  Result<int> Poll(int timeout_ms);
  // Destroys every link and perf event: no new events after this.
  void Detach();

  // After Detach(): the partial per-CPU fault batches, as ring records.
  std::vector<std::vector<uint8_t>> TakePartialBatches();
  std::vector<fl_cpu_stats> ReadCpuStats() const;
  // --summary aggregates, per-CPU values summed.
  std::vector<std::pair<fl_summary_key, fl_summary_val>> ReadSummary() const;
  // Every user stack in the stack map: (id, ips innermost first).
  std::vector<std::pair<int32_t, std::vector<uint64_t>>> ReadStacks() const;
  int ncpus() const { return ncpus_; }

 private:
  explicit FaultsBpf(const BpfSettings& s);
  Result<void> AttachOne(const char* what, struct bpf_program* prog);
  Result<void> AttachPerf(struct bpf_program* prog, uint64_t config,
                          const char* name);

  BpfSettings settings_;
  std::unique_ptr<faultline_bpf, SkelDeleter> skel_;
  std::vector<LinkPtr> links_;
  std::vector<PerfEventFd> perf_fds_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  RecordFn record_fn_;
  int ncpus_ = 0;
};

// Routes libbpf's messages to stderr when `verbose`, else drops them
// (warnings too: our own errors say what failed).
void SetLibbpfVerbose(bool verbose);

}  // namespace faultline::collector
