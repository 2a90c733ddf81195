// Graceful shutdown under load, for every pattern, over HTTP/1.1 keep-alive
// and HTTP/2: SIGTERM arrives while faultline-load (or h2load when
// faultline-load is not built) is running, and then
// - no request the server accepted is lost: the client's completed count
//   equals the server's own, and the client saw no failure other than a
//   refused connection (a connection the server never accepted);
// - the server exits 0 within the drain timeout;
// - a tshark capture on lo shows that every connection the server accepted
//   ended with a FIN from the server and that the server sent no RST on any
//   of them (needs root; skipped with a reason otherwise).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/server.h"

namespace faultline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double kDrainTimeoutS = 5;
constexpr int kConnections = 8;

// A tshark capture of one TCP port on lo, into a temporary pcapng file.
class Capture {
 public:
  // Empty reason: running. Otherwise why there is no capture.
  std::string Start(int port) {
    if (!IsRoot()) return "not root: no packet capture";
    if (!HaveCommand("tshark")) return "tshark is not installed";
    char tmpl[] = "/tmp/faultline-shutdown-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) return "mkstemp failed";
    close(fd);
    file_ = tmpl;
    // A listener of our own whose port is in the capture filter too: probe
    // connections to it prove that the capture is live, without touching
    // the server (whose accepted connections the test counts).
    probe_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (probe_fd_ < 0 ||
        bind(probe_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
            0 ||
        listen(probe_fd_, 64) != 0 ||
        getsockname(probe_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return "probe listener failed";
    }
    const int probe_port = ntohs(addr.sin_port);
    // Headers only (-s 96) and a big buffer (-B, MiB): a drop would look
    // like a missing FIN.
    child_.emplace(
        Child::Spawn({"tshark", "-i", "lo", "-f",
                      "tcp port " + std::to_string(port) + " or tcp port " +
                          std::to_string(probe_port),
                      "-s", "96", "-B", "64", "-n", "-w", file_}));
    if (child_->ReadStderrUntil("Capture started", seconds(15)).empty()) {
      return "tshark did not start: " + child_->StderrSoFar();
    }
    // dumpcap may still be attaching, and it writes the file about once a
    // second: probe until a probe's SYN+ACK is in the file.
    const auto deadline = std::chrono::steady_clock::now() + seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      { TcpClient probe(probe_port); }
      std::this_thread::sleep_for(milliseconds(300));
      const RunResult r = faultline::testing::Run(
          {"tshark", "-r", file_, "-n", "-Y",
           "tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.srcport==" +
               std::to_string(probe_port),
           "-T", "fields", "-e", "tcp.stream"},
          seconds(10));
      if (!r.out.empty()) return "";
    }
    return "tshark capture never showed a probe connection";
  }

  // Stops the capture; returns tshark's stderr (it reports drops there).
  std::string Stop() {
    if (!child_) return "";
    // Let the last packets reach the capture before stopping it.
    std::this_thread::sleep_for(milliseconds(300));
    child_->Signal(SIGINT);
    const RunResult r = child_->Wait(seconds(15));
    return r.err;
  }

  const std::string& file() const { return file_; }

  // FAULTLINE_KEEP_CAPTURE=1 keeps the file for a closer look.
  ~Capture() {
    if (probe_fd_ >= 0) close(probe_fd_);
    if (file_.empty()) return;
    if (getenv("FAULTLINE_KEEP_CAPTURE") != nullptr) {
      std::fprintf(stderr, "capture kept: %s\n", file_.c_str());
    } else {
      unlink(file_.c_str());
    }
  }

 private:
  std::optional<Child> child_;
  std::string file_;
  int probe_fd_ = -1;
};

struct ConnectionEnd {
  bool established = false;  // the server sent SYN+ACK
  bool server_fin = false;
  bool server_rst = false;
  bool client_fin = false;
  bool client_rst = false;
};

bool FlagSet(const std::string& v) { return v == "1" || v == "True"; }

// Per TCP stream: what the server (source port == port) sent.
std::map<int, ConnectionEnd> AnalyzeCapture(const std::string& file, int port,
                                            std::string* error,
                                            std::string* raw) {
  std::map<int, ConnectionEnd> conns;
  const RunResult r = faultline::testing::Run({"tshark", "-r",
                                               file,     "-n",
                                               "-T",     "fields",
                                               "-e",     "tcp.stream",
                                               "-e",     "tcp.srcport",
                                               "-e",     "tcp.dstport",
                                               "-e",     "tcp.flags.syn",
                                               "-e",     "tcp.flags.ack",
                                               "-e",     "tcp.flags.fin",
                                               "-e",     "tcp.flags.reset"},
                                              seconds(60));
  if (r.exit_code != 0) {
    *error = "tshark -r failed: " + r.err;
    return conns;
  }
  *raw = r.out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    int stream = -1, src = -1, dst = -1;
    std::string syn, ack, fin, rst;
    if (!(f >> stream >> src >> dst >> syn >> ack >> fin >> rst)) continue;
    if (src != port && dst != port) continue;  // a probe
    ConnectionEnd& c = conns[stream];
    const bool from_server = src == port;
    if (from_server && FlagSet(syn) && FlagSet(ack)) c.established = true;
    if (from_server && FlagSet(fin)) c.server_fin = true;
    if (from_server && FlagSet(rst)) c.server_rst = true;
    if (!from_server && FlagSet(fin)) c.client_fin = true;
    if (!from_server && FlagSet(rst)) c.client_rst = true;
  }
  return conns;
}

using Param = std::tuple<std::string, bool>;  // pattern, HTTP/2

class ServerShutdownTest : public ::testing::TestWithParam<Param> {};

TEST_P(ServerShutdownTest, SigtermUnderLoadLosesNothingAndEndsWithFin) {
  const auto& [pattern, h2] = GetParam();
  const std::string load_bin = BuildPath("faultline-load");
  const bool have_load = HaveCommand(load_bin);
  if (!have_load && !HaveCommand("h2load")) {
    GTEST_SKIP() << "neither faultline-load nor h2load is available";
  }
  std::string error;
  auto server = StartServer(pattern, 2, kDrainTimeoutS, &error);
  if (!server) {
    if (!HaveCommand(BuildPath("faultline-server"))) GTEST_SKIP() << error;
    FAIL() << error;
  }
  const int port = server->port;
  Capture capture;
  const std::string no_capture = capture.Start(port);

  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  std::vector<std::string> argv;
  if (have_load) {
    // Open loop at a modest rate, so that the capture keeps up; a mix with
    // slow requests so that some are in flight when SIGTERM arrives.
    argv = {load_bin,    url,
            "-c",        std::to_string(kConnections),
            "-d",        "4",
            "--rate",    "3000",
            "--paths",   "/:8,/sleep?ms=50:1,/alloc?kb=64:1",
            "--timeout", "8",
            "--json"};
    if (h2) {
      argv.insert(argv.end(), {"--h2", "--streams", "4"});
    }
  } else {
    // The same rate as above: 375 requests/s per connection.
    argv = {"h2load", "-D",  "4",  "-c", std::to_string(kConnections),
            "--rps",  "375", "-T", "8",  url};
    if (h2) {
      argv.insert(argv.end(), {"-m", "4"});
    } else {
      argv.push_back("--h1");
    }
  }
  Child load = Child::Spawn(argv);
  std::this_thread::sleep_for(milliseconds(1200));
  ASSERT_TRUE(load.Running()) << load.StderrSoFar();

  const auto term_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(server->child.Signal(SIGTERM));
  const RunResult srv = server->child.Wait(
      milliseconds(static_cast<int>(kDrainTimeoutS * 1000) + 3000));
  const double exit_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - term_at)
          .count();
  const RunResult client = load.Wait(seconds(30));
  const std::string capture_err = capture.Stop();

  // The process exits 0 within the drain timeout.
  EXPECT_FALSE(srv.timed_out) << srv.err;
  EXPECT_EQ(srv.exit_code, 0) << srv.err;
  EXPECT_LT(exit_s, kDrainTimeoutS + 1.0) << srv.err;
  const std::string stats = ServerStatsJson(srv.err);
  ASSERT_FALSE(stats.empty()) << srv.err;
  const uint64_t served = JsonUint(stats, "requests_completed").value_or(0);
  EXPECT_EQ(JsonUint(stats, "requests_cut"), 0u) << stats;
  EXPECT_GT(served, 0u) << stats;

  // No request lost, per the client's own accounting.
  ASSERT_FALSE(client.timed_out) << client.err;
  if (have_load) {
    const std::string& j = client.out;
    ASSERT_TRUE(JsonUint(j, "completed").has_value()) << j << client.err;
    EXPECT_EQ(JsonUint(j, "completed"), served) << j << "\nserver: " << stats;
    EXPECT_EQ(JsonUint(j, "in_flight_at_end"), 0u) << j;
    for (const char* reason :
         {"reset", "closed_before_response", "closed_mid_response", "timeout",
          "protocol_error", "stream_reset", "retries_exhausted", "deadline"}) {
      EXPECT_EQ(JsonUint(j, reason), 0u) << reason << "\n" << j;
    }
    const uint64_t failed = JsonUint(j, "failed").value_or(~0ull);
    const uint64_t refused = JsonUint(j, "connect_refused").value_or(0) +
                             JsonUint(j, "connect_error").value_or(0);
    EXPECT_EQ(failed, refused) << j;
    EXPECT_EQ(JsonUint(j, "5xx"), 0u) << j;
  } else {
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(client.out, m, std::regex(R"((\d+) succeeded)")))
        << client.out;
    EXPECT_EQ(std::stoull(m[1]), served) << client.out << "\n" << stats;
  }

  if (!no_capture.empty()) {
    GTEST_SKIP() << "FIN/RST not checked: " << no_capture;
  }
  std::string raw;
  const auto conns = AnalyzeCapture(capture.file(), port, &error, &raw);
  ASSERT_TRUE(error.empty()) << error;
  int established = 0;
  for (const auto& [stream, c] : conns) {
    if (!c.established) continue;  // refused after the listener closed
    ++established;
    // Ended with a FIN: normally the server's. An HTTP/2 client may close
    // first once it has GOAWAY and nothing in flight; if it close()s
    // without reading, the server's last frame meets the client's RST and
    // the server has no chance to send its FIN. That is the client's doing;
    // what the server must never do is send an RST.
    EXPECT_TRUE(c.server_fin || c.client_fin)
        << "tcp.stream " << stream << ": no FIN from either side";
    if (!c.server_fin) {
      EXPECT_TRUE(h2 && c.client_fin)
          << "tcp.stream " << stream << ": the server never sent FIN";
    }
    EXPECT_FALSE(c.server_rst)
        << "tcp.stream " << stream << ": the server sent RST";
  }
  int client_reset = 0;
  for (const auto& [stream, c] : conns) client_reset += c.client_rst ? 1 : 0;
  RecordProperty("connections_reset_by_client", client_reset);
  EXPECT_EQ(static_cast<uint64_t>(established),
            JsonUint(stats, "connections_accepted").value_or(~0ull))
      << stats << "\n"
      << conns.size() << " TCP streams in the capture\n"
      << raw.substr(0, 400) << "\n"
      << capture_err;
  EXPECT_EQ(capture_err.find("dropped"), std::string::npos) << capture_err;
}

INSTANTIATE_TEST_SUITE_P(
    AllPatterns, ServerShutdownTest,
    ::testing::Combine(::testing::ValuesIn(ServerPatterns()),
                       ::testing::Bool()),
    [](const ::testing::TestParamInfo<Param>& info) {
      return PatternTestName(std::get<0>(info.param)) +
             (std::get<1>(info.param) ? "_h2" : "_h1");
    });

}  // namespace
}  // namespace faultline::testing
