// The TCP family against sources that are not faultline: Debian's nginx
// (two workers forked before the recording) serves curl, one new
// connection per curl process; curl reports its own local port and the
// bytes it sent and received (-w), and a python3 client aborts with
// SO_LINGER 0. The trace, decoded with the reader, must show for every
// curl connection an accept by an nginx worker (never curl), the states to
// ESTABLISHED and CLOSE, and bytes each way equal to curl's figures; the
// abort as a reset received; nothing of an untargeted process with -p;
// --port finds nginx by its port; --no-tcp records no TCP record; the
// client side (-- python3) shows its connect and the reset it sent with
// the kernel's reason.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/faultline.h"
#include "tests/support/nginx.h"
#include "tests/support/process.h"
#include "trace/reader.h"

namespace {

namespace ft = faultline::testing;
namespace tr = faultline::trace;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint8_t kEstablished = 1;
constexpr uint8_t kClose = 7;

// Every TCP record of a trace.
struct TcpRecords : tr::TraceVisitor {
  std::vector<tr::TcpStateEvent> states;
  std::vector<tr::TcpAcceptEvent> accepts;
  std::vector<tr::TcpConnectEvent> connects;
  std::vector<tr::TcpResetEvent> resets;
  std::vector<tr::TcpServeEvent> serves;
  std::vector<tr::TcpCloseEvent> closes;
  std::vector<tr::TcpNetstatEvent> netstats;
  std::vector<std::pair<std::string, uint64_t>> counters;
  void OnTcpState(const tr::TcpStateEvent& e) override { states.push_back(e); }
  void OnTcpAccept(const tr::TcpAcceptEvent& e) override { accepts.push_back(e); }
  void OnTcpConnect(const tr::TcpConnectEvent& e) override {
    connects.push_back(e);
  }
  void OnTcpReset(const tr::TcpResetEvent& e) override { resets.push_back(e); }
  void OnTcpServe(const tr::TcpServeEvent& e) override { serves.push_back(e); }
  void OnTcpClose(const tr::TcpCloseEvent& e) override { closes.push_back(e); }
  void OnTcpNetstat(const tr::TcpNetstatEvent& e) override {
    netstats.push_back(e);
  }
  void OnFooter(const tr::Footer& f) override { counters = f.counters; }
  size_t Total() const {
    return states.size() + accepts.size() + connects.size() + resets.size() +
           serves.size() + closes.size();
  }
  uint64_t Counter(const std::string& name) const {
    for (const auto& [n, v] : counters) {
      if (n == name) return v;
    }
    return ~uint64_t{0};
  }
};

TcpRecords Decode(const std::string& path) {
  TcpRecords v;
  auto r = tr::TraceReader::Open(path);
  EXPECT_TRUE(r.has_value()) << path;
  if (!r) return v;
  EXPECT_TRUE((*r)->ReadAll(v));
  EXPECT_TRUE((*r)->stats().warnings.empty());
  return v;
}

// What curl said about one request on its own connection.
struct CurlFigures {
  uint16_t local_port = 0;
  uint64_t sent = 0;      // %{size_request}
  uint64_t received = 0;  // %{size_header} + %{size_download}
};

class RecordTcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = ft::NoBpfReason(); !why.empty()) GTEST_SKIP() << why;
    nginx_ = ft::NginxBinary();
    if (nginx_.empty()) GTEST_SKIP() << "nginx is not installed";
    if (!ft::HaveCommand("curl")) GTEST_SKIP() << "curl is not installed";
    if (!ft::HaveCommand("python3")) GTEST_SKIP() << "python3 is not installed";
    char tmpl[] = "/tmp/faultline-record-tcp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = ft::FreePort();
    ASSERT_GT(port_, 0);
    ft::WriteNginxConf(dir_, "127.0.0.1:" + std::to_string(port_), "",
                       /*access_log=*/false);
    // The SO_LINGER 0 client: one request, reads the answer, aborts.
    // Prints its pid and local port.
    std::ofstream py(dir_ + "/linger0.py");
    py << "import os, socket, struct, sys, time\n"
       << "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
       << "s.sendall(b'GET /abort HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
       << "data = b''\n"
       << "while b'hello from nginx' not in data:\n"
       << "    data += s.recv(4096)\n"
       << "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, "
          "struct.pack('ii', 1, 0))\n"
       << "print(os.getpid(), s.getsockname()[1], flush=True)\n"
       << "s.close()\n"
       << "time.sleep(0.2)\n";
    py.close();
    started_ = true;
    ASSERT_EQ(ft::StartNginx(nginx_, dir_, &master_, &workers_), "");
  }

  void TearDown() override {
    if (started_) {
      ft::StopNginx(nginx_, dir_, master_);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  bool IsNginx(uint32_t pid) const {
    return static_cast<pid_t>(pid) == master_ || workers_.count(pid) > 0;
  }

  // `faultline record ARGS -o trace -d SECONDS`, started and ready.
  ft::Child Record(std::vector<std::string> args, const std::string& trace,
                   const std::string& seconds_) {
    std::vector<std::string> argv = {ft::BuildPath("faultline"), "record",
                                     "-o", trace, "-d", seconds_};
    argv.insert(argv.end(), args.begin(), args.end());
    ft::Child rec = ft::Child::Spawn(argv);
    EXPECT_NE(rec.ReadStderrUntil("recording", seconds(30)), "")
        << rec.StderrSoFar();
    return rec;
  }

  // `n` curl processes, one request and one new connection each.
  std::vector<CurlFigures> Curls(int n) {
    std::vector<CurlFigures> out;
    for (int i = 0; i < n; ++i) {
      ft::RunResult c = ft::Run(
          {"curl", "-s", "-o", "/dev/null", "--max-time", "5", "-w",
           "%{local_port} %{size_request} %{size_header} %{size_download}",
           "http://127.0.0.1:" + std::to_string(port_) + "/r" +
               std::to_string(i)},
          seconds(20));
      EXPECT_EQ(c.exit_code, 0) << c.err;
      std::istringstream in(c.out);
      CurlFigures f;
      uint64_t header = 0, body = 0;
      in >> f.local_port >> f.sent >> header >> body;
      EXPECT_TRUE(in) << "curl -w said '" << c.out << "'";
      f.received = header + body;
      out.push_back(f);
    }
    return out;
  }

  std::string nginx_;
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
  pid_t master_ = 0;
  std::set<pid_t> workers_;
};

TEST_F(RecordTcpTest, NginxConnectionsAreOwnedByItsWorkersWithCurlsBytes) {
  const std::string trace = dir_ + "/t.flt";
  ft::Child rec = Record({"-p", std::to_string(master_)}, trace, "4");
  constexpr int kCurls = 6;
  std::vector<CurlFigures> curls = Curls(kCurls);
  ft::RunResult abort_client =
      ft::Run({"python3", dir_ + "/linger0.py", std::to_string(port_)},
              seconds(20));
  ASSERT_EQ(abort_client.exit_code, 0) << abort_client.err;
  uint32_t py_pid = 0;
  uint16_t abort_port = 0;
  std::istringstream(abort_client.out) >> py_pid >> abort_port;
  ASSERT_GT(abort_port, 0) << abort_client.out;
  ft::RunResult r = rec.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(" connections opened, "), std::string::npos) << r.err;

  TcpRecords t = Decode(trace);
  EXPECT_EQ(t.Counter("lost_records"), 0u);
  EXPECT_GE(t.Counter("tcp_opened"), uint64_t{kCurls + 1});
  // /proc/net/netstat samples: the first, at least one per second, the last.
  ASSERT_GE(t.netstats.size(), 3u);
  EXPECT_EQ(t.netstats.front().phase, static_cast<uint32_t>(FL_NETSTAT_START));
  EXPECT_EQ(t.netstats.back().phase, static_cast<uint32_t>(FL_NETSTAT_END));
  EXPECT_LE(t.netstats.front().listen_overflows,
            t.netstats.back().listen_overflows);

  // Nothing of an untargeted process: every pid a record names is nginx's
  // (0 = not known yet); every socket is nginx's (local port = its port);
  // curl's connect() is not traced.
  for (const auto& e : t.states) {
    EXPECT_TRUE(e.pid == 0 || IsNginx(e.pid)) << "state owner " << e.pid;
    EXPECT_TRUE(e.cur_pid == 0 || IsNginx(e.cur_pid)) << "state cur " << e.cur_pid;
    EXPECT_EQ(e.sport, port_);
  }
  for (const auto& e : t.accepts) EXPECT_TRUE(IsNginx(e.pid)) << e.pid;
  for (const auto& e : t.serves) EXPECT_TRUE(IsNginx(e.pid)) << e.pid;
  for (const auto& e : t.closes) {
    EXPECT_TRUE(e.pid == 0 || IsNginx(e.pid)) << e.pid;
    EXPECT_EQ(e.sport, port_);
  }
  for (const auto& e : t.resets) {
    std::string what = "reset flags " + std::to_string(e.flags) + " state " +
                       std::to_string(e.state) + " dport " +
                       std::to_string(e.dport) + " reason " +
                       std::to_string(e.reason);
    EXPECT_TRUE(e.pid == 0 || IsNginx(e.pid)) << e.pid << " " << what;
    EXPECT_TRUE(e.cur_pid == 0 || IsNginx(e.cur_pid)) << e.cur_pid << " " << what;
  }
  EXPECT_TRUE(t.connects.empty()) << t.connects.size() << " connect records";

  // Per curl connection (the server's sock has dport = curl's local port):
  // one accept by a worker, its states, its bytes.
  for (const CurlFigures& c : curls) {
    SCOPED_TRACE("curl local port " + std::to_string(c.local_port));
    const tr::TcpAcceptEvent* acc = nullptr;
    int n = 0;
    for (const auto& a : t.accepts) {
      if (a.dport == c.local_port) {
        acc = &a;
        ++n;
      }
    }
    ASSERT_EQ(n, 1);
    EXPECT_TRUE(workers_.count(acc->pid)) << "acceptor " << acc->pid;
    EXPECT_EQ(acc->tid, acc->pid);  // nginx workers are single-threaded
    EXPECT_EQ(acc->family, 2);
    EXPECT_EQ(acc->sport, port_);
    EXPECT_NE(acc->gen, 0u);
    EXPECT_GT(acc->established_ns, 0u);
    EXPECT_LE(acc->established_ns, acc->ts_ns);
    EXPECT_GT(acc->max_backlog, 0u);
    bool established = false, closed = false;
    for (const auto& s : t.states) {
      if (s.sk != acc->sk || s.gen != acc->gen) continue;
      if (s.new_state == 3) {
        EXPECT_EQ(s.ts_ns, s.gen);  // opened at SYN_RECV
      }
      if (s.new_state == kEstablished) {
        established = true;
        EXPECT_EQ(s.ts_ns, acc->established_ns);
        EXPECT_EQ(s.cur_pid, 0u);  // softirq: current is not the owner
      }
      if (s.new_state == kClose) closed = true;
    }
    EXPECT_TRUE(established);
    EXPECT_TRUE(closed);
    const tr::TcpCloseEvent* end = nullptr;
    for (const auto& d : t.closes) {
      if (d.sk == acc->sk && d.gen == acc->gen) end = &d;
    }
    ASSERT_NE(end, nullptr) << "no FL_EV_TCP_CLOSE";
    EXPECT_EQ(end->bytes_in, c.sent);
    EXPECT_EQ(end->bytes_out, c.received);
    EXPECT_EQ(end->pid, acc->pid);
    EXPECT_EQ(end->dport, c.local_port);
    // The worker served it: a serve record of the acceptor's thread.
    bool served = false;
    for (const auto& s : t.serves) {
      if (s.sk == acc->sk && s.gen == acc->gen && s.tid == acc->tid) {
        served = true;
      }
    }
    EXPECT_TRUE(served);
  }

  // The SO_LINGER 0 abort: nginx's socket received the reset.
  bool got_reset = false;
  for (const auto& e : t.resets) {
    if (e.dport != abort_port) continue;
    EXPECT_TRUE(e.flags & FL_RST_F_RECEIVED) << int{e.flags};
    EXPECT_TRUE(workers_.count(e.pid)) << "owner " << e.pid;
    EXPECT_NE(e.gen, 0u);
    got_reset = true;
  }
  EXPECT_TRUE(got_reset) << "no reset for the SO_LINGER 0 client on port "
                         << abort_port;
}

TEST_F(RecordTcpTest, ClientSideShowsItsConnectAndTheResetItSent) {
  // -- python3: the client is the target; nginx is not traced.
  const std::string trace = dir_ + "/client.flt";
  ft::RunResult r = ft::Run({ft::BuildPath("faultline"), "record", "-o",
                             trace, "--no-faults", "--", "python3",
                             dir_ + "/linger0.py", std::to_string(port_)},
                            seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  uint32_t py_pid = 0;
  uint16_t local_port = 0;
  std::istringstream(r.out) >> py_pid >> local_port;
  ASSERT_GT(local_port, 0) << r.out;
  TcpRecords t = Decode(trace);
  ASSERT_EQ(t.connects.size(), 1u);
  const auto& c = t.connects[0];
  EXPECT_EQ(c.pid, py_pid);
  EXPECT_EQ(c.sport, local_port);
  EXPECT_EQ(c.dport, port_);
  EXPECT_EQ(c.ret, 0);
  EXPECT_TRUE(t.accepts.empty());  // nginx's side is not traced
  int sent = 0;
  for (const auto& e : t.resets) {
    ASSERT_EQ(e.sk, c.sk);
    EXPECT_EQ(e.gen, c.gen);
    EXPECT_FALSE(e.flags & FL_RST_F_RECEIVED);
    EXPECT_FALSE(e.flags & FL_RST_F_PASSIVE);  // our abort, no segment
    // SO_LINGER 0 close(): tcp_disconnect() sends it with TCP_STATE on
    // this kernel (6.18; not ABORT_ON_LINGER).
    EXPECT_EQ(e.reason, FL_RST_TCP_STATE) << "kernel reason " << e.kernel_reason;
    EXPECT_EQ(e.pid, py_pid);
    EXPECT_EQ(e.cur_pid, py_pid);  // in close(): process context
    ++sent;
  }
  EXPECT_EQ(sent, 1);
  bool syn_sent = false;
  for (const auto& s : t.states) {
    if (s.sk == c.sk && s.gen == c.gen && s.new_state == 2) {
      syn_sent = true;
      EXPECT_EQ(s.gen, s.ts_ns);  // the entry opened at CLOSE->SYN_SENT
      EXPECT_EQ(s.pid, py_pid);
    }
  }
  EXPECT_TRUE(syn_sent);
}

TEST_F(RecordTcpTest, PortFindsTheListeningProcesses) {
  const std::string trace = dir_ + "/port.flt";
  ft::Child rec = Record({"--port", std::to_string(port_), "--no-faults"},
                         trace, "3");
  std::vector<CurlFigures> curls = Curls(3);
  ft::RunResult r = rec.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("TCP port " + std::to_string(port_)), std::string::npos)
      << r.err;
  TcpRecords t = Decode(trace);
  ASSERT_EQ(t.accepts.size(), curls.size());
  for (const auto& a : t.accepts) {
    EXPECT_TRUE(workers_.count(a.pid)) << a.pid;
  }
  for (const auto& s : t.states) EXPECT_EQ(s.sport, port_);
}

TEST_F(RecordTcpTest, PortAdoptsAServerThatStartsListeningLater) {
  // Nobody listens on the port when the recording starts; a python3 server
  // that listens and accepts on it afterwards becomes a target in the
  // kernel (its accepts are recorded with its pid).
  const int port = ft::FreePort();
  ASSERT_GT(port, 0);
  const std::string trace = dir_ + "/later.flt";
  ft::Child rec = Record({"--port", std::to_string(port), "--no-faults"},
                         trace, "4");
  ft::Child srv = ft::Child::Spawn({"python3", "-m", "http.server", "--bind",
                                    "127.0.0.1", "--directory", dir_,
                                    std::to_string(port)});
  int ok = 0;
  for (int i = 0; i < 100 && ok < 2; ++i) {
    ft::RunResult c = ft::Run({"curl", "-s", "-o", "/dev/null", "--max-time",
                               "2", "http://127.0.0.1:" +
                                        std::to_string(port) + "/nginx.conf"},
                              seconds(10));
    if (c.exit_code == 0) {
      ++ok;
    } else {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  ASSERT_EQ(ok, 2) << "the python3 server did not answer";
  ft::RunResult r = rec.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  TcpRecords t = Decode(trace);
  ASSERT_EQ(t.accepts.size(), 2u);
  for (const auto& a : t.accepts) {
    EXPECT_EQ(a.pid, static_cast<uint32_t>(srv.pid()));
    EXPECT_EQ(a.sport, port);
  }
  bool listen = false;
  for (const auto& st : t.states) {
    if (st.new_state == 10 && st.sport == port) {
      listen = true;
      EXPECT_EQ(st.pid, static_cast<uint32_t>(srv.pid()));
      EXPECT_GT(st.max_backlog, 0u);
    }
  }
  EXPECT_TRUE(listen) << "no CLOSE->LISTEN of the server";
  srv.Signal(SIGTERM);
  srv.Wait(seconds(10));
}

TEST_F(RecordTcpTest, NoTcpRecordsNoTcp) {
  const std::string trace = dir_ + "/notcp.flt";
  ft::Child rec = Record({"-p", std::to_string(master_), "--no-tcp"}, trace,
                         "2");
  Curls(2);
  ft::RunResult r = rec.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("connections"), std::string::npos) << r.err;
  TcpRecords t = Decode(trace);
  EXPECT_EQ(t.Total(), 0u);
  EXPECT_TRUE(t.netstats.empty());
  EXPECT_EQ(t.Counter("tcp_opened"), ~uint64_t{0});  // no such counter
}

TEST_F(RecordTcpTest, CgroupTracesTheConnectionsOfItsProcesses) {
  // A fresh cgroup v2 holding nginx's workers: their accepts are traced
  // with --cgroup alone (the master stays outside).
  std::string mount;
  {
    std::ifstream in("/proc/mounts");
    std::string dev, dir, type;
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      if (f >> dev >> dir >> type && type == "cgroup2") {
        mount = dir;
        break;
      }
    }
  }
  if (mount.empty()) GTEST_SKIP() << "no cgroup2 mount";
  const std::string cg =
      mount + "/faultline-tcp-test-" + std::to_string(getpid());
  if (mkdir(cg.c_str(), 0755) != 0) {
    GTEST_SKIP() << "cannot create a cgroup v2 directory " << cg;
  }
  for (uint32_t w : workers_) {
    std::ofstream procs(cg + "/cgroup.procs");
    procs << w << "\n";
  }
  const std::string trace = dir_ + "/cg.flt";
  // Relative to the cgroup2 mount, as a user would give it.
  ft::Child rec = Record({"--cgroup", cg.substr(mount.size() + 1),
                          "--no-faults"},
                         trace, "3");
  std::vector<CurlFigures> curls = Curls(3);
  ft::RunResult r = rec.Wait(seconds(30));
  // Back to the root cgroup before removing ours.
  for (uint32_t w : workers_) {
    std::ofstream procs(mount + "/cgroup.procs");
    procs << w << "\n";
  }
  rmdir(cg.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  TcpRecords t = Decode(trace);
  EXPECT_EQ(t.accepts.size(), curls.size());
  for (const auto& a : t.accepts) EXPECT_TRUE(workers_.count(a.pid)) << a.pid;
}

TEST_F(RecordTcpTest, BadPortOrCgroupIsOneLineAndExitTwo) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--port", "99999"},
        std::vector<std::string>{"--cgroup", "/nonexistent-faultline-cg"},
        std::vector<std::string>{"--cgroup", "/tmp"}}) {
    ft::RunResult r = ft::Run({ft::BuildPath("faultline"), "record", "-d", "1",
                               "-o", dir_ + "/bad.flt", args[0], args[1]},
                              seconds(30));
    EXPECT_EQ(r.exit_code, 2) << args[1] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("faultline record: ", 0), 0u) << r.err;
  }
}

}  // namespace
