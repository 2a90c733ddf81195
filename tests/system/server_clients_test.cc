// Real clients against faultline-server in every pattern: curl (HTTP/1.1 and
// h2c prior knowledge), nghttp, h2load (h2c and --h1) and wrk. Each test
// starts its own server, checks status codes and bodies as the clients see
// them, then stops the server with SIGTERM and checks that its own counters
// ("faultline-server: stats {...}") match the clients' counts exactly (wrk:
// within the requests it had in flight when it stopped).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/server.h"

namespace faultline::testing {
namespace {

using std::chrono::seconds;

constexpr std::string_view kRootBody = "hello from faultline-server\n";

class ServerClientsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string error;
    auto s = StartServer(GetParam(), 2, 5, &error);
    if (!s) {
      if (!HaveCommand(BuildPath("faultline-server"))) GTEST_SKIP() << error;
      FAIL() << error;
    }
    server_ = std::move(*s);
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port) + path;
  }

  // SIGTERM, clean exit within the drain timeout, and the stats JSON.
  std::string StopServer() {
    EXPECT_TRUE(server_->child.Signal(SIGTERM));
    const RunResult r = server_->child.Wait(seconds(10));
    EXPECT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string stats = ServerStatsJson(r.err);
    EXPECT_FALSE(stats.empty()) << "no stats line in: " << r.err;
    return stats;
  }

  static uint64_t Get(const std::string& json, std::string_view key) {
    const auto v = JsonUint(json, key);
    EXPECT_TRUE(v.has_value()) << key << " missing in " << json;
    return v.value_or(~0ull);
  }

  std::optional<ServerProcess> server_;
};

#define REQUIRE_TOOL(tool)                                               \
  do {                                                                   \
    if (!HaveCommand(tool)) GTEST_SKIP() << tool << " is not installed"; \
  } while (0)

TEST_P(ServerClientsTest, CurlHttp11AndHttp2PriorKnowledge) {
  REQUIRE_TOOL("curl");
  struct Case {
    std::string path;
    bool h2;
    int status;
  };
  const std::vector<Case> cases = {{"/", false, 200},
                                   {"/alloc?kb=64", false, 200},
                                   {"/file?kb=16", false, 200},
                                   {"/alloc?kb=abc", false, 400},
                                   {"/no-such-page", false, 404},
                                   {"/", true, 200},
                                   {"/cow?kb=16", true, 200},
                                   {"/stack?kb=16", true, 200},
                                   {"/sleep?ms=20", true, 200},
                                   {"/alloc?kb=-1", true, 400}};
  int h1 = 0, h2 = 0, ok = 0, bad = 0, missing = 0;
  for (const auto& c : cases) {
    std::vector<std::string> argv = {
        "curl", "-sS", "--max-time",
        "10",   "-w",  "\n%{http_code} %{http_version}"};
    if (c.h2) argv.push_back("--http2-prior-knowledge");
    argv.push_back(Url(c.path));
    const RunResult r = faultline::testing::Run(argv, seconds(20));
    ASSERT_EQ(r.exit_code, 0) << c.path << ": " << r.err;
    const size_t nl = r.out.rfind('\n');
    ASSERT_NE(nl, std::string::npos);
    const std::string trailer = r.out.substr(nl + 1);
    const std::string body = r.out.substr(0, nl);
    EXPECT_EQ(trailer, std::to_string(c.status) + (c.h2 ? " 2" : " 1.1"))
        << c.path;
    if (c.path == "/") EXPECT_EQ(body, kRootBody);
    (c.h2 ? h2 : h1)++;
    if (c.status == 200) ++ok;
    if (c.status == 400) ++bad;
    if (c.status == 404) ++missing;
  }
  const std::string stats = StopServer();
  EXPECT_EQ(Get(stats, "h1_requests"), static_cast<uint64_t>(h1)) << stats;
  EXPECT_EQ(Get(stats, "h2_requests"), static_cast<uint64_t>(h2)) << stats;
  EXPECT_EQ(Get(stats, "200"), static_cast<uint64_t>(ok)) << stats;
  EXPECT_EQ(Get(stats, "400"), static_cast<uint64_t>(bad)) << stats;
  EXPECT_EQ(Get(stats, "404"), static_cast<uint64_t>(missing)) << stats;
  EXPECT_EQ(Get(stats, "connections_accepted"), cases.size()) << stats;
  EXPECT_EQ(Get(stats, "requests_cut"), 0u) << stats;
}

TEST_P(ServerClientsTest, CurlReusesOneKeepAliveConnection) {
  REQUIRE_TOOL("curl");
  // Three URLs on one command line share one connection.
  const RunResult r = faultline::testing::Run(
      {"curl", "-sS", "--max-time", "10", "-w", "%{http_code}\n", Url("/"),
       Url("/alloc?kb=4"), Url("/")},
      seconds(20));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::string(kRootBody) + "200\n"), std::string::npos)
      << r.out;
  const std::string stats = StopServer();
  EXPECT_EQ(Get(stats, "h1_requests"), 3u) << stats;
  EXPECT_EQ(Get(stats, "connections_accepted"), 1u) << stats;
}

TEST_P(ServerClientsTest, Nghttp) {
  REQUIRE_TOOL("nghttp");
  const std::vector<std::string> paths = {"/", "/alloc?kb=32", "/file?kb=8",
                                          "/cow?kb=8", "/sleep?ms=10"};
  std::vector<std::string> argv = {"nghttp", "-n", "-v", "-t", "10"};
  for (const auto& p : paths) argv.push_back(Url(p));
  const RunResult r = faultline::testing::Run(argv, seconds(20));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // One ":status: 200" per stream, all in one connection.
  const std::regex status_re(R"(recv \(stream_id=\d+\) :status: 200)");
  const auto n =
      std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), status_re),
                    std::sregex_iterator());
  EXPECT_EQ(n, static_cast<long>(paths.size())) << r.out;
  const std::string stats = StopServer();
  EXPECT_EQ(Get(stats, "h2_requests"), paths.size()) << stats;
  EXPECT_EQ(Get(stats, "h1_requests"), 0u) << stats;
  EXPECT_EQ(Get(stats, "connections_accepted"), 1u) << stats;
}

// "requests: N total, N started, N done, N succeeded, 0 failed, 0 errored,
// 0 timeout" and "status codes: N 2xx, ..." from h2load.
void CheckH2loadOutput(const RunResult& r, int n) {
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string want = "requests: " + std::to_string(n) + " total, " +
                           std::to_string(n) + " started, " +
                           std::to_string(n) + " done, " + std::to_string(n) +
                           " succeeded, 0 failed, 0 errored, 0 timeout";
  EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status codes: " + std::to_string(n) +
                       " 2xx, 0 3xx, "
                       "0 4xx, 0 5xx"),
            std::string::npos)
      << r.out;
}

TEST_P(ServerClientsTest, H2loadHttp2) {
  REQUIRE_TOOL("h2load");
  constexpr int kRequests = 3000;
  const RunResult r =
      faultline::testing::Run({"h2load", "-n", std::to_string(kRequests), "-c",
                               "4", "-m", "8", "-T", "10", Url("/")},
                              seconds(30));
  CheckH2loadOutput(r, kRequests);
  const std::string stats = StopServer();
  EXPECT_EQ(Get(stats, "h2_requests"), static_cast<uint64_t>(kRequests))
      << stats;
  EXPECT_EQ(Get(stats, "200"), static_cast<uint64_t>(kRequests)) << stats;
  EXPECT_EQ(Get(stats, "connections_accepted"), 4u) << stats;
}

TEST_P(ServerClientsTest, H2loadHttp1) {
  REQUIRE_TOOL("h2load");
  constexpr int kRequests = 3000;
  const RunResult r = faultline::testing::Run(
      {"h2load", "--h1", "-n", std::to_string(kRequests), "-c", "4", "-T", "10",
       Url("/alloc?kb=4")},
      seconds(30));
  CheckH2loadOutput(r, kRequests);
  const std::string stats = StopServer();
  EXPECT_EQ(Get(stats, "h1_requests"), static_cast<uint64_t>(kRequests))
      << stats;
  EXPECT_EQ(Get(stats, "200"), static_cast<uint64_t>(kRequests)) << stats;
}

TEST_P(ServerClientsTest, Wrk) {
  REQUIRE_TOOL("wrk");
  constexpr int kConnections = 4;
  const RunResult r = faultline::testing::Run(
      {"wrk", "-t", "1", "-c", std::to_string(kConnections), "-d", "2s",
       "--timeout", "5s", Url("/")},
      seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"((\d+) requests in )")))
      << r.out;
  const uint64_t done = std::stoull(m[1]);
  EXPECT_GT(done, 0u);
  EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out;
  const std::string stats = StopServer();
  // wrk stops counting with up to one request per connection in flight; the
  // server may still have answered those.
  const uint64_t served = Get(stats, "h1_requests");
  EXPECT_GE(served, done) << stats;
  EXPECT_LE(served, done + kConnections) << stats << "\n" << r.out;
  EXPECT_EQ(Get(stats, "200"), served) << stats;
}

INSTANTIATE_TEST_SUITE_P(AllPatterns, ServerClientsTest,
                         ::testing::ValuesIn(ServerPatterns()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return PatternTestName(info.param);
                         });

}  // namespace
}  // namespace faultline::testing
