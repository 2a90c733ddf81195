#include "server/event_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "server/connection.h"
#include "server/probes.h"

namespace faultline::server {
namespace {

std::atomic<uint64_t> g_next_conn_id{1};
constexpr int64_t kTickNs = 200'000'000;
constexpr int kMaxEvents = 256;

}  // namespace

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SetConnIdBase(uint64_t base) { g_next_conn_id.store(base + 1); }

// ---- WorkerPool ----

WorkerPool::WorkerPool(int threads, const Resources* res) : res_(res) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::Submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void WorkerPool::Run() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Response resp;
    HandleEndpoint(job.method, job.path, job.query, job.body, res_, &resp);
    Loop* loop = job.loop;
    loop->Post([loop, id = job.conn_id, token = job.token,
                r = std::move(resp)]() mutable {
      loop->WorkDone(id, token, std::move(r));
    });
  }
}

// ---- Loop ----

Loop::Loop(const ServerConfig* cfg, WorkerPool* pool) : cfg_(cfg), pool_(pool) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) {
    init_errno_ = errno;
    return;
  }
  waker_.loop = this;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = static_cast<Pollable*>(&waker_);
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  now_ns_ = MonotonicNs();
  next_tick_ns_ = now_ns_ + kTickNs;
}

Loop::~Loop() {
  conns_.clear();
  if (epfd_ < 0 || wakefd_ < 0) {
    if (epfd_ >= 0) close(epfd_);
    if (wakefd_ >= 0) close(wakefd_);
    return;
  }
  for (auto& l : listeners_)
    if (l->own && (!l->shared_refs || l->shared_refs->fetch_sub(1) == 1))
      close(l->fd);
  close(wakefd_);
  close(epfd_);
}

void Loop::Post(std::move_only_function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(task_mu_);
    tasks_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t r = write(wakefd_, &one, sizeof(one));
  (void)r;
}

void Loop::Stop() {
  stop_.store(true);
  Post([] {});
}

void Loop::Waker::OnEvent(uint32_t) {
  uint64_t v;
  ssize_t r = read(loop->wakefd_, &v, sizeof(v));
  (void)r;
  loop->RunTasks();
}

void Loop::RunTasks() {
  {
    std::lock_guard<std::mutex> lock(task_mu_);
    running_tasks_.swap(tasks_);
  }
  for (auto& t : running_tasks_) t();
  running_tasks_.clear();
}

void Loop::AddListener(int fd, bool own, bool exclusive, AcceptFn fn,
                       std::shared_ptr<std::atomic<int>> shared_refs) {
  auto l = std::make_unique<Listener>();
  l->loop = this;
  l->fd = fd;
  l->own = own;
  l->fn = std::move(fn);
  l->shared_refs = std::move(shared_refs);
  epoll_event ev{};
  ev.events =
      EPOLLIN | (exclusive ? static_cast<uint32_t>(EPOLLEXCLUSIVE) : 0u);
  l->events = ev.events;
  ev.data.ptr = static_cast<Pollable*>(l.get());
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    std::fprintf(stderr, "faultline-server: epoll_ctl listener: %s\n",
                 std::strerror(errno));
  }
  listeners_.push_back(std::move(l));
}

void Loop::Listener::OnEvent(uint32_t) {
  if (fd >= 0) AcceptAll();
}

void Loop::Listener::AcceptAll() {
  if (paused) return;
  for (int i = 0; i < 128; ++i) {
    int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      int err = errno;
      static std::atomic<int64_t> last_log{0};
      int64_t now = MonotonicNs();
      if (now - last_log.load() > 1'000'000'000) {
        last_log.store(now);
        std::fprintf(
            stderr, "faultline-server: accept: %s%s\n", std::strerror(err),
            err == EMFILE || err == ENFILE ? " (pausing accept for 200 ms)"
                                           : "");
      }
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // The queue stays readable: without a pause the loop would spin.
        // Connections wait in the kernel's accept queue meanwhile.
        paused = true;
        epoll_ctl(loop->epfd_, EPOLL_CTL_DEL, fd, nullptr);
      }
      return;
    }
    if (fn) {
      fn(c);
    } else {
      loop->Adopt(c);
    }
  }
}

void Loop::ResumeListeners() {
  for (auto& l : listeners_) {
    if (!l->paused) continue;
    l->paused = false;
    epoll_event ev{};
    ev.events = l->events;
    ev.data.ptr = static_cast<Pollable*>(l.get());
    epoll_ctl(epfd_, EPOLL_CTL_ADD, l->fd, &ev);
  }
}

void Loop::Adopt(int fd, int accept_tid) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  uint64_t id = g_next_conn_id.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_unique<Connection>(this, fd, id);
  Connection* c = conn.get();
  conns_.emplace(id, std::move(conn));
  ++stats_.connections_accepted;
  FAULTLINE_PROBE3(conn_accepted, id, fd,
                   accept_tid != 0 ? accept_tid : static_cast<int>(gettid()));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = static_cast<Pollable*>(c);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    std::fprintf(stderr, "faultline-server: epoll_ctl add: %s\n",
                 std::strerror(errno));
  }
  if (draining_) c->BeginShutdown();
}

void Loop::Watch(int fd, Pollable* p) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = p;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void Loop::CloseListeners() {
  for (auto& l : listeners_) {
    l->paused = false;
    l->AcceptAll();  // Whatever the kernel already queued is served.
    epoll_ctl(epfd_, EPOLL_CTL_DEL, l->fd, nullptr);
    bool last = !l->shared_refs || l->shared_refs->fetch_sub(1) == 1;
    if (l->own && last) {
      if (l->shared_refs) {
        l->paused = false;
        l->AcceptAll();
      }
      close(l->fd);
    }
    l->fd = -1;
    // Later events of the current epoll_wait batch may still point at it.
    dead_listeners_.push_back(std::move(l));
  }
  listeners_.clear();
}

void Loop::DrainConnections() {
  draining_ = true;
  std::vector<Connection*> all;
  all.reserve(conns_.size());
  for (auto& [id, c] : conns_) all.push_back(c.get());
  for (Connection* c : all) c->BeginShutdown();
}

void Loop::ForceClose() {
  draining_ = true;
  std::vector<Connection*> all;
  for (auto& [id, c] : conns_) all.push_back(c.get());
  for (Connection* c : all) c->ForceClose();
  pending_jobs_ = 0;  // Results of cut requests are dropped on arrival.
}

void Loop::AddTimer(int64_t deadline_ns, uint64_t conn_id, uint32_t token) {
  timers_.push(Timer{deadline_ns, conn_id, token});
}

void Loop::Dispatch(WorkerPool::Job job) {
  ++pending_jobs_;
  job.loop = this;
  pool_->Submit(std::move(job));
}

void Loop::WorkDone(uint64_t conn_id, uint32_t token, Response resp) {
  if (pending_jobs_ > 0) --pending_jobs_;
  auto it = conns_.find(conn_id);
  if (it == conns_.end() || it->second->closed()) return;
  it->second->OnWorkDone(token, std::move(resp));
}

void Loop::Destroy(Connection* c) { dead_.push_back(c); }

void Loop::RunTimers() {
  while (!timers_.empty() && timers_.top().deadline_ns <= now_ns_) {
    Timer t = timers_.top();
    timers_.pop();
    auto it = conns_.find(t.conn_id);
    if (it != conns_.end() && !it->second->closed())
      it->second->OnTimer(t.token);
  }
}

void Loop::Tick() {
  next_tick_ns_ = now_ns_ + kTickNs;
  ResumeListeners();
  if (draining_ && drain_deadline_ns_ != 0 && now_ns_ >= drain_deadline_ns_) {
    drain_deadline_ns_ = 0;
    ForceClose();
    return;
  }
  for (auto& [id, c] : conns_) {
    if (!c->closed()) c->OnTick(now_ns_);
  }
}

bool Loop::Done() const {
  if (stop_.load(std::memory_order_relaxed)) return true;
  if (!conns_.empty() || !listeners_.empty()) return false;
  return (draining_ && pending_jobs_ == 0) || exit_when_idle_;
}

void Loop::Run() {
  epoll_event events[kMaxEvents];
  now_ns_ = MonotonicNs();
  while (!Done()) {
    int64_t wake = next_tick_ns_;
    if (!timers_.empty() && timers_.top().deadline_ns < wake)
      wake = timers_.top().deadline_ns;
    int64_t wait_ns = wake - now_ns_;
    int timeout_ms =
        wait_ns <= 0 ? 0 : static_cast<int>((wait_ns + 999'999) / 1'000'000);
    int n = epoll_wait(epfd_, events, kMaxEvents, timeout_ms);
    now_ns_ = MonotonicNs();
    for (int i = 0; i < n; ++i)
      static_cast<Pollable*>(events[i].data.ptr)->OnEvent(events[i].events);
    if (!timers_.empty()) RunTimers();
    if (now_ns_ >= next_tick_ns_) Tick();
    dead_listeners_.clear();
    if (!dead_.empty()) {
      for (Connection* c : dead_) conns_.erase(c->id());
      dead_.clear();
    }
  }
}

}  // namespace faultline::server
