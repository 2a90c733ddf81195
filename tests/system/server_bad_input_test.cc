// Malformed, oversized and slow HTTP/1.1 requests over raw sockets, against
// every pattern: each gets the right status and a closed connection (never
// a crash, a hang or an RST that eats the response), and meanwhile the
// server keeps answering other clients promptly.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/server.h"

namespace faultline::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kHeaderTimeoutS = 1;

class ServerBadInputTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string error;
    auto s = StartServer(GetParam(), 2, 5, &error,
                         {"--header-timeout", std::to_string(kHeaderTimeoutS)});
    if (!s) {
      if (!HaveCommand(BuildPath("faultline-server"))) GTEST_SKIP() << error;
      FAIL() << error;
    }
    server_ = std::move(*s);
  }

  void TearDown() override {
    if (!server_) return;
    // The server survived everything and still shuts down cleanly.
    EXPECT_TRUE(server_->child.Signal(SIGTERM));
    const RunResult r = server_->child.Wait(seconds(10));
    EXPECT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  int port() const { return server_->port; }

  // One well-formed GET on a new connection; the status, or 0. *elapsed gets
  // the time to the full response.
  int SimpleGet(milliseconds* elapsed = nullptr) {
    const auto start = Clock::now();
    TcpClient c(port());
    if (!c.ok()) return 0;
    c.Send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    bool closed = false;
    const std::string resp = c.ReadUntilClose(seconds(5), &closed);
    if (elapsed != nullptr) {
      *elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    }
    if (!closed ||
        resp.find("hello from faultline-server") == std::string::npos) {
      return 0;
    }
    return StatusCodeOf(resp);
  }

  std::optional<ServerProcess> server_;
};

struct BadCase {
  const char* name;
  std::string wire;
  int status;
};

std::vector<BadCase> BadCases() {
  const std::string host = "Host: t\r\n";
  return {
      {"garbage", "GARBAGE\r\n\r\n", 400},
      {"binary",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
           std::string(64, '\0'),
       400},
      {"space_before_colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400},
      {"obs_fold", "GET / HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", 400},
      {"bare_lf", "GET / HTTP/1.1\n" + host + "\n", 400},
      {"no_host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"cl_and_te",
       "POST / HTTP/1.1\r\n" + host +
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400},
      {"conflicting_cl",
       "POST / HTTP/1.1\r\n" + host +
           "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       400},
      {"bad_chunk",
       "POST / HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
       400},
      {"uri_too_long",
       "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + host + "\r\n", 414},
      {"headers_too_large",
       "GET / HTTP/1.1\r\n" + host + "X: " + std::string(20000, 'a') +
           "\r\n\r\n",
       431},
      {"too_many_headers",
       [&] {
         std::string s = "GET / HTTP/1.1\r\n" + host;
         for (int i = 0; i < 200; ++i)
           s += "X-" + std::to_string(i) + ": v\r\n";
         return s + "\r\n";
       }(),
       431},
      {"body_too_large",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 100000000\r\n\r\n", 413},
      {"unknown_coding",
       "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501},
      {"http_2_0_line", "GET / HTTP/2.0\r\n" + host + "\r\n", 505},
  };
}

TEST_P(ServerBadInputTest, RightStatusThenClose) {
  for (const BadCase& bc : BadCases()) {
    SCOPED_TRACE(bc.name);
    TcpClient c(port());
    ASSERT_TRUE(c.ok());
    // The server may answer before it has read everything: a send error
    // after that is fine, a missing response is not.
    c.Send(bc.wire);
    bool closed = false;
    const std::string resp = c.ReadUntilClose(seconds(5), &closed);
    EXPECT_EQ(StatusCodeOf(resp), bc.status) << resp.substr(0, 200);
    EXPECT_NE(resp.find("Connection: close"), std::string::npos)
        << resp.substr(0, 200);
    EXPECT_TRUE(closed) << "connection left open";
  }
  // And then it still serves.
  EXPECT_EQ(SimpleGet(), 200);
}

TEST_P(ServerBadInputTest, PipelinedAndByteByByteRequests) {
  TcpClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send(
      "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n"
      "GET /alloc?kb=4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  const std::string resp = c.ReadUntilClose(seconds(5), &closed);
  EXPECT_TRUE(closed);
  size_t responses = 0;
  for (size_t at = resp.find("HTTP/1.1 200 "); at != std::string::npos;
       at = resp.find("HTTP/1.1 200 ", at + 1)) {
    ++responses;
  }
  EXPECT_EQ(responses, 3u) << resp;

  // One byte at a time, well inside the header timeout.
  TcpClient slow(port());
  ASSERT_TRUE(slow.ok());
  const std::string req =
      "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  for (char ch : req) {
    ASSERT_TRUE(slow.Send(std::string_view(&ch, 1)));
    std::this_thread::sleep_for(milliseconds(2));
  }
  const std::string r2 = slow.ReadUntilClose(seconds(5), &closed);
  EXPECT_EQ(StatusCodeOf(r2), 200) << r2;
}

TEST_P(ServerBadInputTest, ExpectContinue) {
  TcpClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
             "Expect: 100-continue\r\n\r\n"));
  const std::string interim = c.ReadUntil("\r\n\r\n", seconds(5));
  EXPECT_EQ(StatusCodeOf(interim), 100) << interim;
  ASSERT_TRUE(c.Send("data"));
  const std::string resp = c.ReadUntil("\r\n\r\n", seconds(5));
  EXPECT_EQ(StatusCodeOf(resp), 200) << resp;
}

// Slowloris: connections that send part of a request and stall. Others are
// served meanwhile, and the stalled ones get 408 and are closed after the
// header timeout.
TEST_P(ServerBadInputTest, SlowClientsDoNotBlockOthers) {
  constexpr int kSlow = 40;
  std::vector<std::unique_ptr<TcpClient>> slow;
  for (int i = 0; i < kSlow; ++i) {
    auto c = std::make_unique<TcpClient>(port());
    ASSERT_TRUE(c->ok()) << i;
    ASSERT_TRUE(c->Send(i % 2 == 0 ? "GET / HTTP/1.1\r\nHost: t\r\n"
                                   : "POST / HTTP/1.1\r\nHost: t\r\n"
                                     "Content-Length: 10\r\n\r\nabc"));
    slow.push_back(std::move(c));
  }
  const auto start = Clock::now();
  for (int i = 0; i < 10; ++i) {
    milliseconds took{};
    EXPECT_EQ(SimpleGet(&took), 200) << i;
    EXPECT_LT(took, milliseconds(500)) << i;
  }
  // Every stalled connection is answered 408 and closed: header timeout plus
  // the server's timer period, with margin.
  for (int i = 0; i < kSlow; ++i) {
    const auto deadline = start + seconds(kHeaderTimeoutS + 4);
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    bool closed = false;
    const std::string resp =
        slow[i]->ReadUntilClose(std::max(left, milliseconds(1)), &closed);
    EXPECT_TRUE(closed) << "slow connection " << i << " still open";
    EXPECT_EQ(StatusCodeOf(resp), 408) << i << ": " << resp.substr(0, 100);
  }
}

// A slow endpoint in flight does not stop the server from answering others.
TEST_P(ServerBadInputTest, SleepingRequestDoesNotBlockOthers) {
  TcpClient sleeper(port());
  ASSERT_TRUE(sleeper.ok());
  ASSERT_TRUE(sleeper.Send("GET /sleep?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::this_thread::sleep_for(milliseconds(100));
  for (int i = 0; i < 5; ++i) {
    milliseconds took{};
    EXPECT_EQ(SimpleGet(&took), 200) << i;
    EXPECT_LT(took, milliseconds(500)) << i;
  }
  const std::string resp = sleeper.ReadUntil("\r\n\r\n", seconds(5));
  EXPECT_EQ(StatusCodeOf(resp), 200) << resp;
}

INSTANTIATE_TEST_SUITE_P(AllPatterns, ServerBadInputTest,
                         ::testing::ValuesIn(ServerPatterns()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return PatternTestName(info.param);
                         });

}  // namespace
}  // namespace faultline::testing
