// tcp_client: HTTP/1.1 clients that end their connections in ways curl
// does not, printing what they did (their own ground truth).
//
//   tcp_client abort PORT N   N connections in turn: send a keep-alive GET,
//                             read the whole response (Content-Length),
//                             then close with SO_LINGER {1, 0}: the client
//                             resets the connection (RST, no FIN)
//   tcp_client stall PORT N   N connections in turn: send half a request
//                             line and stall until the server closes or
//                             resets it (at most 10 s)
//   tcp_client connect PORT N HOLD_MS
//                             N non-blocking connects to PORT at once, held
//                             open HOLD_MS ms, then all closed: a burst for
//                             a listener that never accepts
//
// One JSON line per connection on stdout:
//   {"local_port":P,"sent":BYTES,"received":BYTES,"end":"..."}
// end: "rst_sent" (abort), "reset_by_peer" / "fin_from_peer" / "timeout"
// (stall), "connected" / "pending" (connect; pending: still in SYN_SENT
// when the burst was printed). Exit 0, 1 on an error it cannot go on from.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int Connect(int port, bool nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 &&
      !(nonblock && errno == EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

int LocalPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP response (headers + Content-Length body); its size, or -1.
long ReadResponse(int fd) {
  std::string in;
  char buf[4096];
  size_t need = std::string::npos;
  while (in.size() < need) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return -1;
    in.append(buf, static_cast<size_t>(n));
    const size_t hdr = in.find("\r\n\r\n");
    if (need == std::string::npos && hdr != std::string::npos) {
      const size_t cl = in.find("Content-Length: ");
      if (cl == std::string::npos || cl > hdr) return -1;
      need = hdr + 4 + std::strtoul(in.c_str() + cl + 16, nullptr, 10);
    }
  }
  return static_cast<long>(in.size());
}

void Print(int port, size_t sent, long received, const char* end) {
  std::printf("{\"local_port\":%d,\"sent\":%zu,\"received\":%ld,"
              "\"end\":\"%s\"}\n",
              port, sent, received, end);
  std::fflush(stdout);
}

int Abort(int port, int n) {
  const std::string req =
      "GET /abort HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n";
  for (int i = 0; i < n; ++i) {
    int fd = Connect(port, false);
    if (fd < 0 || !SendAll(fd, req)) return 1;
    const long got = ReadResponse(fd);
    if (got < 0) return 1;
    const int lport = LocalPort(fd);
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
    Print(lport, req.size(), got, "rst_sent");
  }
  return 0;
}

int Stall(int port, int n) {
  const std::string half = "GET /stall HTTP/1.1\r\nHo";
  for (int i = 0; i < n; ++i) {
    int fd = Connect(port, false);
    if (fd < 0 || !SendAll(fd, half)) return 1;
    const int lport = LocalPort(fd);
    pollfd p{fd, POLLIN, 0};
    const char* end = "timeout";
    long got = 0;
    if (poll(&p, 1, 10000) == 1) {
      char buf[4096];
      ssize_t r;
      while ((r = read(fd, buf, sizeof buf)) > 0) got += r;
      end = (r < 0 && errno == ECONNRESET) ? "reset_by_peer" : "fin_from_peer";
    }
    close(fd);
    Print(lport, half.size(), got, end);
  }
  return 0;
}

int Burst(int port, int n, int hold_ms) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = Connect(port, true);
    if (fd < 0) return 1;
    fds.push_back(fd);
  }
  // Give the handshakes a moment, then say which completed.
  usleep(200 * 1000);
  for (int fd : fds) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    const bool done = poll(&p, 1, 0) == 1 &&
                      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                      err == 0;
    Print(LocalPort(fd), 0, 0, done ? "connected" : "pending");
  }
  usleep(static_cast<useconds_t>(hold_ms) * 1000);
  for (int fd : fds) close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr,
                 "usage: tcp_client abort|stall PORT N | connect PORT N HOLD_MS\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int port = std::atoi(argv[2]), n = std::atoi(argv[3]);
  if (mode == "abort") return Abort(port, n);
  if (mode == "stall") return Stall(port, n);
  if (mode == "connect" && argc == 5) return Burst(port, n, std::atoi(argv[4]));
  std::fprintf(stderr, "tcp_client: unknown mode '%s'\n", mode.c_str());
  return 2;
}
