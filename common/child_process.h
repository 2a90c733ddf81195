// ChildProcess: one running program, for the tests (tests/support/process.h
// wraps it) and for `faultline demo`. fork + exec with stdin from /dev/null
// and stdout/stderr either captured in memory (pipes drained continuously
// by a background thread, so the child never blocks on a full pipe) or
// written to files; optionally in its own process group, so that a kill
// takes its whole tree down (prefork workers, shells and their children).
// Waiting is by polling waitpid(WNOHANG) with a timeout; the caller decides
// what a timeout means (tests kill, the demo escalates).
#ifndef FAULTLINE_COMMON_CHILD_PROCESS_H_
#define FAULTLINE_COMMON_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace faultline {

struct SpawnOptions {
  // Where stdout / stderr go: "" = a pipe that this process drains (read
  // with Stdout() / Stderr()); else a file, created or truncated (0644). The
  // same path for both shares one file (one O_TRUNC, one offset).
  std::string stdout_path;
  std::string stderr_path;
  // The child leads a new process group (setpgid in child and parent, so
  // there is no race with a kill); KillAndReap() and the destructor then
  // kill the whole group. Without it the child stays in ours (a terminal's
  // Ctrl-C reaches it too).
  bool new_process_group = true;
  // Unblock every signal and reset SIGPIPE to its default in the child (a
  // test runner may have them blocked or ignored). Without it the child
  // inherits our mask and ignored signals, as a plain fork + exec would.
  bool default_signals = true;
};

class ChildProcess {
 public:
  // Starts argv (argv[0] looked up in PATH unless it has a '/'). Never fails
  // here: if fork or a pipe/file fails, the result has exited with code 127
  // and Stderr() says why; if exec fails the child exits 127 with the
  // reason on its stderr.
  static ChildProcess Spawn(const std::vector<std::string>& argv,
                            const SpawnOptions& opts = {});

  ChildProcess();  // no process; everything returns "exited, nothing"
  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills the child (its group, with new_process_group) with SIGKILL if it
  // still runs or its group may, reaps it, and stops the output thread.
  ~ChildProcess();

  pid_t pid() const;  // -1 when it never started
  // True while the child has not exited (reaps it if it has).
  bool Running();
  // Waits up to `timeout` for the child to exit; true if it has (reaped).
  bool WaitFor(std::chrono::milliseconds timeout);
  // SIGKILL to the group (with new_process_group) and the child, then waits
  // for it. exit_code() becomes -9 unless it had exited already.
  void KillAndReap();
  // Sends `sig` to the child process itself. False when it has already been
  // reaped or kill() fails.
  bool Signal(int sig);
  // Sends `sig` to the child's process group (with new_process_group).
  bool SignalGroup(int sig);
  // Exit status once reaped: the exit code, -N when killed by signal N, -1
  // while running or unknown.
  int exit_code() const;

  // Captured output (pipes only). FinishOutput() lets the reader collect
  // what is still in the pipes, up to `grace` (descendants that keep the
  // pipes open cannot hang us), then stops it.
  void FinishOutput(std::chrono::milliseconds grace);
  std::string Stdout() const;
  std::string Stderr() const;
  // Waits until a stderr line containing `needle` has arrived (searching
  // only after the line matched by the previous call), and returns that
  // line without its newline. Returns "" on timeout or when the output ends
  // without it.
  std::string ReadStderrUntil(std::string_view needle,
                              std::chrono::milliseconds timeout);

 private:
  struct State;
  explicit ChildProcess(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace faultline

#endif  // FAULTLINE_COMMON_CHILD_PROCESS_H_
