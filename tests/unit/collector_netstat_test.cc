// The /proc parsers of the TCP family (collector/netstat.h): TcpExt
// counters by name from a canned /proc/net/netstat, /proc/net/tcp{,6}
// lines, and the socket inodes of this process.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <gtest/gtest.h>

#include "collector/netstat.h"

namespace faultline::collector {
namespace {

// /proc/net/netstat of kernel 6.18 (IpExt and MPTcpExt shortened), with
// ListenOverflows and ListenDrops at positions 24 and 25 of TcpExt.
constexpr const char* kNetstat =
    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts "
    "PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps "
    "ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow "
    "TSECRRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked "
    "DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPAbortOnData "
    "TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger\n"
    "TcpExt: 0 0 0 3 0 0 0 0 0 0 5021 0 0 0 0 0 0 0 0 812 1 2 109 110 "
    "44444 14 66 0 2 1\n"
    "IpExt: InNoRoutes InTruncatedPkts InMcastPkts\n"
    "IpExt: 0 0 7\n";

TEST(CollectorNetstat, TcpExtCountersByName) {
  auto c = ParseNetstat(kNetstat);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c.at("ListenOverflows"), 109u);
  EXPECT_EQ(c.at("ListenDrops"), 110u);
  EXPECT_EQ(c.at("TW"), 5021u);
  EXPECT_EQ(c.count("InMcastPkts"), 0u);  // IpExt is not TcpExt
  fl_tcp_netstat n;
  std::memset(&n, 0xff, sizeof n);
  FillNetstat(c, &n);
  EXPECT_EQ(n.listen_overflows, 109u);
  EXPECT_EQ(n.listen_drops, 110u);
  EXPECT_EQ(n.abort_on_data, 14u);
  EXPECT_EQ(n.abort_on_close, 66u);
  EXPECT_EQ(n.abort_on_timeout, 2u);
  EXPECT_EQ(n.abort_on_linger, 1u);
}

TEST(CollectorNetstat, PositionsDoNotMatterAndMissingNamesReadZero) {
  auto c = ParseNetstat("TcpExt: ListenDrops Foo ListenOverflows\n"
                        "TcpExt: 9 1 8\n");
  fl_tcp_netstat n{};
  FillNetstat(c, &n);
  EXPECT_EQ(n.listen_overflows, 8u);
  EXPECT_EQ(n.listen_drops, 9u);
  EXPECT_EQ(n.abort_on_data, 0u);
}

TEST(CollectorNetstat, MalformedTextGivesNothing) {
  EXPECT_TRUE(ParseNetstat("").empty());
  EXPECT_TRUE(ParseNetstat("TcpExt: A B\n").empty());              // no values
  EXPECT_TRUE(ParseNetstat("TcpExt: A B\nTcpExt: 1\n").empty());   // short
  EXPECT_TRUE(ParseNetstat("TcpExt: A B\nTcpExt: 1 x\n").empty()); // not a number
}

TEST(CollectorNetstat, ProcNetTcpLines) {
  constexpr const char* kTcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
      "retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:4917 00000000:0000 0A 00000000:00000000 00:00000000 "
      "00000000     0        0 1622627 1 00000000cb0e9e35 100 0 0 10 0\n"
      "   1: 0100007F:9C40 0100007F:4917 01 00000000:00000000 00:00000000 "
      "00000000     0        0 1700001 1 0000000000000000 20 4 30 10 -1\n"
      "garbage\n";
  auto e = ParseProcNetTcp(kTcp);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].local_port, 0x4917);
  EXPECT_EQ(e[0].state, kProcTcpListen);
  EXPECT_EQ(e[0].inode, 1622627u);
  EXPECT_EQ(e[1].local_port, 0x9C40);
  EXPECT_EQ(e[1].state, 1);
  // tcp6: the address is 32 hex digits, the port after the last colon.
  auto v6 = ParseProcNetTcp(
      "   0: 00000000000000000000000001000000:1F90 "
      "00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000     0        0 42 1 0000000000000000 100 0 0 10 0\n");
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].local_port, 8080);
  EXPECT_EQ(v6[0].inode, 42u);
}

TEST(CollectorNetstat, OurOwnListenerIsFound) {
  // A listening socket of this process: its inode is among our fds, its
  // port among our listening ports, and we are among its processes.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const uint16_t port = ntohs(a.sin_port);
  const uint32_t self = static_cast<uint32_t>(getpid());
  EXPECT_FALSE(SocketInodes(self).empty());
  EXPECT_TRUE(ListeningPorts({self}).count(port));
  auto pids = ProcessesListeningOn(port);
  EXPECT_NE(std::find(pids.begin(), pids.end(), self), pids.end());
  close(fd);
  EXPECT_FALSE(ListeningPorts({self}).count(port));
}

}  // namespace
}  // namespace faultline::collector
