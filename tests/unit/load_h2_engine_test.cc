// faultline-load's HTTP/2 client against scripted nghttp2 servers on
// loopback (no privileges): GOAWAY and REFUSED_STREAM are retried and
// counted once; other resets and lost streams are failures.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
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

// What the scripted server does with the requests of one connection.
struct Script {
  // Called with the connection index and the stream ids of all requests
  // received so far on it (each id once, when its request is complete).
  // It uses the Server's Respond/Reset/Goaway/Hangup to act.
  std::function<void(class H2Server&, int conn, const std::vector<int32_t>& ids)> on_request;
};

class H2Server {
 public:
  explicit H2Server(Script script) : script_(std::move(script)) {
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
  ~H2Server() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  int responses() const { return responses_.load(); }

  void Respond(int32_t id) {
    nghttp2_nv nv = {reinterpret_cast<uint8_t*>(const_cast<char*>(":status")),
                     reinterpret_cast<uint8_t*>(const_cast<char*>("200")), 7, 3,
                     NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_response(session_, id, &nv, 1, nullptr);
    ++responses_;
  }
  void Reset(int32_t id, uint32_t code) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
  }
  void Goaway(int32_t last_id) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_id, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  // Close the connection once pending frames are written.
  void Hangup() { hangup_ = true; }

 private:
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto* self = static_cast<H2Server*>(user_data);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      self->ids_.push_back(frame->hd.stream_id);
      self->script_.on_request(*self, self->conn_index_, self->ids_);
    }
    return 0;
  }

  bool FlushTo(int fd) {
    while (true) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) return n == 0;
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = write(fd, data + off, static_cast<size_t>(n - off));
        if (w <= 0) return false;
        off += w;
      }
    }
  }

  void Serve(int fd) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, OnFrameRecv);
    nghttp2_session_server_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
    ids_.clear();
    hangup_ = false;
    bool ok = FlushTo(fd);
    uint8_t buf[16384];
    while (ok && !hangup_ && !stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (nghttp2_session_mem_recv(session_, buf, static_cast<size_t>(n)) < 0) break;
      ok = FlushTo(fd);
    }
    if (hangup_) {
      // Lingering close: no RST for unread client bytes.
      shutdown(fd, SHUT_WR);
      for (int i = 0; i < 100; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0 && read(fd, buf, sizeof buf) <= 0) break;
      }
    }
    nghttp2_session_del(session_);
    session_ = nullptr;
  }

  void Loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      Serve(fd);
      close(fd);
      ++conn_index_;
    }
  }

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> responses_{0};
  nghttp2_session* session_ = nullptr;
  std::vector<int32_t> ids_;
  int conn_index_ = 0;
  bool hangup_ = false;
  std::thread thread_;
};

RunResult Load(int port, std::vector<std::string> extra) {
  std::vector<std::string> args = {"faultline-load", "http://127.0.0.1:" + std::to_string(port) + "/",
                                   "--h2", "-c", "1", "--timeout", "5"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  auto o = ParseOptions(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(o.has_value()) << o.error().message;
  return RunLoad(*o);
}

uint64_t Failed(const Stats& s, FailReason r) { return s.failed_by_reason[static_cast<size_t>(r)]; }
uint64_t Retried(const Stats& s, RetryReason r) { return s.retried_by_reason[static_cast<size_t>(r)]; }

void ExpectBalanced(const Stats& s) {
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.sent, s.completed() + s.failed() + s.in_flight);
}

// Connection 0 answers streams 1 and 3 of four, then GOAWAY(last=3) and
// closes: streams 5 and 7 were not processed and go out again on a new
// connection, each counted once in sent and once in retried.
TEST(LoadH2Engine, StreamsAboveGoawayAreRetried) {
  H2Server server({[](H2Server& s, int conn, const std::vector<int32_t>& ids) {
    if (conn > 0) {
      s.Respond(ids.back());
      return;
    }
    if (ids.size() < 4) return;
    s.Respond(1);
    s.Respond(3);
    s.Goaway(3);
    s.Hangup();
  }});
  RunResult r = Load(server.port(), {"--streams", "4", "-n", "4"});
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 4u);
  EXPECT_EQ(r.stats.completed(), 4u);
  EXPECT_EQ(r.stats.failed(), 0u);
  EXPECT_EQ(Retried(r.stats, RetryReason::kGoaway), 2u);
  EXPECT_EQ(r.stats.retried(), 2u);
  EXPECT_EQ(server.responses(), 4);
  EXPECT_EQ(r.stats.connections_opened, 2u);
}

TEST(LoadH2Engine, RefusedStreamIsRetried) {
  std::atomic<int> refused{0};
  H2Server server({[&](H2Server& s, int, const std::vector<int32_t>& ids) {
    if (refused < 3) {
      ++refused;
      s.Reset(ids.back(), NGHTTP2_REFUSED_STREAM);
    } else {
      s.Respond(ids.back());
    }
  }});
  RunResult r = Load(server.port(), {"--streams", "2", "-n", "6"});
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 6u);
  EXPECT_EQ(r.stats.completed(), 6u);
  EXPECT_EQ(Retried(r.stats, RetryReason::kRefusedStream), 3u);
  EXPECT_EQ(server.responses(), 6);
}

// Refused over and over: after kMaxAttempts sends it fails, no endless loop.
TEST(LoadH2Engine, RetriesAreBounded) {
  H2Server server({[&](H2Server& s, int, const std::vector<int32_t>& ids) {
    s.Reset(ids.back(), NGHTTP2_REFUSED_STREAM);
  }});
  RunResult r = Load(server.port(), {"-n", "1"});
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 1u);
  EXPECT_EQ(Failed(r.stats, FailReason::kRetriesExhausted), 1u);
  EXPECT_EQ(Retried(r.stats, RetryReason::kRefusedStream), static_cast<uint64_t>(kMaxAttempts - 1));
}

TEST(LoadH2Engine, OtherResetIsAFailure) {
  H2Server server({[&](H2Server& s, int, const std::vector<int32_t>& ids) {
    if (ids.size() == 1) {
      s.Reset(ids.back(), NGHTTP2_INTERNAL_ERROR);
    } else {
      s.Respond(ids.back());
    }
  }});
  RunResult r = Load(server.port(), {"-n", "3"});
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 3u);
  EXPECT_EQ(r.stats.completed(), 2u);
  EXPECT_EQ(Failed(r.stats, FailReason::kStreamReset), 1u);
  EXPECT_EQ(r.stats.retried(), 0u);
}

// GOAWAY covering a stream that is then never answered: the server may have
// processed it, so it is not retried.
TEST(LoadH2Engine, StreamAtOrBelowGoawayIsNotRetried) {
  H2Server server({[&](H2Server& s, int conn, const std::vector<int32_t>& ids) {
    if (conn == 0) {
      s.Goaway(ids.back());
      s.Hangup();
    } else {
      s.Respond(ids.back());
    }
  }});
  RunResult r = Load(server.port(), {"-n", "2"});
  ExpectBalanced(r.stats);
  EXPECT_EQ(r.stats.sent, 2u);
  EXPECT_EQ(r.stats.completed(), 1u);
  EXPECT_EQ(Failed(r.stats, FailReason::kClosedBeforeResponse), 1u);
  EXPECT_EQ(r.stats.retried(), 0u);
}

}  // namespace
}  // namespace faultline::load
