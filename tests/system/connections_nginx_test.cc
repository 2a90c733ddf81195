// Truth for the report's connections against nginx from Debian, a server
// we did not write. Each test makes connections that end in one known way,
// records nginx with `faultline record -p <master>` (or --port), and
// captures the loopback with dumpcap at the same time. Then, per connection
// (matched by the client's ephemeral port): closed_by and close equal the
// packets' (whose FIN or RST came first; RST anywhere), bytes_in and
// bytes_out equal the TCP payload in the capture, and the totals equal the
// capture's. The clients' own accounts (curl's -w %{local_port}, the
// tcp_client helper's lines) check that the capture saw what they did.
// Attribution: every connection belongs to one of nginx's workers (the
// master's children in /proc) and was accepted by a thread of that worker,
// never by the client (on loopback the softirq runs in the client).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/capture.h"
#include "tests/support/connections.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/syscalls.h"
#include "tests/support/temp_dir.h"

namespace {

using nlohmann::json;
namespace ft = faultline::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string NginxBinary() {
  if (ft::HaveCommand("nginx")) return "nginx";
  if (access("/usr/sbin/nginx", X_OK) == 0) return "/usr/sbin/nginx";
  return "";
}

// The local ports curl printed with -w '%{local_port} %{num_connects}\n',
// counting only transfers that opened a new connection.
std::vector<int> NewConnectionPorts(const std::string& out) {
  std::vector<int> ports;
  std::istringstream in(out);
  int port = 0, connects = 0;
  while (in >> port >> connects) {
    if (connects > 0) ports.push_back(port);
  }
  return ports;
}

// "local_port" of each JSON line a tcp_client run printed.
std::vector<int> HelperPorts(const std::string& out,
                             const std::string& want_end,
                             std::string* problems) {
  std::vector<int> ports;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    ports.push_back(j["local_port"].get<int>());
    if (j["end"] != want_end) *problems += line + "\n";
  }
  return ports;
}

std::set<int> WirePorts(const std::vector<ft::CapturedConnection>& wire) {
  std::set<int> out;
  for (const auto& c : wire) out.insert(c.client_port);
  return out;
}

class ConnectionsNginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ft::IsRoot()) GTEST_SKIP() << "needs root to load BPF programs";
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
      GTEST_SKIP() << "no /sys/kernel/btf/vmlinux (kernel without BTF)";
    }
    nginx_ = NginxBinary();
    if (nginx_.empty()) GTEST_SKIP() << "nginx is not installed";
    if (!ft::HaveCommand("tshark") || !ft::HaveCommand("dumpcap")) {
      GTEST_SKIP() << "tshark/dumpcap are not installed (apt install tshark)";
    }
    if (!ft::HaveCommand("curl")) GTEST_SKIP() << "curl is not installed";
    std::string why;
    if (!ft::RecordHasTcp(&why)) GTEST_SKIP() << why;
    ASSERT_FALSE(dir_.path().empty());
  }

  void TearDown() override {
    if (master_ > 0) {
      ft::Run({nginx_, "-p", dir_.path(), "-e", dir_.File("error.log"), "-c",
               dir_.File("nginx.conf"), "-s", "stop"},
              seconds(20));
      for (int i = 0; i < 200 && kill(master_, 0) == 0; ++i) {
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }

  // Starts a daemonised nginx (master + 2 workers, temp paths) with one
  // server on 127.0.0.1:port_ whose block gets `directives`; every URI
  // answers 200 "hello from nginx\n".
  void StartNginx(const std::string& directives) {
    port_ = ft::FreePort();
    ASSERT_GT(port_, 0);
    const std::string& d = dir_.path();
    std::ofstream conf(dir_.File("nginx.conf"));
    conf << "daemon on;\nmaster_process on;\nworker_processes 2;\n"
         << "pid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
         << "events { worker_connections 256; }\n"
         << "http {\n  access_log " << d << "/access.log;\n";
    for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
      conf << "  " << t << "_temp_path " << d << "/" << t << ";\n";
    }
    conf << "  server {\n    listen 127.0.0.1:" << port_ << ";\n"
         << "    " << directives << "\n"
         << "    location / { return 200 \"hello from nginx\\n\"; }\n"
         << "  }\n}\n";
    conf.close();
    ft::RunResult start =
        ft::Run({nginx_, "-p", d, "-e", dir_.File("error.log"), "-c",
                 dir_.File("nginx.conf")},
                seconds(20));
    ASSERT_EQ(start.exit_code, 0) << start.err;
    auto until = std::chrono::steady_clock::now() + seconds(10);
    while (true) {
      std::ifstream pid_file(dir_.File("nginx.pid"));
      pid_t pid = 0;
      if (pid_file >> pid && pid > 0) {
        master_ = pid;
        workers_ = ft::ChildrenOf(master_);
        if (workers_.size() == 2) break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), until)
          << "nginx did not start two workers";
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // curl with -w '%{local_port} %{num_connects}\n' for each of `paths`
  // (one invocation: keep-alive reuses the connection where nginx allows).
  std::vector<std::string> CurlArgs(const std::vector<std::string>& paths) {
    std::vector<std::string> argv = {"curl", "-s", "--max-time", "5"};
    for (size_t i = 0; i < paths.size(); ++i) {
      if (i > 0) argv.push_back("--next");
      for (const char* a : {"-s", "-o", "/dev/null", "-w",
                            "%{local_port} %{num_connects}\n"}) {
        argv.push_back(a);
      }
      argv.push_back(Url(paths[i]));
    }
    return argv;
  }

  // Records -p <master> (or `target`) around traffic() and checks the
  // report against the capture; the capture must have seen exactly the
  // client ports the clients reported, each ending as `want_closed_by` and
  // `want_close` (else the scenario, not faultline, is wrong).
  void ObserveAndCompare(const std::function<std::vector<int>()>& traffic,
                         const std::string& want_closed_by,
                         const std::string& want_close,
                         std::vector<std::string> target = {}) {
    if (target.empty()) target = {"-p", std::to_string(master_)};
    std::vector<int> client_ports;
    std::string error;
    auto o = ft::Observe(target, port_, dir_.path(),
                         [&] { client_ports = traffic(); }, &error);
    ASSERT_TRUE(o) << error;
    observed_ = *o;
    ASSERT_FALSE(client_ports.empty()) << "the clients made no connection";
    EXPECT_EQ(std::set<int>(client_ports.begin(), client_ports.end()),
              WirePorts(o->wire))
        << "the capture does not hold the clients' connections";
    for (const auto& w : o->wire) {
      ASSERT_EQ(w.first_close, want_closed_by)
          << "scenario did not end as intended: " << ft::Describe(w);
      ASSERT_EQ(w.Close(), want_close)
          << "scenario did not end as intended: " << ft::Describe(w);
    }
    if (!o->report.contains("connections")) {
      GTEST_SKIP() << "this build's report has no \"connections\" object "
                      "(connection analysis not built yet)";
    }
    std::vector<std::string> diffs =
        ft::CompareWithWire(o->report["connections"], o->wire, port_);
    EXPECT_TRUE(diffs.empty())
        << "report vs tshark capture of lo:\n"
        << ft::JoinLines(diffs) << "recorder: " << o->record_stderr
        << "kept: "
        << ft::KeepArtifacts(
               dir_.path(),
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    CheckAttribution({});
  }

  // Every connection on port_ belongs to a worker and was accepted by one
  // of its threads; serving threads are that worker's too; none is a
  // client's pid.
  void CheckAttribution(const std::set<pid_t>& client_pids) {
    std::vector<std::string> errors;
    auto rep = ft::ReportedOnPort(observed_.report["connections"], port_,
                                  &errors);
    EXPECT_TRUE(errors.empty()) << ft::JoinLines(errors);
    for (const auto& [port, c] : rep) {
      const pid_t pid = static_cast<pid_t>(c.pid);
      EXPECT_TRUE(workers_.count(pid))
          << "client port " << port << ": pid " << c.pid
          << " is not one of nginx's workers (master " << master_ << ")"
          << (client_pids.count(pid) ? ": it is the client's pid" : "")
          << "; entry " << c.raw.dump();
      const std::set<pid_t> threads = ft::ThreadsOf(pid);
      EXPECT_TRUE(threads.count(static_cast<pid_t>(c.accept_tid)))
          << "client port " << port << ": accept_tid " << c.accept_tid
          << " is not a thread of worker " << c.pid << "; entry "
          << c.raw.dump();
      for (int64_t t : c.serving_tids) {
        EXPECT_TRUE(threads.count(static_cast<pid_t>(t)))
            << "client port " << port << ": serving tid " << t
            << " is not a thread of worker " << c.pid;
      }
    }
  }

  std::string nginx_;
  ft::TempDir dir_{"faultline-conn-nginx"};
  int port_ = 0;
  pid_t master_ = 0;
  std::set<pid_t> workers_;
  ft::Observed observed_;
};

// A client that sends one request per connection and waits for nginx's
// FIN before closing (curl would race it: it may close as soon as it has
// the body), each of its local ports.
std::vector<int> ServerClosingClients(int port, int n) {
  std::vector<int> ports;
  for (int i = 0; i < n; ++i) {
    std::string response;
    bool closed = false;
    const int p = ft::GetUntilServerCloses(port, "/" + std::to_string(i), "",
                                           &response, &closed);
    EXPECT_TRUE(p > 0 && closed) << "nginx did not close: " << response;
    EXPECT_EQ(ft::StatusCodeOf(response), 200) << response;
    if (p > 0) ports.push_back(p);
  }
  return ports;
}

// keepalive_timeout 0: nginx answers with "Connection: close" and closes
// first; every connection ends with nginx's FIN.
TEST_F(ConnectionsNginxTest, ServerClosesFirst) {
  ASSERT_NO_FATAL_FAILURE(StartNginx("keepalive_timeout 0;"));
  ObserveAndCompare([&] { return ServerClosingClients(port_, 5); }, "server",
                    "fin");
}

// The same, with the target given as the listening port.
TEST_F(ConnectionsNginxTest, ServerClosesFirstPortTarget) {
  ASSERT_NO_FATAL_FAILURE(StartNginx("keepalive_timeout 0;"));
  ObserveAndCompare([&] { return ServerClosingClients(port_, 3); }, "server",
                    "fin", {"--port", std::to_string(port_)});
}

// Keep-alive on: curl makes two requests on one connection, then exits and
// closes it: the client's FIN comes first.
TEST_F(ConnectionsNginxTest, ClientClosesFirst) {
  ASSERT_NO_FATAL_FAILURE(StartNginx("keepalive_timeout 65;"));
  ObserveAndCompare(
      [&] {
        std::vector<int> ports;
        for (int i = 0; i < 3; ++i) {
          ft::RunResult c = ft::Run(CurlArgs({"/x", "/y"}), seconds(20));
          EXPECT_EQ(c.exit_code, 0) << c.err;
          for (int p : NewConnectionPorts(c.out)) ports.push_back(p);
        }
        return ports;
      },
      "client", "fin");
}

// The client reads its response and closes with SO_LINGER {1, 0}: it
// resets the connection; nginx receives the RST.
TEST_F(ConnectionsNginxTest, ClientAbortsWithLingerZero) {
  ASSERT_NO_FATAL_FAILURE(StartNginx("keepalive_timeout 65;"));
  ObserveAndCompare(
      [&] {
        ft::RunResult c = ft::Run(
            {ft::BuildPath("tests/helpers/tcp_client"), "abort",
             std::to_string(port_), "3"},
            seconds(20));
        EXPECT_EQ(c.exit_code, 0) << c.err;
        std::string problems;
        auto ports = HelperPorts(c.out, "rst_sent", &problems);
        EXPECT_EQ(problems, "");
        return ports;
      },
      "client", "rst");
}

// reset_timedout_connection on: a client that sends half a request line
// and stalls is timed out after client_header_timeout, and nginx closes
// with SO_LINGER 0: nginx's RST.
TEST_F(ConnectionsNginxTest, NginxResetsTimedOutClient) {
  ASSERT_NO_FATAL_FAILURE(StartNginx(
      "reset_timedout_connection on; client_header_timeout 1s;"));
  ObserveAndCompare(
      [&] {
        ft::RunResult c = ft::Run(
            {ft::BuildPath("tests/helpers/tcp_client"), "stall",
             std::to_string(port_), "2"},
            seconds(30));
        EXPECT_EQ(c.exit_code, 0) << c.err;
        std::string problems;
        auto ports = HelperPorts(c.out, "reset_by_peer", &problems);
        EXPECT_EQ(problems, "") << "nginx did not reset the stalled client";
        return ports;
      },
      "server", "rst");
}

// Many short connections from two curl processes at once (both workers
// accept): each connection's pid is a worker's, its accept_tid a thread of
// that worker, never curl's.
TEST_F(ConnectionsNginxTest, AttributionToWorkers) {
  ASSERT_NO_FATAL_FAILURE(StartNginx("keepalive_timeout 0;"));
  std::set<pid_t> curl_pids;
  std::vector<int> ports;
  std::string error;
  auto o = ft::Observe(
      {"-p", std::to_string(master_)}, port_, dir_.path(),
      [&] {
        std::vector<std::string> paths;
        for (int i = 0; i < 15; ++i) paths.push_back("/" + std::to_string(i));
        ft::Child a = ft::Child::Spawn(CurlArgs(paths));
        ft::Child b = ft::Child::Spawn(CurlArgs(paths));
        curl_pids = {a.pid(), b.pid()};
        for (ft::Child* c : {&a, &b}) {
          ft::RunResult r = c->Wait(seconds(20));
          EXPECT_EQ(r.exit_code, 0) << r.err;
          for (int p : NewConnectionPorts(r.out)) ports.push_back(p);
        }
      },
      &error);
  ASSERT_TRUE(o) << error;
  observed_ = *o;
  if (!o->report.contains("connections")) {
    GTEST_SKIP() << "this build's report has no \"connections\" object "
                    "(connection analysis not built yet)";
  }
  EXPECT_EQ(std::set<int>(ports.begin(), ports.end()), WirePorts(o->wire));
  std::vector<std::string> errors;
  auto rep = ft::ReportedOnPort(o->report["connections"], port_, &errors);
  EXPECT_EQ(rep.size(), o->wire.size())
      << "connections on the port in the report vs the capture";
  CheckAttribution(curl_pids);
  std::set<int64_t> pids;
  for (const auto& [port, c] : rep) pids.insert(c.pid);
  // Both workers share the listener; with 30 connections from two clients
  // at once the kernel wakes both (not a faultline property: for the log).
  std::cout << "connections per worker pid:";
  for (int64_t p : pids) {
    int n = 0;
    for (const auto& [port, c] : rep) n += c.pid == p;
    std::cout << " " << p << "=" << n;
  }
  std::cout << "\n";
}

}  // namespace
