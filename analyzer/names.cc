#include "analyzer/names.h"

namespace faultline::analyzer {

void Names::OnTask(const trace::TaskEvent& t) {
  switch (t.type) {
    case FL_EV_FORK: {
      if (!t.is_thread) {
        Process& child = procs_[t.pid];
        child.ppid = t.parent_pid;
        child.fork_ns = t.ts_ns;
        auto parent = procs_.find(t.parent_pid);
        if (!t.comm.empty()) {
          child.comm = std::string(t.comm);
        } else if (parent != procs_.end()) {
          child.comm = parent->second.comm;
        }
        if (parent != procs_.end()) child.exe = parent->second.exe;
      }
      Thread& th = threads_[t.tid];
      th.pid = t.pid;
      th.start_ns = t.ts_ns;
      if (!t.comm.empty()) th.comm = std::string(t.comm);
      break;
    }
    case FL_EV_EXEC: {
      Process& p = procs_[t.pid];
      p.exec_ns = t.ts_ns;
      ++p.execs;
      if (!t.comm.empty()) p.comm = std::string(t.comm);
      if (!t.path.empty()) p.exe = std::string(t.path);
      if (!t.comm.empty()) {
        Thread& th = threads_[t.tid];
        th.comm = std::string(t.comm);
        if (th.pid == 0) th.pid = t.pid;
      }
      break;
    }
    case FL_EV_EXIT: {
      auto th = threads_.find(t.tid);
      if (th != threads_.end()) th->second.exit_ns = t.ts_ns;
      if (t.tid == t.pid) {
        auto p = procs_.find(t.pid);
        if (p != procs_.end()) {
          p->second.exit_ns = t.ts_ns;
          p->second.exit_code = t.exit_code;
        }
      }
      break;
    }
    default:
      break;
  }
}

void Names::OnProcess(const trace::ProcessInfo& p) {
  Process& info = procs_[p.pid];
  info.ppid = p.ppid;
  info.comm = std::string(p.comm);
  info.exe = std::string(p.exe);
}

void Names::OnThread(const trace::ThreadInfo& t) {
  Thread& th = threads_[t.tid];
  th.comm = std::string(t.comm);
  th.pid = t.pid;
}

std::string Names::ProcessComm(uint32_t pid) const {
  auto it = procs_.find(pid);
  if (it != procs_.end() && !it->second.comm.empty()) return it->second.comm;
  return ThreadComm(pid);
}

std::string Names::ThreadComm(uint32_t tid) const {
  auto it = threads_.find(tid);
  return it == threads_.end() ? std::string() : it->second.comm;
}

const std::string& Names::CommOf(uint32_t pid, uint32_t tid) const {
  auto t = threads_.find(tid);
  if (t != threads_.end() && !t->second.comm.empty()) return t->second.comm;
  auto p = procs_.find(pid);
  if (p != procs_.end() && !p->second.comm.empty()) return p->second.comm;
  t = threads_.find(pid);
  if (t != threads_.end()) return t->second.comm;
  return empty_;
}

const Names::Process* Names::FindProcess(uint32_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : &it->second;
}

const Names::Thread* Names::FindThread(uint32_t tid) const {
  auto it = threads_.find(tid);
  return it == threads_.end() ? nullptr : &it->second;
}

}  // namespace faultline::analyzer
