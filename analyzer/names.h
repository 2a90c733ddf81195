// Names: the process and thread table that every analysis shares (perf's
// machine/thread tables). It is a visitor, added to the Session before the
// analyses, so that at any record they see the names as of that moment;
// after the read it holds the last known names, which the report uses.
//
// Sources, later ones overriding earlier: the trace's process and thread
// metadata (/proc at recording start, and processes found later), fork
// (the child inherits the parent's comm and exe unless the event names
// it), exec (new comm and exe), exit. Memory: one entry per process and
// thread seen.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "trace/reader.h"

namespace faultline::analyzer {

class Names : public trace::TraceVisitor {
 public:
  struct Process {
    uint32_t ppid = 0;
    std::string comm, exe;
    uint64_t fork_ns = 0;  // FL_EV_FORK time (0: existed before, or unseen)
    uint64_t exec_ns = 0;  // last FL_EV_EXEC time
    uint32_t execs = 0;    // FL_EV_EXEC events seen
    uint64_t exit_ns = 0;  // exit of its main thread (0: not seen)
    int32_t exit_code = 0;
  };
  struct Thread {
    uint32_t pid = 0;  // 0: not known
    std::string comm;
    uint64_t start_ns = 0, exit_ns = 0;
  };

  void OnTask(const trace::TaskEvent& t) override;
  void OnProcess(const trace::ProcessInfo& p) override;
  void OnThread(const trace::ThreadInfo& t) override;

  // The process's comm, else its main thread's, else "".
  std::string ProcessComm(uint32_t pid) const;
  // The thread's comm, else "".
  std::string ThreadComm(uint32_t tid) const;
  // For one event line: the thread's comm, else its process's.
  const std::string& CommOf(uint32_t pid, uint32_t tid) const;

  const Process* FindProcess(uint32_t pid) const;
  const Thread* FindThread(uint32_t tid) const;
  const std::unordered_map<uint32_t, Process>& processes() const { return procs_; }
  const std::unordered_map<uint32_t, Thread>& threads() const { return threads_; }

 private:
  std::unordered_map<uint32_t, Process> procs_;
  std::unordered_map<uint32_t, Thread> threads_;
  std::string empty_;
};

}  // namespace faultline::analyzer
