// The probe tables (collector/family.h) against the BPF skeleton they
// describe: every program of the skeleton is in exactly one family's table,
// each row's hook matches the program's section, and the load conditions
// pick the same programs per mode as before the split. Opening a skeleton
// parses the embedded object only: no privileges needed.
#include <bpf/libbpf.h>

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "collector/family.h"
#include "faultline_bpf.skel.h"

namespace faultline::collector {
namespace {

struct SkelCloser {
  void operator()(faultline_bpf* s) const { faultline_bpf__destroy(s); }
};

TEST(CollectorFamily, EveryProgramInExactlyOneTable) {
  std::unique_ptr<faultline_bpf, SkelCloser> skel(faultline_bpf__open());
  ASSERT_TRUE(skel) << "open the BPF skeleton";
  std::map<std::string, std::string> owner;  // program -> family
  for (const auto& f : MakeFamilies()) {
    for (const Probe& p : f->probes()) {
      EXPECT_TRUE(owner.emplace(p.program, std::string(f->name())).second)
          << p.program << " is in two tables";
      bpf_program* prog =
          bpf_object__find_program_by_name(skel->obj, p.program);
      ASSERT_NE(prog, nullptr) << p.program << " is not in the skeleton";
      std::string sec = bpf_program__section_name(prog);
      std::string target = p.target;
      switch (p.hook) {
        case Hook::kTracepoint: {
          // SEC("tp/cat/name") <-> "cat:name"
          std::string want = target;
          want[want.find(':')] = '/';
          EXPECT_EQ(sec, "tp/" + want) << p.program;
          EXPECT_TRUE(p.needs & kNeedTracefs) << p.program;
          break;
        }
        case Hook::kRawTracepoint:
          ASSERT_EQ(sec.rfind("raw_tp/", 0), 0u) << p.program << ": " << sec;
          EXPECT_NE(target.find(sec.substr(7)), std::string::npos)
              << p.program << ": " << sec << " vs " << target;
          EXPECT_FALSE(p.needs & kNeedTracefs) << p.program;
          break;
        case Hook::kPerfEvent:
          EXPECT_EQ(sec, "perf_event") << p.program;
          EXPECT_TRUE(p.needs & kNeedPerfEvents) << p.program;
          break;
      }
      EXPECT_TRUE(p.needs & kNeedBtf) << p.program;
    }
  }
  bpf_program* prog;
  int n = 0;
  bpf_object__for_each_program(prog, skel->obj) {
    ++n;
    EXPECT_TRUE(owner.count(bpf_program__name(prog)))
        << bpf_program__name(prog) << " is in no family's table";
  }
  EXPECT_EQ(n, static_cast<int>(owner.size()));
}

// The families share one ring, one set of counters and one target set: the
// static linker merged the headers' weak definitions into one map each.
TEST(CollectorFamily, OneSkeletonWithSharedMaps) {
  std::unique_ptr<faultline_bpf, SkelCloser> skel(faultline_bpf__open());
  ASSERT_TRUE(skel);
  std::map<std::string, int> maps;
  bpf_map* m;
  bpf_object__for_each_map(m, skel->obj) ++maps[bpf_map__name(m)];
  for (const char* shared : {"events", "cpu_stats", "targets", "tstate"}) {
    EXPECT_EQ(maps[shared], 1) << shared;
  }
  for (const auto& [name, n] : maps) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(bpf_map__type(skel->maps.events), BPF_MAP_TYPE_RINGBUF);
  // Programs of three source files in the one object.
  EXPECT_NE(bpf_object__find_program_by_name(skel->obj, "handle_fork"),
            nullptr);  // tasks.bpf.c
  EXPECT_NE(bpf_object__find_program_by_name(skel->obj, "handle_exit_mmap"),
            nullptr);  // mm.bpf.c
  EXPECT_NE(bpf_object__find_program_by_name(skel->obj, "handle_fault_min"),
            nullptr);  // faults.bpf.c
  EXPECT_NE(bpf_object__find_program_by_name(skel->obj, "tcp_state"),
            nullptr);  // tcp.bpf.c
}

// Programs that load for `s`.
std::set<std::string> Loaded(const BpfSettings& s) {
  std::set<std::string> out;
  for (const auto& f : MakeFamilies()) {
    for (const Probe& p : f->probes()) {
      if (Wanted(p.when, s)) out.insert(p.program);
    }
  }
  return out;
}

TEST(CollectorFamily, ModesLoadTheirPrograms) {
  BpfSettings stream;
  std::set<std::string> st = Loaded(stream);
  EXPECT_TRUE(st.count("handle_page_fault_user"));
  EXPECT_TRUE(st.count("handle_page_fault_kernel"));
  EXPECT_TRUE(st.count("handle_fault_min"));
  EXPECT_TRUE(st.count("handle_exit_mmap"));
  EXPECT_TRUE(st.count("handle_tlb_flush"));
  EXPECT_TRUE(st.count("handle_fork"));
  EXPECT_FALSE(st.count("summary_fault_user"));
  // TCP is on by default: 7 raw tracepoints, 6 syscall tracepoints.
  for (const char* p : {"tcp_state", "tcp_send", "tcp_recv", "tcp_destroy",
                        "tcp_send_reset", "tcp_receive_reset",
                        "tcp_retransmit", "tcp_enter_accept4",
                        "tcp_exit_accept4", "tcp_enter_accept",
                        "tcp_exit_accept", "tcp_enter_connect",
                        "tcp_exit_connect"}) {
    EXPECT_TRUE(st.count(p)) << p;
  }
  EXPECT_EQ(st.size(), 18u + 13u);

  BpfSettings no_tcp;
  no_tcp.tcp = false;
  std::set<std::string> nt = Loaded(no_tcp);
  EXPECT_FALSE(nt.count("tcp_state"));
  EXPECT_EQ(nt.size(), 18u);

  BpfSettings summary;
  summary.summary = true;
  std::set<std::string> su = Loaded(summary);
  EXPECT_TRUE(su.count("summary_fault_user"));
  EXPECT_TRUE(su.count("summary_fault_kernel"));
  EXPECT_TRUE(su.count("handle_fault_maj"));
  EXPECT_FALSE(su.count("handle_page_fault_user"));
  EXPECT_FALSE(su.count("handle_exit_mmap"));  // no address space events
  EXPECT_FALSE(su.count("tcp_state"));         // no TCP events
  EXPECT_EQ(su.size(), 7u);  // fork, exec, exit, min, maj, 2 entries

  BpfSettings none;
  none.faults = false;
  std::set<std::string> no = Loaded(none);
  EXPECT_FALSE(no.count("handle_fault_min"));
  EXPECT_FALSE(no.count("handle_page_fault_user"));
  EXPECT_TRUE(no.count("handle_exec"));
  EXPECT_TRUE(no.count("handle_enter_munmap"));
}

TEST(CollectorFamily, NeedsFollowTheMode) {
  auto families = MakeFamilies();
  BpfSettings stream;
  EXPECT_EQ(NeedsOf(families, stream),
            kNeedBtf | kNeedTracefs | kNeedPerfEvents);
  // --summary enters on raw tracepoints and has no syscall programs.
  BpfSettings summary;
  summary.summary = true;
  EXPECT_EQ(NeedsOf(families, summary), kNeedBtf | kNeedPerfEvents);
}

TEST(CollectorFamily, OnlyTheTaskFamilyAttachesBeforeTheTargetWalk) {
  for (const auto& f : MakeFamilies()) {
    EXPECT_EQ(f->stage() == Stage::kFollow, f->name() == "tasks") << f->name();
  }
  // Stages come in order in the list (attach order).
  auto families = MakeFamilies();
  EXPECT_EQ(families.front()->stage(), Stage::kFollow);
  EXPECT_EQ(families.back()->name(), "faults");
}

}  // namespace
}  // namespace faultline::collector
