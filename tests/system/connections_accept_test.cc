// Truth for the accept queue. AcceptWait: the delayed_accept helper
// accepts each connection a known time after it was queued and prints its
// own accept() return times (CLOCK_MONOTONIC); the report's accept_wait_ns
// per connection must agree with the delay, and with the interval from the
// handshake's last ACK in a tshark capture (converted from CLOCK_REALTIME)
// to the helper's own accept timestamp. ListenOverflow: a listener with
// backlog 1 that never accepts while 50 clients connect; listen_overflows
// and listen_drops must equal the /proc/net/netstat deltas over the run
// (they count dropped SYNs, retransmissions included).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/capture.h"
#include "tests/support/connections.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

using nlohmann::json;
namespace ft = faultline::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kMs = 1000000;

class ConnectionsAcceptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ft::IsRoot()) GTEST_SKIP() << "needs root to load BPF programs";
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
      GTEST_SKIP() << "no /sys/kernel/btf/vmlinux (kernel without BTF)";
    }
    std::string why;
    if (!ft::RecordHasTcp(&why)) GTEST_SKIP() << why;
  }
};

// The port from a "listening on 127.0.0.1:PORT" line, or 0.
int PortOf(const std::string& line) {
  const size_t at = line.find("127.0.0.1:");
  return at == std::string::npos ? 0 : std::atoi(line.c_str() + at + 10);
}

TEST_F(ConnectionsAcceptTest, AcceptWaitMatchesTheServersDelay) {
  if (!ft::HaveCommand("tshark") || !ft::HaveCommand("dumpcap")) {
    GTEST_SKIP() << "tshark/dumpcap are not installed (apt install tshark)";
  }
  ft::TempDir dir("faultline-conn-accept");
  const std::vector<int> delays_ms = {100, 300, 50};
  std::vector<std::string> argv = {ft::BuildPath("tests/helpers/delayed_accept")};
  for (int d : delays_ms) argv.push_back(std::to_string(d));
  ft::Child server = ft::Child::Spawn(argv);
  const int port = PortOf(server.ReadStderrUntil("listening on", seconds(10)));
  ASSERT_GT(port, 0) << server.StderrSoFar();
  const int64_t real_minus_mono = ft::RealtimeMinusMonotonicNs();

  std::string error;
  auto o = ft::Observe(
      {"-p", std::to_string(server.pid())}, port, dir.path(),
      [&] {
        for (size_t i = 0; i < delays_ms.size(); ++i) {
          ft::TcpClient c(port);
          ASSERT_TRUE(c.ok());
          ASSERT_TRUE(c.Send("hello\n"));
          EXPECT_EQ(c.ReadUntilClose(seconds(5)), "ok\n");
        }
      },
      &error);
  ASSERT_TRUE(o) << error;
  ft::RunResult s = server.Wait(seconds(10));
  if (!o->report.contains("connections")) {
    GTEST_SKIP() << "this build's report has no \"connections\" object "
                    "(connection analysis not built yet)";
  }
  ASSERT_EQ(s.exit_code, 0) << s.err;
  ASSERT_LT(std::abs(ft::RealtimeMinusMonotonicNs() - real_minus_mono), kMs)
      << "the wall clock was stepped during the run";

  std::map<int, ft::CapturedConnection> wire;
  for (const auto& w : o->wire) wire[w.client_port] = w;
  std::vector<std::string> errors;
  auto rep = ft::ReportedOnPort(o->report["connections"], port, &errors);
  EXPECT_TRUE(errors.empty()) << ft::JoinLines(errors);
  ASSERT_EQ(wire.size(), delays_ms.size());
  int64_t max_truth = 0;
  std::istringstream lines(s.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    json h = json::parse(line);
    const int cport = h["remote_port"];
    const int64_t delay = h["delay_ms"].get<int64_t>() * kMs;
    const int64_t accept_ns = h["accept_ns"];
    ASSERT_TRUE(wire.count(cport)) << "no capture of client port " << cport;
    const ft::CapturedConnection& w = wire[cport];
    ASSERT_GT(w.ack_ns, 0) << "no handshake ACK captured: " << ft::Describe(w);
    // From the wire and the server's own clock, independent of faultline.
    const int64_t truth = accept_ns - (w.ack_ns - real_minus_mono);
    ASSERT_GE(truth, delay) << "the helper accepted before its delay?";
    ASSERT_LT(truth, delay + 50 * kMs) << "the helper overslept";
    max_truth = std::max(max_truth, truth);
    auto it = rep.find(cport);
    if (it == rep.end()) {
      ADD_FAILURE() << "client port " << cport << " not in connections.list";
      continue;
    }
    const int64_t got = it->second.accept_wait_ns;
    EXPECT_GE(got, delay) << "client port " << cport << " delayed "
                          << delay / kMs << " ms: " << it->second.raw.dump();
    EXPECT_NEAR(static_cast<double>(got), static_cast<double>(truth),
                2.0 * kMs)
        << "client port " << cport << ": accept_wait_ns vs (server's accept "
        << "return - captured handshake ACK); " << it->second.raw.dump()
        << "; kept: " << ft::KeepArtifacts(dir.path(), "accept-wait");
  }
  EXPECT_EQ(n, static_cast<int>(delays_ms.size()));
  int64_t max = -1;
  const json& aw = o->report["connections"]["accept_wait_ns"];
  ASSERT_TRUE(aw.is_object() && aw.contains("max"))
      << "connections.accept_wait_ns.max is missing";
  max = aw["max"].get<int64_t>();
  EXPECT_NEAR(static_cast<double>(max), static_cast<double>(max_truth),
              2.0 * kMs)
      << "connections.accept_wait_ns.max vs the longest true wait";
}

// TcpExt ListenOverflows and ListenDrops from /proc/net/netstat (by name:
// two "TcpExt:" lines, names then values).
std::map<std::string, int64_t> ListenCounters() {
  std::ifstream in("/proc/net/netstat");
  std::vector<std::string> names;
  std::map<std::string, int64_t> out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream f(line.substr(7));
    if (names.empty()) {
      for (std::string n; f >> n;) names.push_back(n);
      continue;
    }
    int64_t v;
    for (size_t i = 0; f >> v && i < names.size(); ++i) {
      if (names[i] == "ListenOverflows" || names[i] == "ListenDrops") {
        out[names[i]] = v;
      }
    }
    break;
  }
  return out;
}

TEST_F(ConnectionsAcceptTest, ListenOverflowsEqualTheKernelsCounter) {
  ft::TempDir dir("faultline-conn-overflow");
  ft::Child listener =
      ft::Child::Spawn({ft::BuildPath("tests/helpers/no_accept"), "1"});
  const int port =
      PortOf(listener.ReadStderrUntil("listening on", seconds(10)));
  ASSERT_GT(port, 0) << listener.StderrSoFar();
  std::string error;
  auto rec = ft::Recording::Start({"-p", std::to_string(listener.pid())},
                                  dir.File("t.flt"), &error);
  ASSERT_TRUE(rec) << error;
  auto before = ListenCounters();
  ASSERT_TRUE(before.count("ListenOverflows") && before.count("ListenDrops"))
      << "no ListenOverflows/ListenDrops in /proc/net/netstat";
  // 50 connects at once, held 1.5 s (the SYNs of the ones beyond the queue
  // are dropped, and retransmitted once within that time), then closed.
  ft::RunResult burst =
      ft::Run({ft::BuildPath("tests/helpers/tcp_client"), "connect",
               std::to_string(port), "50", "1500"},
              seconds(20));
  ASSERT_EQ(burst.exit_code, 0) << burst.err;
  std::this_thread::sleep_for(milliseconds(200));
  auto after = ListenCounters();
  ft::RunResult r = rec->Stop();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t overflows =
      after["ListenOverflows"] - before["ListenOverflows"];
  const int64_t drops = after["ListenDrops"] - before["ListenDrops"];
  ASSERT_GT(overflows, 0) << "the burst overflowed nothing (scenario)";
  auto j = ft::ReportJson(dir.File("t.flt"), &error);
  ASSERT_TRUE(j) << error;
  if (!j->contains("connections")) {
    GTEST_SKIP() << "this build's report has no \"connections\" object "
                    "(connection analysis not built yet)";
  }
  const json& c = (*j)["connections"];
  ASSERT_TRUE(c.contains("listen_overflows") && c.contains("listen_drops"))
      << c.dump();
  EXPECT_EQ(c["listen_overflows"].get<int64_t>(), overflows)
      << "vs the /proc/net/netstat ListenOverflows delta over the burst";
  EXPECT_EQ(c["listen_drops"].get<int64_t>(), drops)
      << "vs the /proc/net/netstat ListenDrops delta over the burst";
  listener.Signal(SIGTERM);
  listener.Wait(seconds(5));
}

}  // namespace
