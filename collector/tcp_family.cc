// The TCP connection family (bpf/tcp.bpf.c; records in bpf/faultline.h,
// "TCP connections"; design in docs/collector.md, "TCP"): its probe table,
// its settings (the filter mode, the per-CPU variable distances that let
// the kernel side tell softirq from process context), the listeners of the
// targets seeded from /proc before its programs attach, the
// /proc/net/netstat samples (start, every flush, end) and its counters.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "bpf/tcp_conn.bpf.h"
#include "collector/family.h"
#include "collector/netstat.h"
#include "faultline_bpf.skel.h"
#include "trace/writer.h"

namespace faultline::collector {

namespace {

constexpr uint32_t kTp = kNeedBtf | kNeedTracefs;
constexpr uint32_t kRaw = kNeedBtf;

// Attach order: the end of a connection first, then the middle, then the
// state changes that open entries, then the syscall exits before their
// entries (an exit with no saved entry is ignored; the reverse would leave
// a saved fd without its exit).
constexpr Probe kTcpProbes[] = {
    {"tcp_destroy", Hook::kRawTracepoint, "raw tracepoint tcp_destroy_sock", 0,
     When::kTcp, kRaw, false},
    {"tcp_send_reset", Hook::kRawTracepoint, "raw tracepoint tcp_send_reset", 0,
     When::kTcp, kRaw, false},
    {"tcp_receive_reset", Hook::kRawTracepoint,
     "raw tracepoint tcp_receive_reset", 0, When::kTcp, kRaw, false},
    {"tcp_retransmit", Hook::kRawTracepoint,
     "raw tracepoint tcp_retransmit_skb", 0, When::kTcp, kRaw, false},
    {"tcp_send", Hook::kRawTracepoint, "raw tracepoint sock_send_length", 0,
     When::kTcp, kRaw, false},
    {"tcp_recv", Hook::kRawTracepoint, "raw tracepoint sock_recv_length", 0,
     When::kTcp, kRaw, false},
    {"tcp_state", Hook::kRawTracepoint, "raw tracepoint inet_sock_set_state", 0,
     When::kTcp, kRaw, false},
    {"tcp_exit_accept4", Hook::kTracepoint, "syscalls:sys_exit_accept4", 0,
     When::kTcp, kTp, false},
    {"tcp_exit_accept", Hook::kTracepoint, "syscalls:sys_exit_accept", 0,
     When::kTcp, kTp, false},
    {"tcp_exit_connect", Hook::kTracepoint, "syscalls:sys_exit_connect", 0,
     When::kTcp, kTp, false},
    {"tcp_enter_accept4", Hook::kTracepoint, "syscalls:sys_enter_accept4", 0,
     When::kTcp, kTp, false},
    {"tcp_enter_accept", Hook::kTracepoint, "syscalls:sys_enter_accept", 0,
     When::kTcp, kTp, false},
    {"tcp_enter_connect", Hook::kTracepoint, "syscalls:sys_enter_connect", 0,
     When::kTcp, kTp, false},
};

// Offsets of per-CPU variables in vmlinux BTF's .data..percpu section;
// false when one is missing (the kernel side then reports the context as
// unknown and never uses `current` for a state change).
bool PercpuDistances(int64_t* pc_delta, int64_t* ct_delta) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  int64_t pc = -1, ct = -1, rq = -1;
  const uint32_t n = btf__type_cnt(vmlinux);
  for (uint32_t id = 1; id < n; ++id) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    if (!btf_is_datasec(t) ||
        std::strcmp(btf__name_by_offset(vmlinux, t->name_off), ".data..percpu")) {
      continue;
    }
    const btf_var_secinfo* v = btf_var_secinfos(t);
    for (int k = 0; k < btf_vlen(t); ++k, ++v) {
      const btf_type* var = btf__type_by_id(vmlinux, v->type);
      const char* name = btf__name_by_offset(vmlinux, var->name_off);
      if (!std::strcmp(name, "__preempt_count")) pc = v->offset;
      else if (!std::strcmp(name, "current_task")) ct = v->offset;
      else if (!std::strcmp(name, "runqueues")) rq = v->offset;
    }
    break;
  }
  btf__free(vmlinux);
  if (pc < 0 || ct < 0 || rq < 0) return false;
  *pc_delta = pc - rq;
  *ct_delta = ct - rq;
  return *pc_delta != 0;
}

class TcpFamily : public Family {
 public:
  std::string_view name() const override { return "tcp"; }
  std::span<const Probe> probes() const override { return kTcpProbes; }

  Result<void> Configure(faultline_bpf* skel, const BpfSettings& s) override {
    on_ = Wanted(When::kTcp, s);
    port_ = s.tcp_port;
    if (!on_) {
      // Maps of programs that do not load: one entry, not megabytes.
      bpf_map__set_max_entries(skel->maps.tcp_conns, 1);
      bpf_map__set_max_entries(skel->maps.tcp_tombs, 1);
      bpf_map__set_max_entries(skel->maps.tcp_listeners, 1);
      return {};
    }
    skel->rodata->tcp_all = !s.filter && !s.tcp_port && !s.tcp_cgroup;
    skel->rodata->tcp_port = s.tcp_port;
    skel->rodata->tcp_cgroup = s.tcp_cgroup;
    int64_t pc = 0, ct = 0;
    if (PercpuDistances(&pc, &ct)) {
      skel->rodata->tcp_pc_delta = pc;
      skel->rodata->tcp_ct_delta = ct;
    }
    return {};
  }

  // The targets' listening ports (and --port) are traced listeners from
  // the start: their first children are not missed. The first sample.
  Result<void> Start(StartContext& ctx) override {
    if (!on_) return {};
    std::set<uint16_t> ports = ListeningPorts(ctx.pids);
    if (port_) ports.insert(port_);
    for (uint16_t port : ports) {
      uint64_t no_sk = 0;  // the sock is learnt at the first accept
      int err = bpf_map__update_elem(ctx.skel->maps.tcp_listeners, &port,
                                     sizeof(port), &no_sk, sizeof(no_sk),
                                     BPF_NOEXIST);
      if (err && err != -EEXIST) {
        return std::unexpected(
            ErrnoError("seed listening port " + std::to_string(port), -err));
      }
    }
    return Sample(*ctx.writer, FL_NETSTAT_START);
  }

  Result<void> Tick(trace::TraceWriter& writer) override {
    if (!on_) return {};
    return Sample(writer, FL_NETSTAT_PERIODIC);
  }

  Result<void> Finish(FinishContext& ctx) override {
    if (!on_) return {};
    if (auto r = Sample(*ctx.writer, FL_NETSTAT_END); !r) return r;
    if (auto r = OpenTotals(ctx); !r) return r;
    // The samples are events of the trace like the kernel's: counted as
    // recorded on CPU 0 (hdr.cpu), so that the trace's event count stays
    // the footer's recorded count.
    if (ctx.stats && !ctx.stats->empty()) {
      (*ctx.stats)[0].recorded_events += samples_ + open_totals_;
    }
    ctx.tcp = true;
    std::vector<fl_tcp_cpu_stats> per_cpu(ctx.ncpus);
    uint32_t zero = 0;
    if (bpf_map__lookup_elem(ctx.skel->maps.tcp_stats, &zero, sizeof(zero),
                             per_cpu.data(),
                             sizeof(fl_tcp_cpu_stats) * per_cpu.size(), 0)) {
      return {};  // unknown: no counters rather than zeros
    }
    fl_tcp_cpu_stats sum{};
    for (const auto& c : per_cpu) {
      sum.conns_full += c.conns_full;
      sum.ctx_unknown += c.ctx_unknown;
      sum.opened += c.opened;
      sum.closed += c.closed;
    }
    // A new field of struct fl_tcp_cpu_stats gets a line here.
    static_assert(sizeof(fl_tcp_cpu_stats) == 4 * sizeof(uint64_t));
    ctx.counters.emplace_back("tcp_conns_full", sum.conns_full);
    ctx.counters.emplace_back("tcp_ctx_unknown", sum.ctx_unknown);
    ctx.counters.emplace_back("tcp_opened", sum.opened);
    ctx.counters.emplace_back("tcp_closed", sum.closed);
    ctx.tcp_known = true;
    ctx.tcp_opened = sum.opened;
    ctx.tcp_closed = sum.closed;
    return {};
  }

 private:
  // One FL_EV_TCP_NETSTAT record now (nothing when /proc/net/netstat is
  // unreadable: the report then says the overflow count is unknown).
  Result<void> Sample(trace::TraceWriter& writer, uint32_t phase) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    auto n = ReadNetstat(static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
                             static_cast<uint64_t>(ts.tv_nsec),
                         phase);
    if (!n) return {};
    if (auto r = writer.AddRecord(&*n, sizeof(*n)); !r) return r;
    ++samples_;
    return {};
  }

  // The byte totals of the connections still open: the kernel side sums
  // bytes in its map and writes them only at tcp_destroy_sock
  // (FL_EV_TCP_CLOSE) or when the serving thread changes (FL_EV_TCP_SERVE).
  // After detach and the last drain, one FL_EV_TCP_SERVE per open
  // connection that did I/O: the current totals, tid = prev_tid = the last
  // I/O thread, len 0, ts now (the end), hdr.cpu 0. The analysis adds the
  // difference to the thread serving it, as at any serve of the same tid.
  Result<void> OpenTotals(FinishContext& ctx) {
    bpf_map* map = ctx.skel->maps.tcp_conns;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const uint64_t ts = static_cast<uint64_t>(now.tv_sec) * 1000000000ull +
                        static_cast<uint64_t>(now.tv_nsec);
    uint64_t key = 0;
    const uint64_t* prev = nullptr;
    while (bpf_map__get_next_key(map, prev, &key, sizeof(key)) == 0) {
      prev = &key;
      fl_conn c;
      if (bpf_map__lookup_elem(map, &key, sizeof(key), &c, sizeof(c), 0)) {
        continue;  // gone meanwhile (nothing runs now: not expected)
      }
      if (c.listener || c.last_tid == 0) continue;  // no bytes to add
      fl_tcp_serve e{};
      e.hdr.ts_ns = ts;
      e.hdr.type = FL_EV_TCP_SERVE;
      e.hdr.cpu = 0;
      e.hdr.size = sizeof(e);
      e.sk = key;
      e.gen = c.gen;
      e.bytes_in = c.bytes_in;
      e.bytes_out = c.bytes_out;
      e.pid = ThreadGroup(c.last_tid, c.pid);
      e.tid = c.last_tid;
      e.prev_tid = c.last_tid;
      e.len = 0;
      e.send = 0;
      if (auto r = ctx.writer->AddRecord(&e, sizeof(e)); !r) return r;
      ++open_totals_;
    }
    return {};
  }

  // The process of thread `tid` (/proc/<tid>/status Tgid), `fallback` (the
  // socket's owner) when the thread is gone.
  static uint32_t ThreadGroup(uint32_t tid, uint32_t fallback) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("Tgid:")) {
        uint32_t tgid = 0;
        if (std::sscanf(line.c_str() + 5, "%u", &tgid) == 1 && tgid) {
          return tgid;
        }
        break;
      }
    }
    return fallback;
  }

  bool on_ = false;
  uint64_t samples_ = 0;  // FL_EV_TCP_NETSTAT records written
  uint64_t open_totals_ = 0;  // FL_EV_TCP_SERVE records written at the end
  uint16_t port_ = 0;
};

}  // namespace

std::unique_ptr<Family> MakeTcpFamily() { return std::make_unique<TcpFamily>(); }

}  // namespace faultline::collector
