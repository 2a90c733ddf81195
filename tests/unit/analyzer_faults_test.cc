// FaultAnalysis end to end: a trace written with the real writer (snapshot,
// address-space events, forks, faults of every kind, TLB flushes, footer)
// is read and analysed; the JSON numbers must match what was written.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <string>
#include <vector>

#include "analyzer/analysis.h"
#include "analyzer/render_json.h"
#include "analyzer/synthetic.h"
#include "trace/reader.h"
#include "trace/writer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/trace_builder.h"

namespace faultline::analyzer {
namespace {

using Json = nlohmann::ordered_json;

using ::faultline::testing::TempDir;

constexpr uint32_t kPid = 500, kChild = 600;
constexpr uint64_t kHeap = 0x00600000, kAnon = 0x7f0000000000,
                   kLib = 0x7f1000000000, kStack = 0x7ffff0000000,
                   kText = 0x400000;

class Builder {
 public:
  explicit Builder(trace::TraceWriter& w) : w_(w) {}
  // Faults go into a per-CPU batch, sent when full or before that CPU's
  // munmap/mremap/brk/mprotect/fork/exec/exit record, and at the end
  // (Flush), as the kernel and the collector do: FL_EV_FAULT_BATCH only.
  void Fault(uint32_t pid, uint32_t tid, uint64_t addr, uint16_t ec,
             uint8_t outcome, uint32_t lat, uint8_t flags = 0,
             uint64_t ip = kText + 0x10, uint16_t cpu = 0) {
    ts_ += 1000;
    fl_fault_slim f = ::faultline::testing::FaultBatcher::Zeroed();
    f.ts_ns = ts_;
    f.address = addr;
    f.ip = ip;
    f.pid = pid;
    f.tid = tid;
    f.latency_ns = outcome == FL_FAULT_INCOMPLETE ? 0 : lat;
    f.stack_id = -1;
    f.error_code = ec;
    f.outcome = outcome;
    f.flags = flags;
    faults_.Add(cpu, f);
  }
  void SendBatch(uint16_t cpu) { faults_.Send(cpu); }
  // The collector's last step: the partial batches left in the map.
  void Flush() { faults_.Flush(); }
  void Mmap(uint16_t type, uint32_t pid, uint64_t start, uint64_t len,
            uint32_t prot, uint32_t flags, int fd, const char* path,
            uint64_t pgoff = 0, uint64_t aux = 0) {
    if (type != FL_EV_MMAP) SendBatch(0);
    fl_mmap m;
    std::memset(&m, 0, sizeof m);
    ts_ += 1000;
    m.hdr = {ts_, type, 0, sizeof m};
    m.start = start;
    m.len = len;
    m.pgoff = pgoff;
    m.aux = aux;
    m.pid = pid;
    m.tid = pid;
    m.prot = prot;
    m.flags = flags;
    m.fd = fd;
    std::strncpy(m.path, path, sizeof m.path - 1);
    ASSERT_TRUE(w_.AddRecord(&m, sizeof m));
  }
  void Task(uint16_t type, uint32_t pid, uint32_t tid, uint32_t ppid,
            uint32_t is_thread, const char* comm, const char* path = "") {
    SendBatch(0);
    fl_task t;
    std::memset(&t, 0, sizeof t);
    ts_ += 1000;
    t.hdr = {ts_, type, 0, sizeof t};
    t.pid = pid;
    t.tid = tid;
    t.parent_pid = ppid;
    t.parent_tid = ppid;
    t.is_thread = is_thread;
    std::strncpy(t.comm, comm, sizeof t.comm);
    std::strncpy(t.path, path, sizeof t.path - 1);
    ASSERT_TRUE(w_.AddRecord(&t, sizeof t));
  }
  void SetTime(uint64_t ts) { ts_ = ts; }
  // reason: enum tlb_flush_reason (4 = TLB_REMOTE_SEND_IPI).
  void Tlb(uint32_t pid, uint64_t pages, int32_t reason = 4) {
    fl_tlb t;
    std::memset(&t, 0, sizeof t);
    ts_ += 1000;
    t.hdr = {ts_, FL_EV_TLB_FLUSH, 0, sizeof t};
    t.pid = pid;
    t.tid = pid;
    t.reason = reason;
    t.pages = pages;
    ASSERT_TRUE(w_.AddRecord(&t, sizeof t));
  }

 private:
  trace::TraceWriter& w_;
  uint64_t ts_ = 1000000;
  ::faultline::testing::FaultBatcher faults_{w_};
};

constexpr uint16_t U = FL_PF_USER, W = FL_PF_WRITE, P = FL_PF_PROT;
constexpr uint8_t kMin = FL_FAULT_MINOR, kMaj = FL_FAULT_MAJOR,
                  kInc = FL_FAULT_INCOMPLETE;

Json Analyse(const std::string& path, SessionOptions so = {}) {
  auto r = trace::TraceReader::Open(path);
  EXPECT_TRUE(r.has_value());
  auto m = AnalyzeTrace(**r, nullptr, nullptr, {}, so);
  EXPECT_TRUE(m.has_value());
  return ToJson(*m);
}

class AnalyzerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("t.flt");
    trace::TraceMeta meta;
    meta.kernel_release = "6.1.0-test";
    meta.hostname = "h";
    meta.start_monotonic_ns = 1000000;
    meta.ncpus = 2;
    auto w = trace::TraceWriter::Create(path_, meta);
    ASSERT_TRUE(w.has_value());
    w_ = std::move(*w);
    b_ = std::make_unique<Builder>(*w_);
    // The /proc/PID/maps snapshot.
    ASSERT_TRUE(w_->AddProcess(kPid, 1, "app", "/usr/bin/app"));
    ASSERT_TRUE(w_->AddThread(kPid, kPid, "app"));
    ASSERT_TRUE(w_->AddThread(kPid, kPid + 1, "app-worker"));
    ASSERT_TRUE(w_->AddMapping(kPid, kText, kText + 0x1000, 0, 5, "/usr/bin/app", 0));
    ASSERT_TRUE(w_->AddMapping(kPid, kHeap, kHeap + 0x21000, 0, 3, "[heap]", 0));
    ASSERT_TRUE(w_->AddMapping(kPid, kLib, kLib + 0x10000, 0x2000, 1,
                               "/usr/lib/libdata.so", 0));
    ASSERT_TRUE(w_->AddMapping(kPid, kStack, kStack + 0x21000, 0, 3, "[stack]", 0));
  }
  Json Finish(std::vector<trace::CpuCounts> counts = {{100, 2}, {50, 5}}) {
    b_->Flush();
    EXPECT_TRUE(w_->Finish(counts));
    return Analyse(path_);
  }
  TempDir dir_;
  std::string path_;
  std::unique_ptr<trace::TraceWriter> w_;
  std::unique_ptr<Builder> b_;
};

TEST_F(AnalyzerTest, EveryKindCountedAndAttributed) {
  Builder& b = *b_;
  // An anonymous mmap, touched 4 times by the main thread, once from the
  // kernel (read() into the buffer).
  b.Mmap(FL_EV_MMAP, kPid, kAnon, 0x10000, 3, 0x22, -1, "");
  for (int i = 0; i < 4; ++i) b.Fault(kPid, kPid, kAnon + i * 4096, U | W, kMin, 1000);
  b.Fault(kPid, kPid + 1, kAnon + 0x8000, W, kMin, 3000, FL_FAULT_F_KERNEL, 0xffffffff81000000);
  // Heap (snapshot) 2, then brk grows the heap and 1 more above the old end.
  b.Fault(kPid, kPid, kHeap, U | W, kMin, 500);
  b.Fault(kPid, kPid, kHeap + 0x1000, U | W, kMin, 500);
  b.Mmap(FL_EV_BRK, kPid, kHeap, 0x40000, 0, 0, -1, "");
  b.Fault(kPid, kPid, kHeap + 0x30000, U | W, kMin, 500);
  // File: 1 minor, 1 major (slow).
  b.Fault(kPid, kPid + 1, kLib, U, kMin, 800);
  b.Fault(kPid, kPid + 1, kLib + 0x1000, U, kMaj, 90000);
  // Stack inside, and just below it (growth).
  b.Fault(kPid, kPid, kStack + 0x20000, U | W, kMin, 700);
  b.Fault(kPid, kPid, kStack - 0x3000, U | W, kMin, 700);
  // Swap-in of anon.
  b.Fault(kPid, kPid, kAnon + 0x1000, U, kMaj, 50000);
  // mprotect to read-only, then a write: SIGSEGV.
  b.Mmap(FL_EV_MPROTECT, kPid, kAnon, 0x10000, 1, 0, -1, "");
  b.Fault(kPid, kPid, kAnon + 0x2000, U | W | P, kInc, 0);
  // munmap, then a touch: SIGSEGV on no mapping.
  b.Mmap(FL_EV_MUNMAP, kPid, kAnon, 0x10000, 0, 0, -1, "");
  b.Fault(kPid, kPid, kAnon + 0x3000, U, kInc, 0);
  // mremap of the file mapping elsewhere; a fault at the new place is file.
  b.Mmap(FL_EV_MREMAP, kPid, kLib, 0x10000, 0, 0, -1, "", 0x7f2000000000, 0x20000);
  b.Fault(kPid, kPid, 0x7f2000018000, U, kMin, 800);
  b.Fault(kPid, kPid, kLib, U, kInc, 0);  // the old place is gone
  // A huge-page mapping.
  b.Mmap(FL_EV_MMAP, kPid, 0x7f4000000000, 0x400000, 3, 0x40022, -1, "");
  b.Fault(kPid, kPid, 0x7f4000000000, U | W, kMin, 40000);
  // fork: the child inherits the heap; its write to it is copy-on-write.
  b.Task(FL_EV_FORK, kChild, kChild, kPid, 0, "app-child");
  b.Fault(kChild, kChild, kHeap + 0x2000, U | W | P, kMin, 2500);
  b.Fault(kChild, kChild, kHeap + 0x3000, U | W | P, kMin, 2500);
  // exec in the child: its old mappings are gone.
  b.Task(FL_EV_EXEC, kChild, kChild, 0, 0, "true", "/bin/true");
  b.Fault(kChild, kChild, kHeap + 0x4000, U | W, kMin, 100);  // unknown now
  b.Tlb(kPid, 3);
  b.Tlb(kPid, 5);
  b.Tlb(kChild, ~0ull);

  Json j = Finish();
  const Json& f = j["faults"];
  EXPECT_EQ(f["total"], 21);
  EXPECT_EQ(f["incomplete"], 3);
  EXPECT_EQ(f["major"], 2);
  EXPECT_EQ(f["minor"], 16);
  EXPECT_EQ(f["kernel_mode"], 1);
  EXPECT_EQ(f["user_mode"], 20);
  const Json& k = f["by_kind"];
  EXPECT_EQ(k["anon_first_touch"], 5);
  EXPECT_EQ(k["heap"], 3);
  EXPECT_EQ(k["file"], 3);
  EXPECT_EQ(k["stack"], 2);
  EXPECT_EQ(k["swap_in"], 1);
  EXPECT_EQ(k["permission"], 3);
  EXPECT_EQ(k["huge_page"], 1);
  EXPECT_EQ(k["cow"], 2);
  EXPECT_EQ(k["other"], 1);
  uint64_t sum = 0;
  for (const auto& [name, n] : k.items()) sum += n.get<uint64_t>();
  EXPECT_EQ(sum, 21u) << "kinds are a partition";

  // Latency covers completed faults only.
  EXPECT_EQ(f["latency_ns"]["count"], 18);
  EXPECT_EQ(f["latency_ns"]["max"], 90000);
  EXPECT_EQ(f["latency_by_kind_ns"]["file"]["max"], 90000);

  // Trace: events and the footer's lost counts.
  EXPECT_EQ(j["trace"]["events"], 21 + 6 + 2 + 3);
  EXPECT_EQ(j["trace"]["lost_events"], 7);
  EXPECT_EQ(j["trace"]["kernel"], "6.1.0-test");

  // Processes, largest fault time first; threads inside.
  const Json& procs = f["processes"];
  ASSERT_EQ(procs.size(), 2u);
  EXPECT_EQ(procs[0]["pid"], kPid);
  EXPECT_EQ(procs[0]["comm"], "app");
  EXPECT_EQ(procs[0]["major"], 2);
  EXPECT_EQ(procs[0]["by_kind"]["heap"], 3);
  EXPECT_EQ(procs[1]["pid"], kChild);
  EXPECT_EQ(procs[1]["comm"], "true");
  EXPECT_EQ(procs[1]["by_kind"]["cow"], 2);
  const Json& threads = procs[0]["threads"];
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[0]["tid"], kPid);
  EXPECT_EQ(threads[0]["fault_ns"], 97700);
  EXPECT_EQ(threads[1]["tid"], kPid + 1);  // 3000 + 800 + 90000 ns
  EXPECT_EQ(threads[1]["comm"], "app-worker");
  EXPECT_EQ(threads[1]["fault_ns"], 93800);

  // Mappings by cost.
  const Json& maps = f["mappings"];
  ASSERT_GE(maps.size(), 3u);
  // [anon]: 4 x 1000 + 3000 (kernel) + 50000 (swap-in) + 40000 (huge).
  EXPECT_EQ(maps[0]["name"], "[anon]");
  EXPECT_EQ(maps[0]["fault_ns"], 97000);
  // The file keeps its name across mremap: 800 + 90000 + 800.
  EXPECT_EQ(maps[1]["name"], "/usr/lib/libdata.so");
  EXPECT_EQ(maps[1]["fault_ns"], 91600);
  for (size_t i = 1; i < maps.size(); ++i) {
    EXPECT_GE(maps[i - 1]["fault_ns"].get<uint64_t>(), maps[i]["fault_ns"].get<uint64_t>());
  }
  // Sites: user IPs in /usr/bin/app at file offset 0x10 (unresolvable here),
  // the kernel-mode fault as [kernel].
  const Json& sites = f["sites"];
  bool saw_app = false, saw_kernel = false;
  for (const Json& s : sites) {
    if (s["symbol"] == "/usr/bin/app+0x10" && s["pid"] == kPid) saw_app = true;
    if (s["symbol"] == "[kernel]") {
      saw_kernel = true;
      EXPECT_EQ(s["faults"], 1);
    }
  }
  EXPECT_TRUE(saw_app);
  EXPECT_TRUE(saw_kernel);
  // TLB shootdowns.
  const Json& tlb = f["tlb_shootdowns"];
  ASSERT_EQ(tlb.size(), 2u);
  EXPECT_EQ(tlb[0]["pid"], kPid);
  EXPECT_EQ(tlb[0]["count"], 2);
  EXPECT_EQ(tlb[0]["pages"], 8);
  EXPECT_EQ(tlb[1]["full_flushes"], 1);
}

TEST_F(AnalyzerTest, SnapshotWrittenAfterEarlierEventsOfTheSameFlushWins) {
  // What the collector does for `record -- CMD`: the exec event, ld.so's
  // first faults and mmaps, then a /proc maps snapshot taken a little later
  // (after ld.so mprotect-ed its RELRO page read-only), all in one flush:
  // the writer puts the snapshot's metadata block first.
  constexpr uint32_t kNew = 700;
  constexpr uint64_t kLd = 0x7f5000000000, kData = 0x7f6000000000;
  Builder& b = *b_;
  b.SetTime(2000000);
  b.Task(FL_EV_EXEC, kNew, kNew, 0, 0, "newprog", "/usr/bin/newprog");
  // Relocation writes to ld.so's data: private file pages copied.
  b.Fault(kNew, kNew, kLd + 0x10, U | W, kMin, 2000);
  b.Fault(kNew, kNew, kLd + 0x1010, U | W | P, kMin, 2000);
  // A mapping made and unmapped again, then mapped anew, before the snapshot.
  b.Mmap(FL_EV_MMAP, kNew, kData, 0x4000, 1, 0x02, 3, "/data/old");
  b.Mmap(FL_EV_MUNMAP, kNew, kData, 0x4000, 0, 0, -1, "");
  // A short-lived mapping the snapshot never saw (ld.so.cache): its fault
  // still finds it.
  b.Mmap(FL_EV_MMAP, kNew, 0x7f7000000000, 0x2000, 1, 0x02, 3, "/etc/ld.so.cache");
  b.Fault(kNew, kNew, 0x7f7000000000, U, kMin, 900);
  b.Mmap(FL_EV_MUNMAP, kNew, 0x7f7000000000, 0x2000, 0, 0, -1, "");
  ASSERT_TRUE(w_->AddMapping(kNew, kLd, kLd + 0x2000, 0x30000, 1,
                             "/usr/lib/ld-linux-x86-64.so.2", 5000000));
  ASSERT_TRUE(w_->AddMapping(kNew, kData, kData + 0x4000, 0, 1, "/data/new", 5000000));
  b.SetTime(6000000);
  b.Fault(kNew, kNew, kData, U, kMin, 700);
  b.Fault(kNew, kNew, kLd + 0x20, U | W, kInc, 0);  // now really read-only
  b.Fault(kNew, kNew, 0x7f7000001000, U, kInc, 0);  // ld.so.cache is gone
  Json j = Finish();
  const Json& f = j["faults"];
  EXPECT_EQ(f["total"], 6);
  EXPECT_EQ(f["by_kind"]["cow"], 2);
  EXPECT_EQ(f["by_kind"]["file"], 2);
  EXPECT_EQ(f["by_kind"]["permission"], 2);
  EXPECT_EQ(f["by_kind"]["other"], 0);
  bool saw_new = false, saw_cache = false, saw_old = false;
  for (const Json& m : f["mappings"]) {
    saw_new |= m["name"] == "/data/new";
    saw_cache |= m["name"] == "/etc/ld.so.cache";
    saw_old |= m["name"] == "/data/old";
  }
  EXPECT_TRUE(saw_new);
  EXPECT_TRUE(saw_cache);
  EXPECT_FALSE(saw_old);
}

// A fault that reaches the trace after the munmap of its page (it waited
// in CPU 1's partial batch, which the collector writes at the end, while
// its thread went on to munmap on CPU 0) but happened before it is booked
// on the unmapped mapping; a fault after the munmap is not. With the
// reorder window it is simply delivered before the munmap; without one
// (window 0: file order) it arrives late and the retired mapping is found.
TEST_F(AnalyzerTest, LateFaultFindsTheMappingUnmappedAfterIt) {
  Builder& b = *b_;
  b.Mmap(FL_EV_MMAP, kPid, kAnon, 0x10000, 3, 0x22, -1, "");  // ts 1001000
  b.SetTime(1005000);
  b.Fault(kPid, kPid, kAnon + 0x2000, U | W, kMin, 1000, 0, kText + 0x10,
          1);  // ts 1006000 on CPU 1: reaches the file last
  b.SetTime(1010000);
  b.Mmap(FL_EV_MUNMAP, kPid, kAnon, 0x10000, 0, 0, -1, "");  // ts 1011000
  b.SetTime(1020000);
  b.Fault(kPid, kPid, kAnon + 0x3000, U | W, kInc, 0);  // after: SIGSEGV
  b_->Flush();
  ASSERT_TRUE(w_->Finish(std::vector<trace::CpuCounts>{{2, 0}, {1, 0}}));
  SessionOptions file_order;
  file_order.window_ns = 0;
  file_order.max_pending = 1;
  for (const SessionOptions& so : {SessionOptions{}, file_order}) {
    Json j = Analyse(path_, so);
    const Json& f = j["faults"];
    EXPECT_EQ(f["by_kind"]["anon_first_touch"], 1);
    EXPECT_EQ(f["by_kind"]["permission"], 1);
    bool anon = false, unknown = false;
    for (const Json& m : f["mappings"]) {
      anon |= m["name"] == "[anon]" && m["faults"] == 1;
      unknown |= m["name"] == "[unknown]" && m["faults"] == 1;
    }
    EXPECT_TRUE(anon);
    EXPECT_TRUE(unknown);
    EXPECT_EQ(j["trace"]["late_events"], so.window_ns == 0 ? 1 : 0);
  }
}

// The case the retired mappings cannot mend and the reorder window does:
// the address is mapped anew (a file) before the late fault reaches the
// trace. In time order the fault meets the anonymous mapping it hit; in
// file order it would be booked on the file.
TEST_F(AnalyzerTest, ReorderWindowBooksAFaultOnTheMappingOfItsTime) {
  Builder& b = *b_;
  b.Mmap(FL_EV_MMAP, kPid, kAnon, 0x10000, 3, 0x22, -1, "");
  b.Fault(kPid, kPid + 1, kAnon, U, kMin, 1000, 0, kText + 0x10, 1);
  b.Mmap(FL_EV_MUNMAP, kPid, kAnon, 0x10000, 0, 0, -1, "");
  b.Mmap(FL_EV_MMAP, kPid, kAnon, 0x10000, 1, 0x02, 3, "/data/new");
  b.Fault(kPid, kPid, kAnon + 0x1000, U, kMin, 700);
  b_->Flush();
  ASSERT_TRUE(w_->Finish(std::vector<trace::CpuCounts>{{4, 0}, {1, 0}}));
  Json j = Analyse(path_);
  EXPECT_EQ(j["faults"]["by_kind"]["anon_first_touch"], 1);
  EXPECT_EQ(j["faults"]["by_kind"]["file"], 1);
  EXPECT_EQ(j["trace"]["late_events"], 0);
  SessionOptions file_order;
  file_order.window_ns = 0;
  file_order.max_pending = 1;
  Json fo = Analyse(path_, file_order);
  EXPECT_EQ(fo["faults"]["by_kind"]["anon_first_touch"], 0);
  EXPECT_EQ(fo["faults"]["by_kind"]["file"], 2);
  EXPECT_EQ(fo["trace"]["late_events"], 1);
}

// TLB flushes by reason; a switch between address spaces (reason 0, in
// traces from before the collector dropped them) is not a shootdown.
TEST_F(AnalyzerTest, TlbFlushesByReasonWithoutTaskSwitches) {
  Builder& b = *b_;
  b.Tlb(kPid, 7, 0);      // TLB_FLUSH_ON_TASK_SWITCH: skipped
  b.Tlb(kPid, 1, 1);      // TLB_REMOTE_SHOOTDOWN
  b.Tlb(kPid, 2, 2);      // TLB_LOCAL_SHOOTDOWN
  b.Tlb(kPid, 3, 3);      // TLB_LOCAL_MM_SHOOTDOWN
  b.Tlb(kPid, 4, 4);      // TLB_REMOTE_SEND_IPI
  b.Tlb(kPid, ~0ull, 4);  // a full flush
  b.Tlb(kChild, 9, 0);    // only task switches: no row
  Json j = Finish();
  const Json& tlb = j["faults"]["tlb_shootdowns"];
  ASSERT_EQ(tlb.size(), 1u);
  EXPECT_EQ(tlb[0]["pid"], kPid);
  EXPECT_EQ(tlb[0]["count"], 5);
  EXPECT_EQ(tlb[0]["ipis_sent"], 2);
  EXPECT_EQ(tlb[0]["remote_flushes"], 1);
  EXPECT_EQ(tlb[0]["local_flushes"], 2);
  EXPECT_EQ(tlb[0]["pages"], 10);
  EXPECT_EQ(tlb[0]["full_flushes"], 1);
}

TEST_F(AnalyzerTest, SummaryTraceIsReportedFromSummaryBlocks) {
  fl_summary_key key{kPid, FL_SK_MINOR_USER};
  fl_summary_val val{};
  val.count = 1000;
  val.total_ns = 1500000;
  val.max_ns = 7000;
  val.hist[10] = 990;  // [1024, 2048)
  val.hist[12] = 10;   // [4096, 8192)
  ASSERT_TRUE(w_->AddSummary(key, val));
  key.kind = FL_SK_MAJOR_KERNEL;
  val = {};
  val.count = 5;
  val.total_ns = 500000;
  val.max_ns = 200000;
  val.hist[17] = 5;
  ASSERT_TRUE(w_->AddSummary(key, val));
  key.kind = FL_SK_INCOMPLETE;
  val = {};
  val.count = 2;
  ASSERT_TRUE(w_->AddSummary(key, val));
  Json j = Finish({{0, 0}});
  const Json& f = j["faults"];
  EXPECT_EQ(f["total"], 1007);
  EXPECT_EQ(f["minor"], 1000);
  EXPECT_EQ(f["major"], 5);
  EXPECT_EQ(f["incomplete"], 2);
  EXPECT_EQ(f["user_mode"], 1000);
  EXPECT_EQ(f["kernel_mode"], 5);
  EXPECT_EQ(f["by_kind"]["other"], 1007);
  EXPECT_EQ(f["latency_ns"]["total_ns"], 2000000);
  EXPECT_EQ(f["latency_ns"]["p50"], 2047);
  EXPECT_EQ(f["latency_ns"]["max"], 200000);
  EXPECT_EQ(f["processes"][0]["pid"], kPid);
  EXPECT_EQ(f["processes"][0]["fault_ns"], 2000000);
}

TEST(AnalyzerSynthetic, SequentialTouchStreamCountsExactly) {
  TempDir dir;
  SyntheticOptions o;
  o.faults = 50000;
  o.threads = 3;
  auto n = WriteSequentialTouchTrace(dir.File("s.flt"), o);
  ASSERT_TRUE(n.has_value());
  Json j = Analyse(dir.File("s.flt"));
  EXPECT_EQ(j["faults"]["total"], 50000);
  EXPECT_EQ(j["faults"]["by_kind"]["anon_first_touch"], 50000);
  EXPECT_EQ(j["faults"]["processes"][0]["threads"].size(), 3u);
  // Latencies were drawn from [600, 1600).
  EXPECT_GE(j["faults"]["latency_ns"]["p50"].get<uint64_t>(), 600u);
  EXPECT_LT(j["faults"]["latency_ns"]["max"].get<uint64_t>(), 1600u);
  EXPECT_TRUE(j["trace"]["complete"].get<bool>());
}

}  // namespace
}  // namespace faultline::analyzer
