#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <latch>
#include <list>
#include <memory>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "server/connection.h"
#include "server/event_loop.h"
#include "server/patterns.h"
#include "server/probes.h"

namespace faultline::server {
namespace {

namespace po = boost::program_options;

// Shutdown phases, the first argument of the shutdown_phase probe.
enum Phase : int {
  kPhaseSignal = 0,
  kPhaseListenersClosed = 1,
  kPhaseDraining = 2,
  kPhaseDrained = 3,
  kPhaseDrainTimeout = 4,
  kPhaseExit = 5,
};

void ShutdownPhase(Phase p, const char* name) {
  FAULTLINE_PROBE2(shutdown_phase, static_cast<int>(p), name);
}

int64_t SecondsToNs(double s) { return static_cast<int64_t>(s * 1e9); }

sigset_t ShutdownSignals(bool with_child) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  if (with_child) sigaddset(&s, SIGCHLD);
  return s;
}

// The readiness line that tests and scripts wait for.
void PrintListening(const Options& o, int port, const std::string& serving) {
  std::fprintf(stderr, "faultline-server: pattern %s listening on %s:%d (%s)\n",
               o.pattern.c_str(), o.bind.c_str(), port, serving.c_str());
}

void PrintStats(const Stats& st) {
  std::fprintf(stderr, "faultline-server: stats %s\n", st.ToJson().c_str());
}

// Signalled by each loop thread as it ends, so the main thread can wait for
// all of them with a deadline.
class Completion {
 public:
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    cv_.notify_all();
  }
  // Waits until `pred()` (called under the lock after each Done) or the
  // deadline (monotonic ns). Returns pred().
  template <typename Pred>
  bool WaitUntil(int64_t deadline_ns, Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!pred()) {
      int64_t left = deadline_ns - MonotonicNs();
      if (left <= 0) return pred();
      cv_.wait_for(
          lock, std::chrono::nanoseconds(std::min<int64_t>(left, 100'000'000)));
    }
    return true;
  }
  int done() const { return done_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int done_ = 0;
};

// thread-per-conn: one thread (running a one-connection Loop) per accepted
// connection. Finished threads are joined and their counters kept.
class ConnThreads {
 public:
  ConnThreads(const ServerConfig* cfg, Completion* completion)
      : cfg_(cfg), completion_(completion) {}

  void Spawn(int fd) {
    Reap();
    auto e = std::make_unique<Entry>();
    e->loop = std::make_unique<Loop>(cfg_);
    if (!e->loop->ok()) {
      Refuse(fd, "epoll_create1/eventfd", e->loop->init_errno());
      return;
    }
    e->loop->set_exit_when_idle(true);
    Entry* p = e.get();
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) p->loop->DrainConnections();
    p->loop->Adopt(fd);
    Completion* completion = completion_;
    try {
      p->thread = std::thread([p, completion] {
        p->loop->Run();
        p->done.store(true);
        completion->Done();
      });
    } catch (const std::system_error& err) {
      // Out of threads or memory: this connection is closed (its loop
      // closes the socket), the server goes on.
      Refuse(-1, "std::thread", err.code().value());
      return;
    }
    entries_.push_back(std::move(e));
  }
  void DrainAll() {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    for (auto& e : entries_) {
      Loop* l = e->loop.get();
      l->Post([l] { l->DrainConnections(); });
    }
  }
  void ForceAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : entries_) {
      Loop* l = e->loop.get();
      l->Post([l] { l->ForceClose(); });
    }
  }
  bool AllDone() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : entries_)
      if (!e->done.load()) return false;
    return true;
  }
  void Reap() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if ((*it)->done.load()) {
        (*it)->thread.join();
        stats_.Add((*it)->loop->stats());
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  void JoinAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : entries_) {
      e->thread.join();
      stats_.Add(e->loop->stats());
    }
    entries_.clear();
  }
  const Stats& stats() const { return stats_; }

 private:
  static void Refuse(int fd, const char* what, int err) {
    if (fd >= 0) close(fd);
    static std::atomic<int64_t> last_log{0};
    int64_t now = MonotonicNs();
    if (now - last_log.load() > 1'000'000'000) {
      last_log.store(now);
      std::fprintf(stderr,
                   "faultline-server: thread-per-conn: %s: %s (connection "
                   "closed)\n",
                   what, std::strerror(err));
    }
  }
  struct Entry {
    std::unique_ptr<Loop> loop;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  const ServerConfig* cfg_;
  Completion* completion_;
  std::mutex mu_;
  bool draining_ = false;
  std::list<std::unique_ptr<Entry>> entries_;
  Stats stats_;
};

// What a threaded pattern sets up before its threads start: the loops (one
// thread each), an optional worker pool, and, for thread-per-conn, the
// per-connection threads.
struct Threaded {
  Threaded(const Options& opts, const ServerConfig* config)
      : o(opts), cfg(config), per_conn(config, &completion) {}
  const Options& o;
  const ServerConfig* cfg;
  Completion completion;
  ConnThreads per_conn;
  std::vector<std::unique_ptr<Loop>> loops;
  std::unique_ptr<WorkerPool> pool;
  int port = -1;
  // The parenthesis of the startup line: who serves the connections.
  std::string serving;

  Loop* AddLoop(WorkerPool* p = nullptr) {
    loops.push_back(std::make_unique<Loop>(cfg, p));
    return loops.back().get();
  }
  // A listening socket on --bind and `port_arg`; -1 (after saying why) if
  // it cannot be had.
  int ListenOn(int port_arg, bool reuseport) {
    auto fd = Listen(o.bind, port_arg, reuseport);
    if (!fd) {
      std::fprintf(stderr, "faultline-server: %s\n",
                   fd.error().message.c_str());
      return -1;
    }
    if (port < 0) port = LocalPort(*fd);
    return *fd;
  }
};

std::string Workers(int n) { return std::to_string(n) + " workers"; }

// ---- The threaded patterns: each builds its loops and listeners. ----
// False: cannot listen (already said why; exit code 2).

bool BuildEventLoop(Threaded& t) {
  int fd = t.ListenOn(t.o.port, false);
  if (fd < 0) return false;
  t.AddLoop()->AddListener(fd, true, false);
  t.serving = Workers(1);
  return true;
}

bool BuildAcceptorWorkers(Threaded& t) {
  int fd = t.ListenOn(t.o.port, false);
  if (fd < 0) return false;
  std::vector<Loop*> workers;
  for (int i = 0; i < t.o.workers; ++i) workers.push_back(t.AddLoop());
  // The acceptor hands each connection round-robin to a worker's task queue.
  t.AddLoop()->AddListener(fd, true, false,
                           [workers, next = size_t{0}](int c) mutable {
                             Loop* w = workers[next++ % workers.size()];
                             int tid = static_cast<int>(gettid());
                             w->Post([w, c, tid] { w->Adopt(c, tid); });
                           });
  t.serving = Workers(t.o.workers);
  return true;
}

bool BuildDispatch(Threaded& t) {
  int fd = t.ListenOn(t.o.port, false);
  if (fd < 0) return false;
  // Reader threads (each an event loop accepting on the one listening
  // socket) parse requests and hand each to the pool of n workers.
  t.pool = std::make_unique<WorkerPool>(t.o.workers, t.cfg->resources);
  auto refs = std::make_shared<std::atomic<int>>(t.o.readers);
  for (int i = 0; i < t.o.readers; ++i) {
    t.AddLoop(t.pool.get())->AddListener(fd, true, true, {}, refs);
  }
  t.serving = Workers(t.o.workers);
  return true;
}

bool BuildSharedAccept(Threaded& t) {
  int fd = t.ListenOn(t.o.port, false);
  if (fd < 0) return false;
  auto refs = std::make_shared<std::atomic<int>>(t.o.workers);
  for (int i = 0; i < t.o.workers; ++i) {
    t.AddLoop()->AddListener(fd, true, true, {}, refs);
  }
  t.serving = Workers(t.o.workers);
  return true;
}

bool BuildReuseport(Threaded& t) {
  for (int i = 0; i < t.o.workers; ++i) {
    int fd = t.ListenOn(i == 0 ? t.o.port : t.port, true);
    if (fd < 0) return false;
    t.AddLoop()->AddListener(fd, true, false);
  }
  t.serving = Workers(t.o.workers);
  return true;
}

bool BuildThreadPerConn(Threaded& t) {
  int fd = t.ListenOn(t.o.port, false);
  if (fd < 0) return false;
  ConnThreads* per_conn = &t.per_conn;
  t.AddLoop()->AddListener(fd, true, false,
                           [per_conn](int c) { per_conn->Spawn(c); });
  t.serving = "1 acceptor, a thread per connection";
  return true;
}

// The runner shared by the threaded patterns: builds, starts one thread per
// loop, waits for the signal, then closes the listeners, drains, and
// force-closes at the drain timeout.
int RunThreaded(const Options& o, const ServerConfig* cfg,
                bool (*build)(Threaded&)) {
  // Shutdown signals are taken synchronously (sigwaitinfo below), so every
  // thread blocks them.
  const sigset_t sigs = ShutdownSignals(false);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  Threaded t(o, cfg);
  if (!build(t)) return 2;
  std::vector<std::unique_ptr<Loop>>& loops = t.loops;
  Completion& completion = t.completion;
  ConnThreads& per_conn = t.per_conn;

  for (auto& l : loops) {
    if (!l->ok()) {
      std::fprintf(stderr, "faultline-server: epoll_create1/eventfd: %s\n",
                   std::strerror(l->init_errno()));
      return 2;
    }
  }
  std::vector<std::thread> threads;
  for (auto& l : loops) {
    Loop* p = l.get();
    threads.emplace_back([p, &completion] {
      p->Run();
      completion.Done();
    });
  }
  PrintListening(o, t.port, t.serving);

  int sig = 0;
  while ((sig = sigwaitinfo(&sigs, nullptr)) < 0 && errno == EINTR) {
  }
  ShutdownPhase(kPhaseSignal, "signal");
  std::fprintf(stderr, "faultline-server: %s: draining (timeout %g s)\n",
               strsignal(sig), o.drain_timeout_s);
  const int64_t deadline = MonotonicNs() + SecondsToNs(o.drain_timeout_s);

  // 1. Stop accepting on every listener.
  {
    std::latch closed(static_cast<std::ptrdiff_t>(loops.size()));
    for (auto& l : loops) {
      Loop* p = l.get();
      p->Post([p, &closed] {
        p->CloseListeners();
        closed.count_down();
      });
    }
    closed.wait();
  }
  ShutdownPhase(kPhaseListenersClosed, "listeners-closed");

  // 2./3. Every connection finishes what it has and closes.
  for (auto& l : loops) {
    Loop* p = l.get();
    p->Post([p] { p->DrainConnections(); });
  }
  per_conn.DrainAll();
  ShutdownPhase(kPhaseDraining, "draining");

  const int long_lived = static_cast<int>(loops.size());
  auto all_done = [&] {
    return completion.done() >= long_lived && per_conn.AllDone();
  };
  bool clean = completion.WaitUntil(deadline, all_done);
  if (!clean) {
    // 4. Drain timeout: close whatever is left.
    ShutdownPhase(kPhaseDrainTimeout, "drain-timeout");
    for (auto& l : loops) {
      Loop* p = l.get();
      p->Post([p] { p->ForceClose(); });
    }
    per_conn.ForceAll();
  } else {
    ShutdownPhase(kPhaseDrained, "drained");
  }
  for (auto& t : threads) t.join();
  per_conn.JoinAll();
  t.pool.reset();

  Stats total;
  for (auto& l : loops) total.Add(l->stats());
  total.Add(per_conn.stats());
  if (!clean) {
    std::fprintf(stderr, "faultline-server: drain timeout: %llu requests cut\n",
                 static_cast<unsigned long long>(total.requests_cut));
  }
  ShutdownPhase(kPhaseExit, "exit");
  PrintStats(total);
  return clean ? 0 : 1;
}

// The single-threaded process of the prefork pattern: one Loop on the
// inherited listener; SIGTERM/SIGINT arrive on a signalfd in the same loop.
class ChildSignals : public Pollable {
 public:
  ChildSignals(Loop* loop, int sfd, int64_t drain_ns)
      : loop_(loop), sfd_(sfd), drain_ns_(drain_ns) {}
  void OnEvent(uint32_t) override {
    signalfd_siginfo si;
    while (read(sfd_, &si, sizeof(si)) == sizeof(si)) {
    }
    if (started_) return;
    started_ = true;
    ShutdownPhase(kPhaseSignal, "signal");
    loop_->CloseListeners();
    ShutdownPhase(kPhaseListenersClosed, "listeners-closed");
    loop_->DrainConnections();
    loop_->SetDrainDeadline(MonotonicNs() + drain_ns_);
    ShutdownPhase(kPhaseDraining, "draining");
  }

 private:
  Loop* loop_;
  int sfd_;
  int64_t drain_ns_;
  bool started_ = false;
};

[[noreturn]] void PreforkChild(const Options& o, const ServerConfig* cfg,
                               int listen_fd, int index, Stats* slot) {
  SetConnIdBase(static_cast<uint64_t>(index + 1) << 40);
  sigset_t sigs = ShutdownSignals(false);
  int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    std::fprintf(stderr, "faultline-server: signalfd: %s\n",
                 std::strerror(errno));
    _exit(2);
  }
  Loop loop(cfg);
  if (!loop.ok()) {
    std::fprintf(stderr, "faultline-server: epoll_create1/eventfd: %s\n",
                 std::strerror(loop.init_errno()));
    _exit(2);
  }
  ChildSignals watcher(&loop, sfd, SecondsToNs(o.drain_timeout_s));
  loop.Watch(sfd, &watcher);
  loop.AddListener(listen_fd, true, true);
  loop.Run();
  const Stats& st = loop.stats();
  if (st.requests_cut > 0) {
    std::fprintf(stderr,
                 "faultline-server: worker %d: drain timeout: %llu requests "
                 "cut\n",
                 index, static_cast<unsigned long long>(st.requests_cut));
    ShutdownPhase(kPhaseDrainTimeout, "drain-timeout");
  } else {
    ShutdownPhase(kPhaseDrained, "drained");
  }
  slot->Add(st);
  _exit(st.requests_cut > 0 ? 1 : 0);
}

int RunPrefork(const Options& o, const ServerConfig* cfg) {
  // SIGTERM/SIGINT and SIGCHLD are taken with sigwaitinfo here; children
  // turn them into a signalfd.
  const sigset_t blocked = ShutdownSignals(true);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  auto lfd = Listen(o.bind, o.port, false);
  if (!lfd) {
    std::fprintf(stderr, "faultline-server: %s\n", lfd.error().message.c_str());
    return 2;
  }
  const int n = o.workers;
  void* mem = mmap(nullptr, sizeof(Stats) * n, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::fprintf(stderr, "faultline-server: mmap stats: %s\n",
                 std::strerror(errno));
    return 2;
  }
  Stats* slots = new (mem) Stats[n];
  std::vector<pid_t> pids(n, -1);
  auto spawn = [&](int i) {
    pid_t pid = fork();
    if (pid == 0) PreforkChild(o, cfg, *lfd, i, &slots[i]);
    if (pid < 0) {
      std::fprintf(stderr, "faultline-server: fork: %s\n",
                   std::strerror(errno));
    }
    pids[i] = pid;
  };
  for (int i = 0; i < n; ++i) spawn(i);
  PrintListening(o, LocalPort(*lfd), Workers(n));

  sigset_t sigs = ShutdownSignals(true);
  int sig = 0;
  bool failed = false;
  while (true) {
    sig = sigwaitinfo(&sigs, nullptr);
    if (sig < 0) continue;
    if (sig != SIGCHLD) break;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (int i = 0; i < n; ++i) {
        if (pids[i] != pid) continue;
        std::fprintf(stderr,
                     "faultline-server: worker %d (pid %d) died (status %d); "
                     "restarting\n",
                     i, pid, status);
        failed = true;
        spawn(i);
      }
    }
  }
  ShutdownPhase(kPhaseSignal, "signal");
  std::fprintf(stderr, "faultline-server: %s: draining (timeout %g s)\n",
               strsignal(sig), o.drain_timeout_s);
  close(*lfd);  // Children hold their own copies until they close them.
  for (pid_t pid : pids)
    if (pid > 0) kill(pid, SIGTERM);
  ShutdownPhase(kPhaseListenersClosed, "children-signalled");

  // Children force-close at the drain timeout themselves; allow a margin
  // before killing one that is stuck.
  const int64_t deadline =
      MonotonicNs() + SecondsToNs(o.drain_timeout_s) + 3'000'000'000;
  int left = 0;
  for (pid_t pid : pids) left += pid > 0;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  while (left > 0) {
    int status;
    pid_t pid;
    while (left > 0 && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
      --left;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
    }
    if (left == 0) break;
    int64_t rest = deadline - MonotonicNs();
    if (rest <= 0) {
      std::fprintf(stderr, "faultline-server: killing %d stuck workers\n",
                   left);
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      while (waitpid(-1, nullptr, 0) > 0) {
      }
      failed = true;
      break;
    }
    timespec ts{0, 50'000'000};
    sigtimedwait(&chld, nullptr, &ts);
  }
  Stats total;
  for (int i = 0; i < n; ++i) total.Add(slots[i]);
  ShutdownPhase(kPhaseExit, "exit");
  PrintStats(total);
  return failed ? 1 : 0;
}

}  // namespace

// ---- The pattern table: the one list of the patterns. ----

namespace {

template <bool (*kBuild)(Threaded&)>
int RunBuilt(const Options& o, const ServerConfig* cfg) {
  return RunThreaded(o, cfg, kBuild);
}

constexpr Pattern kPatterns[] = {
    {"event-loop", "one thread: one epoll loop accepts and serves everything",
     RunBuilt<BuildEventLoop>},
    {"acceptor-workers",
     "an acceptor loop hands connections round-robin to N loops",
     RunBuilt<BuildAcceptorWorkers>},
    {"dispatch",
     "--readers loops read and write; N pool threads run the requests",
     RunBuilt<BuildDispatch>},
    {"shared-accept",
     "N loops accept on one listening socket (EPOLLEXCLUSIVE)",
     RunBuilt<BuildSharedAccept>},
    {"reuseport", "N loops, each with its own SO_REUSEPORT listener",
     RunBuilt<BuildReuseport>},
    {"prefork",
     "N single-threaded processes forked after listen()",
     RunPrefork},
    {"thread-per-conn",
     "an acceptor loop; a thread (and loop) per connection",
     RunBuilt<BuildThreadPerConn>},
};

}  // namespace

std::span<const Pattern> Patterns() { return kPatterns; }

const Pattern* FindPattern(std::string_view name) {
  for (const Pattern& p : kPatterns) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string PatternList() {
  std::string list;
  for (const Pattern& p : kPatterns) {
    if (!list.empty()) list += ", ";
    list += p.name;
  }
  return list;
}

const std::vector<std::string>& PatternNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Pattern& p : kPatterns) v.emplace_back(p.name);
    return v;
  }();
  return names;
}

Result<void> ValidateOptions(const Options& o) {
  if (FindPattern(o.pattern) == nullptr) {
    return Fail(2, "unknown pattern '" + o.pattern + "' (one of: " +
                       PatternList() + ")");
  }
  if (o.port < 0 || o.port > 65535)
    return Fail(2, "--port must be 0..65535 (0: any free port)");
  if (o.workers < 1 || o.workers > 1024)
    return Fail(2, "--workers must be 1..1024");
  if (o.readers < 1 || o.readers > 1024)
    return Fail(2, "--readers must be 1..1024");
  if (!(o.drain_timeout_s > 0) || o.drain_timeout_s > 86400)
    return Fail(2, "--drain-timeout must be > 0 seconds");
  if (!(o.header_timeout_s > 0) || !(o.idle_timeout_s > 0) ||
      o.header_timeout_s > 86400 || o.idle_timeout_s > 86400)
    return Fail(2, "--header-timeout and --idle-timeout must be > 0 seconds");
  in_addr a;
  if (inet_pton(AF_INET, o.bind.c_str(), &a) != 1)
    return Fail(2, "--bind must be an IPv4 address, got '" + o.bind + "'");
  return {};
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  std::string patterns;
  for (const Pattern& p : Patterns()) {
    char line[160];
    std::snprintf(line, sizeof(line), "  %-17s %.*s\n",
                  std::string(p.name).c_str(),
                  static_cast<int>(p.summary.size()), p.summary.data());
    patterns += line;
  }
  po::options_description desc(
      "Usage: faultline-server --pattern NAME --port N [options]\n\n"
      "Serves HTTP/1.1 and HTTP/2 (h2c with prior knowledge) on one port.\n"
      "Patterns (N = --workers; see docs/server.md):\n" +
      patterns +
      "Endpoints: / /alloc?kb=N /file?kb=N /cow?kb=N /stack?kb=N "
      "/sleep?ms=N /echo\n"
      "SIGTERM/SIGINT: graceful shutdown; counters go to stderr as JSON.\n\n"
      "Examples:\n"
      "  faultline-server --pattern event-loop --port 8080\n"
      "  faultline-server --pattern reuseport --port 0 --workers 4\n"
      "  curl --http2-prior-knowledge http://127.0.0.1:8080/alloc?kb=64\n\n"
      "Options");
  desc.add_options()("help,h", "show this help")(
      "list-patterns", "print the pattern names, one per line, and exit")(
      "pattern", po::value<std::string>(&o.pattern), "thread/socket pattern")(
      "port", po::value<int>(&o.port), "TCP port (0: any free port, printed)")(
      "workers", po::value<int>(&o.workers)->default_value(2),
      "threads or processes")(
      "readers", po::value<int>(&o.readers)->default_value(2),
      "dispatch: reader threads in front of the --workers pool")(
      "drain-timeout", po::value<double>(&o.drain_timeout_s)->default_value(10),
      "seconds to finish in-flight requests after SIGTERM")(
      "bind", po::value<std::string>(&o.bind)->default_value("127.0.0.1"),
      "IPv4 address to listen on")(
      "header-timeout",
      po::value<double>(&o.header_timeout_s)->default_value(10),
      "seconds for a client to send a whole request (else 408)")(
      "idle-timeout", po::value<double>(&o.idle_timeout_s)->default_value(30),
      "seconds before an idle connection is closed");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return Fail(2, e.what());
  }
  if (vm.count("help")) {
    std::ostringstream ss;
    ss << desc;
    return Fail(0, ss.str());
  }
  if (vm.count("list-patterns")) {
    std::string names;
    for (const Pattern& p : Patterns()) names += std::string(p.name) + "\n";
    return Fail(0, names);
  }
  if (!vm.count("pattern")) return Fail(2, "--pattern is required");
  if (!vm.count("port")) return Fail(2, "--port is required");
  auto ok = ValidateOptions(o);
  if (!ok) return std::unexpected(ok.error());
  return o;
}

Result<int> Listen(const std::string& addr, int port, bool reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(ErrnoError("socket", errno, "", 2));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int e = errno;
    close(fd);
    return std::unexpected(ErrnoError("setsockopt SO_REUSEPORT", e, "", 2));
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int e = errno;
    close(fd);
    return std::unexpected(
        ErrnoError("bind " + addr + ":" + std::to_string(port), e, "", 2));
  }
  if (listen(fd, 4096) != 0) {
    int e = errno;
    close(fd);
    return std::unexpected(ErrnoError("listen", e, "", 2));
  }
  return fd;
}

int LocalPort(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return -1;
  return ntohs(sa.sin_port);
}

int RunServer(const Options& o) {
  auto res = InitResources();
  if (!res) {
    std::fprintf(stderr, "faultline-server: %s\n", res.error().message.c_str());
    return 2;
  }
  static ServerConfig cfg;
  cfg.resources = *res;
  cfg.header_timeout_ns = SecondsToNs(o.header_timeout_s);
  cfg.idle_timeout_ns = SecondsToNs(o.idle_timeout_s);

  signal(SIGPIPE, SIG_IGN);
  const Pattern* pattern = FindPattern(o.pattern);
  if (pattern == nullptr) {  // ParseArgs/ValidateOptions rule this out.
    std::fprintf(stderr, "faultline-server: unknown pattern '%s'\n",
                 o.pattern.c_str());
    return 2;
  }
  return pattern->run(o, &cfg);
}

}  // namespace faultline::server
