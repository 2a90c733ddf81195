// Running real programs from system tests: one-shot commands (Run) and
// long-lived children such as faultline-server (Child), plus small
// environment probes. Every child gets its own process group, so that a test
// that fails or times out takes the whole tree down with it (prefork
// workers, shells and their children). Child and Run are
// common/child_process.h (shared with `faultline demo`) with pipes.
#ifndef FAULTLINE_TESTS_SUPPORT_PROCESS_H_
#define FAULTLINE_TESTS_SUPPORT_PROCESS_H_

// Note: inside a TEST body, plain Run(...) names testing::Test::Run (private);
// call faultline::testing::Run(...). Inside namespace faultline, "testing::"
// means faultline::testing; write ::testing:: for GoogleTest.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace faultline::testing {

struct RunResult {
  // Exit status; -N when killed by signal N (also after a timeout: -9).
  int exit_code = -1;
  std::string out;  // Everything the process wrote to stdout.
  std::string err;  // Everything the process wrote to stderr.
  // True when the timeout expired and the process group was SIGKILLed.
  bool timed_out = false;
};

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, collects
// stdout and stderr, and waits for it to exit. At `timeout` its process group
// is killed with SIGKILL and timed_out is set. If the program cannot be
// executed, exit_code is 127 and err says why.
RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A running child process in its own process group. stdout and stderr are
// drained continuously by a background thread (so the child never blocks on
// a full pipe) and kept in memory. Movable, not copyable.
class Child {
 public:
  // Starts argv (argv[0] looked up in PATH). Never fails here: if exec fails
  // the child exits 127 with the reason on stderr.
  static Child Spawn(const std::vector<std::string>& argv);

  Child(Child&&) noexcept;
  Child& operator=(Child&&) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Kills the process group with SIGKILL if the child is still running.
  ~Child();

  pid_t pid() const;
  // Sends `sig` to the child process itself (not its group). False when it
  // has already been reaped or kill() fails.
  bool Signal(int sig);
  // Sends `sig` to the child's whole process group.
  bool SignalGroup(int sig);
  // True while the child has not exited (reaps it if it has).
  bool Running();

  // Waits up to `timeout` for the child to exit; then kills its process
  // group (timed_out = true). Returns its status and all output; out and err
  // include what ReadStderrUntil() already returned.
  RunResult Wait(std::chrono::milliseconds timeout);

  // Waits until a stderr line containing `needle` has arrived (searching
  // only after the line matched by the previous call), and returns that
  // line without its newline. Returns "" on timeout or when the child exits
  // without printing it. For readiness lines: "listening on 127.0.0.1:".
  std::string ReadStderrUntil(std::string_view needle,
                              std::chrono::milliseconds timeout);

  // Copies of what arrived so far (for failure messages).
  std::string StdoutSoFar() const;
  std::string StderrSoFar() const;

 private:
  struct State;
  explicit Child(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// FAULTLINE_BUILD_DIR (environment variable, else the build directory this
// library was configured in) + "/" + rel.
std::string BuildPath(const std::string& rel);

// geteuid() == 0.
bool IsRoot();

// Why this machine cannot load faultline's BPF programs ("needs root to
// load BPF programs", "no /sys/kernel/btf/vmlinux (kernel without BTF)"),
// or "" when it can. System tests skip with it in SetUp():
//   if (auto why = ft::NoBpfReason(); !why.empty()) GTEST_SKIP() << why;
std::string NoBpfReason();

// An executable `name` exists in PATH (or at `name` if it has a '/').
bool HaveCommand(const std::string& name);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
// it back, close). Racy by nature: prefer letting servers bind port 0 and
// report it. Returns -1 on failure.
int FreePort();

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SUPPORT_PROCESS_H_
