// Helpers for the server unit tests (tests/unit/server_*_test.cc): an
// in-process Loop on its own thread, and a blocking HTTP/1.1 client. Not
// part of faultline_server_core.
#ifndef FAULTLINE_SERVER_TEST_UTIL_H_
#define FAULTLINE_SERVER_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/connection.h"
#include "server/endpoints.h"
#include "server/event_loop.h"
#include "server/server.h"

namespace faultline::server::testing {

inline const Resources* TestResources() {
  static const Resources* res = [] {
    auto r = InitResources();
    return r ? *r : nullptr;
  }();
  return res;
}

// One Loop serving a listener on 127.0.0.1:<port> from its own thread.
class TestServer {
 public:
  explicit TestServer(ServerConfig cfg = {}, int pool_threads = 0) : cfg_(cfg) {
    cfg_.resources = TestResources();
    if (pool_threads > 0)
      pool_ = std::make_unique<WorkerPool>(pool_threads, cfg_.resources);
    loop_ = std::make_unique<Loop>(&cfg_, pool_.get());
    auto fd = Listen("127.0.0.1", 0, false);
    if (fd) {
      port_ = LocalPort(*fd);
      loop_->AddListener(*fd, true, false);
    }
    thread_ = std::thread([this] { loop_->Run(); });
  }
  ~TestServer() {
    loop_->Stop();
    thread_.join();
    loop_.reset();
    pool_.reset();
  }
  int port() const { return port_; }
  Loop* loop() { return loop_.get(); }
  // Runs `fn` on the loop thread and waits for it.
  template <typename Fn>
  void RunOnLoop(Fn fn) {
    std::promise<void> done;
    loop_->Post([&] {
      fn(loop_.get());
      done.set_value();
    });
    done.get_future().wait();
  }
  // Gives one end of a socketpair to the loop; returns the other.
  int AdoptSocketpair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) != 0)
      return -1;
    int server_end = sv[1];
    loop_->Post([this, server_end] { loop_->Adopt(server_end); });
    return sv[0];
  }
  // Thread-safe snapshot of the loop's counters.
  Stats GetStats() {
    Stats s;
    RunOnLoop([&](Loop* l) { s = l->stats(); });
    return s;
  }

 private:
  ServerConfig cfg_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  int port_ = -1;
};

inline int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case
  std::string body;
  std::string Header(std::string_view name) const {
    for (auto& [k, v] : headers)
      if (k == name) return v;
    return "";
  }
};

// Reads HTTP/1.1 responses (with Content-Length) from a blocking socket.
class HttpReader {
 public:
  explicit HttpReader(int fd) : fd_(fd) {}
  // Next response, or nullopt on EOF/error/timeout (see eof(), error()).
  std::optional<HttpResponse> Next(int timeout_ms = 5000) {
    while (true) {
      if (auto r = TryParse()) return r;
      if (!Fill(timeout_ms)) return std::nullopt;
    }
  }
  // Waits for EOF; true if the peer closed cleanly (no reset, no data).
  bool WaitEof(int timeout_ms = 5000) {
    while (buf_.empty()) {
      if (!Fill(timeout_ms)) return eof_ && buf_.empty();
    }
    return false;
  }
  bool eof() const { return eof_; }
  int error() const { return error_; }
  const std::string& buffered() const { return buf_; }

 private:
  bool Fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) {
      error_ = ETIMEDOUT;
      return false;
    }
    char tmp[65536];
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (n < 0) {
      error_ = errno;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  std::optional<HttpResponse> TryParse() {
    size_t end = buf_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    HttpResponse r;
    std::string_view head(buf_.data(), end);
    if (head.substr(0, 9) != "HTTP/1.1 ") return std::nullopt;
    r.status = std::stoi(std::string(head.substr(9, 3)));
    size_t pos = head.find("\r\n");
    size_t len = 0;
    while (pos != std::string_view::npos && pos < head.size()) {
      size_t e = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, e == std::string_view::npos
                                                       ? std::string_view::npos
                                                       : e - pos - 2);
      size_t c = line.find(':');
      if (c != std::string_view::npos) {
        std::string k(line.substr(0, c));
        for (auto& ch : k) ch = static_cast<char>(std::tolower(ch));
        std::string v(line.substr(c + 1));
        while (!v.empty() && v[0] == ' ') v.erase(0, 1);
        if (k == "content-length") len = std::stoul(v);
        r.headers.emplace_back(k, v);
      }
      pos = e;
    }
    if (r.status == 100) {  // Interim: skip.
      buf_.erase(0, end + 4);
      return TryParse();
    }
    if (buf_.size() < end + 4 + len) return std::nullopt;
    r.body = buf_.substr(end + 4, len);
    buf_.erase(0, end + 4 + len);
    return r;
  }

  int fd_;
  std::string buf_;
  bool eof_ = false;
  int error_ = 0;
};

using Clock = std::chrono::steady_clock;

// A blocking nghttp2 client session on a socket (or socketpair end).
struct StreamResult {
  int status = 0;
  std::string body;
  bool closed = false;
  uint32_t error_code = 0;
  Clock::time_point closed_at;
};

class H2Client {
 public:
  explicit H2Client(int fd) : fd_(fd) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, OnClose);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, OnFrame);
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2Client() {
    nghttp2_session_del(session_);
    close(fd_);
  }

  int32_t Get(const std::string& path) {
    nghttp2_nv nva[] = {Nv(":method", "GET"), Nv(":scheme", "http"),
                        Nv(":authority", "test"), Nv(":path", path)};
    int32_t id =
        nghttp2_submit_request(session_, nullptr, nva, 4, nullptr, nullptr);
    streams_[id];
    return id;
  }

  // Sends what is queued, reads and processes input until `done()` or the
  // timeout. Returns done().
  bool RunUntil(const std::function<bool()>& done, int timeout_ms = 5000) {
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (!Pump()) return done();
      if (Clock::now() > end) return false;
    }
    return true;
  }
  // A POST whose body never comes (the data source defers forever).
  int32_t PostStalled(const std::string& path) {
    nghttp2_nv nva[] = {Nv(":method", "POST"), Nv(":scheme", "http"),
                        Nv(":authority", "test"), Nv(":path", path)};
    nghttp2_data_provider prd;
    prd.source.ptr = nullptr;
    prd.read_callback = [](nghttp2_session*, int32_t, uint8_t*, size_t,
                           uint32_t*, nghttp2_data_source*,
                           void*) -> ssize_t { return NGHTTP2_ERR_DEFERRED; };
    int32_t id =
        nghttp2_submit_request(session_, nullptr, nva, 4, &prd, nullptr);
    streams_[id];
    return id;
  }
  bool StreamDone(int32_t id) { return streams_[id].closed; }
  StreamResult& stream(int32_t id) { return streams_[id]; }
  const std::vector<std::pair<int32_t, uint32_t>>& goaways() const {
    return goaways_;
  }
  bool eof() const { return eof_; }
  nghttp2_session* session() { return session_; }
  int ping_acks() const { return ping_acks_; }

 private:
  static nghttp2_nv Nv(const char* n, std::string_view v) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())),
                      std::strlen(n), v.size(), NGHTTP2_NV_FLAG_NONE};
  }
  static H2Client* Self(void* p) { return static_cast<H2Client*>(p); }
  static int OnHeader(nghttp2_session*, const nghttp2_frame* f,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t, void* user) {
    if (std::string_view(reinterpret_cast<const char*>(name), namelen) ==
        ":status") {
      Self(user)->streams_[f->hd.stream_id].status = std::stoi(
          std::string(reinterpret_cast<const char*>(value), valuelen));
    }
    return 0;
  }
  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* d,
                    size_t len, void* user) {
    Self(user)->streams_[id].body.append(reinterpret_cast<const char*>(d), len);
    return 0;
  }
  static int OnClose(nghttp2_session*, int32_t id, uint32_t err, void* user) {
    auto& s = Self(user)->streams_[id];
    s.closed = true;
    s.error_code = err;
    s.closed_at = Clock::now();
    return 0;
  }
  static int OnFrame(nghttp2_session*, const nghttp2_frame* f, void* user) {
    if (f->hd.type == NGHTTP2_GOAWAY) {
      Self(user)->goaways_.emplace_back(f->goaway.last_stream_id,
                                        f->goaway.error_code);
    } else if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
      ++Self(user)->ping_acks_;
    }
    return 0;
  }
  // One round: flush output, wait up to 50 ms for input, feed it.
  bool Pump() {
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      if (!SendAll(fd_,
                   std::string_view(reinterpret_cast<const char*>(data), n)))
        return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) return true;
    uint8_t buf[65536];
    ssize_t r = recv(fd_, buf, sizeof(buf), 0);
    if (r == 0) {
      eof_ = true;
      return false;
    }
    if (r < 0) return errno == EAGAIN || errno == EINTR;
    return nghttp2_session_mem_recv(session_, buf, static_cast<size_t>(r)) >= 0;
  }

  int fd_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, StreamResult> streams_;
  std::vector<std::pair<int32_t, uint32_t>> goaways_;
  int ping_acks_ = 0;
  bool eof_ = false;
};

}  // namespace faultline::server::testing

#endif  // FAULTLINE_SERVER_TEST_UTIL_H_
