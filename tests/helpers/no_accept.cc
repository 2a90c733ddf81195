// no_accept: listens on 127.0.0.1 with a backlog of BACKLOG and never
// accepts, so that connections beyond the queue make the kernel drop SYNs
// (ListenOverflows in /proc/net/netstat).
//
//   no_accept BACKLOG
//
// Prints "listening on 127.0.0.1:PORT" to stderr, then sleeps until a
// signal ends it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: no_accept BACKLOG\n");
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(lfd, std::atoi(argv[1])) != 0) {
    std::perror("no_accept");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  while (true) pause();
  return 0;
}
