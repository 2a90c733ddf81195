// Every pattern end to end: RunServer() in a forked child (exactly what
// faultline-server's main() runs), real sockets, HTTP/1.1 and HTTP/2
// requests, then SIGTERM: the request in flight is finished with
// Connection: close, the exit code is 0 and the stats line counts exactly the
// requests sent. And the drain timeout: requests cut, exit code 1.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <regex>
#include <string>

#include "server/test_util.h"

namespace faultline::server {
namespace {

using testing::Connect;
using testing::H2Client;
using testing::HttpReader;
using testing::SendAll;

// A faultline-server running in a child process, its stderr in a pipe.
class ServerProcess {
 public:
  explicit ServerProcess(const Options& opts) {
    int p[2];
    if (pipe(p) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(p[1], STDERR_FILENO);
      close(p[0]);
      close(p[1]);
      _exit(RunServer(opts));
    }
    close(p[1]);
    err_fd_ = p[0];
    std::smatch m;
    static const std::regex kListening(
        "faultline-server: pattern \\S+ listening on 127\\.0\\.0\\.1:(\\d+) "
        "\\(([^)]+)\\)");
    while (ReadMore(5000)) {
      if (std::regex_search(log_, m, kListening)) {
        port_ = std::stoi(m[1]);
        serving_ = m[2];
        break;
      }
    }
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) close(err_fd_);
  }
  int port() const { return port_; }
  // The parenthesis of the startup line: who serves the connections.
  const std::string& serving() const { return serving_; }
  void Signal(int sig) { kill(pid_, sig); }
  // SIGTERM, then waits for exit; returns the exit code (-1: signal/timeout).
  int Terminate(int timeout_ms = 10000) {
    kill(pid_, SIGTERM);
    return Wait(timeout_ms);
  }
  int Wait(int timeout_ms) {
    auto end = testing::Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (ReadMore(100) || testing::Clock::now() < end) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        while (ReadMore(100)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }
  const std::string& log() const { return log_; }
  // The value of "key":N in the stats line, or -1.
  long Stat(const std::string& key) const {
    std::smatch m;
    std::regex re("faultline-server: stats \\{.*\"" + key + "\":(\\d+)");
    if (!std::regex_search(log_, m, re)) return -1;
    return std::stol(m[1]);
  }

 private:
  bool ReadMore(int timeout_ms) {
    pollfd p{err_fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    ssize_t n = read(err_fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    log_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int err_fd_ = -1;
  int port_ = -1;
  std::string serving_;
  bool exited_ = false;
  std::string log_;
};

class PatternTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PatternTest, ServesBothProtocolsAndDrainsOnSigterm) {
  Options o;
  o.pattern = GetParam();
  o.port = 0;
  o.workers = 2;
  ServerProcess srv(o);
  ASSERT_GT(srv.port(), 0) << srv.log();
  // The startup line says what serves the connections, never "0 workers".
  EXPECT_NE(srv.serving(), "0 workers") << srv.log();

  // HTTP/1.1: two requests on one keep-alive connection.
  int c1 = Connect(srv.port());
  ASSERT_GE(c1, 0);
  HttpReader r1(c1);
  ASSERT_TRUE(SendAll(c1,
                      "GET /alloc?kb=16 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /cow?kb=16 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto a = r1.Next();
  auto b = r1.Next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "alloc 16 KiB\n");
  EXPECT_EQ(b->body, "cow 16 KiB\n");

  // HTTP/2 on the same port.
  int c2 = Connect(srv.port());
  ASSERT_GE(c2, 0);
  H2Client h2(c2);
  int32_t s1 = h2.Get("/file?kb=256");
  int32_t s2 = h2.Get("/stack?kb=64");
  ASSERT_TRUE(
      h2.RunUntil([&] { return h2.StreamDone(s1) && h2.StreamDone(s2); }));
  EXPECT_EQ(h2.stream(s1).body.size(), 256u * 1024);
  EXPECT_EQ(h2.stream(s2).status, 200);

  // A request in flight on each connection when SIGTERM arrives.
  ASSERT_TRUE(SendAll(c1, "GET /sleep?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n"));
  int32_t s3 = h2.Get("/sleep?ms=400");
  h2.RunUntil([] { return false; }, 50);  // Sends it.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = testing::Clock::now();
  srv.Signal(SIGTERM);
  // HTTP/2: both GOAWAYs, the stream finished, then EOF. The client keeps
  // reading, so it answers the server's PING while its stream is open (an
  // nghttp2 client with no stream left stops reading after the first
  // GOAWAY; the server then sends the second one after 1 s).
  EXPECT_TRUE(h2.RunUntil([&] { return h2.eof(); }, 5000));
  ASSERT_EQ(h2.goaways().size(), 2u);
  EXPECT_EQ(h2.goaways()[0].first, 0x7fffffff);
  EXPECT_EQ(h2.goaways()[1].first, s3);
  EXPECT_EQ(h2.stream(s3).status, 200);
  EXPECT_EQ(h2.stream(s3).body, "slept 400 ms\n");
  shutdown(c2, SHUT_WR);  // Our FIN ends the server's lingering close.
  // HTTP/1.1: the response in flight says Connection: close, then FIN.
  auto slow = r1.Next();
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->Header("connection"), "close");
  EXPECT_TRUE(r1.WaitEof());
  close(c1);  // Ends the server's lingering close.
  EXPECT_EQ(srv.Wait(10000), 0) << srv.log();
  EXPECT_LT(testing::Clock::now() - t0, std::chrono::seconds(2));

  EXPECT_EQ(srv.Stat("requests_completed"), 6) << srv.log();
  EXPECT_EQ(srv.Stat("h2_requests"), 3) << srv.log();
  EXPECT_EQ(srv.Stat("connections_accepted"), 2) << srv.log();
  EXPECT_EQ(srv.Stat("requests_cut"), 0) << srv.log();
}

INSTANTIATE_TEST_SUITE_P(AllPatterns, PatternTest,
                         ::testing::ValuesIn(PatternNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

class DrainTimeoutTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DrainTimeoutTest, CutsWhatIsLeftAndExitsOne) {
  Options o;
  o.pattern = GetParam();
  o.port = 0;
  o.drain_timeout_s = 0.3;
  ServerProcess srv(o);
  ASSERT_GT(srv.port(), 0) << srv.log();
  int c = Connect(srv.port());
  ASSERT_TRUE(SendAll(c, "GET /sleep?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = testing::Clock::now();
  EXPECT_EQ(srv.Terminate(), 1) << srv.log();
  EXPECT_LT(testing::Clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(srv.Stat("requests_cut"), 1) << srv.log();
  EXPECT_NE(srv.log().find("1 requests cut"), std::string::npos) << srv.log();
  close(c);
}

INSTANTIATE_TEST_SUITE_P(SomePatterns, DrainTimeoutTest,
                         ::testing::Values("event-loop", "prefork",
                                           "thread-per-conn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(ServerProcess, BindFailureIsExitTwo) {
  auto fd = Listen("127.0.0.1", 0, false);
  ASSERT_TRUE(fd);
  Options o;
  o.pattern = "event-loop";
  o.port = LocalPort(*fd);  // Taken.
  ServerProcess srv(o);
  EXPECT_EQ(srv.Wait(5000), 2);
  EXPECT_NE(srv.log().find("Address already in use"), std::string::npos)
      << srv.log();
  close(*fd);
}

}  // namespace
}  // namespace faultline::server
