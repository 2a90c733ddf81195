// The connections section from synthetic traces written with the real
// TraceWriter, from raw fl_tcp_* records as bpf/tcp.bpf.c sends them
// (bpf/faultline.h, "TCP connections"; the orders are those the
// prototype saw on this kernel, /work/proto-tcp/FINDINGS.md): server and
// client closes, aborts and their reset reasons, resets after destroy,
// open connections, lasting CLOSE_WAIT, sk reuse, accept wait, serving
// threads, imbalance, netstat deltas, lost events; JSON names as SPEC 6.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analyzer/analysis.h"
#include "analyzer/render_json.h"
#include "analyzer/render_text.h"
#include "analyzer/session.h"
#include "bpf/faultline.h"
#include "tests/support/temp_dir.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace faultline::analyzer {
namespace {

using ::faultline::testing::TempDir;
using Json = nlohmann::ordered_json;

constexpr uint64_t kStart = 10000000000;  // trace start (monotonic; below any uptime
                                          // a test runs at, the footer uses the clock)
constexpr uint64_t kUs = 1000, kMs = 1000000, kS = 1000000000;
constexpr uint32_t kSrv = 500, kAcceptor = 500, kWorker1 = 501, kWorker2 = 502;
constexpr uint32_t kCli = 600;
constexpr uint16_t kPort = 18080;

void V4(uint8_t* dst, const char* a) {
  std::memset(dst, 0, 16);
  inet_pton(AF_INET, a, dst);
}

// Writes raw records in the kernel's layout.
class TcpTrace {
 public:
  explicit TcpTrace(trace::TraceWriter& w) : w_(w) {}

  template <class R>
  void Put(R& r, uint16_t type, uint64_t ts) {
    r.hdr = {ts, type, cpu, static_cast<uint32_t>(sizeof r)};
    ASSERT_TRUE(w_.AddRecord(&r, sizeof r));
  }
  fl_tcp_state StateRec(uint64_t ts, uint64_t sk, uint64_t gen, uint8_t from,
                        uint8_t to, uint16_t rport) {
    fl_tcp_state e;
    std::memset(&e, 0, sizeof e);
    e.sk = sk;
    e.gen = gen;
    V4(e.saddr, "127.0.0.1");
    V4(e.daddr, "127.0.0.2");
    e.sport = kPort;
    e.dport = rport;
    e.family = AF_INET;
    e.old_state = from;
    e.new_state = to;
    (void)ts;
    return e;
  }
  void State(uint64_t ts, uint64_t sk, uint64_t gen, uint8_t from, uint8_t to,
             uint16_t rport, uint32_t pid = 0, uint32_t tid = 0, uint32_t cur = 0,
             uint32_t backlog = 0, uint32_t max_backlog = 0) {
    fl_tcp_state e = StateRec(ts, sk, gen, from, to, rport);
    e.pid = pid;
    e.tid = tid;
    e.cur_pid = cur ? pid : 0;
    e.cur_tid = cur;
    e.backlog = backlog;
    e.max_backlog = max_backlog;
    Put(e, FL_EV_TCP_STATE, ts);
  }
  void Listen(uint64_t ts, uint64_t sk) {
    fl_tcp_state e = StateRec(ts, sk, ts, 7, 10, 0);
    std::memset(e.daddr, 0, 16);
    e.pid = kSrv;
    e.tid = kSrv;
    e.cur_pid = kSrv;
    e.cur_tid = kSrv;
    Put(e, FL_EV_TCP_STATE, ts);
  }
  // A server connection up to its accept by `acceptor`: SYN_RECV at t,
  // ESTABLISHED at t + 10 us (softirq: owner unknown), accept after `wait`.
  // Returns gen.
  uint64_t Accepted(uint64_t t, uint64_t sk, uint16_t rport, uint64_t wait,
                    uint32_t acceptor = kAcceptor, uint32_t backlog = 1,
                    uint32_t max_backlog = 128) {
    State(t, sk, t, 10, 3, rport);
    State(t + 10 * kUs, sk, t, 3, 1, rport, 0, 0, 0, backlog, max_backlog);
    fl_tcp_accept a;
    std::memset(&a, 0, sizeof a);
    a.sk = sk;
    a.gen = t;
    a.listener = kListener;
    a.established_ns = t + 10 * kUs;
    V4(a.saddr, "127.0.0.1");
    V4(a.daddr, "127.0.0.2");
    a.pid = kSrv;
    a.tid = acceptor;
    a.backlog = backlog - 1;
    a.max_backlog = max_backlog;
    a.fd = 4;
    a.sport = kPort;
    a.dport = rport;
    a.family = AF_INET;
    a.state = 1;
    Put(a, FL_EV_TCP_ACCEPT, t + 10 * kUs + wait);
    return t;
  }
  void Serve(uint64_t ts, uint64_t sk, uint64_t gen, uint32_t tid, uint32_t prev,
             uint64_t in, uint64_t out, int32_t len, bool send, uint32_t pid = kSrv) {
    fl_tcp_serve e;
    std::memset(&e, 0, sizeof e);
    e.sk = sk;
    e.gen = gen;
    e.bytes_in = in;
    e.bytes_out = out;
    e.pid = pid;
    e.tid = tid;
    e.prev_tid = prev;
    e.len = len;
    e.send = send;
    Put(e, FL_EV_TCP_SERVE, ts);
  }
  void Reset(uint64_t ts, uint64_t sk, uint64_t gen, uint16_t rport, uint8_t reason,
             uint8_t flags, uint8_t state) {
    fl_tcp_reset e;
    std::memset(&e, 0, sizeof e);
    e.sk = sk;
    e.gen = gen;
    V4(e.saddr, "127.0.0.1");
    V4(e.daddr, "127.0.0.2");
    e.pid = kSrv;
    e.tid = kAcceptor;
    e.sport = kPort;
    e.dport = rport;
    e.family = AF_INET;
    e.state = state;
    e.reason = reason;
    e.flags = flags;
    Put(e, FL_EV_TCP_RESET, ts);
  }
  void Close(uint64_t ts, uint64_t sk, uint64_t gen, uint16_t rport, uint64_t in,
             uint64_t out, uint32_t last_tid, uint32_t pid = kSrv,
             uint32_t tid = kAcceptor, uint16_t lport = kPort) {
    fl_tcp_close e;
    std::memset(&e, 0, sizeof e);
    e.sk = sk;
    e.gen = gen;
    e.bytes_in = in;
    e.bytes_out = out;
    V4(e.saddr, "127.0.0.1");
    V4(e.daddr, "127.0.0.2");
    e.pid = pid;
    e.tid = tid;
    e.last_tid = last_tid;
    e.sport = lport;
    e.dport = rport;
    e.family = AF_INET;
    e.state = 7;
    Put(e, FL_EV_TCP_CLOSE, ts);
  }
  void Netstat(uint64_t ts, uint64_t overflows, uint64_t drops, uint32_t phase) {
    fl_tcp_netstat e;
    std::memset(&e, 0, sizeof e);
    e.listen_overflows = overflows;
    e.listen_drops = drops;
    e.phase = phase;
    Put(e, FL_EV_TCP_NETSTAT, ts);
  }

  // Server closes first with FIN: close() -> FIN_WAIT1 in the closing
  // thread; the ACK 40 ms later (delayed ACK) -> FIN_WAIT2, the peer's FIN
  // right after -> CLOSE (the timewait sock takes over), destroy.
  void ServerFin(uint64_t t, uint64_t sk, uint64_t gen, uint16_t rport, uint32_t tid,
                 uint64_t in = 100, uint64_t out = 200) {
    State(t, sk, gen, 1, 4, rport, kSrv, kAcceptor, tid);
    State(t + 40 * kMs, sk, gen, 4, 5, rport, kSrv, kAcceptor);
    State(t + 40 * kMs + 50 * kUs, sk, gen, 5, 7, rport, kSrv, kAcceptor);
    Close(t + 40 * kMs + 60 * kUs, sk, gen, rport, in, out, tid);
  }

  static constexpr uint64_t kListener = 0xffff888100001000;
  uint16_t cpu = 0;

 private:
  trace::TraceWriter& w_;
};

class ConnectionsTest : public ::testing::Test {
 protected:
  // Writes the trace: `body` adds records; the footer ends at `end`.
  template <class F>
  void Write(F body, uint64_t end, uint64_t lost = 0) {
    trace::TraceMeta meta;
    meta.kernel_release = "6.18.0-test";
    meta.start_monotonic_ns = kStart;
    meta.ncpus = 2;
    auto w = trace::TraceWriter::Create(path_, meta);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE((*w)->AddProcess(kSrv, 1, "srv", "/usr/bin/srv"));
    ASSERT_TRUE((*w)->AddThread(kSrv, kWorker1, "worker1"));
    ASSERT_TRUE((*w)->AddThread(kSrv, kWorker2, "worker2"));
    TcpTrace t(**w);
    t.Listen(kStart + 1 * kUs, TcpTrace::kListener);
    body(t);
    trace::FooterData footer;
    footer.per_cpu = {{100, lost}, {0, 0}};
    footer.counters = {{"tcp_conns_full", 0}};
    ASSERT_TRUE((*w)->Finish(footer));
    (void)end;
  }
  Json Report() {
    auto reader = trace::TraceReader::Open(path_);
    EXPECT_TRUE(reader.has_value());
    auto model = AnalyzeTrace(**reader, nullptr);
    EXPECT_TRUE(model.has_value());
    model_ = *model;
    return ToJson(*model)["connections"];
  }
  static Json ByRemotePort(const Json& c, int port) {
    for (const Json& e : c["list"]) {
      if (e["remote_port"] == port) return e;
    }
    ADD_FAILURE() << "no connection with remote port " << port;
    return Json::object();
  }

  TempDir dir_;
  std::string path_ = dir_.File("t.flt");
  ReportModel model_;
};

TEST_F(ConnectionsTest, ServerClosesFirstWithFin) {
  const uint64_t t0 = kStart + 1 * kMs, sk = 0xffff8881094aca00;
  Write([&](TcpTrace& t) {
    uint64_t gen = t.Accepted(t0, sk, 40001, 44 * kUs);
    t.Serve(t0 + 100 * kUs, sk, gen, kAcceptor, 0, 0, 0, 100, false);
    t.ServerFin(t0 + 500 * kUs, sk, gen, 40001, kAcceptor);
  }, 0);
  Json c = Report();
  ASSERT_EQ(c["total"], 1);
  Json e = ByRemotePort(c, 40001);
  EXPECT_EQ(e["role"], "server");
  EXPECT_EQ(e["local_addr"], "127.0.0.1");
  EXPECT_EQ(e["local_port"], kPort);
  EXPECT_EQ(e["remote_addr"], "127.0.0.2");
  EXPECT_EQ(e["pid"], kSrv);
  EXPECT_EQ(e["accept_tid"], kAcceptor);
  EXPECT_EQ(e["serving_tids"], Json::array({kAcceptor}));
  EXPECT_EQ(e["closed_by"], "server");
  EXPECT_EQ(e["close"], "fin");
  EXPECT_EQ(e["close_reason"], "server closed first");
  EXPECT_EQ(e["accept_wait_ns"], 44 * kUs);
  EXPECT_EQ(e["handshake_ns"], 10 * kUs);
  EXPECT_EQ(e["established_ns"], 1 * kMs + 10 * kUs);  // since the trace start
  EXPECT_EQ(e["established_monotonic_ns"], t0 + 10 * kUs);
  EXPECT_EQ(e["duration_ns"], 500 * kUs + 40 * kMs + 60 * kUs);
  EXPECT_EQ(e["bytes_in"], 100);
  EXPECT_EQ(e["bytes_out"], 200);
  EXPECT_EQ(e["state_ns"]["fin_wait1"], 40 * kMs);
  EXPECT_EQ(e["state_ns"]["fin_wait2"], 50 * kUs);
  EXPECT_TRUE(e["state_ns"]["close_wait"].is_null());
  EXPECT_TRUE(e["state_ns"]["time_wait"].is_null());  // no kernel event
  EXPECT_EQ(e["time_wait"], true);
  EXPECT_TRUE(e["requests"].is_null());
  EXPECT_TRUE(e["faults"].is_null());
  EXPECT_EQ(c["closed_by_server"], 1);
  EXPECT_EQ(c["closed_by_client"], 0);
  EXPECT_EQ(c["fin"], 1);
  EXPECT_EQ(c["rst_sent"], 0);
  EXPECT_EQ(c["accept_wait_ns"]["max"], 44 * kUs);
  EXPECT_EQ(c["partial"], false);
  EXPECT_EQ(c["lost_events"], 0);
}

TEST_F(ConnectionsTest, ClientClosesFirst) {
  const uint64_t t0 = kStart + 1 * kMs, sk = 0xffff888100002000;
  Write([&](TcpTrace& t) {
    uint64_t gen = t.Accepted(t0, sk, 40002, 20 * kUs);
    const uint64_t t1 = t0 + 1 * kMs;
    t.State(t1, sk, gen, 1, 8, 40002, kSrv, kAcceptor);  // softirq
    t.State(t1 + 5 * kMs, sk, gen, 8, 9, 40002, kSrv, kAcceptor, kAcceptor);
    t.State(t1 + 5 * kMs + 100 * kUs, sk, gen, 9, 7, 40002, kSrv, kAcceptor, kAcceptor);
    t.Close(t1 + 5 * kMs + 110 * kUs, sk, gen, 40002, 10, 20, kAcceptor);
  }, 0);
  Json e = ByRemotePort(Report(), 40002);
  EXPECT_EQ(e["closed_by"], "client");
  EXPECT_EQ(e["close"], "fin");
  EXPECT_EQ(e["close_reason"], "client closed first");
  EXPECT_EQ(e["state_ns"]["close_wait"], 5 * kMs);
  EXPECT_EQ(e["state_ns"]["last_ack"], 100 * kUs);
  EXPECT_TRUE(e["state_ns"]["fin_wait1"].is_null());
  EXPECT_EQ(e["time_wait"], false);
}

// close() after SO_LINGER {1, 0}: ESTABLISHED -> CLOSE in the closer's
// context, then the reset (reason TCP_STATE from tcp_disconnect), destroy.
TEST_F(ConnectionsTest, LingerZeroAbortAndUnreadDataAreResetsWithTheirReason) {
  const uint64_t t0 = kStart + 1 * kMs;
  Write([&](TcpTrace& t) {
    uint64_t g1 = t.Accepted(t0, 0xa000, 40003, 20 * kUs);
    t.State(t0 + 1 * kMs, 0xa000, g1, 1, 7, 40003, kSrv, kAcceptor, kAcceptor);
    t.Reset(t0 + 1 * kMs + 2 * kUs, 0xa000, g1, 40003, FL_RST_TCP_STATE, 0, 7);
    t.Close(t0 + 1 * kMs + 3 * kUs, 0xa000, g1, 40003, 0, 0, 0);
    uint64_t g2 = t.Accepted(t0 + 2 * kMs, 0xb000, 40004, 20 * kUs);
    t.State(t0 + 3 * kMs, 0xb000, g2, 1, 7, 40004, kSrv, kAcceptor, kAcceptor);
    t.Reset(t0 + 3 * kMs + 2 * kUs, 0xb000, g2, 40004, FL_RST_ABORT_ON_CLOSE, 0, 7);
    t.Close(t0 + 3 * kMs + 3 * kUs, 0xb000, g2, 40004, 0, 0, 0);
  }, 0);
  Json c = Report();
  Json l = ByRemotePort(c, 40003);
  EXPECT_EQ(l["closed_by"], "server");
  EXPECT_EQ(l["close"], "rst");
  EXPECT_EQ(l["close_reason"], "SO_LINGER 0 abort");
  EXPECT_EQ(l["reset_reason"], "TCP_STATE");
  Json u = ByRemotePort(c, 40004);
  EXPECT_EQ(u["closed_by"], "server");
  EXPECT_EQ(u["close"], "rst");
  EXPECT_EQ(u["close_reason"], "server closed with unread request bytes");
  EXPECT_EQ(c["rst_sent"], 2);
  EXPECT_EQ(c["rst"], 2);
  EXPECT_EQ(c["rst_sent_by_reason"]["TCP_STATE"], 1);
  EXPECT_EQ(c["rst_sent_by_reason"]["TCP_ABORT_ON_CLOSE"], 1);
  int resets = 0;
  for (const Json& a : c["anomalies"]) {
    if (a["kind"] != "reset_sent") continue;
    ++resets;
    EXPECT_EQ(a["connections"].size(), 1u);
  }
  EXPECT_EQ(resets, 2);
}

TEST_F(ConnectionsTest, ResetReceivedAndDataAfterClose) {
  const uint64_t t0 = kStart + 1 * kMs;
  Write([&](TcpTrace& t) {
    // The peer resets: tcp_receive_reset fires before tcp_done's CLOSE.
    uint64_t g1 = t.Accepted(t0, 0xc000, 40005, 20 * kUs);
    t.Reset(t0 + 1 * kMs, 0xc000, g1, 40005, 0, FL_RST_F_RECEIVED, 1);
    t.State(t0 + 1 * kMs + 1 * kUs, 0xc000, g1, 1, 7, 40005, kSrv, kAcceptor);
    t.Close(t0 + 1 * kMs + 2 * kUs, 0xc000, g1, 40005, 5, 0, kAcceptor);
    // We close; data arrives with the ACK of our FIN: the orphan is
    // destroyed, and the reset (TCP_ABORT_ON_DATA) comes 11 us after it.
    uint64_t g2 = t.Accepted(t0 + 2 * kMs, 0xd000, 40006, 20 * kUs);
    t.State(t0 + 3 * kMs, 0xd000, g2, 1, 4, 40006, kSrv, kAcceptor, kAcceptor);
    t.State(t0 + 3 * kMs + 30 * kUs, 0xd000, g2, 4, 7, 40006, kSrv, kAcceptor);
    t.Close(t0 + 3 * kMs + 31 * kUs, 0xd000, g2, 40006, 0, 50, kAcceptor);
    t.Reset(t0 + 3 * kMs + 42 * kUs, 0xd000, g2, 40006, FL_RST_ABORT_ON_DATA,
            FL_RST_F_PASSIVE | FL_RST_F_DESTROYED, 7);
  }, 0);
  Json c = Report();
  Json r = ByRemotePort(c, 40005);
  EXPECT_EQ(r["closed_by"], "client");
  EXPECT_EQ(r["close"], "rst");
  EXPECT_EQ(r["close_reason"], "reset received");
  Json d = ByRemotePort(c, 40006);
  EXPECT_EQ(d["closed_by"], "server");
  EXPECT_EQ(d["close"], "rst");
  EXPECT_EQ(d["close_reason"], "data after close");
  EXPECT_EQ(c["rst_received"], 1);
  EXPECT_EQ(c["rst_sent"], 1);
  EXPECT_EQ(c["rst_unmatched"], 0);
}

TEST_F(ConnectionsTest, OpenAtTheEndAndLastingCloseWait) {
  const uint64_t t0 = kStart + 1 * kMs;
  Write([&](TcpTrace& t) {
    uint64_t g1 = t.Accepted(t0, 0xe000, 40007, 20 * kUs);
    t.Serve(t0 + 1 * kMs, 0xe000, g1, kAcceptor, 0, 0, 0, 64, false);
    // The peer closes; the application never does.
    uint64_t g2 = t.Accepted(t0 + 2 * kMs, 0xf000, 40008, 20 * kUs);
    t.State(t0 + 3 * kMs, 0xf000, g2, 1, 8, 40008);
    // A quick one that is not an anomaly: CLOSE_WAIT for 1 ms.
    uint64_t g3 = t.Accepted(t0 + 4 * kMs, 0xf100, 40009, 20 * kUs);
    t.State(t0 + 5 * kMs, 0xf100, g3, 1, 8, 40009);
    t.State(t0 + 6 * kMs, 0xf100, g3, 8, 9, 40009, kSrv, kAcceptor, kAcceptor);
    t.State(t0 + 6 * kMs + 50 * kUs, 0xf100, g3, 9, 7, 40009, kSrv, kAcceptor,
            kAcceptor);
    t.Close(t0 + 6 * kMs + 60 * kUs, 0xf100, g3, 40009, 0, 0, 0);
    t.Netstat(kStart + 3 * kS, 0, 0, FL_NETSTAT_END);  // the trace runs 3 s
  }, 0);
  Json c = Report();
  Json o = ByRemotePort(c, 40007);
  EXPECT_EQ(o["closed_by"], "open");
  EXPECT_EQ(o["close"], "open");
  EXPECT_EQ(o["open_at_end"], true);
  EXPECT_EQ(o["state_at_end"], "ESTABLISHED");
  EXPECT_EQ(o["bytes_in"], 64);  // known up to its last serve record
  // To the trace end (the footer's time: the writer's clock at Finish).
  const uint64_t end = model_.trace.duration_ns;
  ASSERT_GT(end, 3 * kS);
  EXPECT_EQ(o["duration_ns"], end - 1 * kMs);
  Json w = ByRemotePort(c, 40008);
  EXPECT_EQ(w["closed_by"], "client");
  EXPECT_EQ(w["close"], "open");
  EXPECT_EQ(w["state_at_end"], "CLOSE_WAIT");
  EXPECT_EQ(w["state_ns"]["close_wait"], end - 4 * kMs);
  EXPECT_EQ(c["open"], 2);
  EXPECT_EQ(c["open_at_end"], 2);
  bool found = false;
  for (const Json& a : c["anomalies"]) {
    if (a["kind"] != "close_wait") continue;
    found = true;
    EXPECT_EQ(a["connections"], Json::array({w["id"]}));
  }
  EXPECT_TRUE(found);
  // Longest first.
  ASSERT_EQ(c["list"].size(), 3u);
  EXPECT_EQ(c["list"][0]["remote_port"], 40007);
  EXPECT_EQ(c["list"][2]["remote_port"], 40009);
}

// The same struct sock address serves two connections in turn, the second
// as a client: two connections, each with its own figures.
TEST_F(ConnectionsTest, SkReuseMakesTwoConnections) {
  const uint64_t t0 = kStart + 1 * kMs, sk = 0xffff888100003000;
  Write([&](TcpTrace& t) {
    uint64_t g1 = t.Accepted(t0, sk, 40010, 20 * kUs);
    t.ServerFin(t0 + 1 * kMs, sk, g1, 40010, kAcceptor, 11, 22);
    const uint64_t t1 = t0 + 60 * kMs;  // reused 5.8 us after... any time later
    fl_tcp_state s = t.StateRec(t1, sk, t1, 7, 2, 18080);
    s.sport = 0;  // the local port is not bound yet at SYN_SENT
    s.pid = kCli;
    s.tid = kCli;
    s.cur_pid = kCli;
    s.cur_tid = kCli;
    t.Put(s, FL_EV_TCP_STATE, t1);
    fl_tcp_connect cn;
    std::memset(&cn, 0, sizeof cn);
    cn.sk = sk;
    cn.gen = t1;
    V4(cn.saddr, "127.0.0.1");
    V4(cn.daddr, "127.0.0.3");
    cn.pid = kCli;
    cn.tid = kCli;
    cn.fd = 3;
    cn.ret = -115;
    cn.sport = 50000;
    cn.dport = 80;
    cn.family = AF_INET;
    cn.state = 1;
    t.State(t1 + 30 * kUs, sk, t1, 2, 1, 80, kCli, kCli, kCli);
    t.Put(cn, FL_EV_TCP_CONNECT, t1 + 40 * kUs);
    fl_tcp_state f = t.StateRec(t1 + 1 * kMs, sk, t1, 1, 4, 80);
    f.pid = f.cur_pid = kCli;
    f.tid = f.cur_tid = kCli;
    f.sport = 50000;
    V4(f.daddr, "127.0.0.3");
    t.Put(f, FL_EV_TCP_STATE, t1 + 1 * kMs);
    t.Close(t1 + 2 * kMs, sk, t1, 80, 33, 44, kCli, kCli, kCli, 50000);
  }, 0);
  Json c = Report();
  ASSERT_EQ(c["total"], 2);
  EXPECT_EQ(c["servers"], 1);
  EXPECT_EQ(c["clients"], 1);
  Json a = ByRemotePort(c, 40010), b = ByRemotePort(c, 80);
  EXPECT_EQ(a["sk"], b["sk"]);
  EXPECT_NE(a["gen"], b["gen"]);
  EXPECT_NE(a["id"], b["id"]);
  EXPECT_EQ(a["bytes_in"], 11);
  EXPECT_EQ(b["bytes_in"], 33);
  EXPECT_EQ(b["role"], "client");
  EXPECT_EQ(b["pid"], kCli);
  EXPECT_EQ(b["closed_by"], "client");  // a client socket's own FIN
  EXPECT_EQ(b["close_reason"], "client closed first");
  EXPECT_EQ(b["handshake_ns"], 30 * kUs);
  EXPECT_EQ(b["local_port"], 50000);
  EXPECT_TRUE(b["accept_tid"].is_null());
  EXPECT_EQ(c["closed_by_client"], 1);
  EXPECT_EQ(c["closed_by_server"], 1);
}

TEST_F(ConnectionsTest, AcceptWaitPercentiles) {
  Write([&](TcpTrace& t) {
    for (int i = 0; i < 10; ++i) {
      const uint64_t t0 = kStart + (1 + i) * 300 * kMs;
      const uint64_t sk = 0x10000 + i * 0x100;
      uint64_t g = t.Accepted(t0, sk, 41000 + i, (i + 1) * 20 * kMs);
      t.ServerFin(t0 + 250 * kMs, sk, g, 41000 + i, kAcceptor);
    }
  }, 0);
  Json c = Report();
  EXPECT_EQ(c["accept_wait_ns"]["count"], 10);
  EXPECT_EQ(c["accept_wait_ns"]["max"], 200 * kMs);
  // Log-linear buckets: v <= reported <= v + v/16.
  EXPECT_GE(c["accept_wait_ns"]["p50"].get<uint64_t>(), 100 * kMs);
  EXPECT_LE(c["accept_wait_ns"]["p50"].get<uint64_t>(), 100 * kMs + 100 * kMs / 16);
  EXPECT_EQ(c["accept_wait_ns"]["p99"], 200 * kMs);
  EXPECT_EQ(ByRemotePort(c, 41003)["accept_wait_ns"], 80 * kMs);
}

// Acceptor-workers: the acceptor reads the request, a worker writes the
// response; the connection counts for the worker.
TEST_F(ConnectionsTest, ServingMovesFromAcceptorToWorker) {
  const uint64_t t0 = kStart + 1 * kMs, sk = 0x20000;
  Write([&](TcpTrace& t) {
    uint64_t g = t.Accepted(t0, sk, 42000, 20 * kUs);
    t.Serve(t0 + 100 * kUs, sk, g, kAcceptor, 0, 0, 0, 100, false);
    t.Serve(t0 + 300 * kUs, sk, g, kWorker1, kAcceptor, 100, 0, 500, true);
    t.ServerFin(t0 + 1 * kMs, sk, g, 42000, kWorker1, 100, 500);
  }, 0);
  Json c = Report();
  Json e = ByRemotePort(c, 42000);
  EXPECT_EQ(e["accept_tid"], kAcceptor);
  EXPECT_EQ(e["serving_tids"], Json::array({kAcceptor, kWorker1}));
  ASSERT_EQ(e["serving"].size(), 2u);
  EXPECT_EQ(e["serving"][0]["bytes_in"], 100);
  EXPECT_EQ(e["serving"][0]["bytes_out"], 0);
  EXPECT_EQ(e["serving"][0]["from_ns"], 1 * kMs + 100 * kUs);
  EXPECT_EQ(e["serving"][1]["tid"], kWorker1);
  EXPECT_EQ(e["serving"][1]["bytes_in"], 0);
  EXPECT_EQ(e["serving"][1]["bytes_out"], 500);
  EXPECT_EQ(e["last_tid"], kWorker1);
  ASSERT_EQ(c["threads"].size(), 2u);
  EXPECT_EQ(c["threads"][0]["tid"], kWorker1);
  EXPECT_EQ(c["threads"][0]["connections"], 1);
  EXPECT_EQ(c["threads"][0]["comm"], "worker1");
  EXPECT_EQ(c["threads"][1]["tid"], kAcceptor);
  EXPECT_EQ(c["threads"][1]["accepted"], 1);
  EXPECT_EQ(c["threads"][1]["connections"], 0);
}

// 120 connections, 110 served by one worker and 10 by the other, all
// closed first by the server: imbalance and a TIME_WAIT pile-up.
TEST_F(ConnectionsTest, ImbalanceAndTimeWaitPileUp) {
  Write([&](TcpTrace& t) {
    for (int i = 0; i < 120; ++i) {
      const uint64_t t0 = kStart + (1 + i) * kMs;
      const uint64_t sk = 0x30000 + i * 0x100;
      const uint32_t worker = i % 12 == 0 ? kWorker2 : kWorker1;
      uint64_t g = t.Accepted(t0, sk, 43000 + i, 20 * kUs);
      t.Serve(t0 + 50 * kUs, sk, g, worker, 0, 0, 0, 10, false);
      t.ServerFin(t0 + 100 * kUs, sk, g, 43000 + i, worker, 10, 10);
    }
  }, 0);
  Json c = Report();
  EXPECT_EQ(c["total"], 120);
  EXPECT_EQ(c["time_wait_server"], 120);
  bool imbalance = false, pileup = false;
  for (const Json& a : c["anomalies"]) {
    if (a["kind"] == "imbalance") {
      imbalance = true;
      EXPECT_EQ(a["connections"], 110) << a.dump();
      EXPECT_NE(a["detail"].get<std::string>().find("thread 501"), std::string::npos);
    }
    if (a["kind"] == "time_wait_pileup") {
      pileup = true;
      EXPECT_EQ(a["connections_total"], 120);
      EXPECT_EQ(a["connections"].size(), 100u);  // capped, smallest ids
    }
  }
  EXPECT_TRUE(imbalance);
  EXPECT_TRUE(pileup);
  EXPECT_EQ(c["threads"][0]["tid"], kWorker1);
  EXPECT_EQ(c["threads"][0]["connections"], 110);
}

TEST_F(ConnectionsTest, BalancedWorkersAreNoAnomaly) {
  Write([&](TcpTrace& t) {
    for (int i = 0; i < 40; ++i) {
      const uint64_t t0 = kStart + (1 + i) * kMs;
      const uint64_t sk = 0x40000 + i * 0x100;
      const uint32_t worker = i % 2 ? kWorker2 : kWorker1;
      uint64_t g = t.Accepted(t0, sk, 44000 + i, 20 * kUs);
      t.Serve(t0 + 50 * kUs, sk, g, worker, 0, 0, 0, 10, false);
      t.State(t0 + 100 * kUs, sk, g, 1, 8, 44000 + i);
      t.State(t0 + 200 * kUs, sk, g, 8, 9, 44000 + i, kSrv, kAcceptor, worker);
      t.State(t0 + 300 * kUs, sk, g, 9, 7, 44000 + i, kSrv, kAcceptor, worker);
      t.Close(t0 + 310 * kUs, sk, g, 44000 + i, 10, 0, worker);
    }
  }, 0);
  Json c = Report();
  EXPECT_EQ(c["closed_by_client"], 40);
  for (const Json& a : c["anomalies"]) ADD_FAILURE() << a.dump();
}

TEST_F(ConnectionsTest, NetstatDeltasAndAcceptQueueOverflow) {
  Write([&](TcpTrace& t) {
    t.Netstat(kStart + 2 * kUs, 13, 13, FL_NETSTAT_START);
    // listen(1): the second child finds the queue over its max.
    t.Accepted(kStart + 1 * kMs, 0x50000, 45000, 1 * kS, kAcceptor, 1, 1);
    t.Accepted(kStart + 2 * kMs, 0x50100, 45001, 1 * kS, kAcceptor, 2, 1);
    t.Netstat(kStart + 1 * kS, 60, 60, FL_NETSTAT_PERIODIC);
    t.Netstat(kStart + 2 * kS, 109, 109, FL_NETSTAT_END);
  }, 0);
  Json c = Report();
  EXPECT_EQ(c["listen_overflows"], 96);
  EXPECT_EQ(c["listen_drops"], 96);
  EXPECT_EQ(c["netstat_samples"], 3);
  ASSERT_EQ(c["listeners"].size(), 1u);
  EXPECT_EQ(c["listeners"][0]["port"], kPort);
  EXPECT_EQ(c["listeners"][0]["max_backlog_seen"], 2);
  EXPECT_EQ(c["listeners"][0]["max_ack_backlog"], 1);
  EXPECT_EQ(c["listeners"][0]["queue_full"], 1);
  EXPECT_EQ(c["listeners"][0]["accepted"], 2);
  bool found = false;
  for (const Json& a : c["anomalies"]) {
    if (a["kind"] != "listen_overflow") continue;
    found = true;
    EXPECT_EQ(a["listen_overflows"], 96);
    EXPECT_EQ(a["connections"], Json::array({ByRemotePort(c, 45001)["id"]}));
  }
  EXPECT_TRUE(found);
}

TEST_F(ConnectionsTest, NoNetstatSamplesIsNullAndLostEventsMakeItPartial) {
  Write([&](TcpTrace& t) {
    uint64_t g = t.Accepted(kStart + 1 * kMs, 0x60000, 46000, 20 * kUs);
    t.ServerFin(kStart + 2 * kMs, 0x60000, g, 46000, kAcceptor);
    // A close whose opening was lost.
    t.Close(kStart + 3 * kMs, 0x61000, kStart + 500 * kUs, 46001, 1, 1, kAcceptor);
  }, 0, /*lost=*/5);
  Json c = Report();
  EXPECT_TRUE(c["listen_overflows"].is_null());
  EXPECT_TRUE(c["listen_drops"].is_null());
  EXPECT_EQ(c["lost_events"], 5);
  EXPECT_EQ(c["partial"], true);
  ASSERT_GE(c["partial_reasons"].size(), 2u);
  EXPECT_EQ(c["partial_reasons"][0], "5 events lost while recording");
  EXPECT_EQ(ByRemotePort(c, 46001)["partial"], true);
  std::ostringstream text;
  RenderText(model_.connections, text);
  EXPECT_NE(text.str().find("PARTIAL: 5 events lost"), std::string::npos) << text.str();
}

// Sockets open before the recording: FL_EV_TCP_SEEN, or a state change
// whose gen the kernel set just before it (first sight in a close()).
TEST_F(ConnectionsTest, OpenAtTheStart) {
  Write([&](TcpTrace& t) {
    fl_tcp_state s = t.StateRec(kStart + 1 * kMs, 0x70000, kStart + 1 * kMs, 1, 1, 47000);
    s.pid = s.cur_pid = kSrv;
    s.tid = s.cur_tid = kWorker1;
    t.Put(s, FL_EV_TCP_SEEN, kStart + 1 * kMs);
    t.ServerFin(kStart + 5 * kMs, 0x70000, kStart + 1 * kMs, 47000, kWorker1);
    // First sight in close(): gen 2 us before the record.
    const uint64_t t2 = kStart + 10 * kMs;
    t.State(t2, 0x71000, t2 - 2 * kUs, 8, 9, 47001, kSrv, kWorker2, kWorker2);
    t.State(t2 + 100 * kUs, 0x71000, t2 - 2 * kUs, 9, 7, 47001, kSrv, kWorker2, kWorker2);
    t.Close(t2 + 110 * kUs, 0x71000, t2 - 2 * kUs, 47001, 0, 0, 0, kSrv, kWorker2);
  }, 0);
  Json c = Report();
  Json a = ByRemotePort(c, 47000), b = ByRemotePort(c, 47001);
  EXPECT_EQ(a["open_at_start"], true);
  EXPECT_EQ(a["role"], "server");  // port 18080 is a listener's
  EXPECT_TRUE(a["established_ns"].is_null());
  EXPECT_EQ(a["closed_by"], "server");
  EXPECT_EQ(a["partial"], false);
  EXPECT_EQ(b["open_at_start"], true);
  EXPECT_EQ(b["closed_by"], "client");  // it was in CLOSE_WAIT
  EXPECT_EQ(b["close"], "fin");
  EXPECT_EQ(b["partial"], false);
  EXPECT_EQ(c["open_at_start"], 2);
  EXPECT_EQ(c["partial"], false);
}

// A listener from before the recording is first seen when it closes
// (LISTEN -> CLOSE with a fresh gen, then its destroy with no remote side):
// not a connection.
TEST_F(ConnectionsTest, ListenerClosingIsNoConnection) {
  Write([&](TcpTrace& t) {
    const uint64_t ts = kStart + 5 * kMs, lsk = 0xffff888100009000;
    fl_tcp_state s = t.StateRec(ts, lsk, ts - 3 * kUs, 10, 7, 0);
    std::memset(s.daddr, 0, 16);
    s.pid = s.cur_pid = kSrv;
    s.tid = s.cur_tid = kSrv;
    t.Put(s, FL_EV_TCP_STATE, ts);
    t.Close(ts + 5 * kUs, lsk, ts - 3 * kUs, 0, 0, 0, 0);
  }, 0);
  Json c = Report();
  EXPECT_EQ(c["total"], 0);
  EXPECT_EQ(c["partial"], false) << c.dump();
}

TEST_F(ConnectionsTest, JsonNamesAsSpecSection6) {
  Write([&](TcpTrace& t) {
    uint64_t g = t.Accepted(kStart + 1 * kMs, 0x80000, 48000, 20 * kUs);
    t.ServerFin(kStart + 2 * kMs, 0x80000, g, 48000, kAcceptor);
  }, 0);
  Json c = Report();
  for (const char* k : {"total", "closed_by_server", "closed_by_client", "fin", "rst_sent",
                        "rst_received", "listen_overflows", "listen_drops",
                        "accept_wait_ns", "anomalies", "list"}) {
    EXPECT_TRUE(c.contains(k)) << k;
  }
  for (const char* k : {"p50", "p99", "max"}) EXPECT_TRUE(c["accept_wait_ns"].contains(k));
  ASSERT_EQ(c["list"].size(), 1u);
  for (const char* k :
       {"local_addr", "local_port", "remote_addr", "remote_port", "pid", "accept_tid",
        "serving_tids", "established_ns", "accept_wait_ns", "duration_ns", "closed_by",
        "close", "close_reason", "bytes_in", "bytes_out", "requests", "faults",
        "fault_ns"}) {
    EXPECT_TRUE(c["list"][0].contains(k)) << k;
  }
}

TEST_F(ConnectionsTest, TraceWithoutTcpRecordsHasNoSection) {
  Write([&](TcpTrace&) {}, 0);
  // Only the listener record: recorded, no connections.
  Json c = Report();
  EXPECT_EQ(c["recorded"], true);
  EXPECT_EQ(c["total"], 0);

  trace::TraceMeta meta;
  meta.start_monotonic_ns = kStart;
  auto w = trace::TraceWriter::Create(path_, meta);
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->Finish(std::vector<trace::CpuCounts>{{0, 0}}));
  c = Report();
  EXPECT_EQ(c["recorded"], false);
  EXPECT_EQ(c["total"], 0);
  std::ostringstream text;
  RenderText(model_.connections, text);
  EXPECT_EQ(text.str(), "");
}

// Memory: finished connections leave the live table; only the held ones
// (for late resets, hold_ns) and the top list remain.
TEST(ConnectionAnalysisTest, FinishedConnectionsAreNotKept) {
  trace::FileHeader header;
  header.meta.start_monotonic_ns = kStart;
  Names names;
  ConnectionOptions opt;
  opt.list_max = 5;
  opt.hold_ns = 1 * kMs;
  ConnectionAnalysis a(header, names, opt);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t t = kStart + i * 100 * kUs, sk = 0x1000 + (i % 7) * 0x100;
    trace::TcpStateEvent s;
    s.ts_ns = t;
    s.sk = sk;
    s.gen = t;
    s.family = AF_INET;
    s.sport = kPort;
    s.dport = static_cast<uint16_t>(30000 + i);
    s.old_state = 10;
    s.new_state = 3;
    a.OnTcpState(s);
    s.ts_ns = t + 10 * kUs;
    s.old_state = 3;
    s.new_state = 1;
    a.OnTcpState(s);
    trace::TcpCloseEvent c;
    c.ts_ns = t + (i % 10 + 1) * 5 * kUs + 10 * kUs;
    c.sk = sk;
    c.gen = t;
    c.family = AF_INET;
    c.sport = kPort;
    c.dport = s.dport;
    a.OnTcpClose(c);
  }
  EXPECT_EQ(a.live(), 0u);
  EXPECT_LE(a.held(), 12u);
  ConnectionsModel m = a.Model();
  EXPECT_EQ(m.total, 1000u);
  ASSERT_EQ(m.list.size(), 5u);
  EXPECT_EQ(m.list_omitted, 995u);
  for (const auto& c : m.list) EXPECT_EQ(c.duration_ns, 60 * kUs);
}

// The Session holds TCP records like the others: fed in file order (CPU 1's
// records after CPU 0's later ones), delivered in time order, only to the
// visitors that want kWantTcp.
TEST(ConnectionSessionTest, TcpRecordsComeOutInTimeOrder) {
  struct Log : trace::TraceVisitor {
    void OnTcpState(const trace::TcpStateEvent& e) override { got.push_back(e.ts_ns); }
    void OnTcpClose(const trace::TcpCloseEvent& e) override { got.push_back(e.ts_ns); }
    void OnTcpNetstat(const trace::TcpNetstatEvent& e) override { got.push_back(e.ts_ns); }
    std::vector<uint64_t> got;
  } tcp, none;
  Session s;
  s.Add(&tcp, kWantTcp);
  s.Add(&none, kWantFault | kWantMmap);
  trace::TcpStateEvent a;
  a.ts_ns = 300;
  a.cpu = 0;
  s.OnTcpState(a);
  trace::TcpCloseEvent c;
  c.ts_ns = 400;
  c.cpu = 0;
  s.OnTcpClose(c);
  a.ts_ns = 100;
  a.cpu = 1;
  s.OnTcpState(a);
  trace::TcpNetstatEvent n;
  n.ts_ns = 200;
  s.OnTcpNetstat(n);
  s.Finish();
  EXPECT_EQ(tcp.got, (std::vector<uint64_t>{100, 200, 300, 400}));
  EXPECT_TRUE(none.got.empty());
}

}  // namespace
}  // namespace faultline::analyzer
