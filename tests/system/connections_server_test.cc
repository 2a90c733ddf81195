// Truth for the report's connections against faultline-server, in the
// patterns where accepting and serving happen on different threads or not:
// event-loop (one thread does all), acceptor-workers (an acceptor hands
// each connection to a worker loop), dispatch (reader loops accept, read
// and write; a pool computes), shared-accept (N loops accept on one
// socket) and thread-per-conn (a new thread serves each connection). Mixed endings in one run: keep-alive
// connections that curl closes (client FIN), "Connection: close" requests
// (server FIN) and SO_LINGER 0 aborts (client RST). Checked against a
// tshark capture of lo (closed_by, close, bytes, totals) and against strace
// of the server (-f -yy: which thread's accept4 returned the socket, which
// threads wrote to it): accept_tid is the accepting thread,
// serving_tids include every thread that wrote the response, and contain
// no thread that made no syscall on the socket.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/capture.h"
#include "tests/support/connections.h"
#include "tests/support/process.h"
#include "tests/support/server.h"
#include "tests/support/syscalls.h"
#include "tests/support/temp_dir.h"

namespace {

using nlohmann::json;
namespace ft = faultline::testing;
using std::chrono::seconds;

class ConnectionsServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!ft::IsRoot()) GTEST_SKIP() << "needs root to load BPF programs";
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
      GTEST_SKIP() << "no /sys/kernel/btf/vmlinux (kernel without BTF)";
    }
    if (!ft::HaveCommand("tshark") || !ft::HaveCommand("dumpcap")) {
      GTEST_SKIP() << "tshark/dumpcap are not installed (apt install tshark)";
    }
    if (!ft::HaveCommand("curl")) GTEST_SKIP() << "curl is not installed";
    if (!ft::HaveCommand("strace")) GTEST_SKIP() << "strace is not installed";
    std::string why;
    if (!ft::RecordHasTcp(&why)) GTEST_SKIP() << why;
    // The pattern must be one the server lists.
    ft::RunResult list = ft::Run(
        {ft::BuildPath("faultline-server"), "--list-patterns"}, seconds(10));
    ASSERT_EQ(list.exit_code, 0) << list.err;
    ASSERT_NE(list.out.find(GetParam() + "\n"), std::string::npos)
        << GetParam() << " is not in faultline-server --list-patterns";
  }
};

TEST_P(ConnectionsServerTest, EndingsBytesAndServingThreads) {
  const std::string pattern = GetParam();
  ft::TempDir dir("faultline-conn-server");
  std::string error;
  auto server = ft::StartServer(pattern, 2, 2.0, &error);
  ASSERT_TRUE(server) << error;
  const pid_t pid = server->child.pid();
  const int port = server->port;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto strace = ft::SyscallTrace::Start(pid, dir.File("strace.txt"), &error);
  ASSERT_TRUE(strace) << error;

  std::vector<int> client_ports;
  auto o = ft::Observe(
      {"-p", std::to_string(pid)}, port, dir.path(),
      [&] {
        auto curl = [&](const std::vector<std::string>& extra,
                        const std::vector<std::string>& paths) {
          std::vector<std::string> argv = {"curl", "-s", "--max-time", "5"};
          for (size_t i = 0; i < paths.size(); ++i) {
            if (i > 0) argv.push_back("--next");
            for (const char* a : {"-s", "-o", "/dev/null", "-w",
                                  "%{local_port} %{num_connects}\n"}) {
              argv.push_back(a);
            }
            argv.insert(argv.end(), extra.begin(), extra.end());
            argv.push_back(base + paths[i]);
          }
          ft::RunResult r = ft::Run(argv, seconds(20));
          EXPECT_EQ(r.exit_code, 0) << r.err;
          for (int p : ft::CurlNewConnectionPorts(r.out)) client_ports.push_back(p);
        };
        // Keep-alive, curl closes at exit (2 connections, 2 requests each).
        curl({}, {"/", "/alloc?kb=16"});
        curl({}, {"/file?kb=8", "/"});
        // Connection: close: the server closes after each response; this
        // client waits for its FIN before closing (curl may close first).
        for (const char* path : {"/", "/alloc?kb=4", "/"}) {
          std::string response;
          bool closed = false;
          const int p = ft::GetUntilServerCloses(
              port, path, "Connection: close\r\n", &response, &closed);
          EXPECT_TRUE(p > 0 && closed) << "no close: " << response;
          if (p > 0) client_ports.push_back(p);
        }
        // SO_LINGER 0 after the response: the client resets.
        ft::RunResult a =
            ft::Run({ft::BuildPath("tests/helpers/tcp_client"), "abort",
                     std::to_string(port), "2"},
                    seconds(20));
        EXPECT_EQ(a.exit_code, 0) << a.err;
        std::istringstream in(a.out);
        for (std::string line; std::getline(in, line);) {
          json j = json::parse(line, nullptr, false);
          if (!j.is_discarded()) client_ports.push_back(j["local_port"]);
        }
      },
      &error);
  ASSERT_TRUE(o) << error;
  ASSERT_TRUE(strace->Stop(&error)) << error;

  // The capture saw the clients' connections, with the endings intended.
  std::set<int> wire_ports;
  int by_client_fin = 0, by_server_fin = 0, by_client_rst = 0;
  for (const auto& w : o->wire) {
    wire_ports.insert(w.client_port);
    by_client_fin += w.first_close == "client" && w.Close() == "fin";
    by_server_fin += w.first_close == "server" && w.Close() == "fin";
    by_client_rst += w.first_close == "client" && w.Close() == "rst";
  }
  ASSERT_EQ(std::set<int>(client_ports.begin(), client_ports.end()),
            wire_ports);
  ASSERT_EQ(by_client_fin, 2);
  ASSERT_EQ(by_server_fin, 3);
  ASSERT_EQ(by_client_rst, 2);

  // Threads, against strace.
  std::ifstream st(dir.File("strace.txt"));
  std::stringstream text;
  text << st.rdbuf();
  auto calls = ft::ParseStraceSockets(text.str(), port);
  for (const auto& w : o->wire) {
    const ft::SocketSyscalls& s = calls[w.client_port];
    ASSERT_NE(s.accept_tid, 0)
        << "strace shows no accept of client port " << w.client_port;
    ASSERT_FALSE(s.writer_tids.empty())
        << "strace shows no write to client port " << w.client_port;
    if (pattern == "acceptor-workers" || pattern == "thread-per-conn") {
      // The scenario hands off: the writer is a worker, not the acceptor.
      ASSERT_FALSE(s.writer_tids.count(s.accept_tid))
          << "client port " << w.client_port
          << " was written by its acceptor " << s.accept_tid;
    }
  }

  if (!o->report.contains("connections")) {
    GTEST_SKIP() << "this build's report has no \"connections\" object "
                    "(connection analysis not built yet)";
  }

  std::vector<std::string> diffs =
      ft::CompareWithWire(o->report["connections"], o->wire, port);
  EXPECT_TRUE(diffs.empty())
      << pattern << ": report vs tshark capture:\n"
      << ft::JoinLines(diffs) << "recorder: " << o->record_stderr
      << "kept: " << ft::KeepArtifacts(dir.path(), pattern);

  std::vector<std::string> errors;
  auto rep = ft::ReportedOnPort(o->report["connections"], port, &errors);
  EXPECT_TRUE(errors.empty()) << ft::JoinLines(errors);
  for (const auto& w : o->wire) {
    const ft::SocketSyscalls& s = calls[w.client_port];
    auto it = rep.find(w.client_port);
    if (it == rep.end()) continue;  // CompareWithWire said so.
    const ft::ReportedConnection& r = it->second;
    EXPECT_EQ(r.pid, pid) << "client port " << w.client_port << ": "
                          << r.raw.dump();
    EXPECT_EQ(r.accept_tid, s.accept_tid)
        << pattern << ", client port " << w.client_port
        << ": accept_tid vs strace's accept4 caller; " << r.raw.dump();
    const std::set<int64_t> serving(r.serving_tids.begin(),
                                    r.serving_tids.end());
    for (pid_t t : s.writer_tids) {
      EXPECT_TRUE(serving.count(t))
          << pattern << ", client port " << w.client_port << ": thread " << t
          << " wrote the response (strace) but is not in serving_tids; "
          << r.raw.dump();
    }
    // And no thread serves it that never touched it.
    const std::set<pid_t> touched = s.Touched();
    for (int64_t t : r.serving_tids) {
      EXPECT_TRUE(touched.count(static_cast<pid_t>(t)))
          << pattern << ", client port " << w.client_port << ": serving tid "
          << t << " made no syscall on this socket (strace)";
    }
  }
  server->child.Signal(SIGTERM);
  server->child.Wait(seconds(10));
}

INSTANTIATE_TEST_SUITE_P(Patterns, ConnectionsServerTest,
                         ::testing::Values("event-loop", "acceptor-workers",
                                           "dispatch", "shared-accept",
                                           "thread-per-conn"),
                         [](const auto& info) {
                           return ft::PatternTestName(info.param);
                         });

}  // namespace
