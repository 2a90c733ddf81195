#include "tests/support/syscalls.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace faultline::testing {

namespace {

// The remote port of the first "<TCP:[a:LOCAL->b:P]>" in `s`, or 0.
int RemotePortIn(std::string_view s, int local_port) {
  const std::string needle = ":" + std::to_string(local_port) + "->";
  size_t at = s.find(needle);
  while (at != std::string_view::npos) {
    // The local side must end right before "->" (not a longer port).
    const size_t colon = s.find(':', at + needle.size());
    const size_t close = s.find("]>", at + needle.size());
    if (colon != std::string_view::npos && close != std::string_view::npos &&
        colon < close) {
      return std::atoi(std::string(s.substr(colon + 1, close - colon - 1)).c_str());
    }
    at = s.find(needle, at + 1);
  }
  return 0;
}

bool IsWrite(std::string_view name) {
  return name == "write" || name == "writev" || name == "send" ||
         name == "sendto" || name == "sendmsg" || name == "sendmmsg" ||
         name == "sendfile" || name == "pwritev" || name == "pwritev2";
}

bool IsRead(std::string_view name) {
  return name == "read" || name == "readv" || name == "recv" ||
         name == "recvfrom" || name == "recvmsg" || name == "recvmmsg";
}

}  // namespace

std::set<pid_t> SocketSyscalls::Touched() const {
  std::set<pid_t> all = writer_tids;
  all.insert(reader_tids.begin(), reader_tids.end());
  all.insert(closer_tids.begin(), closer_tids.end());
  if (accept_tid != 0) all.insert(accept_tid);
  return all;
}

std::map<int, SocketSyscalls> ParseStraceSockets(std::string_view text,
                                                 int local_port) {
  std::map<int, SocketSyscalls> out;
  // Per tid: the name of a syscall left "<unfinished ...>", whose result
  // (accept's new socket) comes on a later "<... NAME resumed>" line.
  std::map<pid_t, std::string> pending;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // "[pid  N] " prefix (strace to stderr) or "N  " (-o FILE with -f).
    if (line.rfind("[pid", 0) == 0) line.remove_prefix(4);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    size_t digits = 0;
    while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9')
      ++digits;
    if (digits == 0) continue;
    const pid_t tid = std::atoi(std::string(line.substr(0, digits)).c_str());
    line.remove_prefix(digits);
    if (!line.empty() && line.front() == ']') line.remove_prefix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    std::string name;
    std::string_view args = line;
    if (line.rfind("<... ", 0) == 0) {
      const size_t end = line.find(" resumed>");
      if (end == std::string_view::npos) continue;
      name = std::string(line.substr(5, end - 5));
      args = line.substr(end);
    } else {
      const size_t paren = line.find('(');
      if (paren == std::string_view::npos) continue;
      name = std::string(line.substr(0, paren));
      args = line.substr(paren);
    }
    if (name == "accept" || name == "accept4") {
      // The new socket is in the return value, after the last " = ".
      const size_t eq = args.rfind(" = ");
      if (args.find("<unfinished ...>") != std::string_view::npos) {
        pending[tid] = name;
        continue;
      }
      if (eq == std::string_view::npos) continue;
      const int port = RemotePortIn(args.substr(eq), local_port);
      if (port != 0) out[port].accept_tid = tid;
      continue;
    }
    const bool w = IsWrite(name), r = IsRead(name);
    const bool c = name == "close" || name == "shutdown";
    if (!w && !r && !c) continue;
    const int port = RemotePortIn(args, local_port);
    if (port == 0) continue;
    if (w) out[port].writer_tids.insert(tid);
    if (r) out[port].reader_tids.insert(tid);
    if (c) out[port].closer_tids.insert(tid);
  }
  return out;
}

std::optional<SyscallTrace> SyscallTrace::Start(pid_t pid,
                                                const std::string& out_path,
                                                std::string* error) {
  if (!HaveCommand("strace")) {
    *error = "strace is not installed";
    return std::nullopt;
  }
  Child c = Child::Spawn(
      {"strace", "-f", "-yy", "-s", "16", "-o", out_path, "-e",
       "trace=accept,accept4,read,readv,recvfrom,recvmsg,write,writev,"
       "sendto,sendmsg,sendfile,close,shutdown",
       "-p", std::to_string(pid)});
  // strace says "Process N attached [with K threads]" on stderr once it
  // has seized them all.
  if (c.ReadStderrUntil("attached", std::chrono::seconds(10)).empty()) {
    *error = "strace did not attach to " + std::to_string(pid) + ": " +
             c.StderrSoFar();
    return std::nullopt;
  }
  return SyscallTrace(std::move(c), out_path);
}

bool SyscallTrace::Stop(std::string* error) {
  if (stopped_) return true;
  stopped_ = true;
  child_.Signal(SIGINT);
  RunResult r = child_.Wait(std::chrono::seconds(10));
  if (r.timed_out) {
    *error = "strace did not detach: " + r.err;
    return false;
  }
  return true;
}

std::set<pid_t> ThreadsOf(pid_t pid) {
  std::set<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", ec)) {
    out.insert(std::atoi(e.path().filename().c_str()));
  }
  return out;
}

std::set<pid_t> ChildrenOf(pid_t parent) {
  std::set<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in("/proc/" + name + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("PPid:", 0) == 0) {
        if (std::atoi(line.c_str() + 5) == parent) {
          out.insert(std::atoi(name.c_str()));
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace faultline::testing
