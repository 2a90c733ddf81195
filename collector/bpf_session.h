// Owns the BPF objects of a recording: the one skeleton of every family
// (collector/family.h), the per-CPU perf events and every link. Set-up is
// chained phase by phase (Open -> Configure -> Load -> AddTarget -> Attach
// by stage), each returning Result<> with one line that names the failing
// step. Everything is released by the destructor; links also die with the
// process, so a SIGKILLed collector leaves nothing attached.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/faultline.h"
#include "collector/family.h"
#include "common/error.h"

struct faultline_bpf;
struct bpf_link;
struct ring_buffer;
struct bpf_program;

namespace faultline::collector {

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

// The kernel side of one recording: the one skeleton of every family, its
// links and perf events, and the shared ring buffer.
class BpfSession {
 public:
  // Called for each ring-buffer record; return non-zero to stop consuming.
  using RecordFn = std::function<int(const void* data, size_t size)>;

  // Open: the skeleton, the ring size and the target filter settings.
  static Result<std::unique_ptr<BpfSession>> Open(const BpfSettings& s);
  ~BpfSession();
  BpfSession(const BpfSession&) = delete;
  BpfSession& operator=(const BpfSession&) = delete;

  // Configure: each family's settings, then the probe tables' autoload
  // decisions: a program loads when its When says so and its hook exists
  // (an optional probe whose tracepoint is missing is turned off and
  // named in `notes`; a required one is an error). Every program of the
  // skeleton must be in exactly one table.
  Result<void> Configure(const std::vector<std::unique_ptr<Family>>& families,
                         std::vector<std::string>* notes);
  Result<void> Load();
  Result<void> AddTarget(uint32_t tgid);
  // Attaches the loaded programs of the families of `stage`, in table
  // order.
  Result<void> Attach(const std::vector<std::unique_ptr<Family>>& families,
                      Stage stage);
  Result<void> StartRing(RecordFn fn);
  // Drains what the ring buffer holds now (no waiting). Returns records.
  Result<int> Consume();
  // Waits up to timeout_ms (less when a record asked for a wakeup), then
  // drains the ring buffer.
  Result<int> Poll(int timeout_ms);
  // Destroys every link and perf event: no new events after this.
  void Detach();

  // The per-CPU counters; an error when the map cannot be read (the loss
  // is then unknown, never 0).
  Result<std::vector<fl_cpu_stats>> ReadCpuStats() const;
  faultline_bpf* skel() const { return skel_.get(); }
  int ncpus() const { return ncpus_; }

 private:
  explicit BpfSession(const BpfSettings& s);
  bpf_program* Program(const char* name) const;
  Result<void> AttachOne(const Probe& p, bpf_program* prog);
  Result<void> AttachPerf(const Probe& p, bpf_program* prog);

  BpfSettings settings_;
  std::unique_ptr<faultline_bpf, SkelDeleter> skel_;
  std::vector<LinkPtr> links_;
  std::vector<PerfEventFd> perf_fds_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  RecordFn record_fn_;
  int ncpus_ = 0;
};

// The counters of fl_cpu_stats summed over CPUs, by the names the trace
// footer uses (docs/collector.md): every field except recorded_events and
// lost_events, which the footer keeps per CPU.
std::vector<std::pair<std::string, uint64_t>> NamedCounters(
    const std::vector<fl_cpu_stats>& per_cpu);

// True when tracefs has the event "<category>:<event>".
bool TracepointExists(std::string_view category_event);

// Routes libbpf's messages to stderr when `verbose`, else drops them
// (warnings too: our own errors say what failed).
void SetLibbpfVerbose(bool verbose);

}  // namespace faultline::collector
