#include "common/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

namespace faultline {
namespace {

using Clock = std::chrono::steady_clock;

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

struct ChildProcess::State {
  pid_t pid = -1;
  bool group = false;
  bool reaped = false;
  int exit_code = -1;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::string out;
  std::string err;
  size_t err_cursor = 0;  // ReadStderrUntil searches from here
  bool eof = false;       // every pipe closed (or none)
  bool stop = false;      // asks the reader to finish
  std::thread reader;

  // Drains the pipes (fd -1: not a pipe) into out / err.
  void ReadLoop(int out_fd, int err_fd) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open_fds = (out_fd >= 0) + (err_fd >= 0);
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

  void KillAndReap() {
    if (pid <= 0) return;
    if (group) kill(-pid, SIGKILL);
    if (reaped) return;
    kill(pid, SIGKILL);
    int status = 0;
    if (waitpid(pid, &status, 0) == pid) exit_code = DecodeStatus(status);
    reaped = true;
  }

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
      // A group outlives a leader that exited (prefork workers, a shell's
      // children): take all of it down. Nothing else can own this group id
      // while we have not reaped the leader or members remain.
      if (group) kill(-pid, SIGKILL);
      if (!TryReap()) KillAndReap();
    }
    FinishReader(std::chrono::milliseconds(200));
  }
};

ChildProcess::ChildProcess() : state_(std::make_unique<State>()) {
  state_->reaped = true;
  state_->eof = true;
}
ChildProcess::ChildProcess(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
ChildProcess::ChildProcess(ChildProcess&&) noexcept = default;
ChildProcess& ChildProcess::operator=(ChildProcess&&) noexcept = default;
ChildProcess::~ChildProcess() = default;

ChildProcess ChildProcess::Spawn(const std::vector<std::string>& argv,
                                 const SpawnOptions& opts) {
  auto state = std::make_unique<State>();
  state->group = opts.new_process_group;
  // Everything the child needs is prepared here: between fork and exec it
  // only makes system calls (the parent may have other threads).
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int out_file = -1;
  int err_file = -1;
  std::string failure;
  auto open_file = [&](const std::string& path, int* fd) {
    *fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (*fd < 0) failure = "open " + path + ": " + std::strerror(errno);
  };
  if (opts.stdout_path.empty()) {
    if (pipe2(out_pipe, O_CLOEXEC) != 0)
      failure = std::string("pipe: ") + std::strerror(errno);
  } else {
    open_file(opts.stdout_path, &out_file);
  }
  if (!failure.empty()) {
  } else if (opts.stderr_path.empty()) {
    if (pipe2(err_pipe, O_CLOEXEC) != 0)
      failure = std::string("pipe: ") + std::strerror(errno);
  } else if (opts.stderr_path != opts.stdout_path) {
    open_file(opts.stderr_path, &err_file);
  }
  const int child_out = out_file >= 0 ? out_file : out_pipe[1];
  const int child_err = !opts.stderr_path.empty() &&
                                opts.stderr_path == opts.stdout_path
                            ? out_file
                            : (err_file >= 0 ? err_file : err_pipe[1]);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const std::string exec_error_prefix =
      "exec " + (argv.empty() ? std::string() : argv[0]) + ": ";

  pid_t pid = -1;
  if (failure.empty()) {
    pid = fork();
    if (pid == 0) {
      if (opts.new_process_group) setpgid(0, 0);
      const int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, STDIN_FILENO);
      dup2(child_out, STDOUT_FILENO);
      dup2(child_err, STDERR_FILENO);
      if (opts.default_signals) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGPIPE, SIG_DFL);
      }
      if (!argv.empty()) execvp(cargv[0], cargv.data());
      const char* what = argv.empty() ? "empty argv" : strerror(errno);
      (void)!write(STDERR_FILENO, exec_error_prefix.data(),
                   exec_error_prefix.size());
      (void)!write(STDERR_FILENO, what, std::strlen(what));
      (void)!write(STDERR_FILENO, "\n", 1);
      _exit(127);
    }
    if (pid < 0) failure = std::string("fork: ") + std::strerror(errno);
  }
  CloseFd(&out_pipe[1]);
  CloseFd(&err_pipe[1]);
  CloseFd(&out_file);
  CloseFd(&err_file);
  if (pid < 0) {
    CloseFd(&out_pipe[0]);
    CloseFd(&err_pipe[0]);
    state->reaped = true;
    state->exit_code = 127;
    state->err = failure + "\n";
    state->eof = true;
    return ChildProcess(std::move(state));
  }
  // Also from the parent, so that a kill of the group cannot race the
  // child's own setpgid.
  if (opts.new_process_group) setpgid(pid, pid);
  state->pid = pid;
  if (out_pipe[0] < 0 && err_pipe[0] < 0) {
    state->eof = true;
  } else {
    State* s = state.get();
    const int out_fd = out_pipe[0];
    const int err_fd = err_pipe[0];
    state->reader =
        std::thread([s, out_fd, err_fd] { s->ReadLoop(out_fd, err_fd); });
  }
  return ChildProcess(std::move(state));
}

pid_t ChildProcess::pid() const { return state_ ? state_->pid : -1; }

bool ChildProcess::Running() {
  return state_ && state_->pid > 0 && !state_->TryReap();
}

bool ChildProcess::WaitFor(std::chrono::milliseconds timeout) {
  if (!state_) return true;
  const auto deadline = Clock::now() + timeout;
  while (!state_->TryReap()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void ChildProcess::KillAndReap() {
  if (state_) state_->KillAndReap();
}

bool ChildProcess::Signal(int sig) {
  if (!state_ || state_->pid <= 0 || state_->TryReap()) return false;
  return kill(state_->pid, sig) == 0;
}

bool ChildProcess::SignalGroup(int sig) {
  if (!state_ || state_->pid <= 0 || !state_->group || state_->TryReap())
    return false;
  return kill(-state_->pid, sig) == 0;
}

int ChildProcess::exit_code() const { return state_ ? state_->exit_code : -1; }

void ChildProcess::FinishOutput(std::chrono::milliseconds grace) {
  if (state_) state_->FinishReader(grace);
}

std::string ChildProcess::Stdout() const {
  if (!state_) return "";
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->out;
}

std::string ChildProcess::Stderr() const {
  if (!state_) return "";
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->err;
}

std::string ChildProcess::ReadStderrUntil(std::string_view needle,
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

}  // namespace faultline
