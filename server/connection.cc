#include "server/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "server/probes.h"

namespace faultline::server {

// Per-stream state of an HTTP/2 request.
struct Connection::Stream {
  int32_t id = 0;
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  bool body_too_large = false;
  bool started = false;
  bool responded = false;
  int64_t created_ns = 0;
  int64_t start_ns = 0;
  Response resp;
  size_t sent = 0;
  char status_str[4] = {};
  char length_str[24] = {};
};

namespace {

constexpr std::string_view kClientMagic(NGHTTP2_CLIENT_MAGIC,
                                        NGHTTP2_CLIENT_MAGIC_LEN);
constexpr size_t kReadChunk = 16384;
constexpr size_t kMaxPendingOut = 256 * 1024;
constexpr size_t kMaxBufferedIn = 64 * 1024;
constexpr size_t kInlineBody = 16384;
// How long an idle HTTP/1.1 connection (fresh, or keep-alive between
// requests) is kept open once the server drains (see BeginShutdown).
constexpr int64_t kIdleGraceNs = 1'000'000'000;
constexpr uint8_t kDrainPing[8] = {'f', 'l', '-', 'd', 'r', 'a', 'i', 'n'};

// ---- nghttp2 callbacks: free functions that cast user_data. ----

Connection* Conn(void* user_data) {
  return static_cast<Connection*>(user_data);
}

int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                   void* user_data) {
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    Conn(user_data)->NewStream(frame->hd.stream_id);
  }
  return 0;
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
             size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
             void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Connection::Stream* s = Conn(user_data)->FindStream(frame->hd.stream_id);
  if (s == nullptr) return 0;
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    s->method.assign(v);
  } else if (n == ":path") {
    size_t q = v.find('?');
    s->path.assign(v.substr(0, q));
    if (q != std::string_view::npos) s->query.assign(v.substr(q + 1));
  }
  return 0;
}

int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id,
                const uint8_t* data, size_t len, void* user_data) {
  Connection* c = Conn(user_data);
  Connection::Stream* s = c->FindStream(stream_id);
  if (s == nullptr) return 0;
  if (s->body.size() + len > c->max_body()) {
    s->body_too_large = true;
    return 0;
  }
  s->body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Connection* c = Conn(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        Connection::Stream* s = c->FindStream(frame->hd.stream_id);
        if (s != nullptr && !s->started) c->H2RequestComplete(s);
      }
      break;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) &&
          std::memcmp(frame->ping.opaque_data, kDrainPing, 8) == 0) {
        c->H2PingAck();
      }
      break;
    default:
      break;
  }
  return 0;
}

int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Connection* c = Conn(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->H2GoawaySent(frame->goaway.last_stream_id, frame->goaway.error_code);
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    Connection::Stream* s = c->FindStream(frame->hd.stream_id);
    if (s != nullptr && s->responded) c->H2ResponseSent(s);
  }
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t,
                  void* user_data) {
  Conn(user_data)->EraseStream(stream_id);
  return 0;
}

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                 uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* s = static_cast<Connection::Stream*>(source->ptr);
  std::string_view body = s->resp.Body();
  size_t n = std::min(length, body.size() - s->sent);
  std::memcpy(buf, body.data() + s->sent, n);
  s->sent += n;
  if (s->sent == body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

nghttp2_session_callbacks* Callbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(c, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, OnDataChunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, OnFrameRecv);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, OnFrameSend);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, OnStreamClose);
    return c;
  }();
  return cbs;
}

char* AppendStr(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

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
    : loop_(loop), fd_(fd), id_(id) {
  interest_ = EPOLLIN;
  last_activity_ns_ = loop_->now();
}

Connection::~Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  if (state_ != State::kClosed) close(fd_);
}

Connection::Stream* Connection::FindStream(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

Connection::Stream* Connection::NewStream(int32_t id) {
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->created_ns = loop_->now();
  Stream* p = s.get();
  streams_[id] = std::move(s);
  return p;
}

void Connection::EraseStream(int32_t id) { streams_.erase(id); }

void Connection::OnEvent(uint32_t events) {
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

void Connection::Advance() {
  for (int round = 0; round < 64 && state_ == State::kOpen; ++round) {
    if (proto_ == Proto::kDetect && !in_.empty()) {
      std::string_view v = in_.View();
      size_t n = std::min(v.size(), kClientMagic.size());
      if (v.substr(0, n) == kClientMagic.substr(0, n)) {
        if (n == kClientMagic.size()) {
          proto_ = Proto::kHttp2;
          if (!StartHttp2()) return;
        }
        // else: a prefix of the preface; wait for the rest.
      } else {
        proto_ = Proto::kHttp1;
      }
    }
    if (proto_ == Proto::kHttp1) ProcessHttp1();
    if (proto_ == Proto::kHttp2) FeedHttp2();
    if (state_ != State::kOpen) return;
    bool had_output = OutputPending();
    if (!Flush()) return;
    // Written everything: more pipelined requests may now fit.
    bool progress = had_output && !OutputPending() && proto_ == Proto::kHttp1 &&
                    !busy_ && !in_.empty() && !close_after_write_;
    if (!progress) break;
  }
  if (state_ != State::kOpen) return;
  MaybeFinish();
  if (state_ == State::kOpen) UpdateInterest();
}

// ---- HTTP/1.1 ----

void Connection::ProcessHttp1() {
  const ServerConfig& cfg = loop_->config();
  while (state_ == State::kOpen && !busy_ && !close_after_write_) {
    if (!ext_.empty() || out_.size() > kMaxPendingOut) break;
    if (in_.empty()) {
      request_begin_ns_ = 0;
      break;
    }
    if (request_begin_ns_ == 0) request_begin_ns_ = loop_->now();
    http1::ParseResult r = http1::ParseRequest(in_.View(), cfg.limits, &req_);
    if (r.status == http1::Status::kNeedsMoreData) {
      if (req_.expect_continue && !sent_continue_ && !draining_) {
        out_.Append("HTTP/1.1 100 Continue\r\n\r\n");
        sent_continue_ = true;
      }
      break;
    }
    if (r.status == http1::Status::kComplete) {
      in_.Consume(r.consumed);
      request_begin_ns_ = 0;
      sent_continue_ = false;
      StartHttp1Request();
      continue;
    }
    int status = http1::HttpStatusFor(r.status);
    SendHttp1Error(status == 0 ? 400 : status, "bad-request");
    break;
  }
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

void Connection::StartHttp1Request() {
  busy_ = true;
  ++seq_;
  req_start_ns_ = loop_->now();
  FAULTLINE_PROBE4(request_start, id_, 0, req_.method.c_str(),
                   req_.path.c_str());
  bool deferred = false;
  RunRequest(seq_, req_.method, req_.path, req_.query, req_.body, &resp_,
             &deferred);
  if (!deferred) FinishHttp1();
}

void Connection::AppendHttp1Head(int status, size_t content_length,
                                 bool keep_alive, int version_minor) {
  char* start = out_.Reserve(256);
  char* p = start;
  p = AppendStr(p, "HTTP/1.1 ");
  p = std::to_chars(p, p + 3, status).ptr;
  *p++ = ' ';
  std::string_view reason = ReasonPhrase(status);
  p = AppendStr(p, reason.substr(0, 64));
  p = AppendStr(p,
                "\r\nServer: faultline\r\nContent-Type: text/plain\r\n"
                "Content-Length: ");
  p = std::to_chars(p, p + 20, content_length).ptr;
  if (!keep_alive) {
    p = AppendStr(p, "\r\nConnection: close");
  } else if (version_minor == 0) {
    p = AppendStr(p, "\r\nConnection: keep-alive");
  }
  p = AppendStr(p, "\r\n\r\n");
  out_.Commit(static_cast<size_t>(p - start));
}

void Connection::FinishHttp1() {
  bool keep = req_.keep_alive && !draining_;
  if (!keep) {
    DecideClose(draining_ ? "shutdown" : "client");
    close_after_write_ = true;
  }
  std::string_view body = resp_.Body();
  bool head = req_.method == "HEAD";
  AppendHttp1Head(resp_.status, body.size(), keep, req_.version_minor);
  if (!head) {
    if (body.size() <= kInlineBody || resp_.use_owned) {
      out_.Append(body);
    } else {
      ext_ = body;  // Static or mapped for the life of the process.
    }
  }
  Stats& st = loop_->stats();
  ++st.h1_requests;
  st.CountStatus(resp_.status);
  FAULTLINE_PROBE5(request_end, id_, 0, resp_.status,
                   static_cast<uint64_t>(body.size()),
                   static_cast<uint64_t>(loop_->now() - req_start_ns_));
  busy_ = false;
  if (resp_.use_owned && resp_.owned.capacity() > kInlineBody)
    resp_.owned = std::string();
}

void Connection::SendHttp1Error(int status, const char* reason) {
  DecideClose(reason);
  close_after_write_ = true;
  std::string_view body = ReasonPhrase(status);
  AppendHttp1Head(status, body.size() + 1, false, 1);
  out_.Append(body);
  out_.Append("\n");
  Stats& st = loop_->stats();
  ++st.h1_requests;
  st.CountStatus(status);
  in_.Clear();
}

// ---- HTTP/2 ----

bool Connection::StartHttp2() {
  int rv = nghttp2_session_server_new(&session_, Callbacks(), this);
  if (rv != 0) {
    std::fprintf(stderr, "faultline-server: nghttp2_session_server_new: %s\n",
                 nghttp2_strerror(rv));
    Close("h2-init-failed");
    return false;
  }
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                  loop_->config().h2_max_concurrent_streams}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
  if (draining_) H2BeginShutdown();
  return true;
}

void Connection::FeedHttp2() {
  if (!in_.empty() && !h2_failed_) {
    std::string_view v = in_.View();
    ssize_t rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(v.data()), v.size());
    in_.Clear();
    if (rv < 0) {
      std::fprintf(stderr, "faultline-server: conn %llu: HTTP/2: %s\n",
                   static_cast<unsigned long long>(id_),
                   nghttp2_strerror(static_cast<int>(rv)));
      DecideClose("h2-error");
      h2_failed_ = true;
      nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    }
  }
  if (final_goaway_due_) SendFinalGoaway();
  // Serialize queued frames while there is room.
  while (out_.size() < kMaxPendingOut) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      std::fprintf(stderr, "faultline-server: conn %llu: HTTP/2 send: %s\n",
                   static_cast<unsigned long long>(id_),
                   nghttp2_strerror(static_cast<int>(n)));
      h2_failed_ = true;
      break;
    }
    if (n == 0) break;
    out_.Append(std::string_view(reinterpret_cast<const char*>(data),
                                 static_cast<size_t>(n)));
  }
}

void Connection::H2RequestComplete(Stream* s) {
  s->started = true;
  s->start_ns = loop_->now();
  FAULTLINE_PROBE4(request_start, id_, s->id, s->method.c_str(),
                   s->path.c_str());
  if (s->body_too_large) {
    s->resp.SetStatic(413, "Content Too Large\n");
    return H2Respond(s);
  }
  if (s->method.empty() || s->path.empty()) {
    s->resp.SetStatic(400, "Bad Request\n");
    return H2Respond(s);
  }
  bool deferred = false;
  RunRequest(static_cast<uint32_t>(s->id), s->method, s->path, s->query,
             s->body, &s->resp, &deferred);
  if (!deferred) H2Respond(s);
}

void Connection::H2Respond(Stream* s) {
  s->responded = true;
  std::string_view body = s->resp.Body();
  std::to_chars(s->status_str, s->status_str + 3, s->resp.status);
  *std::to_chars(s->length_str, s->length_str + 20, body.size()).ptr = '\0';
  auto nv = [](const char* n, const char* v) {
    return nghttp2_nv{
        reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
        reinterpret_cast<uint8_t*>(const_cast<char*>(v)), std::strlen(n),
        std::strlen(v),
        NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  };
  nghttp2_nv hdrs[] = {nv(":status", s->status_str), nv("server", "faultline"),
                       nv("content-type", "text/plain"),
                       nv("content-length", s->length_str)};
  nghttp2_data_provider prd;
  prd.source.ptr = s;
  prd.read_callback = ReadBody;
  bool no_body = body.empty() || s->method == "HEAD";
  int rv = nghttp2_submit_response(session_, s->id, hdrs, 4,
                                   no_body ? nullptr : &prd);
  if (rv != 0) {
    std::fprintf(stderr, "faultline-server: conn %llu: submit_response: %s\n",
                 static_cast<unsigned long long>(id_), nghttp2_strerror(rv));
  }
}

void Connection::H2ResponseSent(Stream* s) {
  Stats& st = loop_->stats();
  ++st.h2_requests;
  st.CountStatus(s->resp.status);
  FAULTLINE_PROBE5(request_end, id_, s->id, s->resp.status,
                   static_cast<uint64_t>(s->resp.Body().size()),
                   static_cast<uint64_t>(loop_->now() - s->start_ns));
  s->started = false;  // Not in flight any more.
  s->responded = false;
}

void Connection::H2GoawaySent(int32_t last_stream_id, uint32_t error_code) {
  int phase;
  if (last_stream_id == (1u << 31) - 1) {
    phase = 1;
  } else if (error_code == NGHTTP2_NO_ERROR && goaway_phase_ == 2) {
    phase = 2;
  } else {
    phase = 3;  // Protocol error or idle timeout: a one-step GOAWAY.
  }
  FAULTLINE_PROBE3(goaway_sent, id_, last_stream_id, phase);
}

void Connection::SendFinalGoaway() {
  final_goaway_due_ = false;
  if (goaway_phase_ != 1) return;
  goaway_phase_ = 2;
  int32_t last = nghttp2_session_get_last_proc_stream_id(session_);
  int rv = nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last,
                                 NGHTTP2_NO_ERROR, nullptr, 0);
  if (rv != 0) {
    std::fprintf(stderr, "faultline-server: conn %llu: submit_goaway: %s\n",
                 static_cast<unsigned long long>(id_), nghttp2_strerror(rv));
  }
}

// ---- Common ----

void Connection::OnTimer(uint32_t token) {
  if (state_ != State::kOpen) return;
  if (proto_ == Proto::kHttp2) {
    Stream* s = FindStream(static_cast<int32_t>(token));
    if (s == nullptr || !s->started || s->responded) return;
    H2Respond(s);
  } else {
    if (!busy_ || token != seq_) return;
    FinishHttp1();
  }
  Advance();
}

void Connection::OnWorkDone(uint32_t token, Response resp) {
  if (state_ != State::kOpen) return;
  if (proto_ == Proto::kHttp2) {
    Stream* s = FindStream(static_cast<int32_t>(token));
    if (s == nullptr || !s->started || s->responded) return;
    s->resp = std::move(resp);
    if (s->resp.sleep_ms >= 0) {
      loop_->AddTimer(loop_->now() + s->resp.sleep_ms * 1'000'000, id_, token);
      return;
    }
    H2Respond(s);
  } else {
    if (!busy_ || token != seq_) return;
    resp_ = std::move(resp);
    if (resp_.sleep_ms >= 0) {
      loop_->AddTimer(loop_->now() + resp_.sleep_ms * 1'000'000, id_, token);
      return;
    }
    FinishHttp1();
  }
  Advance();
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
    if (proto_ == Proto::kHttp2 && !OutputPending() &&
        nghttp2_session_want_write(session_)) {
      FeedHttp2();  // Pull the next frames (large bodies, many streams).
    }
  }
  return true;
}

void Connection::MaybeFinish() {
  if (state_ != State::kOpen || OutputPending()) return;
  if (proto_ == Proto::kHttp2) {
    if (h2_failed_) return StartLingering();
    bool want = nghttp2_session_want_read(session_) ||
                nghttp2_session_want_write(session_);
    if (!want || (goaway_phase_ == 2 && streams_.empty())) {
      return peer_closed_ ? Close("peer-fin") : StartLingering();
    }
    if (peer_closed_) Close("peer-fin");
    return;
  }
  if (close_after_write_) return StartLingering();
  if (peer_closed_ && !busy_) Close("peer-fin");
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
  bool blocked = busy_ || OutputPending();
  if (!peer_closed_ && !(blocked && in_.size() >= kMaxBufferedIn) &&
      !(proto_ == Proto::kHttp2 && out_.size() >= kMaxPendingOut))
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
  if (proto_ == Proto::kHttp2) {
    H2BeginShutdown();
    return Advance();
  }
  // Pick up request bytes that already arrived, so that a request sent just
  // before the signal is answered (with Connection: close), not dropped.
  HandleReadable();
  if (state_ != State::kOpen) return;
  Advance();  // May turn out to be HTTP/2: StartHttp2 sends the GOAWAY.
  if (state_ != State::kOpen || proto_ == Proto::kHttp2) return;
  if (!busy_ && !close_after_write_ && in_.empty()) {
    // Idle: freshly accepted, between two keep-alive requests, or with a
    // keep-alive response (already promised without Connection: close)
    // still being written. The client's next request may already be on the
    // wire, and closing now would make the kernel drop it: the client could
    // only retry against a closed listener. So wait a little (OnTick) and
    // answer a request that comes with Connection: close. A busy connection
    // closes after its response (Connection: close); a partly received
    // request is answered when complete.
    idle_close_at_ns_ = loop_->now() + kIdleGraceNs;
  }
}

void Connection::H2BeginShutdown() {
  if (session_ == nullptr || goaway_phase_ != 0) return;
  goaway_phase_ = 1;
  goaway1_ns_ = loop_->now();
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, kDrainPing);
  DecideClose("shutdown");
}

void Connection::ForceClose() {
  if (state_ == State::kClosed) return;
  uint64_t cut = 0;
  if (proto_ == Proto::kHttp2) {
    for (auto& [id, s] : streams_)
      if (s->started) ++cut;
  } else if (busy_) {
    cut = 1;
  }
  loop_->stats().requests_cut += cut;
  if (state_ == State::kOpen) DecideClose("drain-timeout");
  Close("forced");
}

void Connection::OnTick(int64_t now) {
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
  if (proto_ == Proto::kHttp2) {
    if (goaway_phase_ == 1 && now - goaway1_ns_ >= cfg.goaway_ping_timeout_ns) {
      final_goaway_due_ = true;
      Advance();
      if (state_ != State::kOpen) return;
    }
    // A request whose headers or body trickle in for longer than the header
    // timeout is cancelled (the HTTP/2 counterpart of 408).
    bool cancelled = false;
    for (auto& [id, st] : streams_) {
      if (!st->started && !st->responded && st->created_ns != 0 &&
          now - st->created_ns > cfg.header_timeout_ns) {
        st->created_ns = 0;
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id,
                                  NGHTTP2_CANCEL);
        cancelled = true;
      }
    }
    if (cancelled) {
      Advance();
    } else if (goaway_phase_ == 0 && !OutputPending() &&
               now - last_activity_ns_ > cfg.idle_timeout_ns &&
               std::none_of(
                   streams_.begin(), streams_.end(),
                   [](const auto& kv) { return kv.second->started; })) {
      DecideClose("idle-timeout");
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      Advance();
    }
    return;
  }
  if (busy_) return;
  if (idle_close_at_ns_ != 0 && now >= idle_close_at_ns_ && in_.empty() &&
      !OutputPending() && proto_ != Proto::kHttp2) {
    idle_close_at_ns_ = 0;
    DecideClose("shutdown-idle");
    close_after_write_ = true;
    return Advance();
  }
  if (request_begin_ns_ != 0 &&
      now - request_begin_ns_ > cfg.header_timeout_ns) {
    SendHttp1Error(408, "request-timeout");
    return Advance();
  }
  if (in_.empty() && !OutputPending() &&
      now - last_activity_ns_ > cfg.idle_timeout_ns) {
    DecideClose("idle-timeout");
    close_after_write_ = true;
    Advance();
  }
}

}  // namespace faultline::server
