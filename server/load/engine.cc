#include "server/load/engine.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/load/http1_response.h"

namespace faultline::load {
namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t SecondsToNs(double s) { return static_cast<uint64_t>(s * 1e9); }

// now - since > limit, for a `since` that may be later than `now`.
bool Expired(uint64_t now, uint64_t since, uint64_t limit) {
  return now > since && now - since > limit;
}

// State shared by all workers.
struct Shared {
  explicit Shared(const Options& o) : opt(o) {}

  void Stop(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu);
    if (stop_reason.empty() && !reason.empty()) stop_reason = reason;
    stop_new.store(true);
  }
  // Ends the run now: no new requests, drain for --timeout.
  void StopAndDrain(const std::string& reason, uint64_t now) {
    Stop(reason);
    uint64_t end = now + SecondsToNs(opt.timeout_s);
    uint64_t cur = drain_end.load();
    while (end < cur && !drain_end.compare_exchange_weak(cur, end)) {
    }
  }

  const Options& opt;
  const std::atomic<bool>* interrupt = nullptr;
  std::atomic<int64_t> budget{INT64_MAX};  // new requests left
  std::atomic<bool> stop_new{false};
  std::mutex mu;
  std::string stop_reason;
  uint64_t start_ns = 0;
  uint64_t deadline_ns = UINT64_MAX;  // end of sending (-d)
  std::atomic<uint64_t> drain_end{UINT64_MAX};
};

// One logical request. It keeps its identity across retries.
struct Request {
  uint32_t path = 0;
  int attempts = 0;       // times sent so far
  uint64_t start_ns = 0;  // first send (closed loop) or scheduled time (open loop)
};

class Worker;

// One connection slot: it reconnects as needed; `gen_` changes with every
// socket so that stale epoll events of a closed socket are ignored.
class Conn {
 public:
  Conn(Worker* worker, uint32_t slot);
  virtual ~Conn() { CloseFd(); }

  virtual void Pump() = 0;                     // connect / issue requests
  virtual void OnEvent(uint32_t events) = 0;
  virtual void CheckTimeouts(uint64_t now) = 0;
  virtual bool Busy() const = 0;               // holds any request
  // Half-closed, reading to the peer's FIN: the run waits for it (bounded)
  // so that its socket is never closed with unread bytes (an RST).
  virtual bool Lingering() const { return false; }
  virtual void Abandon(FailReason why) = 0;    // fail what it holds, close

  uint32_t gen() const { return gen_; }

 protected:
  int StartConnect();  // 0 or errno
  void CloseFd();
  void SetWantWrite(bool want);
  // Writes out_ from out_off_. Returns 0, EAGAIN (rest pending) or errno.
  int WriteOut();
  int ConnectResult();

  Worker* w_;
  const Options& opt_;
  uint32_t slot_;
  uint32_t gen_ = 0;
  int fd_ = -1;
  bool want_write_ = false;
  uint64_t connect_start_ns_ = 0;
  std::string out_;
  size_t out_off_ = 0;
};

class Worker {
 public:
  Worker(Shared* shared, int index, int conns);
  ~Worker();
  void Run();

  const Options& opt() const { return shared_->opt; }
  int epfd() const { return epfd_; }
  Stats& stats() { return stats_; }
  const std::string& request_bytes(uint32_t path) const { return h1_requests_[path]; }

  // The next request to send: a retry, else a new one if allowed.
  bool NextRequest(Request* r);
  // A request taken by NextRequest that was not sent after all (its
  // connection failed first, or its HTTP/2 stream never left).
  void ReturnUnsent(const Request& r);
  void OnSend(Request* r);
  void Complete(const Request& r, int status, uint64_t body_bytes);
  void FailRequest(const Request& r, FailReason why);
  void Retry(const Request& r, RetryReason why);
  void ConnectFailed(int err, const std::vector<Request>& held);
  void ConnectSucceeded();

 private:
  bool NoMoreNew() const;
  void Schedule(uint64_t now);

  Shared* shared_;
  int index_;
  int epfd_ = -1;
  Stats stats_;
  PathPicker picker_;
  std::vector<std::string> h1_requests_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::deque<Request> requeue_;  // retries, and unsent requests put back
  // Open loop: scheduled start times of requests due but not yet sent.
  std::deque<uint64_t> due_;
  uint64_t interval_ns_ = 0;
  uint64_t next_due_ns_ = 0;
  int consecutive_connect_failures_ = 0;
};

// ---------------------------------------------------------------- Conn

Conn::Conn(Worker* worker, uint32_t slot) : w_(worker), opt_(worker->opt()), slot_(slot) {}

int Conn::StartConnect() {
  const Target& t = opt_.target;
  fd_ = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return errno;
  ++gen_;
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  connect_start_ns_ = NowNs();
  int rc = connect(fd_, reinterpret_cast<const sockaddr*>(&t.addr), t.addr_len);
  if (rc < 0 && errno != EINPROGRESS) {
    int err = errno;
    CloseFd();
    return err;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u64 = (static_cast<uint64_t>(slot_) << 32) | gen_;
  want_write_ = true;
  if (epoll_ctl(w_->epfd(), EPOLL_CTL_ADD, fd_, &ev) < 0) {
    int err = errno;
    CloseFd();
    return err;
  }
  return 0;
}

int Conn::ConnectResult() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

void Conn::CloseFd() {
  if (fd_ >= 0) {
    epoll_ctl(w_->epfd(), EPOLL_CTL_DEL, fd_, nullptr);
    close(fd_);
    fd_ = -1;
    ++gen_;
  }
  want_write_ = false;
  out_.clear();
  out_off_ = 0;
}

void Conn::SetWantWrite(bool want) {
  if (fd_ < 0 || want == want_write_) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = (static_cast<uint64_t>(slot_) << 32) | gen_;
  epoll_ctl(w_->epfd(), EPOLL_CTL_MOD, fd_, &ev);
  want_write_ = want;
}

int Conn::WriteOut() {
  while (out_off_ < out_.size()) {
    ssize_t n = send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += static_cast<size_t>(n);
      w_->stats().bytes_sent += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetWantWrite(true);
      return EAGAIN;
    }
    return n < 0 ? errno : EPIPE;
  }
  out_.clear();
  out_off_ = 0;
  SetWantWrite(false);
  return 0;
}

// ---------------------------------------------------------------- HTTP/1.1

class H1Conn : public Conn {
 public:
  using Conn::Conn;

  bool Busy() const override { return req_.has_value(); }

  void Pump() override {
    if (state_ == State::kConnecting || state_ == State::kBusy || req_) return;
    Request r;
    if (!w_->NextRequest(&r)) return;
    if (state_ == State::kClosed) {
      req_ = r;  // held, not sent, until the connection is up
      int err = StartConnect();
      if (err != 0) {
        OnConnectFailed(err);
      } else {
        state_ = State::kConnecting;
      }
      return;
    }
    Send(r);
  }

  void OnEvent(uint32_t events) override {
    if (state_ == State::kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = ConnectResult();
      if (err != 0) {
        OnConnectFailed(err);
        return;
      }
      state_ = State::kIdle;
      ++w_->stats().connections_opened;
      w_->ConnectSucceeded();
      SetWantWrite(false);
      if (req_) {
        Request r = *req_;
        req_.reset();
        Send(r);
      }
      return;
    }
    if ((events & EPOLLOUT) && out_off_ < out_.size()) {
      Flush();
      if (state_ == State::kClosed) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Read();
  }

  void CheckTimeouts(uint64_t now) override {
    uint64_t timeout = SecondsToNs(opt_.timeout_s);
    if (state_ == State::kConnecting && Expired(now, connect_start_ns_, timeout)) {
      OnConnectFailed(ETIMEDOUT);
    } else if (state_ == State::kBusy && Expired(now, sent_ns_, timeout)) {
      Finish(FailReason::kTimeout);
      Close();
    }
  }

  void Abandon(FailReason why) override {
    if (req_) {
      if (state_ == State::kBusy) {
        Finish(why);
      } else {
        if (req_->attempts > 0) w_->FailRequest(*req_, why);
        req_.reset();
      }
    }
    Close();
  }

 private:
  enum class State { kClosed, kConnecting, kIdle, kBusy };

  void OnConnectFailed(int err) {
    std::vector<Request> held;
    if (req_) held.push_back(*req_);
    req_.reset();
    Close();
    w_->ConnectFailed(err, held);
  }

  void Send(Request r) {
    w_->OnSend(&r);
    req_ = r;
    sent_ns_ = NowNs();
    parser_.Reset();
    out_ = w_->request_bytes(r.path);
    out_off_ = 0;
    state_ = State::kBusy;
    Flush();
  }

  void Flush() {
    int err = WriteOut();
    if (err != 0 && err != EAGAIN) OnConnectionError(err);
  }

  void Read() {
    char buf[65536];
    while (state_ != State::kClosed) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        w_->stats().bytes_received += static_cast<uint64_t>(n);
        OnData(std::string_view(buf, static_cast<size_t>(n)));
        if (static_cast<size_t>(n) < sizeof buf) return;  // level-triggered: more comes as an event
        continue;
      }
      if (n == 0) {
        OnEof();
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      OnConnectionError(errno);
      return;
    }
  }

  void OnData(std::string_view data) {
    if (state_ != State::kBusy) {  // bytes nobody asked for: drop the connection
      Close();
      return;
    }
    ResponseParser::Result res = parser_.Feed(data);
    if (res.status == ParseStatus::kNeedsMoreData) return;
    if (res.status == ParseStatus::kInvalid) {
      Finish(FailReason::kProtocolError);
      Close();
      return;
    }
    bool close_after = parser_.head().connection_close || opt_.close || res.consumed < data.size();
    Complete();
    if (close_after) {
      Close();
    } else {
      state_ = State::kIdle;
    }
  }

  void OnEof() {
    if (state_ == State::kBusy) {
      ParseStatus st = parser_.FeedEof();
      if (st == ParseStatus::kSuccess) {
        Complete();
      } else if (st == ParseStatus::kNeedsMoreData) {
        // Not one byte of the response. On a reused keep-alive connection the
        // server closed it as idle before seeing the request: safe to retry.
        if (responses_ > 0) {
          RetryCurrent();
        } else {
          Finish(FailReason::kClosedBeforeResponse);
        }
      } else {
        Finish(FailReason::kClosedMidResponse);
      }
    }
    Close();
  }

  void OnConnectionError(int /*err*/) {
    if (state_ == State::kBusy) {
      if (parser_.started()) {
        Finish(FailReason::kClosedMidResponse);
      } else if (responses_ > 0) {
        RetryCurrent();
      } else {
        Finish(FailReason::kReset);
      }
    }
    Close();
  }

  void Complete() {
    ++responses_;
    w_->Complete(*req_, parser_.head().status, parser_.body_bytes());
    req_.reset();
  }
  void Finish(FailReason why) {
    w_->FailRequest(*req_, why);
    req_.reset();
  }
  void RetryCurrent() {
    w_->Retry(*req_, RetryReason::kKeepAliveClosed);
    req_.reset();
  }

  void Close() {
    CloseFd();
    state_ = State::kClosed;
    parser_.Reset();
    responses_ = 0;
  }

  State state_ = State::kClosed;
  std::optional<Request> req_;
  ResponseParser parser_;
  uint64_t responses_ = 0;  // completed on the current connection
  uint64_t sent_ns_ = 0;
};

// ---------------------------------------------------------------- HTTP/2

class H2Conn : public Conn {
 public:
  H2Conn(Worker* worker, uint32_t slot, nghttp2_session_callbacks* callbacks)
      : Conn(worker, slot), callbacks_(callbacks) {}
  ~H2Conn() override {
    if (session_) nghttp2_session_del(session_);
  }

  bool Busy() const override { return !streams_.empty() || !waiting_.empty(); }
  bool Lingering() const override { return state_ == State::kLingering; }

  void Pump() override {
    if (state_ == State::kConnecting || state_ == State::kLingering) return;
    if (state_ == State::kClosed) {
      Request r;
      if (!w_->NextRequest(&r)) return;
      waiting_.push_back(r);
      int err = StartConnect();
      if (err != 0) {
        OnConnectFailed(err);
      } else {
        state_ = State::kConnecting;
      }
      return;
    }
    if (draining_) {
      if (streams_.empty()) StartLinger();
      return;
    }
    size_t limit = static_cast<size_t>(opt_.streams);
    uint32_t remote_max =
        nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    limit = std::min<size_t>(limit, remote_max);
    bool submitted = false;
    while (streams_.size() < limit && !draining_) {
      Request r;
      if (!w_->NextRequest(&r)) break;
      Submit(r);
      submitted = true;
    }
    if (submitted) Flush();
  }

  void OnEvent(uint32_t events) override {
    if (state_ == State::kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = ConnectResult();
      if (err != 0) {
        OnConnectFailed(err);
        return;
      }
      ++w_->stats().connections_opened;
      w_->ConnectSucceeded();
      OpenSession();
      return;
    }
    if (state_ == State::kLingering) {
      DrainLinger();
      return;
    }
    if (state_ != State::kOpen) return;
    if ((events & EPOLLOUT) && !Flush()) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Read();
  }

  void CheckTimeouts(uint64_t now) override {
    uint64_t timeout = SecondsToNs(opt_.timeout_s);
    if (state_ == State::kConnecting && Expired(now, connect_start_ns_, timeout)) {
      OnConnectFailed(ETIMEDOUT);
      return;
    }
    if (state_ == State::kLingering && Expired(now, linger_start_ns_, kLingerNs)) {
      Close();
      return;
    }
    if (state_ != State::kOpen) return;
    bool reset_any = false;
    for (auto& [id, s] : streams_) {
      if (s.accounted || !s.headers_sent || !Expired(now, s.sent_ns, timeout)) continue;
      s.accounted = true;
      w_->FailRequest(s.req, FailReason::kTimeout);
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      reset_any = true;
    }
    if (reset_any) Flush();
  }

  void Abandon(FailReason why) override {
    for (auto& [id, s] : streams_) {
      if (s.accounted) continue;
      s.accounted = true;
      if (s.req.attempts > 0) w_->FailRequest(s.req, why);
    }
    streams_.clear();
    for (const Request& r : waiting_) {
      if (r.attempts > 0) w_->FailRequest(r, why);
    }
    waiting_.clear();
    Close();
  }

  // nghttp2 callbacks (see MakeCallbacks), with `this` as user_data.
  struct Stream {
    Request req;
    uint64_t sent_ns = 0;
    int status = 0;
    uint64_t body_bytes = 0;
    bool headers_sent = false;      // our HEADERS frame was serialized
    bool response_started = false;  // any response frame for it arrived
    bool done = false;              // the final response ended (END_STREAM)
    bool accounted = false;         // outcome already recorded (timeout)
  };

  Stream* FindStream(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : &it->second;
  }

  void OnHeadersSent(int32_t id) {
    Stream* s = FindStream(id);
    if (!s || s->headers_sent) return;
    s->headers_sent = true;
    s->sent_ns = NowNs();
    w_->OnSend(&s->req);
  }

  void OnGoaway(int32_t last_stream_id) {
    draining_ = true;
    goaway_last_ = std::min(goaway_last_, last_stream_id);
  }

  void OnStreamClose(int32_t id, uint32_t error_code) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream s = it->second;
    streams_.erase(it);
    if (s.accounted) return;
    if (s.done) {
      w_->Complete(s.req, s.status, s.body_bytes);
    } else if (!s.headers_sent) {
      w_->ReturnUnsent(s.req);  // never left: not a retry, not sent
    } else if (draining_ && id > goaway_last_) {
      w_->Retry(s.req, RetryReason::kGoaway);
    } else if (error_code == NGHTTP2_REFUSED_STREAM) {
      w_->Retry(s.req, RetryReason::kRefusedStream);
    } else if (error_code == NGHTTP2_PROTOCOL_ERROR || error_code == NGHTTP2_FRAME_SIZE_ERROR ||
               error_code == NGHTTP2_COMPRESSION_ERROR || error_code == NGHTTP2_FLOW_CONTROL_ERROR) {
      w_->FailRequest(s.req, FailReason::kProtocolError);
    } else if (error_code != NGHTTP2_NO_ERROR) {
      w_->FailRequest(s.req, FailReason::kStreamReset);
    } else {
      w_->FailRequest(s.req, s.response_started ? FailReason::kClosedMidResponse
                                                : FailReason::kClosedBeforeResponse);
    }
  }

 private:
  enum class State { kClosed, kConnecting, kOpen, kLingering };
  static constexpr uint64_t kLingerNs = 2'000'000'000;

  // After a GOAWAY, once the last stream is done: send what nghttp2 still
  // has (a PING ACK), half-close and read to the server's FIN. Closing
  // with unread bytes queued (the server's second GOAWAY is usually on its
  // way) would make the kernel answer with an RST instead of a FIN.
  void StartLinger() {
    while (session_) {
      if (out_off_ < out_.size() && WriteOut() != 0) break;
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.assign(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      out_off_ = 0;
    }
    if (session_) {
      nghttp2_session_del(session_);
      session_ = nullptr;
    }
    SetWantWrite(false);
    shutdown(fd_, SHUT_WR);
    state_ = State::kLingering;
    linger_start_ns_ = NowNs();
    DrainLinger();
  }

  void DrainLinger() {
    uint8_t buf[16384];
    while (state_ == State::kLingering) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        w_->stats().bytes_received += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Close();  // EOF (the server's FIN) or an error
    }
  }

  uint64_t linger_start_ns_ = 0;

  void OpenSession() {
    nghttp2_session_client_new(&session_, callbacks_, this);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 1 << 30);
    state_ = State::kOpen;
    std::vector<Request> waiting;
    waiting.swap(waiting_);
    for (const Request& r : waiting) Submit(r);
    Pump();  // fill up to --streams, then flush
    if (state_ == State::kOpen) Flush();
  }

  void Submit(const Request& r) {
    const std::string& path = opt_.paths[r.path].path;
    const std::string& authority = opt_.target.authority;
    auto nv = [](const char* name, const std::string& value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                        std::strlen(name), value.size(),
                        NGHTTP2_NV_FLAG_NO_COPY_NAME};
    };
    static const std::string kGet = "GET", kHttp = "http", kAgent = "faultline-load";
    nghttp2_nv nva[] = {nv(":method", kGet), nv(":scheme", kHttp), nv(":authority", authority),
                        nv(":path", path), nv("user-agent", kAgent)};
    int32_t id = nghttp2_submit_request(session_, nullptr, nva, 5, nullptr, nullptr);
    if (id < 0) {
      w_->ReturnUnsent(r);
      draining_ = true;  // this session takes no more streams
      return;
    }
    Stream s;
    s.req = r;
    s.sent_ns = NowNs();
    streams_.emplace(id, s);
  }

  // Serializes and writes what nghttp2 has to send. Returns false when the
  // connection was closed.
  bool Flush() {
    while (true) {
      if (out_off_ < out_.size()) {
        int err = WriteOut();
        if (err == EAGAIN) return true;
        if (err != 0) {
          ConnectionLost(FailReason::kReset);
          return false;
        }
      }
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        ConnectionLost(FailReason::kProtocolError);
        return false;
      }
      if (n == 0) break;
      out_.assign(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      out_off_ = 0;
    }
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
      // nghttp2 is done with the session (after a GOAWAY, with no stream
      // left): end it with a FIN, not a close that could send an RST.
      if (streams_.empty() && waiting_.empty()) {
        StartLinger();
      } else {
        ConnectionLost(FailReason::kClosedBeforeResponse);
      }
      return false;
    }
    return true;
  }

  void Read() {
    uint8_t buf[65536];
    while (state_ == State::kOpen) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        w_->stats().bytes_received += static_cast<uint64_t>(n);
        ssize_t rv = nghttp2_session_mem_recv(session_, buf, static_cast<size_t>(n));
        if (rv < 0) {
          ConnectionLost(FailReason::kProtocolError);
          return;
        }
        if (!Flush()) return;
        if (static_cast<size_t>(n) < sizeof buf) return;
        continue;
      }
      if (n == 0) {
        ConnectionLost(FailReason::kClosedBeforeResponse);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      ConnectionLost(FailReason::kReset);
      return;
    }
  }

  // The connection ended (EOF, error, or nghttp2 is done with it). Every
  // stream still open gets its outcome; `unstarted` is the reason for sent
  // streams of which no response byte arrived.
  void ConnectionLost(FailReason unstarted) {
    std::unordered_map<int32_t, Stream> streams;
    streams.swap(streams_);
    for (auto& [id, s] : streams) {
      if (s.accounted) continue;
      if (s.done) {
        w_->Complete(s.req, s.status, s.body_bytes);
      } else if (!s.headers_sent) {
        w_->ReturnUnsent(s.req);
      } else if (draining_ && id > goaway_last_) {
        w_->Retry(s.req, RetryReason::kGoaway);
      } else if (s.response_started) {
        w_->FailRequest(s.req, unstarted == FailReason::kProtocolError
                                   ? FailReason::kProtocolError
                                   : FailReason::kClosedMidResponse);
      } else {
        w_->FailRequest(s.req, unstarted);
      }
    }
    Close();
  }

  void OnConnectFailed(int err) {
    std::vector<Request> held;
    held.swap(waiting_);
    Close();
    w_->ConnectFailed(err, held);
  }

  void Close() {
    if (session_) {
      // Streams were all given an outcome; nghttp2_session_del calls no
      // stream-close callbacks.
      streams_.clear();
      nghttp2_session_del(session_);
      session_ = nullptr;
    }
    for (const Request& r : waiting_) w_->ReturnUnsent(r);
    waiting_.clear();
    CloseFd();
    state_ = State::kClosed;
    draining_ = false;
    goaway_last_ = INT32_MAX;
  }

  nghttp2_session_callbacks* callbacks_;
  nghttp2_session* session_ = nullptr;
  State state_ = State::kClosed;
  std::unordered_map<int32_t, Stream> streams_;
  std::vector<Request> waiting_;  // taken while connecting
  bool draining_ = false;         // GOAWAY received: no new streams here
  int32_t goaway_last_ = INT32_MAX;
};

int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    static_cast<H2Conn*>(user_data)->OnHeadersSent(frame->hd.stream_id);
  }
  return 0;
}

int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto* conn = static_cast<H2Conn*>(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_GOAWAY:
      conn->OnGoaway(frame->goaway.last_stream_id);
      break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        if (H2Conn::Stream* s = conn->FindStream(frame->hd.stream_id); s && s->status >= 200) {
          s->done = true;
        }
      }
      break;
    default:
      break;
  }
  return 0;
}

int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (H2Conn::Stream* s = static_cast<H2Conn*>(user_data)->FindStream(frame->hd.stream_id)) {
    s->response_started = true;
  }
  return 0;
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
             const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Conn::Stream* s = static_cast<H2Conn*>(user_data)->FindStream(frame->hd.stream_id);
  if (!s) return 0;
  if (std::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
    int status = 0;
    for (size_t i = 0; i < valuelen; ++i) {
      if (value[i] < '0' || value[i] > '9') return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      status = status * 10 + (value[i] - '0');
    }
    s->status = status;
  }
  return 0;
}

int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t*, size_t len,
                void* user_data) {
  if (H2Conn::Stream* s = static_cast<H2Conn*>(user_data)->FindStream(stream_id)) {
    s->body_bytes += len;
    s->response_started = true;
  }
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data) {
  static_cast<H2Conn*>(user_data)->OnStreamClose(stream_id, error_code);
  return 0;
}

nghttp2_session_callbacks* MakeCallbacks() {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, OnFrameSend);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, OnFrameRecv);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, OnStreamClose);
  return cbs;
}

// ---------------------------------------------------------------- Worker

std::vector<std::string> BuildH1Requests(const Options& o) {
  std::vector<std::string> out;
  for (const PathWeight& p : o.paths) {
    out.push_back("GET " + p.path + " HTTP/1.1\r\nHost: " + o.target.authority +
                  "\r\nUser-Agent: faultline-load\r\n" +
                  (o.close ? "Connection: close\r\n" : "") + "\r\n");
  }
  return out;
}

Worker::Worker(Shared* shared, int index, int conns)
    : shared_(shared), index_(index), picker_(shared->opt.paths),
      h1_requests_(BuildH1Requests(shared->opt)) {
  stats_.path_sent.assign(shared->opt.paths.size(), 0);
  stats_.path_completed.assign(shared->opt.paths.size(), 0);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  conns_.reserve(static_cast<size_t>(conns));
  static nghttp2_session_callbacks* callbacks = MakeCallbacks();  // never freed
  for (int i = 0; i < conns; ++i) {
    if (shared->opt.h2) {
      conns_.push_back(std::make_unique<H2Conn>(this, static_cast<uint32_t>(i), callbacks));
    } else {
      conns_.push_back(std::make_unique<H1Conn>(this, static_cast<uint32_t>(i)));
    }
  }
}

Worker::~Worker() {
  conns_.clear();
  if (epfd_ >= 0) close(epfd_);
}

bool Worker::NoMoreNew() const {
  return shared_->stop_new.load(std::memory_order_relaxed) ||
         shared_->budget.load(std::memory_order_relaxed) <= 0;
}

bool Worker::NextRequest(Request* r) {
  while (!requeue_.empty()) {
    Request front = requeue_.front();
    requeue_.pop_front();
    if (front.attempts == 0 && shared_->stop_new.load(std::memory_order_relaxed)) {
      continue;  // never sent, and we stopped sending: it simply never happens
    }
    *r = front;
    return true;
  }
  if (shared_->stop_new.load(std::memory_order_relaxed)) return false;
  if (opt().rate > 0) {
    if (due_.empty()) return false;
    *r = Request{static_cast<uint32_t>(picker_.Next()), 0, due_.front()};
    due_.pop_front();
    return true;
  }
  if (shared_->budget.fetch_sub(1, std::memory_order_relaxed) <= 0) return false;
  *r = Request{static_cast<uint32_t>(picker_.Next()), 0, 0};
  return true;
}

void Worker::ReturnUnsent(const Request& r) { requeue_.push_front(r); }

void Worker::OnSend(Request* r) {
  if (r->attempts == 0) {
    ++stats_.sent;
    ++stats_.in_flight;
    ++stats_.path_sent[r->path];
    if (r->start_ns == 0) r->start_ns = NowNs();
  }
  ++r->attempts;
}

void Worker::Complete(const Request& r, int status, uint64_t body_bytes) {
  --stats_.in_flight;
  int cls = status / 100;
  ++stats_.completed_by_class[cls >= 1 && cls <= 5 ? cls : 0];
  ++stats_.path_completed[r.path];
  stats_.body_bytes += body_bytes;
  uint64_t now = NowNs();
  stats_.latency_ns.Record(now > r.start_ns ? now - r.start_ns : 0);
}

void Worker::FailRequest(const Request& r, FailReason why) {
  (void)r;
  --stats_.in_flight;
  ++stats_.failed_by_reason[static_cast<size_t>(why)];
}

void Worker::Retry(const Request& r, RetryReason why) {
  if (r.attempts >= kMaxAttempts) {
    FailRequest(r, FailReason::kRetriesExhausted);
    return;
  }
  ++stats_.retried_by_reason[static_cast<size_t>(why)];
  requeue_.push_back(r);
}

void Worker::ConnectSucceeded() { consecutive_connect_failures_ = 0; }

void Worker::ConnectFailed(int err, const std::vector<Request>& held) {
  ConnectError kind = err == ECONNREFUSED ? ConnectError::kRefused
                      : err == ETIMEDOUT  ? ConnectError::kTimeout
                                          : ConnectError::kOther;
  ++stats_.connect_errors[static_cast<size_t>(kind)];
  for (const Request& r : held) {
    if (r.attempts > 0) {  // a sent request waiting for its retry: it fails
      FailRequest(r, err == ECONNREFUSED ? FailReason::kConnectRefused : FailReason::kConnectError);
    } else {
      ReturnUnsent(r);
    }
  }
  std::string what = "connect " + opt().target.authority + ": " + std::strerror(err);
  if (err == ECONNREFUSED) {
    // Nobody listens (any more): stop sending rather than loop on refusals.
    shared_->StopAndDrain(what, NowNs());
  } else if (++consecutive_connect_failures_ >= 3) {
    shared_->StopAndDrain(what + " (3 times in a row)", NowNs());
  }
}

void Worker::Schedule(uint64_t now) {
  while (next_due_ns_ <= now && !NoMoreNew()) {
    if (shared_->budget.fetch_sub(1, std::memory_order_relaxed) <= 0) break;
    due_.push_back(next_due_ns_);
    next_due_ns_ += interval_ns_;
  }
}

void Worker::Run() {
  const Options& o = opt();
  if (o.rate > 0) {
    double per_thread = o.rate / o.threads;
    interval_ns_ = std::max<uint64_t>(1, static_cast<uint64_t>(1e9 / per_thread));
    // Interleave the threads' schedules.
    next_due_ns_ = shared_->start_ns + interval_ns_ * static_cast<uint64_t>(index_) / o.threads;
  }
  std::vector<epoll_event> events(256);
  while (true) {
    uint64_t now = NowNs();
    if (shared_->interrupt && shared_->interrupt->load()) shared_->StopAndDrain("interrupted", now);
    if (now >= shared_->deadline_ns) shared_->stop_new.store(true);
    if (now >= shared_->drain_end.load()) {
      for (auto& c : conns_) c->Abandon(FailReason::kDeadline);
      for (const Request& r : requeue_) {
        if (r.attempts > 0) FailRequest(r, FailReason::kDeadline);
      }
      requeue_.clear();
      break;
    }
    if (o.rate > 0) {
      if (shared_->stop_new.load(std::memory_order_relaxed)) {
        due_.clear();  // scheduled, never sent: they do not exist
      } else {
        Schedule(now);
      }
    }
    for (auto& c : conns_) c->Pump();
    bool busy = !requeue_.empty() || !due_.empty() || !NoMoreNew();
    for (auto& c : conns_) busy = busy || c->Busy() || c->Lingering();
    if (!busy) break;
    for (auto& c : conns_) c->CheckTimeouts(now);

    int timeout_ms = 20;
    if (o.rate > 0 && !NoMoreNew()) {
      uint64_t t = NowNs();
      timeout_ms = next_due_ns_ <= t ? 0
                                     : static_cast<int>(std::min<uint64_t>(20, (next_due_ns_ - t) / 1'000'000));
    }
    int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      uint32_t slot = static_cast<uint32_t>(events[i].data.u64 >> 32);
      uint32_t gen = static_cast<uint32_t>(events[i].data.u64);
      Conn* c = conns_[slot].get();
      if (c->gen() == gen) c->OnEvent(events[i].events);
    }
  }
  for (auto& c : conns_) c->Abandon(FailReason::kDeadline);
}

}  // namespace

RunResult RunLoad(const Options& options, const std::atomic<bool>* interrupt) {
  Shared shared(options);
  shared.interrupt = interrupt;
  shared.start_ns = NowNs();
  if (options.requests > 0) {
    shared.budget.store(static_cast<int64_t>(options.requests));
  } else {
    shared.deadline_ns = shared.start_ns + SecondsToNs(options.duration_s);
    shared.drain_end.store(shared.deadline_ns + SecondsToNs(options.timeout_s));
  }
  int threads = std::min(options.threads, options.connections);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    int conns = options.connections / threads + (i < options.connections % threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(&shared, i, conns));
  }
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->Run(); });
  for (auto& t : running) t.join();
  RunResult result;
  result.elapsed_s = static_cast<double>(NowNs() - shared.start_ns) / 1e9;
  for (auto& w : workers) result.stats.Merge(w->stats());
  result.stop_reason = shared.stop_reason;
  return result;
}

}  // namespace faultline::load
