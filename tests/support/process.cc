#include "tests/support/process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "common/child_process.h"

#ifndef FAULTLINE_BUILD_DIR
#define FAULTLINE_BUILD_DIR "build"
#endif

namespace faultline::testing {

// Child is common/child_process.h's ChildProcess with its defaults: pipes,
// its own process group, default signal dispositions.
struct Child::State {
  ChildProcess process;
};

Child::Child(std::unique_ptr<State> state) : state_(std::move(state)) {}
Child::Child(Child&&) noexcept = default;
Child& Child::operator=(Child&&) noexcept = default;
Child::~Child() = default;

Child Child::Spawn(const std::vector<std::string>& argv) {
  auto state = std::make_unique<State>();
  state->process = ChildProcess::Spawn(argv);
  return Child(std::move(state));
}

pid_t Child::pid() const { return state_ ? state_->process.pid() : -1; }

bool Child::Signal(int sig) { return state_ && state_->process.Signal(sig); }

bool Child::SignalGroup(int sig) {
  return state_ && state_->process.SignalGroup(sig);
}

bool Child::Running() { return state_ && state_->process.Running(); }

RunResult Child::Wait(std::chrono::milliseconds timeout) {
  RunResult result;
  if (!state_) return result;
  ChildProcess& p = state_->process;
  if (!p.WaitFor(timeout)) {
    result.timed_out = true;
    p.KillAndReap();
  }
  p.FinishOutput(std::chrono::milliseconds(2000));
  result.exit_code = p.exit_code();
  result.out = p.Stdout();
  result.err = p.Stderr();
  return result;
}

std::string Child::ReadStderrUntil(std::string_view needle,
                                   std::chrono::milliseconds timeout) {
  return state_ ? state_->process.ReadStderrUntil(needle, timeout) : "";
}

std::string Child::StdoutSoFar() const {
  return state_ ? state_->process.Stdout() : "";
}

std::string Child::StderrSoFar() const {
  return state_ ? state_->process.Stderr() : "";
}

RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout) {
  Child child = Child::Spawn(argv);
  return child.Wait(timeout);
}

std::string BuildPath(const std::string& rel) {
  const char* env = std::getenv("FAULTLINE_BUILD_DIR");
  const std::string dir =
      (env != nullptr && *env != '\0') ? env : FAULTLINE_BUILD_DIR;
  return dir + "/" + rel;
}

bool IsRoot() { return geteuid() == 0; }

std::string NoBpfReason() {
  if (!IsRoot()) return "needs root to load BPF programs";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    return "no /sys/kernel/btf/vmlinux (kernel without BTF)";
  }
  return "";
}

bool HaveCommand(const std::string& name) {
  if (name.empty()) return false;
  if (name.find('/') != std::string::npos)
    return access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view rest =
      path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (dir.empty()) dir.push_back('.');
    const std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return true;
    }
    if (colon == std::string_view::npos) return false;
    rest.remove_prefix(colon + 1);
  }
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace faultline::testing
