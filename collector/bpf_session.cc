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
#include <map>
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

FaultsBpf::FaultsBpf(const BpfSettings& s) : settings_(s) {}

FaultsBpf::~FaultsBpf() { Detach(); }

Result<std::unique_ptr<FaultsBpf>> FaultsBpf::Open(const BpfSettings& s) {
  std::unique_ptr<FaultsBpf> self(new FaultsBpf(s));
  self->ncpus_ = libbpf_num_possible_cpus();
  if (self->ncpus_ <= 0) {
    return std::unexpected(ErrnoError("count possible CPUs", -self->ncpus_));
  }
  self->skel_.reset(faultline_bpf__open());
  if (!self->skel_) {
    return std::unexpected(ErrnoError("open BPF skeleton", errno));
  }
  faultline_bpf* skel = self->skel_.get();
  // Configure: settings before load, so the verifier prunes dead branches.
  skel->rodata->filter_tgid = s.filter;
  skel->rodata->summary_mode = s.summary;
  skel->rodata->with_stacks = s.stacks;
  skel->rodata->latency_sample_mask =
      s.latency_sample > 1 ? s.latency_sample - 1 : 0;
  // The collector's own faults (writing the trace) are not traced.
  skel->rodata->self_tgid = static_cast<uint32_t>(getpid());
  int err = bpf_map__set_max_entries(skel->maps.events, s.ring_bytes);
  if (err) return std::unexpected(ErrnoError("size the ring buffer", err));
  if (!s.stacks) bpf_map__set_max_entries(skel->maps.stacks, 1);
  if (!s.summary) {
    bpf_map__set_max_entries(skel->maps.summary, 1);
    bpf_map__set_max_entries(skel->maps.sum_vals, 1);
    bpf_map__set_max_entries(skel->maps.sum_slots, 1);
    bpf_map__set_max_entries(skel->maps.sum_owner, 1);
  }
  // Fault entry: tracepoints when streaming (they carry the IP), raw
  // tracepoints for --summary (cheaper; docs/benchmarks.md).
  for (bpf_program* p : {skel->progs.handle_page_fault_user,
                         skel->progs.handle_page_fault_kernel}) {
    bpf_program__set_autoload(p, s.faults && !s.summary);
  }
  for (bpf_program* p : {skel->progs.summary_fault_user,
                         skel->progs.summary_fault_kernel}) {
    bpf_program__set_autoload(p, s.faults && s.summary);
  }
  if (!s.faults) {
    for (bpf_program* p :
         {skel->progs.handle_fault_min, skel->progs.handle_fault_maj}) {
      bpf_program__set_autoload(p, false);
    }
  }
  if (!s.mmap_events || s.summary) {
    for (bpf_program* p :
         {skel->progs.handle_enter_mmap, skel->progs.handle_exit_mmap,
          skel->progs.handle_enter_munmap, skel->progs.handle_exit_munmap,
          skel->progs.handle_enter_mremap, skel->progs.handle_exit_mremap,
          skel->progs.handle_enter_brk, skel->progs.handle_exit_brk,
          skel->progs.handle_enter_mprotect, skel->progs.handle_exit_mprotect,
          skel->progs.handle_tlb_flush}) {
      bpf_program__set_autoload(p, false);
    }
  }
  return self;
}

Result<void> FaultsBpf::Load() {
  int err = faultline_bpf__load(skel_.get());
  if (err) {
    return std::unexpected(ErrnoError(
        "load BPF programs", err,
        "run with -v for the verifier log; needs BTF and CAP_BPF"));
  }
  return {};
}

Result<void> FaultsBpf::AddTarget(uint32_t tgid) {
  uint8_t one = 1;
  int err = bpf_map__update_elem(skel_->maps.targets, &tgid, sizeof(tgid),
                                 &one, sizeof(one), BPF_ANY);
  if (err) {
    return std::unexpected(
        ErrnoError("add target " + std::to_string(tgid), err));
  }
  return {};
}

Result<void> FaultsBpf::AttachOne(const char* what, bpf_program* prog) {
  if (!bpf_program__autoload(prog)) return {};
  bpf_link* link = bpf_program__attach(prog);
  if (!link) {
    int err = errno;
    return std::unexpected(
        ErrnoError(std::string("attach ") + what, err,
                   err == ENOENT ? "is tracefs mounted?" : ""));
  }
  links_.emplace_back(link);
  return {};
}

Result<void> FaultsBpf::AttachPerf(bpf_program* prog, uint64_t config,
                                   const char* name) {
  if (!bpf_program__autoload(prog)) return {};
  int attached = 0;
  for (int cpu = 0; cpu < ncpus_; ++cpu) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = config;
    attr.sample_period = 1;
    int fd = static_cast<int>(
        syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // possible but offline CPU
      return std::unexpected(ErrnoError(
          std::string("perf_event_open ") + name + " on CPU " +
              std::to_string(cpu),
          errno, "needs CAP_PERFMON; check /proc/sys/kernel/perf_event_paranoid"));
    }
    PerfEventFd owned(fd);
    bpf_link* link = bpf_program__attach_perf_event(prog, fd);
    if (!link) {
      return std::unexpected(ErrnoError(
          std::string("attach BPF to ") + name + " on CPU " +
              std::to_string(cpu),
          errno));
    }
    links_.emplace_back(link);
    perf_fds_.push_back(std::move(owned));
    ++attached;
  }
  if (attached == 0) {
    return Fail(1, std::string("attach ") + name + ": no online CPU");
  }
  return {};
}

Result<void> FaultsBpf::Attach() {
  faultline_bpf* skel = skel_.get();
  // Task events first so that no child of a target is missed once faults
  // are traced; completions before entries so that the first entries pair.
  struct Tracepoint {
    const char* what;
    bpf_program* prog;
  };
  const Tracepoint tps[] = {
      {"sched_process_fork", skel->progs.handle_fork},
      {"sched_process_exec", skel->progs.handle_exec},
      {"sched_process_exit", skel->progs.handle_exit},
      {"syscalls:sys_enter_mmap", skel->progs.handle_enter_mmap},
      {"syscalls:sys_exit_mmap", skel->progs.handle_exit_mmap},
      {"syscalls:sys_enter_munmap", skel->progs.handle_enter_munmap},
      {"syscalls:sys_exit_munmap", skel->progs.handle_exit_munmap},
      {"syscalls:sys_enter_mremap", skel->progs.handle_enter_mremap},
      {"syscalls:sys_exit_mremap", skel->progs.handle_exit_mremap},
      {"syscalls:sys_enter_brk", skel->progs.handle_enter_brk},
      {"syscalls:sys_exit_brk", skel->progs.handle_exit_brk},
      {"syscalls:sys_enter_mprotect", skel->progs.handle_enter_mprotect},
      {"syscalls:sys_exit_mprotect", skel->progs.handle_exit_mprotect},
      {"tlb:tlb_flush", skel->progs.handle_tlb_flush},
  };
  for (const auto& tp : tps) {
    if (auto r = AttachOne(tp.what, tp.prog); !r) return r;
  }
  if (auto r = AttachPerf(skel->progs.handle_fault_min,
                          PERF_COUNT_SW_PAGE_FAULTS_MIN, "page-faults-min");
      !r) {
    return r;
  }
  if (auto r = AttachPerf(skel->progs.handle_fault_maj,
                          PERF_COUNT_SW_PAGE_FAULTS_MAJ, "page-faults-maj");
      !r) {
    return r;
  }
  // Entries last (streaming's or --summary's; the other pair is not
  // loaded, and AttachOne skips it).
  const Tracepoint entries[] = {
      {"exceptions:page_fault_kernel", skel->progs.handle_page_fault_kernel},
      {"raw tracepoint page_fault_kernel", skel->progs.summary_fault_kernel},
      {"exceptions:page_fault_user", skel->progs.handle_page_fault_user},
      {"raw tracepoint page_fault_user", skel->progs.summary_fault_user},
  };
  for (const auto& tp : entries) {
    if (auto r = AttachOne(tp.what, tp.prog); !r) return r;
  }
  return {};
}

Result<void> FaultsBpf::StartRing(RecordFn fn) {
  record_fn_ = std::move(fn);
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    return static_cast<FaultsBpf*>(ctx)->record_fn_(data, size);
  };
  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), cb, this,
                               nullptr));
  if (!ring_) return std::unexpected(ErrnoError("open ring buffer", errno));
  return {};
}

Result<int> FaultsBpf::Poll(int timeout_ms) {
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

Result<int> FaultsBpf::Consume() {
  if (!ring_) return 0;
  int n = ring_buffer__consume(ring_.get());
  if (n < 0) return std::unexpected(ErrnoError("read ring buffer", -n));
  return n;
}

void FaultsBpf::Detach() {
  // Entry programs first, then completions, then the rest (reverse order).
  while (!links_.empty()) links_.pop_back();
  perf_fds_.clear();
}

std::vector<std::vector<uint8_t>> FaultsBpf::TakePartialBatches() {
  std::vector<std::vector<uint8_t>> out;
  if (!skel_ || settings_.summary) return out;
  std::vector<fl_fault_batch> per_cpu(ncpus_);
  uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.batches, &zero, sizeof(zero),
                           per_cpu.data(),
                           sizeof(fl_fault_batch) * per_cpu.size(), 0)) {
    return out;
  }
  for (int cpu = 0; cpu < ncpus_; ++cpu) {
    fl_fault_batch& b = per_cpu[cpu];
    uint32_t n = b.count;
    if (n == 0 || n >= FL_BATCH) continue;  // FL_BATCH: already sent
    b.hdr.ts_ns = b.faults[0].ts_ns;
    b.hdr.type = FL_EV_FAULT_BATCH;
    b.hdr.cpu = static_cast<uint16_t>(cpu);
    b.hdr.size = static_cast<uint32_t>(offsetof(fl_fault_batch, faults) +
                                       n * sizeof(fl_fault_slim));
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&b);
    out.emplace_back(p, p + b.hdr.size);
  }
  // Zero them so that a second call does not repeat them.
  std::vector<fl_fault_batch> zeros(ncpus_);
  std::memset(zeros.data(), 0, sizeof(fl_fault_batch) * zeros.size());
  bpf_map__update_elem(skel_->maps.batches, &zero, sizeof(zero), zeros.data(),
                       sizeof(fl_fault_batch) * zeros.size(), BPF_ANY);
  return out;
}

std::vector<fl_cpu_stats> FaultsBpf::ReadCpuStats() const {
  std::vector<fl_cpu_stats> out(ncpus_);
  uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.cpu_stats, &zero, sizeof(zero),
                           out.data(), sizeof(fl_cpu_stats) * out.size(),
                           0)) {
    out.assign(ncpus_, fl_cpu_stats{});
  }
  return out;
}

namespace {

void Accumulate(fl_summary_val& sum, const fl_summary_val& v) {
  sum.count += v.count;
  sum.total_ns += v.total_ns;
  if (v.max_ns > sum.max_ns) sum.max_ns = v.max_ns;
  for (int i = 0; i < FL_HIST_BUCKETS; ++i) sum.hist[i] += v.hist[i];
}

}  // namespace

std::vector<std::pair<fl_summary_key, fl_summary_val>> FaultsBpf::ReadSummary()
    const {
  std::vector<std::pair<fl_summary_key, fl_summary_val>> out;
  if (!settings_.summary) return out;
  // (pid, kind) -> sum over CPUs, over the slot rows and the fallback hash
  // (a recycled pid may have several rows).
  std::map<std::pair<uint32_t, uint32_t>, fl_summary_val> merged;
  std::vector<fl_summary_val> vals(ncpus_);

  bpf_map* owners = skel_->maps.sum_owner;
  uint32_t slot = 0, next_slot = 0;
  const void* prev_slot = nullptr;
  while (bpf_map__get_next_key(owners, prev_slot, &next_slot,
                               sizeof(next_slot)) == 0) {
    slot = next_slot;
    prev_slot = &slot;
    uint32_t pid = 0;
    if (bpf_map__lookup_elem(owners, &slot, sizeof(slot), &pid, sizeof(pid),
                             0)) {
      continue;
    }
    for (uint32_t kind = 0; kind < FL_SK_NR; ++kind) {
      uint32_t row = slot * FL_SK_NR + kind;
      if (bpf_map__lookup_elem(skel_->maps.sum_vals, &row, sizeof(row),
                               vals.data(),
                               sizeof(fl_summary_val) * vals.size(), 0)) {
        continue;
      }
      fl_summary_val& sum = merged[{pid, kind}];
      for (const auto& v : vals) Accumulate(sum, v);
    }
  }

  bpf_map* map = skel_->maps.summary;
  fl_summary_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
    key = next;
    prev = &key;
    if (bpf_map__lookup_elem(map, &key, sizeof(key), vals.data(),
                             sizeof(fl_summary_val) * vals.size(), 0)) {
      continue;
    }
    fl_summary_val& sum = merged[{key.pid, key.kind}];
    for (const auto& v : vals) Accumulate(sum, v);
  }
  for (const auto& [k, v] : merged) {
    if (v.count == 0) continue;
    fl_summary_key sk{};
    sk.pid = k.first;
    sk.kind = k.second;
    out.emplace_back(sk, v);
  }
  return out;
}

std::vector<std::pair<int32_t, std::vector<uint64_t>>> FaultsBpf::ReadStacks()
    const {
  std::vector<std::pair<int32_t, std::vector<uint64_t>>> out;
  if (!settings_.stacks) return out;
  bpf_map* map = skel_->maps.stacks;
  size_t depth = bpf_map__value_size(map) / sizeof(uint64_t);
  std::vector<uint64_t> ips(depth);
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
    key = next;
    prev = &key;
    if (bpf_map__lookup_elem(map, &key, sizeof(key), ips.data(),
                             ips.size() * sizeof(uint64_t), 0)) {
      continue;
    }
    size_t n = 0;
    while (n < depth && ips[n] != 0) ++n;
    out.emplace_back(static_cast<int32_t>(key),
                     std::vector<uint64_t>(ips.begin(), ips.begin() + n));
  }
  return out;
}

}  // namespace faultline::collector
