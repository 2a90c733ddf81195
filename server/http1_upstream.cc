// The HTTP/1.1 upstream: one request at a time, pipelined ones waiting in
// the connection's input buffer; keep-alive, 100-continue, Connection: close,
// the header and idle timeouts, and the graceful shutdown of an idle
// connection. It also stands for a connection whose first bytes have not
// arrived yet (upstream.h).
#include <charconv>
#include <cstring>
#include <string_view>

#include "server/connection.h"
#include "server/http1_parser.h"
#include "server/probes.h"
#include "server/upstream.h"

namespace faultline::server {
namespace {

constexpr size_t kInlineBody = 16384;
// How long an idle HTTP/1.1 connection (fresh, or keep-alive between
// requests) is kept open once the server drains (see BeginShutdown).
constexpr int64_t kIdleGraceNs = 1'000'000'000;

char* AppendStr(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

class Http1Upstream final : public Upstream {
 public:
  explicit Http1Upstream(Connection* conn) : conn_(conn) {}

  void OnRead() override;
  void OnWritten() override {}
  bool WantsAnotherRound() const override {
    return !busy_ && !conn_->in().empty() && !close_after_write_;
  }
  void MaybeFinish() override;
  bool Busy() const override { return busy_; }
  bool OutputFull() const override { return false; }
  bool OnTimer(uint32_t token) override;
  bool OnWorkDone(uint32_t token, Response resp) override;
  void OnTick(int64_t now_ns) override;
  void BeginShutdown() override;
  uint64_t InFlight() const override { return busy_ ? 1 : 0; }

 private:
  void StartRequest();
  void Finish();
  void SendError(int status, const char* reason);
  void AppendHead(int status, size_t content_length, bool keep_alive,
                  int version_minor);

  Connection* conn_;
  http1::Request req_;
  Response resp_;
  bool busy_ = false;
  bool sent_continue_ = false;
  bool close_after_write_ = false;
  uint32_t seq_ = 0;
  int64_t req_start_ns_ = 0;
  int64_t request_begin_ns_ = 0;  // First byte of an incomplete request.
  int64_t idle_close_at_ns_ = 0;  // Draining while idle: close then.
};

void Http1Upstream::OnRead() {
  Loop* loop = conn_->loop();
  const ServerConfig& cfg = loop->config();
  Buffer& in = conn_->in();
  while (conn_->open() && !busy_ && !close_after_write_) {
    if (!conn_->ext_empty() || conn_->out().size() > kMaxPendingOut) break;
    if (in.empty()) {
      request_begin_ns_ = 0;
      break;
    }
    if (request_begin_ns_ == 0) request_begin_ns_ = loop->now();
    http1::ParseResult r = http1::ParseRequest(in.View(), cfg.limits, &req_);
    if (r.status == http1::Status::kNeedsMoreData) {
      if (req_.expect_continue && !sent_continue_ && !conn_->draining()) {
        conn_->out().Append("HTTP/1.1 100 Continue\r\n\r\n");
        sent_continue_ = true;
      }
      break;
    }
    if (r.status == http1::Status::kComplete) {
      in.Consume(r.consumed);
      request_begin_ns_ = 0;
      sent_continue_ = false;
      StartRequest();
      continue;
    }
    int status = http1::HttpStatusFor(r.status);
    SendError(status == 0 ? 400 : status, "bad-request");
    break;
  }
}

void Http1Upstream::StartRequest() {
  busy_ = true;
  ++seq_;
  req_start_ns_ = conn_->loop()->now();
  FAULTLINE_PROBE4(request_start, conn_->id(), 0, req_.method.c_str(),
                   req_.path.c_str());
  bool deferred = false;
  conn_->RunRequest(seq_, req_.method, req_.path, req_.query, req_.body,
                    &resp_, &deferred);
  if (!deferred) Finish();
}

void Http1Upstream::AppendHead(int status, size_t content_length,
                               bool keep_alive, int version_minor) {
  Buffer& out = conn_->out();
  char* start = out.Reserve(256);
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
  out.Commit(static_cast<size_t>(p - start));
}

void Http1Upstream::Finish() {
  const bool draining = conn_->draining();
  bool keep = req_.keep_alive && !draining;
  if (!keep) {
    conn_->DecideClose(draining ? "shutdown" : "client");
    close_after_write_ = true;
  }
  std::string_view body = resp_.Body();
  bool head = req_.method == "HEAD";
  AppendHead(resp_.status, body.size(), keep, req_.version_minor);
  if (!head) {
    if (body.size() <= kInlineBody || resp_.use_owned) {
      conn_->out().Append(body);
    } else {
      conn_->set_ext(body);  // Static or mapped for the life of the process.
    }
  }
  Stats& st = conn_->loop()->stats();
  ++st.h1_requests;
  st.CountStatus(resp_.status);
  FAULTLINE_PROBE5(request_end, conn_->id(), 0, resp_.status,
                   static_cast<uint64_t>(body.size()),
                   static_cast<uint64_t>(conn_->loop()->now() - req_start_ns_));
  busy_ = false;
  if (resp_.use_owned && resp_.owned.capacity() > kInlineBody)
    resp_.owned = std::string();
}

void Http1Upstream::SendError(int status, const char* reason) {
  conn_->DecideClose(reason);
  close_after_write_ = true;
  std::string_view body = ReasonPhrase(status);
  AppendHead(status, body.size() + 1, false, 1);
  conn_->out().Append(body);
  conn_->out().Append("\n");
  Stats& st = conn_->loop()->stats();
  ++st.h1_requests;
  st.CountStatus(status);
  conn_->in().Clear();
}

void Http1Upstream::MaybeFinish() {
  if (close_after_write_) return conn_->StartLingering();
  if (conn_->peer_closed() && !busy_) conn_->Close("peer-fin");
}

bool Http1Upstream::OnTimer(uint32_t token) {
  if (!busy_ || token != seq_) return false;
  Finish();
  return true;
}

bool Http1Upstream::OnWorkDone(uint32_t token, Response resp) {
  if (!busy_ || token != seq_) return false;
  resp_ = std::move(resp);
  if (resp_.sleep_ms >= 0) {
    Loop* loop = conn_->loop();
    loop->AddTimer(loop->now() + resp_.sleep_ms * 1'000'000, conn_->id(),
                   token);
    return false;
  }
  Finish();
  return true;
}

void Http1Upstream::BeginShutdown() {
  // Pick up request bytes that already arrived, so that a request sent just
  // before the signal is answered (with Connection: close), not dropped.
  conn_->HandleReadable();
  if (!conn_->open()) return;
  conn_->Advance();  // May turn out to be HTTP/2: it sends the GOAWAY.
  if (!conn_->open() || conn_->upstream() != this) return;
  if (!busy_ && !close_after_write_ && conn_->in().empty()) {
    // Idle: freshly accepted, between two keep-alive requests, or with a
    // keep-alive response (already promised without Connection: close)
    // still being written. The client's next request may already be on the
    // wire, and closing now would make the kernel drop it: the client could
    // only retry against a closed listener. So wait a little (OnTick) and
    // answer a request that comes with Connection: close. A busy connection
    // closes after its response (Connection: close); a partly received
    // request is answered when complete.
    idle_close_at_ns_ = conn_->loop()->now() + kIdleGraceNs;
  }
}

void Http1Upstream::OnTick(int64_t now) {
  if (busy_) return;
  const ServerConfig& cfg = conn_->loop()->config();
  if (idle_close_at_ns_ != 0 && now >= idle_close_at_ns_ &&
      conn_->in().empty() && !conn_->OutputPending()) {
    idle_close_at_ns_ = 0;
    conn_->DecideClose("shutdown-idle");
    close_after_write_ = true;
    return conn_->Advance();
  }
  if (request_begin_ns_ != 0 &&
      now - request_begin_ns_ > cfg.header_timeout_ns) {
    SendError(408, "request-timeout");
    return conn_->Advance();
  }
  if (conn_->in().empty() && !conn_->OutputPending() &&
      now - conn_->last_activity_ns() > cfg.idle_timeout_ns) {
    conn_->DecideClose("idle-timeout");
    close_after_write_ = true;
    conn_->Advance();
  }
}

}  // namespace

std::unique_ptr<Upstream> MakeHttp1Upstream(Connection* conn) {
  return std::make_unique<Http1Upstream>(conn);
}

}  // namespace faultline::server
