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

#include "tests/support/process.h"

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

// PPid of `pid` from /proc/PID/status; 0 when gone.
uint32_t PpidOf(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("PPid:", 0) == 0) return std::stoul(line.substr(5));
  }
  return 0;
}

// The processes whose parent is `parent`, from a scan of /proc.
std::set<uint32_t> ChildrenOf(uint32_t parent) {
  std::set<uint32_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    uint32_t pid = std::stoul(name);
    if (PpidOf(pid) == parent) out.insert(pid);
  }
  return out;
}

class RecordNginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = ft::NoBpfReason(); !why.empty()) GTEST_SKIP() << why;
    nginx_ = NginxBinary();
    if (nginx_.empty()) GTEST_SKIP() << "nginx is not installed";
    if (!ft::HaveCommand("curl")) GTEST_SKIP() << "curl is not installed";
    char tmpl[] = "/tmp/faultline-record-nginx-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = ft::FreePort();
    ASSERT_GT(port_, 0);
    std::ofstream conf(dir_ + "/nginx.conf");
    // daemon on: the master forks itself away and forks the workers; all
    // of them exist before faultline starts.
    conf << "daemon on;\nmaster_process on;\nworker_processes 2;\n"
         << "pid " << dir_ << "/nginx.pid;\nerror_log " << dir_
         << "/error.log;\n"
         << "events { worker_connections 256; }\n"
         << "http {\n  access_log " << dir_ << "/access.log;\n";
    for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
      conf << "  " << t << "_temp_path " << dir_ << "/" << t << ";\n";
    }
    conf << "  server {\n    listen 127.0.0.1:" << port_ << ";\n"
         << "    location / { return 200 \"hello from nginx\\n\"; }\n"
         << "  }\n}\n";
    conf.close();
    ft::RunResult start = ft::Run({nginx_, "-p", dir_, "-e",
                                   dir_ + "/error.log", "-c",
                                   dir_ + "/nginx.conf"},
                                  seconds(20));
    ASSERT_EQ(start.exit_code, 0) << start.err;
    started_ = true;
    // The master writes its pid file, then forks the workers.
    auto until = std::chrono::steady_clock::now() + seconds(10);
    while (true) {
      std::ifstream pid_file(dir_ + "/nginx.pid");
      uint32_t pid = 0;
      if (pid_file >> pid && pid > 0) {
        master_ = pid;
        workers_ = ChildrenOf(master_);
        if (workers_.size() == 2) break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), until)
          << "nginx did not start two workers";
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  void TearDown() override {
    if (started_) {
      ft::Run({nginx_, "-p", dir_, "-e", dir_ + "/error.log", "-c",
               dir_ + "/nginx.conf", "-s", "stop"},
              seconds(20));
      // Wait for the master to go before removing its files.
      for (int i = 0; i < 200 && master_ && kill(master_, 0) == 0; ++i) {
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string nginx_;
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
  uint32_t master_ = 0;
  std::set<uint32_t> workers_;
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
    EXPECT_TRUE(pid == master_ || workers_.count(pid))
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
