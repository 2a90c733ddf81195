// `faultline script` over a trace written with the real TraceWriter, with
// the records the kernel sends: fault batches per CPU (a full one, partial
// ones flushed before munmap/exec/exit and at the end), mmap, munmap,
// fork, exec, exit, a TLB flush, and a record type this build does not
// know. Every event is one line, in time order, decoded.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "analyzer/script.h"
#include "bpf/faultline.h"
#include "trace/writer.h"
#include "tests/support/trace_builder.h"
#include "tests/support/temp_dir.h"

namespace faultline::analyzer {
namespace {

using ::faultline::testing::TempDir;

constexpr uint32_t kPid = 700, kChild = 701;
constexpr uint64_t kStart = 1000000000, kAnon = 0x7f0000000000,
                   kLib = 0x7f1000000000, kText = 0x400000;
constexpr int kFaults = 32 + 5 + 3 + 2;  // see WriteTrace

using ::faultline::testing::Slurp;

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

class Writer {
 public:
  explicit Writer(trace::TraceWriter& w) : w_(w) {}
  void Fault(uint16_t cpu, uint64_t ts, uint32_t pid, uint64_t addr,
             uint16_t ec = FL_PF_USER | FL_PF_WRITE) {
    fl_fault_slim f = ::faultline::testing::FaultBatcher::Zeroed();
    f.ts_ns = ts;
    f.address = addr;
    f.ip = kText + 0x20;
    f.pid = f.tid = pid;
    f.latency_ns = 1500;
    f.stack_id = -1;
    f.error_code = ec;
    f.outcome = FL_FAULT_MINOR;
    faults_.Add(cpu, f);
  }
  void Send(uint16_t cpu) { faults_.Send(cpu); }
  void Mmap(uint16_t cpu, uint16_t type, uint64_t ts, uint64_t start,
            uint64_t len, uint32_t prot, uint32_t flags, int fd, const char* path) {
    if (type != FL_EV_MMAP) Send(cpu);
    fl_mmap m;
    std::memset(&m, 0, sizeof m);
    m.hdr = {ts, type, cpu, sizeof m};
    m.start = start;
    m.len = len;
    m.pid = m.tid = kPid;
    m.prot = prot;
    m.flags = flags;
    m.fd = fd;
    std::strncpy(m.path, path, sizeof m.path - 1);
    ASSERT_TRUE(w_.AddRecord(&m, sizeof m));
  }
  void Task(uint16_t cpu, uint16_t type, uint64_t ts, uint32_t pid,
            uint32_t ppid, const char* comm, const char* path = "") {
    Send(cpu);
    fl_task t;
    std::memset(&t, 0, sizeof t);
    t.hdr = {ts, type, cpu, sizeof t};
    t.pid = t.tid = pid;
    t.parent_pid = t.parent_tid = ppid;
    std::strncpy(t.comm, comm, sizeof t.comm - 1);
    std::strncpy(t.path, path, sizeof t.path - 1);
    ASSERT_TRUE(w_.AddRecord(&t, sizeof t));
  }

 private:
  trace::TraceWriter& w_;
  ::faultline::testing::FaultBatcher faults_{w_};
};

class ScriptTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteTrace(); }

  void WriteTrace() {
    trace::TraceMeta meta;
    meta.kernel_release = "6.1.0-test";
    meta.start_monotonic_ns = kStart;
    meta.ncpus = 2;
    auto w = trace::TraceWriter::Create(trace_, meta);
    ASSERT_TRUE(w.has_value());
    trace::TraceWriter& tw = **w;
    ASSERT_TRUE(tw.AddProcess(kPid, 1, "app", "/usr/bin/app"));
    ASSERT_TRUE(tw.AddThread(kPid, kPid, "app"));
    ASSERT_TRUE(tw.AddMapping(kPid, kText, kText + 0x1000, 0, 5, "/usr/bin/app", kStart));
    ASSERT_TRUE(tw.AddMapping(kPid, kLib, kLib + 0x10000, 0, 1, "/usr/lib/libdata.so",
                              kStart));
    Writer b(tw);
    uint64_t ts = kStart + 1000;
    b.Mmap(0, FL_EV_MMAP, ts, kAnon, 0x100000, 3, 0x22, -1, "");
    // CPU 1 starts a partial batch of 5 that only the end sends.
    for (int i = 0; i < 5; ++i) b.Fault(1, ts + 100 + i * 1000, kPid, kAnon + 0x80000 + i * 4096);
    // CPU 0: 32 faults, a full batch sent at once.
    for (int i = 0; i < 32; ++i) b.Fault(0, ts + 500 + i * 200, kPid, kAnon + i * 4096);
    // 3 file reads on CPU 0, then the munmap (flushes them first).
    for (int i = 0; i < 3; ++i) {
      b.Fault(0, ts + 8000 + i * 100, kPid, kLib + i * 4096, FL_PF_USER);
    }
    b.Mmap(0, FL_EV_MUNMAP, ts + 9000, kAnon, 0x100000, 0, 0, -1, "");
    // A record type from a newer collector: 8 bytes of body.
    struct {
      fl_hdr hdr;
      uint64_t body;
    } opaque{{ts + 9500, 200, 1, sizeof opaque}, 42};
    ASSERT_TRUE(tw.AddRecord(&opaque, sizeof opaque));
    fl_tlb t;
    std::memset(&t, 0, sizeof t);
    t.hdr = {ts + 9600, FL_EV_TLB_FLUSH, 0, sizeof t};
    t.pid = t.tid = kPid;
    t.reason = 4;
    t.pages = 256;
    ASSERT_TRUE(tw.AddRecord(&t, sizeof t));
    b.Task(0, FL_EV_FORK, ts + 10000, kChild, kPid, "app");
    b.Task(1, FL_EV_EXEC, ts + 11000, kChild, 0, "child", "/bin/child");
    b.Fault(1, ts + 12000, kChild, kAnon);  // the exec cleared the mappings
    b.Fault(1, ts + 12100, kChild, kAnon + 4096);
    b.Task(1, FL_EV_EXIT, ts + 13000, kChild, 0, "child");
    b.Send(0);
    b.Send(1);
    ASSERT_TRUE(tw.Finish(std::vector<trace::CpuCounts>{{40, 0}, {10, 0}}));
  }

  int Script(const std::vector<std::string>& args, std::string* err = nullptr) {
    ::testing::internal::CaptureStderr();
    int code = RunScript(args);
    std::string e = ::testing::internal::GetCapturedStderr();
    if (err) *err = e;
    return code;
  }

  TempDir dir_;
  std::string trace_ = dir_.File("t.flt");
};

TEST_F(ScriptTest, TextHasEveryEventInTimeOrder) {
  const std::string out = dir_.File("s.txt");
  std::string err;
  ASSERT_EQ(Script({trace_, "-o", out}, &err), 0) << err;
  EXPECT_EQ(err, "");
  const auto lines = SplitLines(Slurp(out));
  // 42 faults + mmap + munmap + unknown + tlb + fork + exec + exit.
  ASSERT_EQ(lines.size(), static_cast<size_t>(kFaults + 7)) << Slurp(out);
  int faults = 0;
  double last = -1;
  for (const std::string& l : lines) {
    if (l.find(": fault ") != std::string::npos) ++faults;
    // "comm pid/tid [cpu] seconds: type ..."
    const size_t colon = l.find(": ");
    ASSERT_NE(colon, std::string::npos) << l;
    const size_t sp = l.rfind(' ', colon);
    const double t = std::stod(l.substr(sp + 1, colon - sp - 1));
    EXPECT_GE(t, last) << l;
    last = t;
  }
  EXPECT_EQ(faults, kFaults);
  // The first line is CPU 1's first fault (written last of its batch
  // partner, delivered in time order), 1.1 us after the start.
  EXPECT_NE(lines[0].find("mmap"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("0.000001100: fault"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("[001]"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("    700/700 "), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(" map=[anon]"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("kind=anon_first_touch"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[1].find("app "), 13u) << "comm right-aligned in 16: " << lines[1];
  const std::string all = Slurp(out);
  EXPECT_NE(all.find("kind=file map=/usr/lib/libdata.so"), std::string::npos);
  EXPECT_NE(all.find("munmap    start=0x7f0000000000 len=0x100000"), std::string::npos);
  EXPECT_NE(all.find("unknown   record_type=200 length=8"), std::string::npos) << all;
  EXPECT_NE(all.find("tlb_flush reason=remote_send_ipi pages=256"), std::string::npos);
  EXPECT_NE(all.find("fork      parent_pid=700 parent_tid=700 child=process"),
            std::string::npos);
  EXPECT_NE(all.find("exec      new_comm=child path=/bin/child"), std::string::npos);
  // After the exec: the child's comm, and no mapping at the address.
  EXPECT_NE(all.find("           child         701/701 [001]"), std::string::npos) << all;
  EXPECT_NE(all.find("kind=other map=[unknown]"), std::string::npos);
  EXPECT_NE(all.find("exit      exit_code=0"), std::string::npos);
}

TEST_F(ScriptTest, JsonIsOneObjectPerLineWithRawTimes) {
  const std::string out = dir_.File("s.json");
  std::string err;
  ASSERT_EQ(Script({trace_, "--format", "json", "-o", out}, &err), 0) << err;
  const auto lines = SplitLines(Slurp(out));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kFaults + 7));
  uint64_t last = 0;
  int faults = 0;
  for (const std::string& l : lines) {
    auto j = nlohmann::json::parse(l);
    for (const char* k : {"time", "time_ns", "pid", "tid", "comm", "cpu", "type"}) {
      EXPECT_TRUE(j.contains(k)) << k << " in " << l;
    }
    const uint64_t t = j["time_ns"];
    EXPECT_GE(t, last);
    last = t;
    EXPECT_NEAR(j["time"].get<double>(), (t - kStart) / 1e9, 1e-12);
    if (j["type"] == "fault") {
      ++faults;
      EXPECT_TRUE(j["addr"].is_string());
      EXPECT_TRUE(j.contains("map"));
      EXPECT_TRUE(j.contains("kind"));
      EXPECT_EQ(j["latency_ns"], 1500);
    }
    if (j["type"] == "unknown") {
      EXPECT_EQ(j["record_type"], 200);
      EXPECT_EQ(j["length"], 8);
      EXPECT_TRUE(j["pid"].is_null());
    }
  }
  EXPECT_EQ(faults, kFaults);
}

// TCP records, each its own decoded line: state names, reset reasons,
// addr:port (v4 and v6), the owner in the task column ("-/-" while it is
// not known, e.g. a softirq transition before the accept).
TEST(ScriptTcpTest, TcpRecordsAreDecodedLines) {
  TempDir dir;
  const std::string path = dir.File("tcp.flt");
  {
    trace::TraceMeta meta;
    meta.start_monotonic_ns = kStart;
    meta.ncpus = 1;
    auto w = trace::TraceWriter::Create(path, meta);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE((*w)->AddProcess(kPid, 1, "srv", "/usr/bin/srv"));
    auto v4 = [](uint8_t* d, uint8_t last) {
      std::memset(d, 0, 16);
      d[0] = 127;
      d[3] = last;
    };
    // The first connection, 127.0.0.1:18080 <- 127.0.0.2:40000.
    auto flow = [&](auto& r, uint64_t sk, uint64_t gen) {
      r.sk = sk;
      r.gen = gen;
      v4(r.saddr, 1);
      v4(r.daddr, 2);
      r.sport = 18080;
      r.dport = 40000;
      r.family = 2;
    };
    fl_tcp_state s;
    std::memset(&s, 0, sizeof s);
    s.hdr = {kStart + 1000, FL_EV_TCP_STATE, 0, sizeof s};
    flow(s, 0xffff888100000a00, kStart + 1000);
    s.old_state = 10;
    s.new_state = 3;
    ASSERT_TRUE((*w)->AddRecord(&s, sizeof s));
    s.hdr.ts_ns = kStart + 2000;
    s.old_state = 3;
    s.new_state = 1;
    s.backlog = 1;
    s.max_backlog = 128;
    ASSERT_TRUE((*w)->AddRecord(&s, sizeof s));
    fl_tcp_accept a;
    std::memset(&a, 0, sizeof a);
    a.hdr = {kStart + 5000, FL_EV_TCP_ACCEPT, 0, sizeof a};
    flow(a, s.sk, s.gen);
    a.established_ns = kStart + 2000;
    a.pid = a.tid = kPid;
    a.fd = 4;
    a.state = 1;
    ASSERT_TRUE((*w)->AddRecord(&a, sizeof a));
    fl_tcp_serve io;
    std::memset(&io, 0, sizeof io);
    io.hdr = {kStart + 6000, FL_EV_TCP_SERVE, 0, sizeof io};
    io.sk = s.sk;
    io.gen = s.gen;
    io.pid = io.tid = kPid;
    io.len = 100;
    ASSERT_TRUE((*w)->AddRecord(&io, sizeof io));
    fl_tcp_reset r;
    std::memset(&r, 0, sizeof r);
    r.hdr = {kStart + 7000, FL_EV_TCP_RESET, 0, sizeof r};
    flow(r, s.sk, s.gen);
    r.pid = r.tid = r.cur_pid = r.cur_tid = kPid;
    r.kernel_reason = 11;
    r.state = 7;
    r.reason = FL_RST_ABORT_ON_CLOSE;
    ASSERT_TRUE((*w)->AddRecord(&r, sizeof r));
    fl_tcp_close c;
    std::memset(&c, 0, sizeof c);
    c.hdr = {kStart + 8000, FL_EV_TCP_CLOSE, 0, sizeof c};
    flow(c, s.sk, s.gen);
    c.bytes_in = 100;
    c.pid = c.tid = c.last_tid = kPid;
    c.state = 7;
    ASSERT_TRUE((*w)->AddRecord(&c, sizeof c));
    fl_tcp_state v6;
    std::memset(&v6, 0, sizeof v6);
    v6.hdr = {kStart + 9000, FL_EV_TCP_SEEN, 0, sizeof v6};
    v6.sk = 0xffff888100000b00;
    v6.gen = kStart + 9000;
    v6.saddr[15] = 1;
    v6.daddr[15] = 1;
    v6.sport = 18080;
    v6.dport = 40001;
    v6.family = 10;
    v6.old_state = v6.new_state = 8;
    v6.pid = v6.tid = kPid;
    ASSERT_TRUE((*w)->AddRecord(&v6, sizeof v6));
    fl_tcp_netstat n;
    std::memset(&n, 0, sizeof n);
    n.hdr = {kStart + 9500, FL_EV_TCP_NETSTAT, 0, sizeof n};
    n.listen_overflows = 13;
    n.listen_drops = 14;
    n.phase = FL_NETSTAT_END;
    ASSERT_TRUE((*w)->AddRecord(&n, sizeof n));
    ASSERT_TRUE((*w)->Finish(std::vector<trace::CpuCounts>{{8, 0}}));
  }
  const std::string out = dir.File("s.txt");
  ::testing::internal::CaptureStderr();
  ASSERT_EQ(RunScript({path, "-o", out}), 0);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  const auto lines = SplitLines(Slurp(out));
  ASSERT_EQ(lines.size(), 8u) << Slurp(out);
  auto has = [&](size_t i, const std::string& text) {
    EXPECT_NE(lines[i].find(text), std::string::npos) << "line " << i << ": " << lines[i];
  };
  has(0, "-/- [000]     0.000001000: tcp_state sk=0xffff888100000a00");
  has(0, "local=127.0.0.1:18080 remote=127.0.0.2:40000 old=LISTEN new=SYN_RECV");
  has(1, "old=SYN_RECV new=ESTABLISHED backlog=1 max_backlog=128");
  has(2, "srv         700/700 [000]");
  has(2, "tcp_accept");
  has(2, "fd=4");
  has(2, "state=ESTABLISHED accept_wait_ns=3000");
  has(3, "tcp_serve");
  has(3, "prev_tid=0 io=recv len=100");
  has(4, "tcp_reset_sent");
  has(4, "state=CLOSE reason=TCP_ABORT_ON_CLOSE kernel_reason=11 cur=700/700");
  has(5, "tcp_close");
  has(5, "state=CLOSE bytes_in=100 bytes_out=0 last_tid=700");
  has(6, "tcp_seen");
  has(6, "local=[::1]:18080 remote=[::1]:40001 state=CLOSE_WAIT");
  has(7, "tcp_netstat phase=end listen_overflows=13 listen_drops=14");

  const std::string js = dir.File("s.json");
  ASSERT_EQ(RunScript({path, "--format", "json", "-o", js}), 0);
  const auto jl = SplitLines(Slurp(js));
  ASSERT_EQ(jl.size(), 8u);
  auto j0 = nlohmann::json::parse(jl[0]);
  EXPECT_EQ(j0["type"], "tcp_state");
  EXPECT_TRUE(j0["pid"].is_null());
  EXPECT_EQ(j0["old"], "LISTEN");
  EXPECT_EQ(j0["new"], "SYN_RECV");
  EXPECT_EQ(j0["local"], "127.0.0.1:18080");
  auto j4 = nlohmann::json::parse(jl[4]);
  EXPECT_EQ(j4["reason"], "TCP_ABORT_ON_CLOSE");
  EXPECT_EQ(j4["pid"], kPid);
}

TEST_F(ScriptTest, HelpAndBadInput) {
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunScript({"--help"}), 0);
  std::string help = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(help.find("examples"), std::string::npos);
  EXPECT_NE(help.find("--format"), std::string::npos);

  const std::string junk = dir_.File("junk");
  std::ofstream(junk) << "not a trace\n";
  const std::vector<std::vector<std::string>> cases = {
      {}, {"/nonexistent.flt"}, {junk}, {trace_, "--format", "yaml"},
      {trace_, trace_}, {trace_, "--bogus"}, {trace_, "-o", "/nonexistent/dir/x"}};
  for (const auto& args : cases) {
    std::string err;
    EXPECT_EQ(Script(args, &err), 2);
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_EQ(err.rfind("faultline script: ", 0), 0u) << err;
  }
}

}  // namespace
}  // namespace faultline::analyzer
