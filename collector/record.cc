// `faultline record`: checks the environment, starts the command (if any)
// held at a pipe, opens, configures, loads and attaches the BPF programs of
// every family (collector/family.h), adds the -p targets' existing
// descendants, then drains the ring buffer on a 10 ms timer into the trace
// writer, flushing a block about once a second, until -d, SIGINT/SIGTERM or
// the command's exit, and finishes each family and the trace footer.
#include "collector/record.h"

#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "bpf/faultline.h"
#include "collector/bpf_session.h"
#include "collector/closing_line.h"
#include "collector/family.h"
#include "collector/env_check.h"
#include "collector/netstat.h"
#include "collector/options.h"
#include "collector/proc.h"
#include "trace/writer.h"

namespace faultline::collector {

namespace {

volatile sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int sig) { g_stop_signal = sig; }

uint64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

// The command of `-- CMD ARGS`, started at once and held on a pipe until
// the BPF programs are attached and its pid is a target. If the recorder
// gives up before Release(), the child reads EOF and exits without running
// CMD.
//
// The child is a clone(CLONE_VM) on a small pre-touched stack rather than a
// fork(): sharing the recorder's memory, it takes no copy-on-write faults
// before exec, so every fault of the command's process from exec on is
// traced and its getrusage() counts match faultline's (a forked child took
// ~25 faults before the programs were attached). The child therefore runs
// only async-signal-safe calls on data prepared by the parent: read(),
// execve(), write(), _exit().
class CommandChild {
 public:
  static Result<std::unique_ptr<CommandChild>> Start(
      const std::vector<std::string>& argv) {
    std::unique_ptr<CommandChild> c(new CommandChild());
    c->path_ = ResolveCommand(argv[0]);
    if (c->path_.empty()) {
      return Fail(127, "faultline record: command not found: " + argv[0]);
    }
    c->args_ = argv;
    for (auto& a : c->args_) c->argv_.push_back(a.data());
    c->argv_.push_back(nullptr);
    c->exec_error_ = "faultline record: cannot run '" + argv[0] + "'\n";
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      return std::unexpected(ErrnoError("pipe", errno));
    }
    c->read_fd_ = fds[0];
    c->go_fd_ = fds[1];
    // What the child reads: the parent never writes these after clone()
    // (the memory is shared).
    c->child_read_fd_ = fds[0];
    c->child_go_fd_ = fds[1];
    constexpr size_t kStack = 256 << 10;
    c->stack_ = mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->stack_ == MAP_FAILED) {
      c->stack_ = nullptr;
      return std::unexpected(ErrnoError("mmap child stack", errno));
    }
    c->stack_size_ = kStack;
    std::memset(c->stack_, 0, kStack);  // fault it in now, in the parent
    pid_t pid = clone(&CommandChild::ChildMain,
                      static_cast<char*>(c->stack_) + kStack,
                      CLONE_VM | SIGCHLD, c.get());
    if (pid < 0) return std::unexpected(ErrnoError("clone", errno));
    c->pid_ = pid;
    // A child that died early must not kill the recorder at Release() with
    // SIGPIPE. Set after clone() so that the command keeps the default.
    signal(SIGPIPE, SIG_IGN);
    close(c->read_fd_);
    c->read_fd_ = -1;
    return c;
  }

  // PATH lookup as execvp does it, done in the parent.
  static std::string ResolveCommand(const std::string& name) {
    if (name.find('/') != std::string::npos) {
      return access(name.c_str(), F_OK) == 0 ? name : "";
    }
    const char* path = getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    size_t pos = 0;
    while (pos <= dirs.size()) {
      size_t colon = dirs.find(':', pos);
      if (colon == std::string::npos) colon = dirs.size();
      std::string dir = dirs.substr(pos, colon - pos);
      std::string cand = (dir.empty() ? "." : dir) + "/" + name;
      struct stat st {};
      if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          access(cand.c_str(), X_OK) == 0) {
        return cand;
      }
      pos = colon + 1;
    }
    return "";
  }

  ~CommandChild() {
    if (go_fd_ >= 0) close(go_fd_);  // unreleased: the child exits(127)
    if (read_fd_ >= 0) close(read_fd_);
    if (pid_ > 0 && !reaped_) {
      int status;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (stack_) munmap(stack_, stack_size_);  // the child is gone or exec-ed
  }

  pid_t pid() const { return pid_; }

  Result<void> Release() {
    char go = 1;
    ssize_t n = write(go_fd_, &go, 1);
    close(go_fd_);
    go_fd_ = -1;
    if (n != 1) return std::unexpected(ErrnoError("start command", errno));
    return {};
  }

  // Non-blocking: true once the child has exited (status kept).
  bool Poll() {
    if (reaped_) return true;
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = status;
    }
    return reaped_;
  }

  int Wait() {
    while (!reaped_) {
      int status;
      pid_t r = waitpid(pid_, &status, 0);
      if (r == pid_) {
        reaped_ = true;
        status_ = status;
      } else if (r < 0 && errno != EINTR) {
        return 1;
      }
    }
    return ExitCode();
  }

  // The shell's convention: the exit status, or 128 + the signal.
  int ExitCode() const {
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return 1;
  }

 private:
  CommandChild() = default;

  static int ChildMain(void* arg) {
    const auto* c = static_cast<const CommandChild*>(arg);
    close(c->child_go_fd_);
    char go = 0;
    ssize_t n;
    do {
      n = read(c->child_read_fd_, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127);  // the recorder failed: do not run CMD
    execve(c->path_.c_str(), c->argv_.data(), environ);
    ssize_t ignored = write(2, c->exec_error_.data(), c->exec_error_.size());
    (void)ignored;
    _exit(127);
  }

  pid_t pid_ = -1;
  int go_fd_ = -1;
  int read_fd_ = -1;
  int child_read_fd_ = -1;
  int child_go_fd_ = -1;
  void* stack_ = nullptr;
  size_t stack_size_ = 0;
  std::string path_;
  std::vector<std::string> args_;
  std::vector<char*> argv_;
  std::string exec_error_;
  bool reaped_ = false;
  int status_ = 0;
};

// The phases of a recording, run over every family (collector/family.h):
// check the environment, open + configure + load the one skeleton, add the
// targets, attach the target-following programs, add the targets' existing
// descendants, attach the rest, drain, then detach and finish each family
// and the trace.
class Recorder {
 public:
  explicit Recorder(const RecordOptions& opts) : opts_(opts) {}

  Result<int> Run();

 private:
  BpfSettings Settings() const;
  Result<void> CheckEnvironment();
  Result<void> OpenSession(trace::TraceMeta& meta);
  Result<void> AddTargets();
  Result<void> AddDescendants();
  Result<void> SnapshotTargets();
  Result<bool> Drain();
  Result<void> Finish(uint64_t seconds_ns);
  Result<void> Snapshot(uint32_t pid, uint64_t ts_ns);
  int OnRecord(const void* data, size_t size);
  const void* WithMmapPath(const void* data, size_t size);

  const RecordOptions& opts_;
  BpfSettings settings_;
  std::vector<std::unique_ptr<Family>> families_;
  std::unique_ptr<CommandChild> child_;
  std::unique_ptr<BpfSession> session_;
  std::unique_ptr<trace::TraceWriter> writer_;
  std::vector<uint32_t> targets_;      // the -p processes and the command
  std::vector<uint32_t> descendants_;  // their descendants found at start
  std::optional<CgroupDir> cgroup_;    // --cgroup, resolved
  std::optional<Error> record_error_;
  std::unordered_set<uint32_t> snapshotted_;
  std::vector<uint8_t> scratch_;
};

Result<void> Recorder::Snapshot(uint32_t pid, uint64_t ts_ns) {
  std::string comm = ReadComm(pid);
  if (comm.empty()) return {};  // gone already
  if (auto r = writer_->AddProcess(pid, ReadPpid(pid), comm, ReadExe(pid));
      !r) {
    return r;
  }
  for (uint32_t tid : ListThreads(pid)) {
    if (auto r = writer_->AddThread(pid, tid, ReadThreadComm(pid, tid)); !r) {
      return r;
    }
  }
  for (const MapsEntry& m : ReadMaps(pid)) {
    if (auto r = writer_->AddMapping(pid, m.start, m.end, m.pgoff, m.prot,
                                     m.path, ts_ns);
        !r) {
      return r;
    }
  }
  return {};
}

// For an FL_EV_MMAP of a file whose path the kernel side could not build
// (its dentry walk gave up): the record with `path` filled in, in
// scratch_; else `data` itself. The path comes from
// /proc/PID/map_files while the range is mapped, or, when ld.so has mapped
// segments over the range since, from the file now mapped at its start.
const void* Recorder::WithMmapPath(const void* data, size_t size) {
  if (size < sizeof(fl_mmap)) return data;
  const auto* m = static_cast<const fl_mmap*>(data);
  if (m->hdr.type != FL_EV_MMAP || m->fd < 0 || m->path[0] != 0) return data;
  uint64_t end = m->start + ((m->len + 4095) & ~4095ull);
  std::string path = MappedFilePath(m->pid, m->start, end);
  if (path.empty()) {
    for (const MapsEntry& e : ReadMaps(m->pid)) {
      if (e.start <= m->start && m->start < e.end && !e.path.empty() &&
          e.path[0] == '/') {
        path = e.path;
        break;
      }
    }
  }
  if (path.empty()) return data;
  scratch_.assign(static_cast<const uint8_t*>(data),
                  static_cast<const uint8_t*>(data) + size);
  auto* copy = reinterpret_cast<fl_mmap*>(scratch_.data());
  std::snprintf(copy->path, sizeof(copy->path), "%s", path.c_str());
  return scratch_.data();
}

int Recorder::OnRecord(const void* data, size_t size) {
  if (record_error_) return -1;
  if (size < sizeof(fl_hdr)) return 0;
  fl_hdr hdr;
  std::memcpy(&hdr, data, sizeof(hdr));
  Result<void> r = writer_->AddRecord(WithMmapPath(data, size), size);
  if (r && size >= sizeof(fl_task) &&
      (hdr.type == FL_EV_EXEC || hdr.type == FL_EV_FORK)) {
    const auto* t = static_cast<const fl_task*>(data);
    if (hdr.type == FL_EV_EXEC) {
      // The writer puts pending metadata before pending events at a flush;
      // flush now so that the exec record precedes the new image's maps.
      r = writer_->Flush();
      if (r) r = Snapshot(t->pid, NowNs(CLOCK_MONOTONIC));
    } else if (!t->is_thread && snapshotted_.insert(t->pid).second) {
      r = Snapshot(t->pid, NowNs(CLOCK_MONOTONIC));
    } else if (t->is_thread) {
      r = writer_->AddThread(t->pid, t->tid,
                             std::string_view(t->comm, strnlen(t->comm,
                                                               FL_COMM_LEN)));
    }
  } else if (r && hdr.type == FL_EV_EXIT && size >= sizeof(fl_task)) {
    const auto* t = static_cast<const fl_task*>(data);
    r = writer_->AddThread(
        t->pid, t->tid,
        std::string_view(t->comm, strnlen(t->comm, FL_COMM_LEN)));
  }
  if (!r) {
    record_error_ = r.error();
    return -1;
  }
  return 0;
}

BpfSettings Recorder::Settings() const {
  BpfSettings s;
  s.filter = !opts_.pids.empty() || !opts_.command.empty() || opts_.port ||
             !opts_.cgroup.empty();
  s.faults = opts_.faults;
  s.summary = opts_.summary;
  s.latency_sample = opts_.latency_sample;
  s.stacks = opts_.stacks;
  s.ring_bytes = opts_.ring_mb << 20;
  s.tcp = opts_.tcp;
  s.tcp_port = opts_.port;
  s.tcp_cgroup = cgroup_ ? cgroup_->id : 0;
  return s;
}

// Up-front checks: one line and exit code 2 each. What the kernel must
// offer follows from the probe tables of the programs that will load.
Result<void> Recorder::CheckEnvironment() {
  if (auto r = CheckPrivileges(); !r) return r;
  if (!opts_.cgroup.empty()) {
    auto d = ResolveCgroup(opts_.cgroup);
    if (!d) return std::unexpected(d.error());
    cgroup_ = *d;
    settings_ = Settings();
  }
  uint32_t needs = NeedsOf(families_, settings_);
  if (auto r = CheckBtf(); !r) return r;  // every program uses CO-RE
  if (needs & kNeedTracefs) {
    if (auto r = EnsureTracefs(); !r) return r;
  }
  return CheckPidsAlive(opts_.pids);
}

// Open and configure the skeleton of every family (the probe tables decide
// what loads), then the trace file.
Result<void> Recorder::OpenSession(trace::TraceMeta& meta) {
  auto session = BpfSession::Open(settings_);
  if (!session) return std::unexpected(session.error());
  session_ = std::move(*session);
  std::vector<std::string> notes;
  if (auto r = session_->Configure(families_, &notes); !r) return r;
  if (opts_.verbose) {
    for (const auto& n : notes) {
      std::fprintf(stderr, "faultline record: %s\n", n.c_str());
    }
  }
  meta.ncpus = static_cast<uint32_t>(session_->ncpus());
  auto writer = trace::TraceWriter::Create(opts_.output, meta);
  if (!writer) return std::unexpected(writer.error());
  writer_ = std::move(*writer);
  return {};
}

Result<void> Recorder::AddTargets() {
  // -p may name a thread: trace its whole process.
  for (uint32_t pid : opts_.pids) {
    uint32_t tgid = ReadTgid(pid);
    targets_.push_back(tgid ? tgid : pid);
  }
  if (child_) targets_.push_back(static_cast<uint32_t>(child_->pid()));
  // --port: the processes listening on it now (the kernel side adds those
  // that accept on it later); --cgroup: the cgroup's processes now (the
  // kernel side checks the cgroup of later ones itself).
  std::vector<uint32_t> more;
  if (opts_.port) more = ProcessesListeningOn(opts_.port);
  if (cgroup_) {
    std::vector<uint32_t> in_cgroup = CgroupProcs(*cgroup_);
    more.insert(more.end(), in_cgroup.begin(), in_cgroup.end());
  }
  for (uint32_t pid : more) {
    if (std::find(targets_.begin(), targets_.end(), pid) == targets_.end()) {
      targets_.push_back(pid);
    }
  }
  for (uint32_t pid : targets_) {
    if (auto r = session_->AddTarget(pid); !r) return r;
  }
  return {};
}

// -p traces the processes with all their descendants, also those forked
// before the recording (nginx's workers). Runs after the fork-following
// programs are attached: a process forked by a target from then on is
// added by the kernel side; one forked by a descendant before we added
// that descendant shows in the next /proc scan, made after the add. So:
// scan, add what is new, rescan, until a scan finds nothing new.
Result<void> Recorder::AddDescendants() {
  if (!settings_.filter || child_) return {};  // a new command has none
  std::unordered_set<uint32_t> known(targets_.begin(), targets_.end());
  for (int round = 0; round < 64; ++round) {
    std::vector<uint32_t> found = NewDescendants(ReadPpidTable(), known);
    if (found.empty()) break;
    for (uint32_t pid : found) {
      if (auto r = session_->AddTarget(pid); !r) return r;
      known.insert(pid);
      descendants_.push_back(pid);
    }
  }
  return {};
}

// Mapping metadata: the targets and their descendants (or every process)
// as they are now.
Result<void> Recorder::SnapshotTargets() {
  uint64_t snap_ts = NowNs(CLOCK_MONOTONIC);
  std::vector<uint32_t> snap = targets_;
  snap.insert(snap.end(), descendants_.begin(), descendants_.end());
  if (!settings_.filter) snap = ListProcesses();
  for (uint32_t pid : snap) {
    if (!snapshotted_.insert(pid).second) continue;
    if (auto r = Snapshot(pid, snap_ts); !r) return r;
  }
  return {};
}

// Drains the ring on a 10 ms timer, flushing a block about once a second,
// until -d, a stop signal or the command's exit. True: the command exited.
Result<bool> Recorder::Drain() {
  uint64_t start = NowNs(CLOCK_MONOTONIC);
  uint64_t deadline =
      opts_.duration_s > 0
          ? start + static_cast<uint64_t>(opts_.duration_s * 1e9)
          : UINT64_MAX;
  uint64_t last_flush = start;
  while (g_stop_signal == 0) {
    auto n = session_->Poll(10);
    if (record_error_) return std::unexpected(*record_error_);
    if (!n) return std::unexpected(n.error());
    uint64_t now = NowNs(CLOCK_MONOTONIC);
    if (now - last_flush >= 1000000000ull) {
      for (const auto& f : families_) {
        if (auto r = f->Tick(*writer_); !r) return std::unexpected(r.error());
      }
      if (auto r = writer_->Flush(); !r) return std::unexpected(r.error());
      last_flush = now;
    }
    if (now >= deadline) break;
    if (child_ && child_->Poll()) return true;
  }
  return false;
}

// Stop the programs, then take what is left: the ring, then what each
// family keeps in maps; the footer gets every kernel counter.
Result<void> Recorder::Finish(uint64_t seconds_ns) {
  session_->Detach();
  auto n = session_->Consume();
  if (record_error_) return std::unexpected(*record_error_);
  if (!n) return std::unexpected(n.error());
  auto stats = session_->ReadCpuStats();
  RunFigures fig;
  FinishContext ctx;
  ctx.skel = session_->skel();
  ctx.ncpus = session_->ncpus();
  ctx.writer = writer_.get();
  if (stats) {
    fig.per_cpu = std::move(*stats);
    ctx.stats = &fig.per_cpu;
  } else {
    fig.stats_known = false;
    fig.stats_error = stats.error().message;
  }
  for (const auto& f : families_) {
    if (auto r = f->Finish(ctx); !r) return r;
  }
  trace::FooterData footer;
  footer.stats_known = fig.stats_known;
  if (fig.stats_known) {
    for (const auto& s : fig.per_cpu) {
      footer.per_cpu.push_back({s.recorded_events, s.lost_events});
    }
    footer.counters = NamedCounters(fig.per_cpu);
    footer.counters.insert(footer.counters.end(), ctx.counters.begin(),
                           ctx.counters.end());
  } else {
    footer.per_cpu.assign(session_->ncpus(), trace::CpuCounts{});
  }
  if (auto r = writer_->Finish(footer); !r) return r;

  fig.seconds = seconds_ns / 1e9;
  fig.events_written = writer_->events_written();
  fig.summary = opts_.summary;
  fig.summary_faults = ctx.summary_faults;
  fig.summary_timed = ctx.summary_timed;
  fig.latency_sample = opts_.latency_sample;
  fig.stacks = opts_.stacks;
  fig.tcp = ctx.tcp;
  fig.tcp_known = ctx.tcp_known && fig.stats_known;
  fig.tcp_opened = ctx.tcp_opened;
  fig.tcp_closed = ctx.tcp_closed;
  fig.output = opts_.output;
  struct stat st {};
  fig.file_bytes = stat(opts_.output.c_str(), &st) == 0 ? st.st_size : 0;
  rusage self{};
  getrusage(RUSAGE_SELF, &self);  // the recorder only, not the command
  fig.recorder_cpu_s = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 +
                       self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6;
  std::fprintf(stderr, "%s\n", ClosingLine(fig).c_str());
  return {};
}

Result<int> Recorder::Run() {
  families_ = MakeFamilies();
  settings_ = Settings();
  if (auto r = CheckEnvironment(); !r) return std::unexpected(r.error());
  SetLibbpfVerbose(opts_.verbose);

  trace::TraceMeta meta;
  utsname uts{};
  uname(&uts);
  meta.kernel_release = uts.release;
  meta.hostname = uts.nodename;
  meta.command_line = opts_.command_line;
  meta.start_monotonic_ns = NowNs(CLOCK_MONOTONIC);
  meta.start_realtime_ns = NowNs(CLOCK_REALTIME);
  meta.flags = opts_.summary ? trace::kTraceFlagSummary : 0;
  meta.latency_sample = opts_.summary ? opts_.latency_sample : 0;

  // The command first, before any file or BPF descriptor exists that it
  // could inherit (a link held by the command would outlive a killed
  // recorder).
  if (!opts_.command.empty()) {
    auto c = CommandChild::Start(opts_.command);
    if (!c) return std::unexpected(c.error());
    child_ = std::move(*c);
  }

  // open, configure, load
  if (auto r = OpenSession(meta); !r) return std::unexpected(r.error());
  if (auto r = session_->Load(); !r) return std::unexpected(r.error());
  if (auto r = AddTargets(); !r) return std::unexpected(r.error());
  if (auto r = session_->StartRing(
          [this](const void* d, size_t s) { return OnRecord(d, s); });
      !r) {
    return std::unexpected(r.error());
  }

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // attach: target following, the existing descendants, then the events
  if (auto r = session_->Attach(families_, Stage::kFollow); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = AddDescendants(); !r) return std::unexpected(r.error());
  {
    StartContext start;
    start.skel = session_->skel();
    start.writer = writer_.get();
    if (settings_.filter) {
      start.pids = targets_;
      start.pids.insert(start.pids.end(), descendants_.begin(),
                        descendants_.end());
    }
    for (const auto& f : families_) {
      if (auto r = f->Start(start); !r) return std::unexpected(r.error());
    }
  }
  if (auto r = session_->Attach(families_, Stage::kEvents); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = SnapshotTargets(); !r) return std::unexpected(r.error());
  if (child_) {
    if (auto r = child_->Release(); !r) return std::unexpected(r.error());
  } else {
    // Without a command, say that recording runs (and how to end it).
    std::string what =
        settings_.filter
            ? std::to_string(targets_.size()) +
                  " process(es) and their children" +
                  (descendants_.empty()
                       ? ""
                       : " (" + std::to_string(descendants_.size()) +
                             " running already)")
            : "the whole machine";
    if (opts_.port) what += ", TCP port " + std::to_string(opts_.port);
    if (cgroup_) what += ", cgroup " + cgroup_->path;
    std::fprintf(stderr,
                 "faultline record: recording %s to %s; Ctrl-C to stop\n",
                 what.c_str(), opts_.output.c_str());
  }

  // drain
  uint64_t start = NowNs(CLOCK_MONOTONIC);
  auto child_done = Drain();
  if (!child_done) return std::unexpected(child_done.error());
  int stop_signal = g_stop_signal;
  uint64_t end = NowNs(CLOCK_MONOTONIC);

  // finish
  if (auto r = Finish(end - start); !r) return std::unexpected(r.error());

  if (!child_) return 0;
  if (!*child_done && stop_signal != 0) kill(child_->pid(), stop_signal);
  return child_->Wait();
}

}  // namespace

int RunRecord(const std::vector<std::string>& args) {
  auto opts = ParseRecordArgs(args);
  if (!opts) {
    std::fprintf(stderr, "%s\n", opts.error().message.c_str());
    return opts.error().exit_code;
  }
  if (opts->help) {
    std::fputs(RecordUsage().c_str(), stdout);
    return 0;
  }
  Recorder recorder(*opts);
  auto r = recorder.Run();
  if (!r) {
    const std::string& msg = r.error().message;
    if (msg.rfind("faultline", 0) == 0) {
      std::fprintf(stderr, "%s\n", msg.c_str());
    } else {
      std::fprintf(stderr, "faultline record: %s\n", msg.c_str());
    }
    return r.error().exit_code;
  }
  return *r;
}

}  // namespace faultline::collector
