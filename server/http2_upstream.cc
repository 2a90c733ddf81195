// The HTTP/2 upstream (h2c with prior knowledge): an nghttp2 server session
// fed with nghttp2_session_mem_recv from the connection's input buffer and
// drained with nghttp2_session_mem_send into its output buffer; concurrent
// streams, the header timeout per stream, the idle GOAWAY, and the two-phase
// graceful shutdown (GOAWAY 2^31-1 + PING, then the final GOAWAY).
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/connection.h"
#include "server/probes.h"
#include "server/upstream.h"

namespace faultline::server {
namespace {

constexpr uint8_t kDrainPing[8] = {'f', 'l', '-', 'd', 'r', 'a', 'i', 'n'};

// Per-stream state of an HTTP/2 request.
struct Stream {
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

class Http2Upstream final : public Upstream {
 public:
  explicit Http2Upstream(Connection* conn) : conn_(conn) {}
  ~Http2Upstream() override {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  // Creates the session and queues SETTINGS. False (after saying why) if
  // nghttp2 cannot.
  bool Start();

  void OnRead() override { Feed(); }
  void OnWritten() override {
    // Pull the next frames (large bodies, many streams).
    if (nghttp2_session_want_write(session_)) Feed();
  }
  bool WantsAnotherRound() const override { return false; }
  void MaybeFinish() override;
  bool Busy() const override { return false; }
  bool OutputFull() const override {
    return conn_->out().size() >= kMaxPendingOut;
  }
  bool OnTimer(uint32_t token) override;
  bool OnWorkDone(uint32_t token, Response resp) override;
  void OnTick(int64_t now_ns) override;
  void BeginShutdown() override {
    SubmitShutdownNotice();
    conn_->Advance();
  }
  uint64_t InFlight() const override;

  // For the nghttp2 callbacks (free functions below).
  Stream* FindStream(int32_t id);
  Stream* NewStream(int32_t id);
  void EraseStream(int32_t id) { streams_.erase(id); }
  void RequestComplete(Stream* s);
  void ResponseSent(Stream* s);
  void GoawaySent(int32_t last_stream_id, uint32_t error_code);
  void PingAck() { final_goaway_due_ = goaway_phase_ == 1; }
  size_t max_body() const { return conn_->loop()->config().limits.max_body; }

 private:
  void Feed();
  void Respond(Stream* s);
  void SubmitShutdownNotice();
  void SendFinalGoaway();

  Connection* conn_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  int goaway_phase_ = 0;  // 1: shutdown notice sent, 2: final GOAWAY sent.
  int64_t goaway1_ns_ = 0;
  bool final_goaway_due_ = false;
  bool failed_ = false;
};

// ---- nghttp2 callbacks: free functions that cast user_data. ----

Http2Upstream* Up(void* user_data) {
  return static_cast<Http2Upstream*>(user_data);
}

int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                   void* user_data) {
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    Up(user_data)->NewStream(frame->hd.stream_id);
  }
  return 0;
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
             size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
             void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = Up(user_data)->FindStream(frame->hd.stream_id);
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
  Http2Upstream* up = Up(user_data);
  Stream* s = up->FindStream(stream_id);
  if (s == nullptr) return 0;
  if (s->body.size() + len > up->max_body()) {
    s->body_too_large = true;
    return 0;
  }
  s->body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Http2Upstream* up = Up(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        Stream* s = up->FindStream(frame->hd.stream_id);
        if (s != nullptr && !s->started) up->RequestComplete(s);
      }
      break;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) &&
          std::memcmp(frame->ping.opaque_data, kDrainPing, 8) == 0) {
        up->PingAck();
      }
      break;
    default:
      break;
  }
  return 0;
}

int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Http2Upstream* up = Up(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    up->GoawaySent(frame->goaway.last_stream_id, frame->goaway.error_code);
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    Stream* s = up->FindStream(frame->hd.stream_id);
    if (s != nullptr && s->responded) up->ResponseSent(s);
  }
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t,
                  void* user_data) {
  Up(user_data)->EraseStream(stream_id);
  return 0;
}

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                 uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* s = static_cast<Stream*>(source->ptr);
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

// ---- Http2Upstream ----

bool Http2Upstream::Start() {
  int rv = nghttp2_session_server_new(&session_, Callbacks(), this);
  if (rv != 0) {
    std::fprintf(stderr, "faultline-server: nghttp2_session_server_new: %s\n",
                 nghttp2_strerror(rv));
    session_ = nullptr;
    return false;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
       conn_->loop()->config().h2_max_concurrent_streams}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
  if (conn_->draining()) SubmitShutdownNotice();
  return true;
}

Stream* Http2Upstream::FindStream(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

Stream* Http2Upstream::NewStream(int32_t id) {
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->created_ns = conn_->loop()->now();
  Stream* p = s.get();
  streams_[id] = std::move(s);
  return p;
}

void Http2Upstream::Feed() {
  Buffer& in = conn_->in();
  Buffer& out = conn_->out();
  if (!in.empty() && !failed_) {
    std::string_view v = in.View();
    ssize_t rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(v.data()), v.size());
    in.Clear();
    if (rv < 0) {
      std::fprintf(stderr, "faultline-server: conn %llu: HTTP/2: %s\n",
                   static_cast<unsigned long long>(conn_->id()),
                   nghttp2_strerror(static_cast<int>(rv)));
      conn_->DecideClose("h2-error");
      failed_ = true;
      nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    }
  }
  if (final_goaway_due_) SendFinalGoaway();
  // Serialize queued frames while there is room.
  while (out.size() < kMaxPendingOut) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      std::fprintf(stderr, "faultline-server: conn %llu: HTTP/2 send: %s\n",
                   static_cast<unsigned long long>(conn_->id()),
                   nghttp2_strerror(static_cast<int>(n)));
      failed_ = true;
      break;
    }
    if (n == 0) break;
    out.Append(std::string_view(reinterpret_cast<const char*>(data),
                                static_cast<size_t>(n)));
  }
}

void Http2Upstream::RequestComplete(Stream* s) {
  s->started = true;
  s->start_ns = conn_->loop()->now();
  FAULTLINE_PROBE4(request_start, conn_->id(), s->id, s->method.c_str(),
                   s->path.c_str());
  if (s->body_too_large) {
    s->resp.SetStatic(413, "Content Too Large\n");
    return Respond(s);
  }
  if (s->method.empty() || s->path.empty()) {
    s->resp.SetStatic(400, "Bad Request\n");
    return Respond(s);
  }
  bool deferred = false;
  conn_->RunRequest(static_cast<uint32_t>(s->id), s->method, s->path,
                    s->query, s->body, &s->resp, &deferred);
  if (!deferred) Respond(s);
}

void Http2Upstream::Respond(Stream* s) {
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
                 static_cast<unsigned long long>(conn_->id()),
                 nghttp2_strerror(rv));
  }
}

void Http2Upstream::ResponseSent(Stream* s) {
  Stats& st = conn_->loop()->stats();
  ++st.h2_requests;
  st.CountStatus(s->resp.status);
  FAULTLINE_PROBE5(request_end, conn_->id(), s->id, s->resp.status,
                   static_cast<uint64_t>(s->resp.Body().size()),
                   static_cast<uint64_t>(conn_->loop()->now() - s->start_ns));
  s->started = false;  // Not in flight any more.
  s->responded = false;
}

void Http2Upstream::GoawaySent(int32_t last_stream_id, uint32_t error_code) {
  int phase;
  if (last_stream_id == (1u << 31) - 1) {
    phase = 1;
  } else if (error_code == NGHTTP2_NO_ERROR && goaway_phase_ == 2) {
    phase = 2;
  } else {
    phase = 3;  // Protocol error or idle timeout: a one-step GOAWAY.
  }
  FAULTLINE_PROBE3(goaway_sent, conn_->id(), last_stream_id, phase);
}

void Http2Upstream::SubmitShutdownNotice() {
  if (session_ == nullptr || goaway_phase_ != 0) return;
  goaway_phase_ = 1;
  goaway1_ns_ = conn_->loop()->now();
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, kDrainPing);
  conn_->DecideClose("shutdown");
}

void Http2Upstream::SendFinalGoaway() {
  final_goaway_due_ = false;
  if (goaway_phase_ != 1) return;
  goaway_phase_ = 2;
  int32_t last = nghttp2_session_get_last_proc_stream_id(session_);
  int rv = nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last,
                                 NGHTTP2_NO_ERROR, nullptr, 0);
  if (rv != 0) {
    std::fprintf(stderr, "faultline-server: conn %llu: submit_goaway: %s\n",
                 static_cast<unsigned long long>(conn_->id()),
                 nghttp2_strerror(rv));
  }
}

bool Http2Upstream::OnTimer(uint32_t token) {
  Stream* s = FindStream(static_cast<int32_t>(token));
  if (s == nullptr || !s->started || s->responded) return false;
  Respond(s);
  return true;
}

bool Http2Upstream::OnWorkDone(uint32_t token, Response resp) {
  Stream* s = FindStream(static_cast<int32_t>(token));
  if (s == nullptr || !s->started || s->responded) return false;
  s->resp = std::move(resp);
  if (s->resp.sleep_ms >= 0) {
    Loop* loop = conn_->loop();
    loop->AddTimer(loop->now() + s->resp.sleep_ms * 1'000'000, conn_->id(),
                   token);
    return false;
  }
  Respond(s);
  return true;
}

void Http2Upstream::MaybeFinish() {
  if (failed_) return conn_->StartLingering();
  bool want = nghttp2_session_want_read(session_) ||
              nghttp2_session_want_write(session_);
  if (!want || (goaway_phase_ == 2 && streams_.empty())) {
    return conn_->peer_closed() ? conn_->Close("peer-fin")
                                : conn_->StartLingering();
  }
  if (conn_->peer_closed()) conn_->Close("peer-fin");
}

uint64_t Http2Upstream::InFlight() const {
  uint64_t n = 0;
  for (const auto& [id, s] : streams_) n += s->started;
  return n;
}

void Http2Upstream::OnTick(int64_t now) {
  const ServerConfig& cfg = conn_->loop()->config();
  if (goaway_phase_ == 1 && now - goaway1_ns_ >= cfg.goaway_ping_timeout_ns) {
    final_goaway_due_ = true;
    conn_->Advance();
    if (!conn_->open()) return;
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
    conn_->Advance();
  } else if (goaway_phase_ == 0 && !conn_->OutputPending() &&
             now - conn_->last_activity_ns() > cfg.idle_timeout_ns &&
             std::none_of(streams_.begin(), streams_.end(),
                          [](const auto& kv) { return kv.second->started; })) {
    conn_->DecideClose("idle-timeout");
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
    conn_->Advance();
  }
}

}  // namespace

std::unique_ptr<Upstream> MakeHttp2Upstream(Connection* conn) {
  auto up = std::make_unique<Http2Upstream>(conn);
  if (!up->Start()) return nullptr;
  return up;
}

}  // namespace faultline::server
