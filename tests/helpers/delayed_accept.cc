// delayed_accept: a TCP server on 127.0.0.1 that accepts each connection
// only after a known delay, and prints its own timestamps: the ground truth
// for the report's accept wait (time in the accept queue).
//
//   delayed_accept MS [MS...]
//
// Listens on a free port (prints "listening on 127.0.0.1:PORT" to stderr),
// then for each MS in turn: waits until a connection is in the accept queue
// (poll on the listener), sleeps MS milliseconds, accept()s it, answers the
// client's line with "ok\n" and closes. One JSON line per connection on
// stdout, times in CLOCK_MONOTONIC ns (the clock of bpf_ktime_get_ns):
//   {"remote_port":P,"delay_ms":MS,"ready_ns":T,"accept_ns":T}
// ready_ns: poll() returned (the connection was queued by then);
// accept_ns: accept() returned. Exits 0 after the last one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

int64_t MonoNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

void SleepMs(int ms) {
  timespec t{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {
  }
}

int Fail(const char* what) {
  std::perror(what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: delayed_accept MS [MS...]\n");
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) return Fail("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return Fail("bind");
  if (listen(lfd, 16) != 0) return Fail("listen");
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  for (int i = 1; i < argc; ++i) {
    const int ms = std::atoi(argv[i]);
    pollfd p{lfd, POLLIN, 0};
    if (poll(&p, 1, -1) != 1) return Fail("poll");
    const int64_t ready = MonoNs();
    SleepMs(ms);
    sockaddr_in peer{};
    socklen_t plen = sizeof peer;
    int c = accept(lfd, reinterpret_cast<sockaddr*>(&peer), &plen);
    const int64_t accepted = MonoNs();
    if (c < 0) return Fail("accept");
    std::printf(
        "{\"remote_port\":%d,\"delay_ms\":%d,\"ready_ns\":%lld,"
        "\"accept_ns\":%lld}\n",
        ntohs(peer.sin_port), ms, static_cast<long long>(ready),
        static_cast<long long>(accepted));
    std::fflush(stdout);
    // Read the client's line, answer, close (the server closes first).
    char buf[256];
    size_t got = 0;
    while (got < sizeof buf) {
      ssize_t n = read(c, buf + got, sizeof buf - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
      if (buf[got - 1] == '\n') break;
    }
    if (write(c, "ok\n", 3) != 3) return Fail("write");
    close(c);
  }
  close(lfd);
  return 0;
}
