// Ground truth for attribution: strace -f -yy on a running server. Each
// socket syscall line names the thread that made it and (-yy) the socket's
// 4-tuple, so "which thread accepted the connection from client port P"
// and "which threads wrote to it" come from the kernel's syscall interface,
// not from faultline's BPF programs.
#ifndef FAULTLINE_TESTS_SUPPORT_SYSCALLS_H_
#define FAULTLINE_TESTS_SUPPORT_SYSCALLS_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "tests/support/process.h"

namespace faultline::testing {

// Per client port (the remote port of a socket on `local_port`).
struct SocketSyscalls {
  pid_t accept_tid = 0;            // the thread whose accept/accept4 returned it
  std::set<pid_t> writer_tids;     // threads that wrote/sent to it
  std::set<pid_t> reader_tids;     // threads that read/received from it
  std::set<pid_t> closer_tids;     // threads that shut it down or closed it

  // Every thread that made a syscall on the socket.
  std::set<pid_t> Touched() const;
};

// Parses `strace -f -yy` output (lines "TID syscall(FD<TCP:[a:p->b:q]>,
// ...) = RET", with "<unfinished ...>" / "<... resumed>" pairs) into facts
// per client port of connections whose local port is `local_port`.
std::map<int, SocketSyscalls> ParseStraceSockets(std::string_view text,
                                                 int local_port);

// strace attached to every thread of a running process.
class SyscallTrace {
 public:
  // Attaches to `pid` (and threads created later), writing to `out_path`;
  // returns once strace has attached to all of its threads.
  static std::optional<SyscallTrace> Start(pid_t pid,
                                           const std::string& out_path,
                                           std::string* error);
  // Detaches (SIGINT) and waits for strace to exit.
  bool Stop(std::string* error);
  const std::string& path() const { return path_; }

 private:
  SyscallTrace(Child child, std::string path)
      : child_(std::move(child)), path_(std::move(path)) {}
  Child child_;
  std::string path_;
  bool stopped_ = false;
};

// The thread ids of `pid` (/proc/PID/task).
std::set<pid_t> ThreadsOf(pid_t pid);

// The processes whose parent is `parent` (a /proc scan).
std::set<pid_t> ChildrenOf(pid_t parent);

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SUPPORT_SYSCALLS_H_
