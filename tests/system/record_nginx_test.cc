// `faultline record -p <nginx master>` on a daemonised nginx with two
// workers that were forked long before the recording starts: -p traces the
// process with all its descendants (SPEC section 2), so both workers, found
// independently as the master's children in /proc, must be in the report
// with faults while curl makes requests to them.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/nginx.h"
#include "tests/support/process.h"

namespace {

using nlohmann::json;
namespace ft = faultline::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

class RecordNginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = ft::NoBpfReason(); !why.empty()) GTEST_SKIP() << why;
    nginx_ = ft::NginxBinary();
    if (nginx_.empty()) GTEST_SKIP() << "nginx is not installed";
    if (!ft::HaveCommand("curl")) GTEST_SKIP() << "curl is not installed";
    char tmpl[] = "/tmp/faultline-record-nginx-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = ft::FreePort();
    ASSERT_GT(port_, 0);
    ft::WriteNginxConf(dir_, "127.0.0.1:" + std::to_string(port_), "",
                       /*access_log=*/true);
    started_ = true;
    ASSERT_EQ(ft::StartNginx(nginx_, dir_, &master_, &workers_), "");
  }

  void TearDown() override {
    if (started_) {
      ft::StopNginx(nginx_, dir_, master_);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string nginx_;
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
  pid_t master_ = 0;
  std::set<pid_t> workers_;
};

TEST_F(RecordNginxTest, PidOfMasterRecordsItsExistingWorkers) {
  std::string trace = dir_ + "/t.flt";
  ft::Child rec = ft::Child::Spawn({ft::BuildPath("faultline"), "record",
                                    "-o", trace, "-p",
                                    std::to_string(master_), "-d", "3"});
  ASSERT_NE(rec.ReadStderrUntil("recording", seconds(30)), "")
      << rec.StderrSoFar();
  // New connections, spread over both workers by the kernel (they share
  // the listening socket); each request makes the serving worker fault
  // (connection buffers, the request pool). Keep going until the
  // recording ends.
  int ok = 0;
  auto until = std::chrono::steady_clock::now() + milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {
    std::vector<std::string> argv = {"curl", "-s", "-o", "/dev/null",
                                     "--max-time", "5"};
    for (int i = 0; i < 20; ++i) {
      argv.push_back("http://127.0.0.1:" + std::to_string(port_) + "/" +
                     std::to_string(i));
      argv.push_back("--next");
      argv.push_back("-s");
      argv.push_back("-o");
      argv.push_back("/dev/null");
      argv.push_back("-H");
      argv.push_back("Connection: close");
    }
    argv.push_back("http://127.0.0.1:" + std::to_string(port_) + "/last");
    ft::RunResult c = ft::Run(argv, seconds(20));
    if (c.exit_code == 0) ++ok;
  }
  ASSERT_GT(ok, 0) << "curl never got an answer from nginx";
  ft::RunResult r = rec.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  ft::RunResult rep = ft::Run(
      {ft::BuildPath("faultline"), "report", trace, "--format", "json"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  json j = json::parse(rep.out);
  std::set<uint32_t> with_faults;
  for (const json& p : j["faults"]["processes"]) {
    uint32_t pid = p["pid"].get<uint32_t>();
    // Only the master and its workers are traced.
    EXPECT_TRUE(static_cast<pid_t>(pid) == master_ || workers_.count(pid))
        << "pid " << pid << " (" << p["comm"] << ") is not nginx's";
    if (p["faults"].get<int64_t>() > 0) with_faults.insert(pid);
  }
  for (uint32_t w : workers_) {
    EXPECT_TRUE(with_faults.count(w))
        << "worker " << w << " of master " << master_
        << " has no faults in the report: " << r.err;
  }
}

}  // namespace
