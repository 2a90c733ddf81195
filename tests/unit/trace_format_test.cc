// The trace file format: encoding primitives, a writer -> reader round trip
// of every record type, and damaged files (truncated at every byte,
// corrupted bytes) that must be read up to the damage and never crash.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "analyzer/synthetic.h"
#include "trace/reader.h"
#include "trace/writer.h"
#include "trace/format.h"
#include "tests/support/temp_dir.h"
#include "tests/support/trace_builder.h"

namespace faultline::trace {
namespace {

// ---- helpers ---------------------------------------------------------------

using ::faultline::testing::TempDir;

using ::faultline::testing::ReadBytes;

// Records everything the reader delivers as one line of text each, so that
// tests can compare streams with ==.
class Recorder : public TraceVisitor {
 public:
  std::vector<std::string> lines;
  std::vector<FaultEvent> faults;
  std::vector<std::string> warnings;
  bool footer = false;
  Footer last_footer;

  void OnFault(const FaultEvent& f) override {
    faults.push_back(f);
    lines.push_back("fault ts=" + std::to_string(f.ts_ns) + " addr=" +
                    std::to_string(f.address) + " ip=" + std::to_string(f.ip) +
                    " pid=" + std::to_string(f.pid) + " tid=" + std::to_string(f.tid) +
                    " lat=" + std::to_string(f.latency_ns) + " stack=" +
                    std::to_string(f.stack_id) + " ec=" + std::to_string(f.error_code) +
                    " cpu=" + std::to_string(f.cpu) + " out=" + std::to_string(f.outcome) +
                    " fl=" + std::to_string(f.flags));
  }
  void OnMmap(const MmapEvent& m) override {
    lines.push_back("mmap type=" + std::to_string(m.type) + " cpu=" +
                    std::to_string(m.cpu) + " ts=" + std::to_string(m.ts_ns) +
                    " start=" + std::to_string(m.start) + " len=" + std::to_string(m.len) +
                    " pgoff=" + std::to_string(m.pgoff) + " aux=" + std::to_string(m.aux) +
                    " pid=" + std::to_string(m.pid) + " tid=" + std::to_string(m.tid) +
                    " prot=" + std::to_string(m.prot) + " flags=" + std::to_string(m.flags) +
                    " fd=" + std::to_string(m.fd) + " path=" + std::string(m.path));
  }
  void OnTask(const TaskEvent& t) override {
    lines.push_back("task type=" + std::to_string(t.type) + " ts=" +
                    std::to_string(t.ts_ns) + " pid=" + std::to_string(t.pid) +
                    " tid=" + std::to_string(t.tid) + " ppid=" +
                    std::to_string(t.parent_pid) + " ptid=" + std::to_string(t.parent_tid) +
                    " exit=" + std::to_string(t.exit_code) + " thread=" +
                    std::to_string(t.is_thread) + " comm=" + std::string(t.comm) +
                    " path=" + std::string(t.path));
  }
  void OnTlb(const TlbEvent& t) override {
    lines.push_back("tlb ts=" + std::to_string(t.ts_ns) + " pid=" +
                    std::to_string(t.pid) + " tid=" + std::to_string(t.tid) +
                    " reason=" + std::to_string(t.reason) + " pages=" +
                    std::to_string(t.pages));
  }
  void OnOpaque(const OpaqueEvent& o) override {
    lines.push_back("opaque type=" + std::to_string(o.type) + " ts=" +
                    std::to_string(o.ts_ns) + " body=" + std::string(o.body));
  }
  void OnProcess(const ProcessInfo& p) override {
    lines.push_back("process " + std::to_string(p.pid) + " " + std::to_string(p.ppid) +
                    " " + std::string(p.comm) + " " + std::string(p.exe));
  }
  void OnThread(const ThreadInfo& t) override {
    lines.push_back("thread " + std::to_string(t.pid) + " " + std::to_string(t.tid) +
                    " " + std::string(t.comm));
  }
  void OnMapping(const MappingInfo& m) override {
    lines.push_back("mapping " + std::to_string(m.pid) + " " + std::to_string(m.start) +
                    "-" + std::to_string(m.end) + " " + std::to_string(m.pgoff) + " " +
                    std::to_string(m.prot) + " " + std::to_string(m.ts_ns) + " " +
                    std::string(m.path));
  }
  void OnStack(const StackInfo& s) override {
    std::string l = "stack " + std::to_string(s.stack_id);
    for (uint64_t ip : s.ips) l += " " + std::to_string(ip);
    lines.push_back(l);
  }
  void OnSummary(const SummaryInfo& s) override {
    std::string l = "summary " + std::to_string(s.key.pid) + " " +
                    std::to_string(s.key.kind) + " " + std::to_string(s.val.count) +
                    " " + std::to_string(s.val.total_ns) + " " + std::to_string(s.val.max_ns);
    for (uint64_t h : s.val.hist) l += " " + std::to_string(h);
    lines.push_back(l);
  }
  void OnFooter(const Footer& f) override {
    footer = true;
    last_footer = f;
  }
  void OnWarning(std::string_view w) override { warnings.emplace_back(w); }
};

fl_fault_slim Fault(uint64_t ts, uint64_t addr, uint32_t pid, uint32_t tid) {
  fl_fault_slim f;
  std::memset(&f, 0, sizeof f);
  f.ts_ns = ts;
  f.address = addr;
  f.ip = 0x401000;
  f.pid = pid;
  f.tid = tid;
  f.latency_ns = 900;
  f.stack_id = -1;
  f.error_code = FL_PF_USER | FL_PF_WRITE;
  f.outcome = FL_FAULT_MINOR;
  return f;
}

// What the kernel sends: faults come in FL_EV_FAULT_BATCH records
// (bpf/faults.bpf.c never emits a single FL_EV_FAULT).
Result<void> AddBatch(TraceWriter& w, uint16_t cpu,
                      std::initializer_list<fl_fault_slim> faults) {
  return ::faultline::testing::AddFaultBatch(w, cpu, faults);
}

TraceMeta Meta() {
  TraceMeta m;
  m.kernel_release = "6.1.0-test";
  m.hostname = "host-a";
  m.command_line = "faultline record -- ./x";
  m.start_monotonic_ns = 5000;
  m.start_realtime_ns = 1700000000123456789ull;
  m.ncpus = 2;
  m.flags = kTraceFlagSummary;
  return m;
}

// ---- encoding primitives ------------------------------------------------------

TEST(TraceVarint, RoundTripsEdgeValues) {
  const uint64_t values[] = {0, 1, 127, 128, 255, 16383, 16384, (1ull << 32) - 1,
                             1ull << 32, (1ull << 63) - 1, 1ull << 63,
                             std::numeric_limits<uint64_t>::max()};
  std::string buf;
  for (uint64_t v : values) PutVarint(buf, v);
  ByteCursor c(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  for (uint64_t v : values) EXPECT_EQ(c.Varint(), v);
  EXPECT_TRUE(c.ok());
  EXPECT_TRUE(c.done());
}

TEST(TraceVarint, EncodedSizes) {
  auto size = [](uint64_t v) {
    std::string b;
    PutVarint(b, v);
    return b.size();
  };
  EXPECT_EQ(size(0), 1u);
  EXPECT_EQ(size(127), 1u);
  EXPECT_EQ(size(128), 2u);
  EXPECT_EQ(size(std::numeric_limits<uint64_t>::max()), 10u);
}

TEST(TraceVarint, ZigZagEdgeValues) {
  const int64_t values[] = {0, -1, 1, -64, 64, std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max()};
  for (int64_t v : values) EXPECT_EQ(UnZigZag(ZigZag(v)), v) << v;
  EXPECT_EQ(ZigZag(0), 0u);
  EXPECT_EQ(ZigZag(-1), 1u);
  EXPECT_EQ(ZigZag(1), 2u);
  // A -4096 address delta costs as little as +4096.
  std::string a, b;
  PutSigned(a, -4096);
  PutSigned(b, 4096);
  EXPECT_EQ(a.size(), b.size());
}

TEST(TraceVarint, MalformedInputFailsWithoutReadingPastTheEnd) {
  const uint8_t unterminated[] = {0x80, 0x80, 0x80};
  ByteCursor c1(unterminated, sizeof unterminated);
  c1.Varint();
  EXPECT_FALSE(c1.ok());
  const uint8_t too_long[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0x01};
  ByteCursor c2(too_long, sizeof too_long);
  c2.Varint();
  EXPECT_FALSE(c2.ok());
  const uint8_t big_string[] = {0x05, 'a', 'b'};
  ByteCursor c3(big_string, sizeof big_string);
  EXPECT_TRUE(c3.Bytes().empty());
  EXPECT_FALSE(c3.ok());
  const uint8_t over_u32[] = {0x80, 0x80, 0x80, 0x80, 0x10};  // 2^32
  ByteCursor c4(over_u32, sizeof over_u32);
  c4.U32();
  EXPECT_FALSE(c4.ok());
}

// ---- round trip ----------------------------------------------------------------

TEST(TraceRoundTrip, EveryRecordTypeAndMetadata) {
  TempDir dir;
  const std::string path = dir.File("all.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value()) << w.error().message;
  TraceWriter& tw = **w;

  ASSERT_TRUE(tw.AddProcess(100, 1, "server", "/usr/bin/server"));
  ASSERT_TRUE(tw.AddThread(100, 101, "worker-1"));
  ASSERT_TRUE(tw.AddMapping(100, 0x400000, 0x401000, 0x1000, 5 | kMappingShared,
                            "/usr/bin/server", 4000));
  const uint64_t ips[] = {0x401234, 0x400100, 0x7fff00001000};
  ASSERT_TRUE(tw.AddStack(7, ips));
  fl_summary_key key{100, FL_SK_MAJOR_KERNEL};
  fl_summary_val val{};
  val.count = 3;
  val.total_ns = 12345;
  val.max_ns = 9000;
  val.hist[3] = 1;
  val.hist[31] = 2;
  ASSERT_TRUE(tw.AddSummary(key, val));

  // A batch of one fault on CPU 1, with every field away from its default.
  fl_fault_slim single = Fault(10000, 0x7f0000001234, 100, 101);
  single.ip = 0xffffffff81000000ull;
  single.latency_ns = 0xffffffffu;
  single.stack_id = 7;
  single.error_code = FL_PF_PROT | FL_PF_WRITE;
  single.outcome = FL_FAULT_MAJOR;
  single.flags = FL_FAULT_F_KERNEL | FL_FAULT_F_ADDR_MISMATCH;
  ASSERT_TRUE(AddBatch(tw, 1, {single}));

  // A batch of three, one with a timestamp going backwards (other CPU).
  fl_fault_batch batch;
  std::memset(&batch, 0, sizeof batch);
  batch.hdr = {20000, FL_EV_FAULT_BATCH, 0, 0};
  batch.count = 3;
  batch.faults[0] = Fault(20000, 0x7f0000002000, 100, 101);
  batch.faults[1] = Fault(19000, 0x7f0000001000, 100, 102);
  batch.faults[2] = Fault(21000, 0x1000, 200, 200);
  batch.faults[2].outcome = FL_FAULT_INCOMPLETE;
  batch.faults[2].latency_ns = 0;
  size_t batch_size = offsetof(fl_fault_batch, faults) + 3 * sizeof(fl_fault_slim);
  batch.hdr.size = static_cast<uint32_t>(batch_size);
  ASSERT_TRUE(tw.AddRecord(&batch, batch_size));

  for (uint16_t type : {FL_EV_MMAP, FL_EV_MUNMAP, FL_EV_MREMAP, FL_EV_BRK,
                        FL_EV_MPROTECT}) {
    fl_mmap m;
    std::memset(&m, 0, sizeof m);
    m.hdr = {30000u + type, type, 1, sizeof(fl_mmap)};
    m.start = 0x7f1000000000;
    m.len = 8192;
    m.pgoff = 4096;
    m.aux = 16384;
    m.pid = 100;
    m.tid = 103;
    m.prot = 3;
    m.flags = 0x22;
    m.fd = type == FL_EV_MMAP ? 5 : -1;
    std::strcpy(m.path, type == FL_EV_MMAP ? "/data/file" : "");
    ASSERT_TRUE(tw.AddRecord(&m, sizeof m));
  }
  for (uint16_t type : {FL_EV_FORK, FL_EV_EXEC, FL_EV_EXIT}) {
    fl_task t;
    std::memset(&t, 0, sizeof t);
    t.hdr = {40000u + type, type, 0, sizeof(fl_task)};
    t.pid = 300;
    t.tid = 301;
    t.parent_pid = 100;
    t.parent_tid = 101;
    t.exit_code = -11;
    t.is_thread = 1;
    std::memcpy(t.comm, "sixteen-chars-xx", 16);  // no NUL: exactly 16
    std::strcpy(t.path, "/bin/true");
    ASSERT_TRUE(tw.AddRecord(&t, sizeof t));
  }
  fl_tlb tlb;
  std::memset(&tlb, 0, sizeof tlb);
  tlb.hdr = {50000, FL_EV_TLB_FLUSH, 1, sizeof(fl_tlb)};
  tlb.pid = 100;
  tlb.tid = 101;
  tlb.reason = 3;
  tlb.pages = ~0ull;
  ASSERT_TRUE(tw.AddRecord(&tlb, sizeof tlb));

  // A record type from a newer collector; the ring buffer's size (24, with
  // padding) is larger than hdr.size (22), which is what counts.
  struct {
    fl_hdr hdr;
    char body[6];
  } unknown{{60000, 40, 1, sizeof(fl_hdr) + 6}, {'h', 'e', 'l', 'l', 'o', '!'}};
  ASSERT_TRUE(tw.AddRecord(&unknown, sizeof unknown));

  std::vector<CpuCounts> counts = {{10, 0}, {20, 3}};
  ASSERT_TRUE(tw.Finish(counts));
  EXPECT_EQ(tw.events_written(), 1u + 3u + 5u + 3u + 1u + 1u);
  EXPECT_FALSE(tw.AddProcess(1, 0, "x", "y"));  // finished

  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const FileHeader& h = (*r)->header();
  EXPECT_EQ(h.version, kFormatVersion);
  EXPECT_EQ(h.clock, kClockMonotonic);
  EXPECT_EQ(h.meta.kernel_release, "6.1.0-test");
  EXPECT_EQ(h.meta.hostname, "host-a");
  EXPECT_EQ(h.meta.command_line, "faultline record -- ./x");
  EXPECT_EQ(h.meta.start_monotonic_ns, 5000u);
  EXPECT_EQ(h.meta.start_realtime_ns, 1700000000123456789ull);
  EXPECT_EQ(h.meta.ncpus, 2u);
  EXPECT_EQ(h.meta.flags, kTraceFlagSummary);

  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_TRUE(rec.warnings.empty()) << rec.warnings[0];
  EXPECT_TRUE((*r)->stats().footer);
  EXPECT_FALSE((*r)->stats().truncated);
  EXPECT_EQ((*r)->stats().events, 14u);

  std::string hist = " 0 0 0 1";
  for (int i = 4; i < 31; ++i) hist += " 0";
  hist += " 2";
  const std::vector<std::string> want = {
      // Metadata pending at a flush comes before that flush's events.
      "process 100 1 server /usr/bin/server",
      "thread 100 101 worker-1",
      "mapping 100 4194304-4198400 4096 65541 4000 /usr/bin/server",
      "stack 7 4198964 4194560 140733193392128",
      "summary 100 3 3 12345 9000" + hist,
      "fault ts=10000 addr=139637976732212 ip=18446744071578845184 pid=100 "
      "tid=101 lat=4294967295 stack=7 ec=3 cpu=1 out=2 fl=3",
      "fault ts=20000 addr=139637976735744 ip=4198400 pid=100 tid=101 lat=900 "
      "stack=-1 ec=6 cpu=0 out=1 fl=0",
      "fault ts=19000 addr=139637976731648 ip=4198400 pid=100 tid=102 lat=900 "
      "stack=-1 ec=6 cpu=0 out=1 fl=0",
      "fault ts=21000 addr=4096 ip=4198400 pid=200 tid=200 lat=0 stack=-1 ec=6 "
      "cpu=0 out=3 fl=0",
      "mmap type=3 cpu=1 ts=30003 start=139706696204288 len=8192 pgoff=4096 "
      "aux=16384 pid=100 tid=103 prot=3 flags=34 fd=5 path=/data/file",
      "mmap type=4 cpu=1 ts=30004 start=139706696204288 len=8192 pgoff=4096 "
      "aux=16384 pid=100 tid=103 prot=3 flags=34 fd=-1 path=",
      "mmap type=5 cpu=1 ts=30005 start=139706696204288 len=8192 pgoff=4096 "
      "aux=16384 pid=100 tid=103 prot=3 flags=34 fd=-1 path=",
      "mmap type=6 cpu=1 ts=30006 start=139706696204288 len=8192 pgoff=4096 "
      "aux=16384 pid=100 tid=103 prot=3 flags=34 fd=-1 path=",
      "mmap type=11 cpu=1 ts=30011 start=139706696204288 len=8192 pgoff=4096 "
      "aux=16384 pid=100 tid=103 prot=3 flags=34 fd=-1 path=",
      "task type=7 ts=40007 pid=300 tid=301 ppid=100 ptid=101 exit=-11 "
      "thread=1 comm=sixteen-chars-xx path=/bin/true",
      "task type=8 ts=40008 pid=300 tid=301 ppid=100 ptid=101 exit=-11 "
      "thread=1 comm=sixteen-chars-xx path=/bin/true",
      "task type=9 ts=40009 pid=300 tid=301 ppid=100 ptid=101 exit=-11 "
      "thread=1 comm=sixteen-chars-xx path=/bin/true",
      "tlb ts=50000 pid=100 tid=101 reason=3 pages=18446744073709551615",
      "opaque type=40 ts=60000 body=hello!",
  };
  EXPECT_EQ(rec.lines, want);
  ASSERT_TRUE(rec.footer);
  EXPECT_EQ(rec.last_footer.events_written, 14u);
  ASSERT_EQ(rec.last_footer.per_cpu.size(), 2u);
  EXPECT_EQ(rec.last_footer.per_cpu[1].recorded, 20u);
  EXPECT_EQ(rec.last_footer.per_cpu[1].lost, 3u);
  EXPECT_GT(rec.last_footer.end_monotonic_ns, 0u);
}

TEST(TraceRoundTrip, MmapPathCutShortByRecordSize) {
  TempDir dir;
  auto w = TraceWriter::Create(dir.File("short.flt"), Meta());
  ASSERT_TRUE(w.has_value());
  fl_mmap m;
  std::memset(&m, 0, sizeof m);
  m.hdr = {1, FL_EV_MMAP, 0, 0};
  std::strcpy(m.path, "/a/long/path");
  // Record ends after "/a/l": the writer must not read past `size`.
  ASSERT_TRUE((*w)->AddRecord(&m, offsetof(fl_mmap, path) + 4));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{}));
  auto r = TraceReader::Open(dir.File("short.flt"));
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  ASSERT_EQ(rec.lines.size(), 1u);
  EXPECT_NE(rec.lines[0].find("path=/a/l"), std::string::npos);
  EXPECT_EQ(rec.lines[0].find("path=/a/lo"), std::string::npos);
}

TEST(TraceWriterInput, RejectsRecordsTooShortForTheirType) {
  TempDir dir;
  auto w = TraceWriter::Create(dir.File("bad.flt"), Meta());
  ASSERT_TRUE(w.has_value());
  fl_fault_batch batch;
  std::memset(&batch, 0, sizeof batch);
  batch.hdr.type = FL_EV_FAULT_BATCH;
  batch.count = 33;  // more than FL_BATCH
  EXPECT_FALSE((*w)->AddRecord(&batch, sizeof batch));
  batch.count = 4;  // but only room for 2
  EXPECT_FALSE((*w)->AddRecord(&batch, offsetof(fl_fault_batch, faults) +
                                           2 * sizeof(fl_fault_slim)));
  fl_fault f;
  std::memset(&f, 0, sizeof f);
  f.hdr.type = FL_EV_FAULT;
  EXPECT_FALSE((*w)->AddRecord(&f, sizeof f - 1));
  EXPECT_FALSE((*w)->AddRecord(&f, 3));
  EXPECT_EQ((*w)->events_written(), 0u);
}

TEST(TraceWriterInput, SingleFaultRecordStillJoinsTheFaultRun) {
  // The kernel sends only batches, but the writer still takes FL_EV_FAULT
  // (tools, older code paths): same decoded fault, in the same run.
  TempDir dir;
  const std::string path = dir.File("single.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(AddBatch(**w, 0, {Fault(100, 0x1000, 1, 1)}));
  fl_fault f;
  std::memset(&f, 0, sizeof f);
  f.f = Fault(200, 0x2000, 1, 2);
  f.hdr = {200, FL_EV_FAULT, 1, sizeof f};
  ASSERT_TRUE((*w)->AddRecord(&f, sizeof f));
  ASSERT_TRUE(AddBatch(**w, 0, {Fault(300, 0x3000, 1, 1)}));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{}));
  EXPECT_EQ((*w)->events_written(), 3u);
  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_TRUE(rec.warnings.empty());
  ASSERT_EQ(rec.faults.size(), 3u);
  EXPECT_EQ(rec.faults[1].ts_ns, 200u);
  EXPECT_EQ(rec.faults[1].address, 0x2000u);
  EXPECT_EQ(rec.faults[1].tid, 2u);
  EXPECT_EQ(rec.faults[1].cpu, 1u);
  EXPECT_EQ(rec.faults[2].cpu, 0u);
  EXPECT_EQ(rec.faults[2].tid, 1u);
}

TEST(TraceWriterInput, CreateInMissingDirectoryFailsWithExitCode2) {
  auto w = TraceWriter::Create("/nonexistent-dir/x.flt", Meta());
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().exit_code, 2);
  EXPECT_NE(w.error().message.find("/nonexistent-dir/x.flt"), std::string::npos);
}

TEST(TraceRoundTrip, WriterDestroyedWithoutFinishLeavesReadableBlocks) {
  TempDir dir;
  const std::string path = dir.File("killed.flt");
  {
    auto w = TraceWriter::Create(path, Meta());
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE(AddBatch(**w, 0, {Fault(1, 0x1000, 1, 1)}));
  }
  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_EQ(rec.faults.size(), 1u);
  EXPECT_FALSE((*r)->stats().footer);
  ASSERT_FALSE(rec.warnings.empty());
  EXPECT_NE(rec.warnings[0].find("no footer"), std::string::npos);
}

// ---- bytes per event ------------------------------------------------------------

TEST(TraceSize, SequentialTouchStreamIsUnderTenBytesPerFault) {
  TempDir dir;
  const std::string path = dir.File("seq.flt");
  analyzer::SyntheticOptions o;
  o.faults = 200000;
  o.threads = 2;
  auto n = analyzer::WriteSequentialTouchTrace(path, o);
  ASSERT_TRUE(n.has_value()) << n.error().message;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  const double per_event = double(st.st_size) / double(*n);
  RecordProperty("bytes_per_event", std::to_string(per_event));
  EXPECT_LT(per_event, 10.0);
  // And it really holds the events.
  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_EQ(rec.faults.size(), 200000u);
  EXPECT_GT((*r)->stats().blocks, 2u);  // more than one events block
}

// ---- damage ------------------------------------------------------------------

// A small file with several blocks: metadata, two event blocks, footer.
std::vector<uint8_t> SmallTrace(const TempDir& dir, std::vector<std::string>* lines) {
  const std::string path = dir.File("small.flt");
  auto w = TraceWriter::Create(path, Meta());
  EXPECT_TRUE(w.has_value());
  EXPECT_TRUE((*w)->AddProcess(7, 1, "p", "/bin/p"));
  for (int block = 0; block < 3; ++block) {
    // Two batches of 2 and 3 faults, as two CPUs would send them.
    auto f = [&](int i) {
      return Fault(1000 * block + i, 0x10000 + 4096 * i, 7, 7 + block);
    };
    EXPECT_TRUE(AddBatch(**w, 0, {f(0), f(1)}));
    EXPECT_TRUE(AddBatch(**w, 1, {f(2), f(3), f(4)}));
    EXPECT_TRUE((*w)->Flush());
  }
  EXPECT_TRUE((*w)->Finish({{15, 0}}));
  auto r = TraceReader::Open(path);
  Recorder rec;
  EXPECT_TRUE((*r)->ReadAll(rec));
  *lines = rec.lines;
  return ReadBytes(path);
}

TEST(TraceDamage, TruncationAtEveryOffsetYieldsAPrefixAndNeverCrashes) {
  TempDir dir;
  std::vector<std::string> full;
  std::vector<uint8_t> bytes = SmallTrace(dir, &full);
  ASSERT_EQ(full.size(), 16u);  // 1 process + 15 faults
  size_t header_ok = 0;
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = TraceReader::FromMemory(std::span(bytes.data(), len));
    if (!r.has_value()) {
      EXPECT_EQ(r.error().exit_code, 2);
      continue;
    }
    ++header_ok;
    Recorder rec;
    ASSERT_TRUE((*r)->ReadAll(rec));
    ASSERT_LE(rec.lines.size(), full.size());
    for (size_t i = 0; i < rec.lines.size(); ++i) {
      ASSERT_EQ(rec.lines[i], full[i]) << "cut at " << len;
    }
    // Every cut file says it is incomplete.
    EXPECT_FALSE((*r)->stats().footer) << len;
    EXPECT_FALSE(rec.warnings.empty()) << len;
  }
  EXPECT_GT(header_ok, 0u);
  // The whole file reads completely.
  auto r = TraceReader::FromMemory(bytes);
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_EQ(rec.lines, full);
  EXPECT_TRUE(rec.warnings.empty());
}

TEST(TraceDamage, CorruptedPayloadByteIsCaughtByCrcAndOnlyThatBlockIsLost) {
  TempDir dir;
  std::vector<std::string> full;
  std::vector<uint8_t> bytes = SmallTrace(dir, &full);
  // Find the second events block (third block overall) and flip a payload
  // byte.
  auto r0 = TraceReader::FromMemory(bytes);
  ASSERT_TRUE(r0.has_value());
  size_t pos = GetLe32(bytes.data() + 12);  // header size
  for (int b = 0; b < 2; ++b) pos += kBlockHeaderBytes + GetLe32(&bytes[pos + 8]);
  ASSERT_EQ(std::memcmp(&bytes[pos], kBlockMagic, 4), 0);
  bytes[pos + kBlockHeaderBytes + 2] ^= 0x40;

  auto r = TraceReader::FromMemory(bytes);
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_EQ((*r)->stats().corrupt_blocks, 1u);
  EXPECT_TRUE((*r)->stats().footer);
  ASSERT_EQ(rec.warnings.size(), 1u);
  EXPECT_NE(rec.warnings[0].find("CRC mismatch"), std::string::npos);
  // Block 2 (faults 5..9) is gone, the others are intact.
  std::vector<std::string> want(full.begin(), full.begin() + 6);
  want.insert(want.end(), full.begin() + 11, full.end());
  EXPECT_EQ(rec.lines, want);
}

TEST(TraceDamage, CorruptedBlockHeaderIsSkippedToTheNextBlock) {
  TempDir dir;
  std::vector<std::string> full;
  std::vector<uint8_t> bytes = SmallTrace(dir, &full);
  size_t pos = GetLe32(bytes.data() + 12);
  pos += kBlockHeaderBytes + GetLe32(&bytes[pos + 8]);  // second block
  bytes[pos + 9] ^= 0x7f;  // its stored length
  auto r = TraceReader::FromMemory(bytes);
  ASSERT_TRUE(r.has_value());
  Recorder rec;
  ASSERT_TRUE((*r)->ReadAll(rec));
  EXPECT_EQ((*r)->stats().corrupt_blocks, 1u);
  EXPECT_TRUE((*r)->stats().footer);
  std::vector<std::string> want(full.begin(), full.begin() + 1);
  want.insert(want.end(), full.begin() + 6, full.end());
  EXPECT_EQ(rec.lines, want);
}

TEST(TraceDamage, EveryFlippedByteIsDetectedOrHarmless) {
  TempDir dir;
  std::vector<std::string> full;
  std::vector<uint8_t> bytes = SmallTrace(dir, &full);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x01;
    auto r = TraceReader::FromMemory(bad);
    if (!r.has_value()) continue;  // header damage: refused
    Recorder rec;
    ASSERT_TRUE((*r)->ReadAll(rec));
    // A flipped bit is never silently accepted as data: either something
    // warns, or the decoded stream is identical.
    if (rec.warnings.empty()) {
      EXPECT_EQ(rec.lines, full) << "flip at " << i;
    }
  }
}

TEST(TraceDamage, ForeignAndEmptyFilesAreRefusedWithExitCode2) {
  const std::string text = "hello, this is not a trace at all......................";
  auto r1 = TraceReader::FromMemory(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().exit_code, 2);
  EXPECT_NE(r1.error().message.find("not a faultline trace"), std::string::npos);
  auto r2 = TraceReader::FromMemory({});
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().exit_code, 2);
  auto r3 = TraceReader::Open("/nonexistent/trace.flt");
  ASSERT_FALSE(r3.has_value());
  EXPECT_EQ(r3.error().exit_code, 2);
}

TEST(TraceDamage, NewerFormatVersionIsRefused) {
  TempDir dir;
  std::vector<std::string> full;
  std::vector<uint8_t> bytes = SmallTrace(dir, &full);
  bytes[8] = kFormatVersion + 1;
  auto r = TraceReader::FromMemory(bytes);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().exit_code, 2);
  EXPECT_NE(r.error().message.find("version " + std::to_string(kFormatVersion + 1)),
            std::string::npos);
}

}  // namespace
}  // namespace faultline::trace
