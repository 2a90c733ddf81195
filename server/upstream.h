// Upstream: the protocol half of a client connection, after nghttpx's
// Upstream (HttpsUpstream, Http2Upstream). The Connection (connection.h)
// owns the socket, the buffers, the read/write loop, lingering close and the
// write timeout, and never looks at the protocol; it calls its Upstream at
// fixed points, once per event (a virtual call per read/write event, never
// per byte):
//
//   read:   bytes appended to conn->in()  ->  OnRead()
//   write:  conn->out() (+ ext) emptied   ->  OnWritten()
//   after a flush that emptied the output ->  WantsAnotherRound()?
//   output all written                    ->  MaybeFinish()
//   epoll interest                        <-  Busy(), OutputFull()
//   /sleep timer, dispatch result         ->  OnTimer(), OnWorkDone()
//   ~200 ms tick                          ->  OnTick()
//   graceful shutdown, drain timeout      ->  BeginShutdown(), InFlight()
//
// A connection starts with the HTTP/1.1 upstream, which also stands for a
// connection whose protocol is not known yet (idle timeouts and shutdown of
// a connection that sent nothing are the same); the first bytes decide
// (Connection::Advance): the HTTP/2 client preface (NGHTTP2_CLIENT_MAGIC)
// replaces it by the HTTP/2 upstream before it has seen any byte.
//
// Adding a protocol: implement Upstream in its own file, add a factory
// below, and a case to the detection in Connection::Advance.
#ifndef FAULTLINE_SERVER_UPSTREAM_H_
#define FAULTLINE_SERVER_UPSTREAM_H_

#include <cstdint>
#include <memory>

#include "server/endpoints.h"

namespace faultline::server {

class Connection;

class Upstream {
 public:
  virtual ~Upstream() = default;

  // New input is in conn->in() (possibly none: queued frames may still have
  // to be serialized). Consume what can be, run requests, queue responses in
  // conn->out(). May close the connection.
  virtual void OnRead() = 0;
  // The output has just been written out completely: queue more if the
  // protocol has more (HTTP/2 frames of large bodies, many streams).
  virtual void OnWritten() = 0;
  // After a flush emptied the output: would processing the input again make
  // progress (pipelined HTTP/1.1 requests waiting in conn->in())?
  virtual bool WantsAnotherRound() const = 0;
  // The connection is open and its output is all written: start lingering,
  // close, or keep it open.
  virtual void MaybeFinish() = 0;
  // A request is running (stop reading once 64 KiB wait in the buffer).
  virtual bool Busy() const = 0;
  // The protocol's own output is at its cap: stop reading for now.
  virtual bool OutputFull() const = 0;

  // A /sleep timer armed for `token` fired / a dispatched request came
  // back. True if the connection should Advance() (a response was queued).
  virtual bool OnTimer(uint32_t token) = 0;
  virtual bool OnWorkDone(uint32_t token, Response resp) = 0;
  // Periodic (~200 ms) protocol timeouts: header, idle, the HTTP/2 GOAWAY
  // timer. The connection is open and its write timeout has not fired.
  virtual void OnTick(int64_t now_ns) = 0;
  // Graceful shutdown has begun (conn->draining() is already true).
  virtual void BeginShutdown() = 0;
  // Requests started and not yet answered (counted as cut at the drain
  // timeout).
  virtual uint64_t InFlight() const = 0;
};

std::unique_ptr<Upstream> MakeHttp1Upstream(Connection* conn);
// Null (after saying why on stderr) if the nghttp2 session cannot be made.
std::unique_ptr<Upstream> MakeHttp2Upstream(Connection* conn);

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_UPSTREAM_H_
