// Raw TCP on loopback for system tests that send bytes no real client would.
#ifndef FAULTLINE_TESTS_SUPPORT_NET_H_
#define FAULTLINE_TESTS_SUPPORT_NET_H_

#include <chrono>
#include <string>
#include <string_view>

namespace faultline::testing {

// A connected TCP socket to 127.0.0.1:port. Closes on destruction.
class TcpClient {
 public:
  // Connects (blocking, with a 5 s timeout). Check ok().
  explicit TcpClient(int port);
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Writes all of `data`; false on error (e.g. the peer closed: EPIPE).
  bool Send(std::string_view data);
  // Half-close: shutdown(SHUT_WR).
  void ShutdownWrite();
  // Reads until the peer closes or `timeout` passes; the bytes read so far.
  // *closed (if given) says whether the peer's FIN (or RST) arrived.
  std::string ReadUntilClose(std::chrono::milliseconds timeout,
                             bool* closed = nullptr);
  // Reads until `needle` has arrived (returns everything read), the peer
  // closes, or `timeout` passes.
  std::string ReadUntil(std::string_view needle,
                        std::chrono::milliseconds timeout);
  // True if the peer has closed (a read returns EOF or an error) within
  // `timeout`; data that arrives meanwhile is discarded into *data if given.
  bool WaitClosed(std::chrono::milliseconds timeout,
                  std::string* data = nullptr);

 private:
  int fd_ = -1;
};

// HTTP status code of the first status line in `response` ("HTTP/1.1 400
// ..."), or 0.
int StatusCodeOf(std::string_view response);

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SUPPORT_NET_H_
