// One epoll event loop on one thread: the unit every pattern is built from.
// A Loop owns its connections and listeners and touches them only on its own
// thread. Other threads talk to it through Post() (a mutex-protected queue
// and an eventfd), which is used only to hand over connections, dispatch
// results and shutdown steps, never per read or write.
#ifndef FAULTLINE_SERVER_EVENT_LOOP_H_
#define FAULTLINE_SERVER_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/endpoints.h"
#include "server/http1_parser.h"
#include "server/stats.h"

namespace faultline::server {

class Connection;
class Loop;

// Settings shared by every connection of a server.
struct ServerConfig {
  http1::Limits limits;
  // A request (HTTP/1.1) must be complete this long after its first byte,
  // else 408 and close.
  int64_t header_timeout_ns = 10'000'000'000;
  // A connection with no request in progress and no I/O for this long is
  // closed; also the limit for a peer that stops reading our responses.
  int64_t idle_timeout_ns = 30'000'000'000;
  // Lingering close: after shutdown(SHUT_WR), read and discard until the
  // peer's FIN or this long.
  int64_t linger_timeout_ns = 2'000'000'000;
  // HTTP/2 graceful shutdown: the second GOAWAY goes out after the PING ACK
  // or after this long.
  int64_t goaway_ping_timeout_ns = 1'000'000'000;
  uint32_t h2_max_concurrent_streams = 128;
  const Resources* resources = nullptr;
};

int64_t MonotonicNs();
// Connection ids start at base + 1 in this process (prefork children use
// distinct bases so ids stay unique across processes).
void SetConnIdBase(uint64_t base);

// Anything registered with a Loop's epoll set.
class Pollable {
 public:
  virtual ~Pollable() = default;
  virtual void OnEvent(uint32_t events) = 0;
};

// A fixed pool of threads that run endpoint handlers for the dispatch
// pattern. Results go back to the connection's loop with Loop::Post.
class WorkerPool {
 public:
  struct Job {
    Loop* loop;
    uint64_t conn_id;
    uint32_t token;
    std::string method, path, query, body;
  };
  WorkerPool(int threads, const Resources* res);
  ~WorkerPool();  // Stops and joins (pending jobs are dropped).
  void Submit(Job job);

 private:
  void Run();
  const Resources* res_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

class Loop {
 public:
  // Called on the loop thread with each accepted (non-blocking) socket.
  using AcceptFn = std::function<void(int fd)>;

  Loop(const ServerConfig* cfg, WorkerPool* pool = nullptr);
  ~Loop();
  // False if the epoll set or eventfd could not be created (e.g. EMFILE);
  // init_errno() says why. Such a loop must not be used.
  bool ok() const { return epfd_ >= 0 && wakefd_ >= 0; }
  int init_errno() const { return init_errno_; }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs until Stop(), or until draining with no connection, listener or
  // dispatched job left (or, with exit_when_idle, once the last connection
  // is gone).
  void Run();

  // Thread-safe: runs `fn` on the loop thread.
  void Post(std::move_only_function<void()> fn);
  // Thread-safe.
  void Stop();

  // Loop thread only (or before Run()).
  // `own`: the loop closes the socket with CloseListeners(). `exclusive`:
  // EPOLLEXCLUSIVE (many loops waiting on one socket). `fn` empty: adopt
  // the connection into this loop. `shared_refs`: a socket shared by several
  // loops (with own = true): the last loop to let go of it accepts what is
  // left and closes it, so that no connection waits in a queue that nobody
  // will accept from (its close would reset them).
  void AddListener(int fd, bool own, bool exclusive, AcceptFn fn = {},
                   std::shared_ptr<std::atomic<int>> shared_refs = nullptr);
  // `accept_tid`: the thread that called accept4 (0: this one), for the
  // conn_accepted probe.
  void Adopt(int fd, int accept_tid = 0);
  // Adds another readable fd (e.g. a signalfd) to the epoll set. It does not
  // keep the loop alive.
  void Watch(int fd, Pollable* p);
  // Shutdown step 1: accepts what is already queued, then removes (and
  // closes, if owned) every listener.
  void CloseListeners();
  // Shutdown step 2: every connection finishes what it has and closes.
  void DrainConnections();
  // Step 4: closes every connection now, counting the requests cut.
  void ForceClose();
  // Force-closes at this monotonic time if still draining (prefork children).
  void SetDrainDeadline(int64_t ns) { drain_deadline_ns_ = ns; }
  void set_exit_when_idle(bool v) { exit_when_idle_ = v; }

  void AddTimer(int64_t deadline_ns, uint64_t conn_id, uint32_t token);
  // Hands a request to the worker pool; the result comes back through
  // Connection::OnWorkDone unless the connection is gone by then.
  void Dispatch(WorkerPool::Job job);
  void WorkDone(uint64_t conn_id, uint32_t token, Response resp);
  void Destroy(Connection* c);  // Deferred to the end of the iteration.
  int epfd() const { return epfd_; }

  int64_t now() const { return now_ns_; }
  bool draining() const { return draining_; }
  bool dispatching() const { return pool_ != nullptr; }
  const ServerConfig& config() const { return *cfg_; }
  Stats& stats() { return stats_; }
  size_t connections() const { return conns_.size(); }

 private:
  struct Listener : Pollable {
    Loop* loop;
    int fd;
    bool own;
    AcceptFn fn;
    std::shared_ptr<std::atomic<int>> shared_refs;
    uint32_t events = EPOLLIN;
    bool paused = false;  // Out of fds: out of the epoll set until Tick.
    void OnEvent(uint32_t events) override;
    void AcceptAll();
  };
  struct Waker : Pollable {
    Loop* loop;
    void OnEvent(uint32_t events) override;
  };
  struct Timer {
    int64_t deadline_ns;
    uint64_t conn_id;
    uint32_t token;
    bool operator>(const Timer& o) const { return deadline_ns > o.deadline_ns; }
  };

  void RunTasks();
  void RunTimers();
  void ResumeListeners();
  void Tick();
  bool Done() const;

  const ServerConfig* cfg_;
  WorkerPool* pool_;
  int epfd_ = -1;
  int wakefd_ = -1;
  int init_errno_ = 0;
  Waker waker_;
  int64_t now_ns_ = 0;
  int64_t next_tick_ns_ = 0;
  int64_t drain_deadline_ns_ = 0;
  bool draining_ = false;
  bool exit_when_idle_ = false;
  std::atomic<bool> stop_{false};
  int pending_jobs_ = 0;
  Stats stats_;

  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Listener>> dead_listeners_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> dead_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;

  std::mutex task_mu_;
  std::vector<std::move_only_function<void()>> tasks_;
  std::vector<std::move_only_function<void()>> running_tasks_;
};

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_EVENT_LOOP_H_
