// An event family on the collector side: the BPF programs of one
// bpf/<family>.bpf.c as a probe table (data: hook, program, when it loads,
// what it needs from the kernel), plus the family's own steps around the
// shared phases that BpfSession and the recorder run over every family:
//
//   open      BpfSession::Open: the one skeleton of all families
//   configure Family::Configure (settings, map sizes) and the probe table's
//             autoload decisions (BpfSession::Configure)
//   load      BpfSession::Load: all families at once
//   attach    BpfSession::Attach, stage by stage, probe table order;
//             Family::Start runs between the kFollow and kEvents stages
//             (seed maps from /proc, first samples)
//   drain     the recorder polls the one shared ring buffer;
//             Family::Tick at every flush (about once a second)
//   finish    after detach and the last drain: Family::Finish (what the
//             family keeps in maps rather than in the ring)
//
// A new family is a bpf/<x>.bpf.c, a class here with its table, and one
// line in MakeFamilies() (collector/families.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/faultline.h"
#include "common/error.h"

struct faultline_bpf;

namespace faultline::trace {
class TraceWriter;
}

namespace faultline::collector {

// What `faultline record` asked the kernel side for.
struct BpfSettings {
  bool filter = false;    // only the tgids given to AddTarget (+children)
  bool faults = true;     // fault programs
  bool summary = false;   // aggregate in maps, no per-fault stream
  uint32_t latency_sample = 1;  // --summary: time 1 fault in N (power of 2)
  bool stacks = false;    // user stack ids
  bool mmap_events = true;  // mmap/munmap/... and tlb_flush of targets
  uint32_t ring_bytes = 32u << 20;
  bool tcp = true;        // TCP connection programs (not with --summary)
  uint16_t tcp_port = 0;  // --port: listeners on it and their children
  uint64_t tcp_cgroup = 0;  // --cgroup: cgroup v2 id (its inode number)
};

// How a program is attached.
enum class Hook {
  kTracepoint,     // SEC("tp/<cat>/<name>"): bpf_program__attach
  kRawTracepoint,  // SEC("raw_tp/<name>"): bpf_program__attach
  kPerfEvent,      // SEC("perf_event"): one software perf event per CPU
};

// When a program loads (the others are set_autoload(false)).
enum class When {
  kAlways,
  kFaults,           // --faults (the default)
  kFaultsStreaming,  // --faults without --summary
  kFaultsSummary,    // --faults --summary
  kAddressSpace,     // mmap/tlb events: not with --summary
  kTcp,              // --tcp (the default), not with --summary
};
bool Wanted(When when, const BpfSettings& s);

// What a program needs from the kernel (bits).
enum Need : uint32_t {
  kNeedBtf = 1,         // CO-RE, task storage: /sys/kernel/btf/vmlinux
  kNeedTracefs = 2,     // a tp/ program: tracefs mounted, the event exists
  kNeedPerfEvents = 4,  // perf_event_open of a software event
};

// One row of a family's probe table.
struct Probe {
  const char* program;  // the BPF function name (skeleton program)
  Hook hook;
  // kTracepoint: "<category>:<event>" (checked in tracefs); otherwise the
  // name used in messages ("raw tracepoint page_fault_user",
  // "page-faults-min").
  const char* target;
  uint64_t perf_config;  // kPerfEvent: PERF_COUNT_SW_*
  When when;
  uint32_t needs;  // Need bits
  // A missing hook turns the program off (autoload false) instead of
  // failing the recording.
  bool optional;
};

// Attach stages, in order. Stage kFollow holds the programs that follow the
// target set (fork/exit) and never create task state: they are attached
// before the recorder walks the existing descendants of the -p targets, so
// that no child forked during the walk is missed; every other program is
// attached after the walk (a program that caches "not a target" in a
// thread's state must not run before that thread's process is a target).
enum class Stage { kFollow = 0, kEvents = 1 };

// What the recorder hands each family at the end.
struct FinishContext {
  faultline_bpf* skel = nullptr;
  int ncpus = 0;
  trace::TraceWriter* writer = nullptr;
  // Per-CPU counters read after detaching; nullptr when they could not be
  // read (then the family must not invent counts).
  std::vector<fl_cpu_stats>* stats = nullptr;
  // --summary totals for the closing line.
  uint64_t summary_faults = 0;
  uint64_t summary_timed = 0;
  // Counters a family keeps besides fl_cpu_stats, by name, for the trace
  // footer (FooterData::counters); only when they could be read.
  std::vector<std::pair<std::string, uint64_t>> counters;
  // The TCP family's figures for the closing line (tcp: it ran).
  bool tcp = false;
  bool tcp_known = false;  // the counters below could be read
  uint64_t tcp_opened = 0;
  uint64_t tcp_closed = 0;
};

// What the recorder hands each family between the two attach stages.
struct StartContext {
  faultline_bpf* skel = nullptr;
  trace::TraceWriter* writer = nullptr;
  // Every target process known now (the -p processes or the command, their
  // descendants); empty when the whole machine is traced.
  std::vector<uint32_t> pids;
};

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string_view name() const = 0;
  virtual Stage stage() const { return Stage::kEvents; }
  virtual std::span<const Probe> probes() const = 0;
  // Before load: .rodata settings and map sizes of the family's maps.
  virtual Result<void> Configure(faultline_bpf* /*skel*/,
                                 const BpfSettings& /*s*/) {
    return {};
  }
  // Between the kFollow and kEvents attach stages.
  virtual Result<void> Start(StartContext& /*ctx*/) { return {}; }
  // At every flush of the trace (about once a second), from the drain loop.
  virtual Result<void> Tick(trace::TraceWriter& /*writer*/) { return {}; }
  // After the programs are detached and the ring is drained.
  virtual Result<void> Finish(FinishContext& /*ctx*/) { return {}; }
};

// Every family, in attach order (kFollow families first).
std::vector<std::unique_ptr<Family>> MakeFamilies();

// The families (collector/families.cc, collector/faults_family.cc).
std::unique_ptr<Family> MakeTasksFamily();   // bpf/tasks.bpf.c
std::unique_ptr<Family> MakeMmFamily();      // bpf/mm.bpf.c
std::unique_ptr<Family> MakeFaultsFamily();  // bpf/faults.bpf.c
std::unique_ptr<Family> MakeTcpFamily();     // bpf/tcp.bpf.c

// The OR of the Need bits of the probes `s` loads.
uint32_t NeedsOf(const std::vector<std::unique_ptr<Family>>& families,
                 const BpfSettings& s);

}  // namespace faultline::collector
