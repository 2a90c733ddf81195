// One client connection: the protocol core shared by every pattern. It reads
// into a buffer, picks HTTP/2 when the first bytes are the client preface
// (NGHTTP2_CLIENT_MAGIC) and HTTP/1.1 otherwise, runs the endpoints, and
// writes with writev. All methods run on the owning Loop's thread.
#ifndef FAULTLINE_SERVER_CONNECTION_H_
#define FAULTLINE_SERVER_CONNECTION_H_

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/endpoints.h"
#include "server/event_loop.h"
#include "server/http1_parser.h"

namespace faultline::server {

// A byte buffer with a read and a write end; memory is kept between
// requests so that the steady state allocates nothing.
class Buffer {
 public:
  std::string_view View() const {
    return {data_.get() + start_, end_ - start_};
  }
  size_t size() const { return end_ - start_; }
  bool empty() const { return end_ == start_; }
  void Consume(size_t n);
  // Returns room for at least `n` bytes at the end; Commit() what was used.
  char* Reserve(size_t n);
  void Commit(size_t n) { end_ += n; }
  void Append(std::string_view s);
  void Clear() { start_ = end_ = 0; }
  void Release();  // Clear and free the memory.

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0, start_ = 0, end_ = 0;
};

class Connection : public Pollable {
 public:
  Connection(Loop* loop, int fd, uint64_t id);
  ~Connection() override;

  void OnEvent(uint32_t events) override;
  // Periodic (every ~200 ms): timeouts and the HTTP/2 GOAWAY timer.
  void OnTick(int64_t now_ns);
  // A /sleep timer armed by this connection fired.
  void OnTimer(uint32_t token);
  // A dispatched request finished on the worker pool.
  void OnWorkDone(uint32_t token, Response resp);
  // Graceful shutdown (SPEC: HTTP/1.1 Connection: close / idle closed;
  // HTTP/2 GOAWAY + PING, then the final GOAWAY).
  void BeginShutdown();
  // Drain timeout: close now; counts requests in flight as cut.
  void ForceClose();

  uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  bool closed() const { return state_ == State::kClosed; }

  // Used by the nghttp2 callbacks (free functions in connection.cc).
  struct Stream;
  Stream* FindStream(int32_t id);
  Stream* NewStream(int32_t id);
  void EraseStream(int32_t id);
  void H2RequestComplete(Stream* s);
  void H2ResponseSent(Stream* s);
  void H2GoawaySent(int32_t last_stream_id, uint32_t error_code);
  void H2PingAck() { final_goaway_due_ = goaway_phase_ == 1; }
  size_t max_body() const { return loop_->config().limits.max_body; }

 private:
  enum class Proto { kDetect, kHttp1, kHttp2 };
  enum class State { kOpen, kLingering, kClosed };

  void HandleReadable();
  void Advance();  // Process input, write, and close when finished.
  void ProcessHttp1();
  void StartHttp1Request();
  void RunRequest(uint32_t token, std::string_view method,
                  std::string_view path, std::string_view query,
                  std::string_view body, Response* out, bool* deferred);
  void FinishHttp1();
  void SendHttp1Error(int status, const char* reason);
  void AppendHttp1Head(int status, size_t content_length, bool keep_alive,
                       int version_minor);
  bool StartHttp2();
  void FeedHttp2();
  void H2Respond(Stream* s);
  void SendFinalGoaway();
  void H2BeginShutdown();
  bool Flush();  // false if the connection was closed
  void MaybeFinish();
  void DecideClose(const char* reason);
  void StartLingering();
  void Close(const char* how);
  void UpdateInterest();
  bool OutputPending() const { return !out_.empty() || !ext_.empty(); }

  Loop* loop_;
  int fd_;
  uint64_t id_;
  Proto proto_ = Proto::kDetect;
  State state_ = State::kOpen;
  uint32_t interest_ = 0;
  Buffer in_;
  Buffer out_;
  std::string_view ext_;  // Body bytes sent after out_ (static or mapped).
  int64_t last_activity_ns_ = 0;
  int64_t request_begin_ns_ = 0;  // First byte of an incomplete request.
  int64_t linger_deadline_ns_ = 0;
  int64_t idle_close_at_ns_ = 0;  // Draining while idle: close then.
  bool peer_closed_ = false;
  bool close_after_write_ = false;
  bool draining_ = false;

  // HTTP/1.1: one request at a time; pipelined ones wait in in_.
  http1::Request req_;
  Response resp_;
  bool busy_ = false;
  bool sent_continue_ = false;
  uint32_t seq_ = 0;
  int64_t req_start_ns_ = 0;

  // HTTP/2.
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  int goaway_phase_ = 0;  // 1: shutdown notice sent, 2: final GOAWAY sent.
  int64_t goaway1_ns_ = 0;
  bool final_goaway_due_ = false;
  bool h2_failed_ = false;
};

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_CONNECTION_H_
