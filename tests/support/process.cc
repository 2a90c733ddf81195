#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#ifndef FAULTLINE_BUILD_DIR
#define FAULTLINE_BUILD_DIR "build"
#endif

namespace faultline::testing {
namespace {

using Clock = std::chrono::steady_clock;

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

// fork + exec with stdout/stderr into fresh pipes, in a new process group.
// Returns the pid; *out_fd / *err_fd get the read ends.
pid_t SpawnWithPipes(const std::vector<std::string>& argv, int* out_fd,
                     int* err_fd) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return -1;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return -1;
  }
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    // The test may run with signals blocked or ignored in threads; give the
    // child default dispositions.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (!argv.empty()) execvp(cargv[0], cargv.data());
    const char* what = argv.empty() ? "empty argv" : strerror(errno);
    const std::string msg =
        "exec " + (argv.empty() ? "" : argv[0]) + ": " + what + "\n";
    (void)!write(STDERR_FILENO, msg.data(), msg.size());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return -1;
  }
  setpgid(pid, pid);  // also from the parent, so there is no race with kill
  *out_fd = out_pipe[0];
  *err_fd = err_pipe[0];
  return pid;
}

}  // namespace

struct Child::State {
  pid_t pid = -1;
  bool reaped = false;
  int exit_code = -1;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::string out;
  std::string err;
  size_t err_cursor = 0;  // ReadStderrUntil searches from here
  bool eof = false;       // both pipes closed
  bool stop = false;      // asks the reader to finish
  std::thread reader;

  void ReadLoop(int out_fd, int err_fd) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) break;
      }
      const int n = poll(fds, 2, 100);
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        const ssize_t r = read(fds[i].fd, buf, sizeof(buf));
        if (r > 0) {
          std::lock_guard<std::mutex> lock(mu);
          (i == 0 ? out : err).append(buf, static_cast<size_t>(r));
          cv.notify_all();
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        }
      }
    }
    for (auto& f : fds) {
      if (f.fd >= 0) close(f.fd);
    }
    std::lock_guard<std::mutex> lock(mu);
    eof = true;
    cv.notify_all();
  }

  // Non-blocking reap; true if the child has exited (now or before).
  bool TryReap() {
    if (reaped) return true;
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      reaped = true;
      exit_code = DecodeStatus(status);
    } else if (r < 0 && errno == ECHILD) {
      reaped = true;
    }
    return reaped;
  }

  // Lets the reader collect what is still in the pipes (up to `grace`), then
  // stops it. Descendants that keep the pipes open cannot hang us.
  void FinishReader(std::chrono::milliseconds grace) {
    if (!reader.joinable()) return;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, grace, [&] { return eof; });
      stop = true;
    }
    reader.join();
  }

  ~State() {
    if (pid > 0) {
      // The group outlives a leader that exited (prefork workers, a shell's
      // children): take all of it down. Nothing else can own this group id
      // while we have not reaped the leader or members remain.
      kill(-pid, SIGKILL);
      if (!TryReap()) {
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        reaped = true;
      }
    }
    FinishReader(std::chrono::milliseconds(200));
  }
};

Child::Child(std::unique_ptr<State> state) : state_(std::move(state)) {}
Child::Child(Child&&) noexcept = default;
Child& Child::operator=(Child&&) noexcept = default;
Child::~Child() = default;

Child Child::Spawn(const std::vector<std::string>& argv) {
  auto state = std::make_unique<State>();
  int out_fd = -1;
  int err_fd = -1;
  state->pid = SpawnWithPipes(argv, &out_fd, &err_fd);
  if (state->pid < 0) {
    state->reaped = true;
    state->exit_code = 127;
    state->err = "fork/pipe failed: " + std::string(strerror(errno)) + "\n";
    state->eof = true;
  } else {
    State* s = state.get();
    state->reader =
        std::thread([s, out_fd, err_fd] { s->ReadLoop(out_fd, err_fd); });
  }
  return Child(std::move(state));
}

pid_t Child::pid() const { return state_ ? state_->pid : -1; }

bool Child::Signal(int sig) {
  if (!state_ || state_->pid <= 0 || state_->TryReap()) return false;
  return kill(state_->pid, sig) == 0;
}

bool Child::SignalGroup(int sig) {
  if (!state_ || state_->pid <= 0 || state_->TryReap()) return false;
  return kill(-state_->pid, sig) == 0;
}

bool Child::Running() {
  return state_ && state_->pid > 0 && !state_->TryReap();
}

RunResult Child::Wait(std::chrono::milliseconds timeout) {
  RunResult result;
  if (!state_) return result;
  State& s = *state_;
  const auto deadline = Clock::now() + timeout;
  while (!s.TryReap()) {
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      kill(-s.pid, SIGKILL);
      kill(s.pid, SIGKILL);
      int status = 0;
      if (waitpid(s.pid, &status, 0) == s.pid)
        s.exit_code = DecodeStatus(status);
      s.reaped = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.FinishReader(std::chrono::milliseconds(2000));
  std::lock_guard<std::mutex> lock(s.mu);
  result.exit_code = s.exit_code;
  result.out = s.out;
  result.err = s.err;
  return result;
}

std::string Child::ReadStderrUntil(std::string_view needle,
                                   std::chrono::milliseconds timeout) {
  if (!state_) return "";
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const size_t at = s.err.find(needle, s.err_cursor);
    if (at != std::string::npos) {
      const size_t line_end = s.err.find('\n', at);
      if (line_end != std::string::npos || s.eof) {
        const size_t line_start = s.err.rfind('\n', at);
        const size_t begin =
            line_start == std::string::npos ? 0 : line_start + 1;
        const size_t end =
            line_end == std::string::npos ? s.err.size() : line_end;
        s.err_cursor = end;
        return s.err.substr(begin, end - begin);
      }
    }
    if (s.eof) return "";
    if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout &&
        Clock::now() >= deadline) {
      return "";
    }
  }
}

std::string Child::StdoutSoFar() const {
  if (!state_) return "";
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->out;
}

std::string Child::StderrSoFar() const {
  if (!state_) return "";
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->err;
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
    if (dir.empty()) dir = ".";
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
