// One client connection: the transport shared by every pattern and
// protocol. It reads into a buffer, picks its Upstream (upstream.h: HTTP/2
// when the first bytes are the client preface NGHTTP2_CLIENT_MAGIC, HTTP/1.1
// otherwise), and writes with writev. All methods run on the owning Loop's
// thread.
#ifndef FAULTLINE_SERVER_CONNECTION_H_
#define FAULTLINE_SERVER_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/endpoints.h"
#include "server/event_loop.h"
#include "server/upstream.h"

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

// Limits shared by the protocols.
inline constexpr size_t kMaxPendingOut = 256 * 1024;  // stop producing
inline constexpr size_t kMaxBufferedIn = 64 * 1024;   // stop reading if busy

// The transport half of a client connection, shared by every protocol and
// pattern: reads into in(), writes out() and then ext() with writev, keeps
// the epoll interest, closes (lingering), and enforces the write timeout.
// What HTTP/1.1 and HTTP/2 do differently is its Upstream (upstream.h).
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

  // ---- For the upstreams (upstream.h). ----
  Loop* loop() const { return loop_; }
  bool open() const { return state_ == State::kOpen; }
  bool draining() const { return draining_; }
  bool peer_closed() const { return peer_closed_; }
  int64_t last_activity_ns() const { return last_activity_ns_; }
  const Upstream* upstream() const { return upstream_.get(); }
  Buffer& in() { return in_; }
  Buffer& out() { return out_; }
  // Body bytes sent after out() (static or mapped for the life of the
  // process).
  void set_ext(std::string_view body) { ext_ = body; }
  bool ext_empty() const { return ext_.empty(); }
  bool OutputPending() const { return !out_.empty() || !ext_.empty(); }
  // Runs an endpoint for the request `token` into *out, or defers it
  // (dispatch pool, /sleep timer); the answer then comes back through the
  // upstream's OnWorkDone / OnTimer with the same token.
  void RunRequest(uint32_t token, std::string_view method,
                  std::string_view path, std::string_view query,
                  std::string_view body, Response* out, bool* deferred);
  // Reads what the socket has into in() (or discards it while lingering).
  void HandleReadable();
  // Processes input, writes, and closes when finished.
  void Advance();
  // The conn_close_decided probe.
  void DecideClose(const char* reason);
  // Half-close and read until the peer's FIN (RFC 9112 9.6).
  void StartLingering();
  void Close(const char* how);

 private:
  enum class State { kOpen, kLingering, kClosed };

  // The first bytes decide the protocol (see upstream.h). False if the
  // connection was closed.
  bool DetectProtocol();
  bool Flush();  // false if the connection was closed
  void MaybeFinish();
  void UpdateInterest();

  Loop* loop_;
  int fd_;
  uint64_t id_;
  State state_ = State::kOpen;
  uint32_t interest_ = 0;
  Buffer in_;
  Buffer out_;
  std::string_view ext_;  // Body bytes sent after out_ (static or mapped).
  int64_t last_activity_ns_ = 0;
  int64_t linger_deadline_ns_ = 0;
  bool peer_closed_ = false;
  bool draining_ = false;
  bool protocol_known_ = false;
  std::unique_ptr<Upstream> upstream_;
  // The HTTP/1.1 upstream replaced by HTTP/2, kept until the current event
  // is over (its BeginShutdown may still be on the stack).
  std::unique_ptr<Upstream> retired_;
};

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_CONNECTION_H_
