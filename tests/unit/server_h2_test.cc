// HTTP/2 through a real Loop: an in-process nghttp2 client session talks to
// the server over a socketpair (the server end is adopted like an accepted
// connection). Concurrent streams, flow control, PING, protocol errors and
// the two-step GOAWAY of a graceful shutdown.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "server/test_util.h"

namespace faultline::server {
namespace {

using testing::H2Client;
using testing::TestServer;
using Clock = std::chrono::steady_clock;

TEST(ServerH2, ConcurrentStreamsDoNotWaitForEachOther) {
  TestServer srv;
  H2Client c(srv.AdoptSocketpair());
  int32_t slow = c.Get("/sleep?ms=1000");
  std::vector<int32_t> fast;
  for (int i = 0; i < 20; ++i)
    fast.push_back(c.Get(i % 2 ? "/" : "/alloc?kb=4"));
  auto t0 = Clock::now();
  ASSERT_TRUE(c.RunUntil([&] {
    for (int32_t id : fast)
      if (!c.StreamDone(id)) return false;
    return true;
  }));
  for (int32_t id : fast) {
    EXPECT_EQ(c.stream(id).status, 200);
    EXPECT_LT(c.stream(id).closed_at - t0, std::chrono::milliseconds(800));
  }
  EXPECT_EQ(c.stream(fast[1]).body, "hello from faultline-server\n");
  EXPECT_FALSE(c.StreamDone(slow));
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(slow); }));
  EXPECT_EQ(c.stream(slow).body, "slept 1000 ms\n");
  Stats st = srv.GetStats();
  EXPECT_EQ(st.h2_requests, 21u);
}

TEST(ServerH2, LargeBodyRespectsFlowControl) {
  TestServer srv;
  H2Client c(srv.AdoptSocketpair());
  // 4 MiB, far above the default 64 KiB windows: needs WINDOW_UPDATEs.
  int32_t id = c.Get("/file?kb=4096");
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(id); }));
  EXPECT_EQ(c.stream(id).status, 200);
  ASSERT_EQ(c.stream(id).body.size(), 4096u * 1024);
  const Resources* res = testing::TestResources();
  ASSERT_NE(res, nullptr);
  EXPECT_EQ(0,
            std::memcmp(c.stream(id).body.data(), res->file_map, 4096u * 1024));
}

TEST(ServerH2, BadParametersAndUnknownPaths) {
  TestServer srv;
  H2Client c(srv.AdoptSocketpair());
  int32_t a = c.Get("/alloc?kb=lots");
  int32_t b = c.Get("/missing");
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(a) && c.StreamDone(b); }));
  EXPECT_EQ(c.stream(a).status, 400);
  EXPECT_EQ(c.stream(b).status, 404);
}

TEST(ServerH2, StalledRequestIsCancelledAfterHeaderTimeout) {
  ServerConfig cfg;
  cfg.header_timeout_ns = 300'000'000;
  TestServer srv(cfg);
  H2Client c(srv.AdoptSocketpair());
  int32_t stalled = c.PostStalled("/echo");
  int32_t ok = c.Get("/");
  auto t0 = Clock::now();
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(stalled); }, 3000));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(250));
  EXPECT_EQ(c.stream(stalled).error_code, NGHTTP2_CANCEL);
  EXPECT_EQ(c.stream(stalled).status, 0);
  EXPECT_EQ(c.stream(ok).status, 200);  // The connection still serves.
  int32_t again = c.Get("/");
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(again); }));
  EXPECT_EQ(c.stream(again).status, 200);
}

TEST(ServerH2, PingIsAcknowledged) {
  TestServer srv;
  H2Client c(srv.AdoptSocketpair());
  nghttp2_submit_ping(c.session(), NGHTTP2_FLAG_NONE, nullptr);
  ASSERT_TRUE(c.RunUntil([&] { return c.ping_acks() == 1; }));
}

TEST(ServerH2, ProtocolErrorIsAnsweredWithGoaway) {
  TestServer srv;
  int fd = srv.AdoptSocketpair();
  // Preface, empty SETTINGS, then a DATA frame on stream 0 (forbidden).
  std::string bytes(NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
  bytes += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  bytes += std::string("\x00\x00\x01\x00\x00\x00\x00\x00\x00x", 10);
  ASSERT_TRUE(testing::SendAll(fd, bytes));
  std::string got;
  auto end = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // Walk the frames: expect a GOAWAY with PROTOCOL_ERROR.
  bool found = false;
  for (size_t pos = 0; pos + 9 <= got.size();) {
    auto u = [&](size_t i) { return static_cast<uint8_t>(got[pos + i]); };
    size_t len = (u(0) << 16) | (u(1) << 8) | u(2);
    if (u(3) == NGHTTP2_GOAWAY && pos + 9 + 8 <= got.size()) {
      uint32_t err = (u(13) << 24) | (u(14) << 16) | (u(15) << 8) | u(16);
      found = err == NGHTTP2_PROTOCOL_ERROR;
    }
    pos += 9 + len;
  }
  EXPECT_TRUE(found) << got.size() << " bytes received";
}

TEST(ServerH2, GracefulShutdownSendsTwoGoawaysAndFinishesStreams) {
  TestServer srv;
  H2Client c(srv.AdoptSocketpair());
  int32_t first = c.Get("/");
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(first); }));
  int32_t slow = c.Get("/sleep?ms=300");
  c.RunUntil([] { return false; }, 100);  // Let the request reach the server.
  srv.RunOnLoop([](Loop* l) { l->DrainConnections(); });
  // Phase 1: last-stream-id 2^31-1; the client's PING answer lets the server
  // send phase 2 with the real last stream id.
  ASSERT_TRUE(c.RunUntil([&] { return c.goaways().size() >= 2; }));
  EXPECT_EQ(c.goaways()[0].first, 0x7fffffff);
  EXPECT_EQ(c.goaways()[0].second, NGHTTP2_NO_ERROR);
  EXPECT_EQ(c.goaways()[1].first, slow);
  EXPECT_EQ(c.goaways()[1].second, NGHTTP2_NO_ERROR);
  // The stream at or below the last id still completes, then EOF.
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(slow); }));
  EXPECT_EQ(c.stream(slow).status, 200);
  EXPECT_EQ(c.stream(slow).error_code, NGHTTP2_NO_ERROR);
  EXPECT_TRUE(c.RunUntil([&] { return c.eof(); }, 3000));
}

TEST(ServerH2, StreamsAboveTheFinalGoawayAreRefused) {
  TestServer srv;
  H2Client c(srv.AdoptSocketpair());
  int32_t slow = c.Get("/sleep?ms=500");
  c.RunUntil([] { return false; }, 100);
  srv.RunOnLoop([](Loop* l) { l->DrainConnections(); });
  ASSERT_TRUE(c.RunUntil([&] { return c.goaways().size() >= 2; }));
  EXPECT_EQ(c.goaways()[1].first, slow);
  // A new stream now is above the last stream id: never processed.
  int32_t late = c.Get("/");
  ASSERT_TRUE(c.RunUntil([&] { return c.StreamDone(slow); }));
  EXPECT_EQ(c.stream(slow).status, 200);
  EXPECT_NE(c.stream(late).status, 200);
}

// Reads what the server sends for up to `ms` (or until it closes) and
// returns the frames as (type, flags, stream id, payload).
struct Frame {
  uint8_t type;
  uint8_t flags;
  uint32_t stream;
  std::string payload;
};
std::vector<Frame> ReadFrames(int fd, int ms, std::string* raw = nullptr) {
  std::string got;
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  if (raw != nullptr) *raw = got;
  std::vector<Frame> frames;
  auto u = [&](size_t i) { return static_cast<uint8_t>(got[i]); };
  for (size_t pos = 0; pos + 9 <= got.size();) {
    size_t len = (u(pos) << 16) | (u(pos + 1) << 8) | u(pos + 2);
    if (pos + 9 + len > got.size()) break;
    uint32_t stream = ((u(pos + 5) & 0x7f) << 24) | (u(pos + 6) << 16) |
                      (u(pos + 7) << 8) | u(pos + 8);
    frames.push_back({u(pos + 3), u(pos + 4), stream, got.substr(pos + 9, len)});
    pos += 9 + len;
  }
  return frames;
}

const std::string kPreface(NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
const std::string kEmptySettings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);

// A preface that arrives in pieces: the server waits (no HTTP/1.1 answer to
// "PRI * HTTP/2.0"), then speaks HTTP/2 once it is complete.
TEST(ServerH2, PrefaceInPiecesPicksHttp2) {
  TestServer srv;
  int fd = srv.AdoptSocketpair();
  ASSERT_TRUE(testing::SendAll(fd, kPreface.substr(0, 10)));
  std::string early;
  EXPECT_TRUE(ReadFrames(fd, 200, &early).empty());
  EXPECT_EQ(early, "");
  ASSERT_TRUE(testing::SendAll(fd, kPreface.substr(10) + kEmptySettings));
  std::vector<Frame> frames = ReadFrames(fd, 300);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].type, NGHTTP2_SETTINGS);
  EXPECT_EQ(frames[0].flags & NGHTTP2_FLAG_ACK, 0);
  close(fd);
}

// The preface is already in the socket when the shutdown begins, so the
// HTTP/1.1 upstream that stood for the unknown protocol is replaced by the
// HTTP/2 one inside its own BeginShutdown: the new one starts draining at
// once (shutdown notice, PING).
TEST(ServerH2, PrefaceReadAtShutdownStartsTheHttp2Drain) {
  TestServer srv;
  int fd = srv.AdoptSocketpair();
  srv.RunOnLoop([&](Loop* loop) {
    // On the loop thread, so that no epoll event has seen the bytes yet.
    ASSERT_TRUE(testing::SendAll(fd, kPreface + kEmptySettings));
    loop->DrainConnections();
  });
  std::vector<Frame> frames = ReadFrames(fd, 500);
  bool settings = false, notice = false, ping = false;
  for (const Frame& f : frames) {
    if (f.type == NGHTTP2_SETTINGS && !(f.flags & NGHTTP2_FLAG_ACK)) {
      settings = true;
    }
    if (f.type == NGHTTP2_GOAWAY && f.payload.size() >= 8) {
      uint32_t last = ((static_cast<uint8_t>(f.payload[0]) & 0x7f) << 24) |
                      (static_cast<uint8_t>(f.payload[1]) << 16) |
                      (static_cast<uint8_t>(f.payload[2]) << 8) |
                      static_cast<uint8_t>(f.payload[3]);
      notice |= last == (1u << 31) - 1;
    }
    if (f.type == NGHTTP2_PING && !(f.flags & NGHTTP2_FLAG_ACK)) ping = true;
  }
  EXPECT_TRUE(settings);
  EXPECT_TRUE(notice);
  EXPECT_TRUE(ping);
  close(fd);
}

}  // namespace
}  // namespace faultline::server
