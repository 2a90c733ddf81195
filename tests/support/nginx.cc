#include "tests/support/nginx.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/syscalls.h"

namespace faultline::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string NginxBinary() {
  if (HaveCommand("nginx")) return "nginx";
  if (access("/usr/sbin/nginx", X_OK) == 0) return "/usr/sbin/nginx";
  return "";
}

void WriteNginxConf(const std::string& dir, const std::string& listen,
                    const std::string& directives, bool access_log) {
  std::ofstream conf(dir + "/nginx.conf");
  // daemon on: the master forks itself away and forks the workers; all of
  // them exist before the test records anything.
  conf << "daemon on;\nmaster_process on;\nworker_processes 2;\n"
       << "pid " << dir << "/nginx.pid;\nerror_log " << dir << "/error.log;\n"
       << "events { worker_connections 256; }\n"
       << "http {\n  access_log "
       << (access_log ? dir + "/access.log" : std::string("off")) << ";\n";
  for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    conf << "  " << t << "_temp_path " << dir << "/" << t << ";\n";
  }
  conf << "  server {\n    listen " << listen << ";\n";
  if (!directives.empty()) conf << "    " << directives << "\n";
  conf << "    location / { return 200 \"hello from nginx\\n\"; }\n"
       << "  }\n}\n";
}

std::string StartNginx(const std::string& binary, const std::string& dir,
                       pid_t* master, std::set<pid_t>* workers) {
  RunResult start = Run({binary, "-p", dir, "-e", dir + "/error.log", "-c",
                         dir + "/nginx.conf"},
                        seconds(20));
  if (start.exit_code != 0) {
    return "nginx exited " + std::to_string(start.exit_code) + ": " +
           start.err;
  }
  // The master writes its pid file, then forks the workers.
  auto until = std::chrono::steady_clock::now() + seconds(10);
  while (true) {
    std::ifstream pid_file(dir + "/nginx.pid");
    pid_t pid = 0;
    if (pid_file >> pid && pid > 0) {
      *master = pid;
      *workers = ChildrenOf(pid);
      if (workers->size() == 2) return "";
    }
    if (std::chrono::steady_clock::now() >= until) {
      return "nginx did not start two workers";
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

void StopNginx(const std::string& binary, const std::string& dir,
               pid_t master) {
  Run({binary, "-p", dir, "-e", dir + "/error.log", "-c", dir + "/nginx.conf",
       "-s", "stop"},
      seconds(20));
  for (int i = 0; i < 200 && master > 0 && kill(master, 0) == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace faultline::testing
