#include "server/connection.h"

#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/probes.h"

namespace faultline::server {
namespace {

constexpr std::string_view kClientMagic(NGHTTP2_CLIENT_MAGIC,
                                        NGHTTP2_CLIENT_MAGIC_LEN);
constexpr size_t kReadChunk = 16384;

}  // namespace

// ---- Buffer ----

void Buffer::Consume(size_t n) {
  start_ += n;
  if (start_ >= end_) {
    start_ = end_ = 0;
    if (cap_ > 1024 * 1024) Release();
  }
}

char* Buffer::Reserve(size_t n) {
  if (cap_ - end_ >= n) return data_.get() + end_;
  size_t used = end_ - start_;
  if (start_ > 0 && used + n <= cap_) {
    std::memmove(data_.get(), data_.get() + start_, used);
  } else {
    size_t cap = std::max({cap_ * 2, used + n, size_t{4096}});
    auto d = std::make_unique_for_overwrite<char[]>(cap);
    if (used > 0) std::memcpy(d.get(), data_.get() + start_, used);
    data_ = std::move(d);
    cap_ = cap;
  }
  start_ = 0;
  end_ = used;
  return data_.get() + end_;
}

void Buffer::Append(std::string_view s) {
  std::memcpy(Reserve(s.size()), s.data(), s.size());
  Commit(s.size());
}

void Buffer::Release() {
  data_.reset();
  cap_ = start_ = end_ = 0;
}

// ---- Connection ----

Connection::Connection(Loop* loop, int fd, uint64_t id)
    : loop_(loop), fd_(fd), id_(id), upstream_(MakeHttp1Upstream(this)) {
  interest_ = EPOLLIN;
  last_activity_ns_ = loop_->now();
}

Connection::~Connection() {
  upstream_.reset();  // Before the fd goes (nothing of it outlives us).
  if (state_ != State::kClosed) close(fd_);
}

void Connection::OnEvent(uint32_t events) {
  retired_.reset();
  if (state_ == State::kClosed) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    HandleReadable();
    if (state_ == State::kClosed) return;
  }
  if (state_ == State::kLingering) return;
  Advance();
}

void Connection::HandleReadable() {
  if (state_ == State::kLingering) {
    char scratch[16384];
    while (true) {
      ssize_t n = read(fd_, scratch, sizeof(scratch));
      if (n > 0) continue;
      if (n == 0) return Close("linger-fin");
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return Close("linger-error");
    }
  }
  if (!(interest_ & EPOLLIN)) return;
  for (int i = 0; i < 4; ++i) {
    char* p = in_.Reserve(kReadChunk);
    ssize_t n = read(fd_, p, kReadChunk);
    if (n > 0) {
      in_.Commit(static_cast<size_t>(n));
      last_activity_ns_ = loop_->now();
      if (static_cast<size_t>(n) < kReadChunk) break;
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return Close("reset");
  }
}

bool Connection::DetectProtocol() {
  std::string_view v = in_.View();
  size_t n = std::min(v.size(), kClientMagic.size());
  if (v.substr(0, n) != kClientMagic.substr(0, n)) {
    protocol_known_ = true;  // HTTP/1.1: the upstream it started with.
    return true;
  }
  if (n < kClientMagic.size()) return true;  // A prefix: wait for the rest.
  protocol_known_ = true;
  std::unique_ptr<Upstream> h2 = MakeHttp2Upstream(this);
  if (h2 == nullptr) {
    Close("h2-init-failed");
    return false;
  }
  retired_ = std::move(upstream_);
  upstream_ = std::move(h2);
  return true;
}

void Connection::Advance() {
  for (int round = 0; round < 64 && state_ == State::kOpen; ++round) {
    if (!protocol_known_ && !in_.empty() && !DetectProtocol()) return;
    if (protocol_known_) upstream_->OnRead();
    if (state_ != State::kOpen) return;
    bool had_output = OutputPending();
    if (!Flush()) return;
    // Written everything: more pipelined requests may now fit.
    bool progress = had_output && !OutputPending() && protocol_known_ &&
                    upstream_->WantsAnotherRound();
    if (!progress) break;
  }
  if (state_ != State::kOpen) return;
  MaybeFinish();
  if (state_ == State::kOpen) UpdateInterest();
}

void Connection::RunRequest(uint32_t token, std::string_view method,
                            std::string_view path, std::string_view query,
                            std::string_view body, Response* out,
                            bool* deferred) {
  if (loop_->dispatching()) {
    loop_->Dispatch(WorkerPool::Job{loop_, id_, token, std::string(method),
                                    std::string(path), std::string(query),
                                    std::string(body)});
    *deferred = true;
    return;
  }
  HandleEndpoint(method, path, query, body, loop_->config().resources, out);
  if (out->sleep_ms >= 0) {
    loop_->AddTimer(loop_->now() + out->sleep_ms * 1'000'000, id_, token);
    *deferred = true;
    return;
  }
  *deferred = false;
}

void Connection::OnTimer(uint32_t token) {
  if (state_ != State::kOpen) return;
  if (upstream_->OnTimer(token)) Advance();
}

void Connection::OnWorkDone(uint32_t token, Response resp) {
  if (state_ != State::kOpen) return;
  if (upstream_->OnWorkDone(token, std::move(resp))) Advance();
}

bool Connection::Flush() {
  while (OutputPending()) {
    iovec iov[2];
    int cnt = 0;
    std::string_view o = out_.View();
    if (!o.empty()) iov[cnt++] = {const_cast<char*>(o.data()), o.size()};
    if (!ext_.empty())
      iov[cnt++] = {const_cast<char*>(ext_.data()), ext_.size()};
    ssize_t n = writev(fd_, iov, cnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      Close("reset");
      return false;
    }
    last_activity_ns_ = loop_->now();
    size_t w = static_cast<size_t>(n);
    size_t from_out = std::min(w, o.size());
    out_.Consume(from_out);
    ext_.remove_prefix(w - from_out);
    if (!OutputPending()) upstream_->OnWritten();
  }
  return true;
}

void Connection::MaybeFinish() {
  if (state_ != State::kOpen || OutputPending()) return;
  upstream_->MaybeFinish();
}

void Connection::DecideClose(const char* reason) {
  FAULTLINE_PROBE2(conn_close_decided, id_, reason);
}

void Connection::StartLingering() {
  if (state_ != State::kOpen) return;
  if (peer_closed_) return Close("peer-fin");
  // RFC 9112 9.6: half-close, then read and discard until the peer's FIN, so
  // that unread request bytes never make the kernel send an RST.
  shutdown(fd_, SHUT_WR);
  state_ = State::kLingering;
  linger_deadline_ns_ = loop_->now() + loop_->config().linger_timeout_ns;
  in_.Release();
  out_.Release();
  ext_ = {};
  if (interest_ != EPOLLIN) {
    interest_ = EPOLLIN;
    epoll_event ev{};
    ev.events = interest_;
    ev.data.ptr = static_cast<Pollable*>(this);
    epoll_ctl(loop_->epfd(), EPOLL_CTL_MOD, fd_, &ev);
  }
  HandleReadable();  // The FIN may already be here.
}

void Connection::Close(const char* how) {
  if (state_ == State::kClosed) return;
  FAULTLINE_PROBE2(conn_closed, id_, how);
  epoll_ctl(loop_->epfd(), EPOLL_CTL_DEL, fd_, nullptr);
  close(fd_);
  state_ = State::kClosed;
  ++loop_->stats().connections_closed;
  loop_->Destroy(this);
}

void Connection::UpdateInterest() {
  uint32_t want = 0;
  bool blocked = upstream_->Busy() || OutputPending();
  if (!peer_closed_ && !(blocked && in_.size() >= kMaxBufferedIn) &&
      !upstream_->OutputFull())
    want |= EPOLLIN;
  if (OutputPending()) want |= EPOLLOUT;
  if (want == interest_) return;
  interest_ = want;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = static_cast<Pollable*>(this);
  epoll_ctl(loop_->epfd(), EPOLL_CTL_MOD, fd_, &ev);
}

void Connection::BeginShutdown() {
  if (state_ != State::kOpen || draining_) return;
  draining_ = true;
  upstream_->BeginShutdown();
}

void Connection::ForceClose() {
  if (state_ == State::kClosed) return;
  loop_->stats().requests_cut += upstream_->InFlight();
  if (state_ == State::kOpen) DecideClose("drain-timeout");
  Close("forced");
}

void Connection::OnTick(int64_t now) {
  retired_.reset();
  if (state_ == State::kLingering) {
    if (now >= linger_deadline_ns_) Close("linger-timeout");
    return;
  }
  if (state_ != State::kOpen) return;
  const ServerConfig& cfg = loop_->config();
  if (OutputPending() && now - last_activity_ns_ > cfg.idle_timeout_ns) {
    DecideClose("write-timeout");
    return Close("write-timeout");
  }
  upstream_->OnTick(now);
}

}  // namespace faultline::server
