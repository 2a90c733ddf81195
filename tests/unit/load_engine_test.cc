// faultline-load's engine against small scripted HTTP/1.1 servers on
// loopback (no privileges): which failures are retried, which are counted,
// and that sent == completed + failed after every run.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "server/load/engine.h"
#include "server/load/options.h"

namespace faultline::load {
namespace {

constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// Reads one request head (up to CRLFCRLF). False on EOF/error.
bool ReadRequest(int fd) {
  std::string buf;
  char c;
  while (buf.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = read(fd, &c, 1);
    if (n <= 0) return false;
    buf.push_back(c);
  }
  return true;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// A one-thread server; `script(connection_index, fd)` serves each accepted
// connection in turn and the server closes it afterwards.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int, int)> script) : script_(std::move(script)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_, 64);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  // From inside a script: nothing listens on the port any more.
  void StopListening() {
    stop_ = true;
    close(listen_fd_);
    listen_fd_ = -1;
  }
  int port() const { return port_; }

 private:
  void Loop() {
    int index = 0;
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      script_(index++, fd);
      close(fd);
    }
  }
  std::function<void(int, int)> script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Options MustParse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"faultline-load"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  auto o = ParseOptions(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(o.has_value()) << o.error().message;
  return *o;
}

size_t Failed(const Stats& s, FailReason r) { return s.failed_by_reason[static_cast<size_t>(r)]; }
size_t Retried(const Stats& s, RetryReason r) { return s.retried_by_reason[static_cast<size_t>(r)]; }

void ExpectBalanced(const Stats& s) {
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.sent, s.completed() + s.failed() + s.in_flight);
}

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port) + "/"; }

// The server answers one request per connection, then reads the next one
// and closes without a byte of response: the client must re-send it on a
// new connection, counting it once in sent and once in retried.
TEST(LoadEngine, KeepAliveClosedBeforeResponseIsRetried) {
  std::atomic<int> answered{0};
  ScriptedServer server([&](int, int fd) {
    if (!ReadRequest(fd)) return;
    ++answered;  // before the write: the client may finish as soon as it lands
    WriteAll(fd, kOk);
    ReadRequest(fd);  // the next request: dropped unanswered
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "5", "--timeout", "5"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 5u);
  EXPECT_EQ(r.stats.completed(), 5u);
  EXPECT_EQ(r.stats.failed(), 0u);
  EXPECT_EQ(Retried(r.stats, RetryReason::kKeepAliveClosed), 4u);
  EXPECT_EQ(r.stats.retried(), 4u);
  EXPECT_EQ(answered.load(), 5);
  EXPECT_EQ(r.stats.connections_opened, 5u);
}

// A fresh connection closed before the response is not a safe retry.
TEST(LoadEngine, FreshConnectionClosedBeforeResponseFails) {
  ScriptedServer server([&](int index, int fd) {
    if (!ReadRequest(fd)) return;
    if (index == 0) return;  // close unanswered
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "3"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 3u);
  EXPECT_EQ(r.stats.completed(), 2u);
  EXPECT_EQ(Failed(r.stats, FailReason::kClosedBeforeResponse), 1u);
  EXPECT_EQ(r.stats.retried(), 0u);
}

TEST(LoadEngine, ClosedMidResponseFails) {
  ScriptedServer server([&](int, int fd) {
    if (!ReadRequest(fd)) return;
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "2"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 2u);
  EXPECT_EQ(Failed(r.stats, FailReason::kClosedMidResponse), 2u);
  EXPECT_EQ(r.stats.retried(), 0u);
}

TEST(LoadEngine, MalformedResponseIsProtocolError) {
  ScriptedServer server([&](int, int fd) {
    if (!ReadRequest(fd)) return;
    WriteAll(fd, "HTTP/1.1 2OO OK\r\n\r\n");
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "1"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(Failed(r.stats, FailReason::kProtocolError), 1u);
}

TEST(LoadEngine, SilentServerTimesOut) {
  ScriptedServer server([&](int, int fd) {
    ReadRequest(fd);
    usleep(600 * 1000);
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "1", "--timeout", "0.2"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 1u);
  EXPECT_EQ(Failed(r.stats, FailReason::kTimeout), 1u);
}

// Chunked and close-delimited bodies on one keep-alive connection, and
// status classes counted apart.
TEST(LoadEngine, BodiesAndStatusClasses) {
  ScriptedServer server([&](int, int fd) {
    if (!ReadRequest(fd)) return;
    WriteAll(fd, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    if (!ReadRequest(fd)) return;
    WriteAll(fd, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
    if (!ReadRequest(fd)) return;
    WriteAll(fd, "HTTP/1.0 200 OK\r\n\r\nuntil close");
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "3"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.completed_by_class[4], 1u);
  EXPECT_EQ(r.stats.completed_by_class[5], 1u);
  EXPECT_EQ(r.stats.completed_by_class[2], 1u);
  EXPECT_EQ(r.stats.body_bytes, 3u + 0u + 11u);
  EXPECT_EQ(r.stats.connections_opened, 1u);
}

// Open loop with -n: exactly n requests, paced at --rate, even when the
// server is slower than the rate and requests queue behind the schedule.
TEST(LoadEngine, OpenLoopSendsExactlyNAtRate) {
  ScriptedServer server([&](int, int fd) {
    while (ReadRequest(fd)) {
      usleep(1500);
      WriteAll(fd, kOk);
    }
  });
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-n", "200", "--rate", "1000"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 200u);
  EXPECT_EQ(r.stats.completed(), 200u);
  // 200 requests at 1000/s: the last is due 199 ms after the start.
  EXPECT_GE(r.elapsed_s, 0.199);
  EXPECT_LT(r.elapsed_s, 2.0);
}

// Nothing listens: no request is sent, the refusal is reported, and the run
// ends at once instead of retrying forever.
TEST(LoadEngine, RefusedConnectStops) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);  // reserve a port, no listen
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  RunResult r = RunLoad(MustParse({Url(port), "-c", "4", "-n", "100", "--timeout", "30"}));
  close(fd);
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 0u);
  EXPECT_GE(r.stats.connect_errors[static_cast<size_t>(ConnectError::kRefused)], 1u);
  EXPECT_NE(r.stop_reason.find("Connection refused"), std::string::npos) << r.stop_reason;
  EXPECT_LT(r.elapsed_s, 5.0);
}

// The server goes away after answering: the request whose keep-alive retry
// meets a refused connect is counted failed(connect_refused), once, and the
// run stops sending.
TEST(LoadEngine, RetryIntoRefusalFailsOnce) {
  ScriptedServer* self = nullptr;
  ScriptedServer server([&](int, int fd) {
    if (!ReadRequest(fd)) return;
    WriteAll(fd, kOk);
    ReadRequest(fd);        // the second request: never answered
    self->StopListening();  // and the server is gone before the retry
  });
  self = &server;
  RunResult r = RunLoad(MustParse({Url(server.port()), "-c", "1", "-d", "3", "--timeout", "2"}));
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 2u);
  EXPECT_EQ(r.stats.completed(), 1u);
  EXPECT_EQ(Failed(r.stats, FailReason::kConnectRefused), 1u);
  EXPECT_EQ(Retried(r.stats, RetryReason::kKeepAliveClosed), 1u);
  EXPECT_EQ(r.stats.retried(), 1u);
  EXPECT_NE(r.stop_reason.find("Connection refused"), std::string::npos) << r.stop_reason;
  EXPECT_LT(r.elapsed_s, 2.5);
}

}  // namespace
}  // namespace faultline::load
