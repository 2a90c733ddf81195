#include "collector/bpf_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "faultline_bpf.skel.h"

namespace faultline::collector {

namespace {

bool g_verbose = false;

int PrintLibbpf(enum libbpf_print_level level, const char* fmt,
                va_list args) {
  if (!g_verbose) return 0;
  (void)level;
  return std::vfprintf(stderr, fmt, args);
}

}  // namespace

void SetLibbpfVerbose(bool verbose) {
  g_verbose = verbose;
  libbpf_set_print(PrintLibbpf);
}

void LinkDeleter::operator()(bpf_link* link) const {
  if (link && bpf_link__destroy(link) != 0) {
    std::fprintf(stderr, "faultline record: destroying a BPF link failed\n");
  }
}

void SkelDeleter::operator()(faultline_bpf* skel) const {
  faultline_bpf__destroy(skel);
}

void RingDeleter::operator()(ring_buffer* rb) const { ring_buffer__free(rb); }

PerfEventFd& PerfEventFd::operator=(PerfEventFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

PerfEventFd::~PerfEventFd() {
  if (fd_ >= 0) close(fd_);
}

BpfSession::BpfSession(const BpfSettings& s) : settings_(s) {}

BpfSession::~BpfSession() { Detach(); }

Result<std::unique_ptr<BpfSession>> BpfSession::Open(const BpfSettings& s) {
  std::unique_ptr<BpfSession> self(new BpfSession(s));
  self->ncpus_ = libbpf_num_possible_cpus();
  if (self->ncpus_ <= 0) {
    return std::unexpected(ErrnoError("count possible CPUs", -self->ncpus_));
  }
  self->skel_.reset(faultline_bpf__open());
  if (!self->skel_) {
    return std::unexpected(ErrnoError("open BPF skeleton", errno));
  }
  faultline_bpf* skel = self->skel_.get();
  // Shared settings (bpf/task.bpf.h), before load so that the verifier
  // prunes dead branches. The collector's own faults (writing the trace)
  // are not traced.
  skel->rodata->filter_tgid = s.filter;
  skel->rodata->self_tgid = static_cast<uint32_t>(getpid());
  int err = bpf_map__set_max_entries(skel->maps.events, s.ring_bytes);
  if (err) return std::unexpected(ErrnoError("size the ring buffer", err));
  return self;
}

bpf_program* BpfSession::Program(const char* name) const {
  return bpf_object__find_program_by_name(skel_->obj, name);
}

bool TracepointExists(std::string_view category_event) {
  std::string dir(category_event);
  size_t colon = dir.find(':');
  if (colon == std::string::npos) return false;
  dir[colon] = '/';
  return access(("/sys/kernel/tracing/events/" + dir).c_str(), F_OK) == 0;
}

Result<void> BpfSession::Configure(
    const std::vector<std::unique_ptr<Family>>& families,
    std::vector<std::string>* notes) {
  std::set<bpf_program*> in_tables;
  for (const auto& f : families) {
    if (auto r = f->Configure(skel_.get(), settings_); !r) return r;
    for (const Probe& p : f->probes()) {
      bpf_program* prog = Program(p.program);
      if (!prog || !in_tables.insert(prog).second) {
        return Fail(1, std::string("family ") + std::string(f->name()) +
                           ": program " + p.program +
                           (prog ? " is in two probe tables"
                                 : " is not in the BPF skeleton"));
      }
      bool load = Wanted(p.when, settings_);
      if (load && p.hook == Hook::kTracepoint &&
          !TracepointExists(p.target)) {
        if (!p.optional) {
          return Fail(2, std::string("tracepoint ") + p.target +
                             " is missing on this kernel (is tracefs "
                             "mounted?)");
        }
        load = false;
        if (notes) notes->push_back(std::string(p.target) + " not on this "
                                    "kernel: " + p.program + " is off");
      }
      bpf_program__set_autoload(prog, load);
    }
  }
  // A program in no table would load and never attach.
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if (!in_tables.count(prog)) {
      return Fail(1, std::string("BPF program ") + bpf_program__name(prog) +
                         " is in no family's probe table");
    }
  }
  return {};
}

Result<void> BpfSession::Load() {
  int err = faultline_bpf__load(skel_.get());
  if (err) {
    return std::unexpected(ErrnoError(
        "load BPF programs", err,
        "run with -v for the verifier log; needs BTF and CAP_BPF"));
  }
  return {};
}

Result<void> BpfSession::AddTarget(uint32_t tgid) {
  uint8_t one = 1;
  int err = bpf_map__update_elem(skel_->maps.targets, &tgid, sizeof(tgid),
                                 &one, sizeof(one), BPF_ANY);
  if (err) {
    return std::unexpected(
        ErrnoError("add target " + std::to_string(tgid), err));
  }
  return {};
}

Result<void> BpfSession::AttachOne(const Probe& p, bpf_program* prog) {
  bpf_link* link = bpf_program__attach(prog);
  if (!link) {
    int err = errno;
    return std::unexpected(
        ErrnoError(std::string("attach ") + p.target, err,
                   err == ENOENT ? "is tracefs mounted?" : ""));
  }
  links_.emplace_back(link);
  return {};
}

Result<void> BpfSession::AttachPerf(const Probe& p, bpf_program* prog) {
  int attached = 0;
  for (int cpu = 0; cpu < ncpus_; ++cpu) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = p.perf_config;
    attr.sample_period = 1;
    int fd = static_cast<int>(
        syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // possible but offline CPU
      return std::unexpected(ErrnoError(
          std::string("perf_event_open ") + p.target + " on CPU " +
              std::to_string(cpu),
          errno, "needs CAP_PERFMON; check /proc/sys/kernel/perf_event_paranoid"));
    }
    PerfEventFd owned(fd);
    bpf_link* link = bpf_program__attach_perf_event(prog, fd);
    if (!link) {
      return std::unexpected(ErrnoError(
          std::string("attach BPF to ") + p.target + " on CPU " +
              std::to_string(cpu),
          errno));
    }
    links_.emplace_back(link);
    perf_fds_.push_back(std::move(owned));
    ++attached;
  }
  if (attached == 0) {
    return Fail(1, std::string("attach ") + p.target + ": no online CPU");
  }
  return {};
}

Result<void> BpfSession::Attach(
    const std::vector<std::unique_ptr<Family>>& families, Stage stage) {
  for (const auto& f : families) {
    if (f->stage() != stage) continue;
    for (const Probe& p : f->probes()) {
      bpf_program* prog = Program(p.program);
      if (!prog || !bpf_program__autoload(prog)) continue;
      auto r = p.hook == Hook::kPerfEvent ? AttachPerf(p, prog)
                                          : AttachOne(p, prog);
      if (!r) return r;
    }
  }
  return {};
}

Result<void> BpfSession::StartRing(RecordFn fn) {
  record_fn_ = std::move(fn);
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    return static_cast<BpfSession*>(ctx)->record_fn_(data, size);
  };
  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), cb, this,
                               nullptr));
  if (!ring_) return std::unexpected(ErrnoError("open ring buffer", errno));
  return {};
}

Result<int> BpfSession::Poll(int timeout_ms) {
  if (!ring_) return 0;
  // Records are submitted without wakeup except exec and process forks:
  // epoll returns early for those, else after timeout_ms. Either way,
  // consume everything afterwards (poll alone only drains woken rings).
  int n = ring_buffer__poll(ring_.get(), timeout_ms);
  if (n < 0 && n != -EINTR) {
    return std::unexpected(ErrnoError("poll ring buffer", -n));
  }
  return Consume();
}

Result<int> BpfSession::Consume() {
  if (!ring_) return 0;
  int n = ring_buffer__consume(ring_.get());
  if (n < 0) return std::unexpected(ErrnoError("read ring buffer", -n));
  return n;
}

void BpfSession::Detach() {
  // Reverse attach order: entry programs first, then completions, then
  // the task programs.
  while (!links_.empty()) links_.pop_back();
  perf_fds_.clear();
}

Result<std::vector<fl_cpu_stats>> BpfSession::ReadCpuStats() const {
  std::vector<fl_cpu_stats> out(ncpus_);
  uint32_t zero = 0;
  int err = bpf_map__lookup_elem(skel_->maps.cpu_stats, &zero, sizeof(zero),
                                 out.data(), sizeof(fl_cpu_stats) * out.size(),
                                 0);
  if (err) return std::unexpected(ErrnoError("read the per-CPU counters", err));
  return out;
}

std::vector<std::pair<std::string, uint64_t>> NamedCounters(
    const std::vector<fl_cpu_stats>& per_cpu) {
  fl_cpu_stats sum{};
  for (const auto& s : per_cpu) {
    sum.lost_records += s.lost_records;
    sum.incomplete += s.incomplete;
    sum.unpaired += s.unpaired;
    sum.summary_full += s.summary_full;
    sum.stack_errors += s.stack_errors;
  }
  // A new field of struct fl_cpu_stats gets a line here (the unit test
  // tests/unit/collector_counters_test.cc checks the count).
  static_assert(sizeof(fl_cpu_stats) == 7 * sizeof(uint64_t));
  return {
      {"lost_records", sum.lost_records},
      {"incomplete", sum.incomplete},
      {"unpaired", sum.unpaired},
      {"summary_full", sum.summary_full},
      {"stack_errors", sum.stack_errors},
  };
}

}  // namespace faultline::collector
