// The capture reader of the connection truth tests (tests/support/
// capture.h) on tshark output written by hand: if it misread the wire, the
// system tests would compare faultline with a wrong truth.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/capture.h"
#include "tests/support/syscalls.h"

namespace {

namespace ft = faultline::testing;

// Two connections to port 80: 40000 asks 79 bytes, gets 148 (one segment
// retransmitted) and the server closes first; 40002 sends 10 bytes and
// resets. Columns: time stream sport dport syn ack fin rst seq len ack_no.
// 40000's FINs do not cross: the client's FIN (ack 150) acknowledges the
// server's (seq 149).
constexpr char kFields[] =
    "1700000000.000000100\t0\t40000\t80\t1\t0\t0\t0\t0\t0\t\n"
    "1700000000.000000200\t0\t80\t40000\t1\t1\t0\t0\t0\t0\t1\n"
    "1700000000.000000300\t0\t40000\t80\t0\t1\t0\t0\t1\t0\t1\n"
    "1700000000.000001000\t0\t40000\t80\t0\t1\t0\t0\t1\t79\t1\n"
    "1700000000.000002000\t0\t80\t40000\t0\t1\t0\t0\t1\t100\t80\n"
    "1700000000.000002500\t0\t80\t40000\t0\t1\t0\t0\t101\t48\t80\n"
    "1700000000.000002600\t0\t80\t40000\t0\t1\t0\t0\t101\t48\t80\n"
    "1700000000.5\t1\t40002\t80\tTrue\tFalse\tFalse\tFalse\t0\t0\t\n"
    "1700000000.5\t1\t80\t40002\tTrue\tTrue\tFalse\tFalse\t0\t0\t1\n"
    "1700000000.5\t1\t40002\t80\tFalse\tTrue\tFalse\tFalse\t1\t10\t1\n"
    "1700000000.000003000\t0\t80\t40000\t0\t1\t1\t0\t149\t0\t80\n"
    "1700000000.000004000\t0\t40000\t80\t0\t1\t1\t0\t80\t0\t150\n"
    "1700000000.6\t1\t40002\t80\tFalse\tTrue\tFalse\tTrue\t11\t0\t1\n";

TEST(CaptureParseTest, ConnectionsFromTsharkFields) {
  std::string error;
  auto packets = ft::ParseTsharkFields(kFields, &error);
  ASSERT_TRUE(packets) << error;
  ASSERT_EQ(packets->size(), 13u);
  EXPECT_EQ((*packets)[0].time_ns, 1700000000000000100);
  EXPECT_EQ((*packets)[7].time_ns, 1700000000500000000);
  auto conns = ft::ConnectionsFromPackets(*packets, 80, &error);
  ASSERT_TRUE(conns) << error;
  ASSERT_EQ(conns->size(), 2u);
  const ft::CapturedConnection& a = (*conns)[0];
  EXPECT_EQ(a.client_port, 40000);
  EXPECT_EQ(a.bytes_to_server, 79u);
  EXPECT_EQ(a.bytes_to_client, 148u);  // the retransmission counts once
  EXPECT_EQ(a.first_close, "server");
  EXPECT_EQ(a.Close(), "fin");
  EXPECT_FALSE(a.fins_crossed);
  EXPECT_EQ(a.syn_ns, 1700000000000000100);
  EXPECT_EQ(a.syn_ack_ns, 1700000000000000200);
  EXPECT_EQ(a.ack_ns, 1700000000000000300);
  const ft::CapturedConnection& b = (*conns)[1];
  EXPECT_EQ(b.client_port, 40002);
  EXPECT_EQ(b.bytes_to_server, 10u);
  EXPECT_EQ(b.bytes_to_client, 0u);
  EXPECT_EQ(b.first_close, "client");
  EXPECT_EQ(b.Close(), "rst");
  EXPECT_TRUE(b.client_rst);
  EXPECT_FALSE(b.server_rst);
}

// A simultaneous close: the client's FIN first on the wire, then the
// server's, whose ack (80) does not cover the client's FIN (seq 80).
TEST(CaptureParseTest, CrossedFins) {
  std::string error;
  auto packets = ft::ParseTsharkFields(
      "1.1\t0\t40000\t80\t1\t0\t0\t0\t0\t0\t\n"
      "1.2\t0\t80\t40000\t1\t1\t0\t0\t0\t0\t1\n"
      "1.3\t0\t40000\t80\t0\t1\t0\t0\t1\t79\t1\n"
      "1.4\t0\t80\t40000\t0\t1\t0\t0\t1\t160\t80\n"
      "1.5\t0\t40000\t80\t0\t1\t1\t0\t80\t0\t161\n"
      "1.6\t0\t80\t40000\t0\t1\t1\t0\t161\t0\t80\n"
      "1.7\t0\t40000\t80\t0\t1\t0\t0\t81\t0\t162\n",
      &error);
  ASSERT_TRUE(packets) << error;
  auto conns = ft::ConnectionsFromPackets(*packets, 80, &error);
  ASSERT_TRUE(conns) << error;
  ASSERT_EQ(conns->size(), 1u);
  EXPECT_EQ((*conns)[0].first_close, "client");
  EXPECT_TRUE((*conns)[0].fins_crossed);
  EXPECT_EQ((*conns)[0].bytes_to_client, 160u);
}

TEST(CaptureParseTest, StreamWithoutSynIsAnError) {
  std::string error;
  auto packets = ft::ParseTsharkFields(
      "1700000000.1\t0\t40000\t80\t0\t1\t0\t0\t1\t5\t1\n", &error);
  ASSERT_TRUE(packets) << error;
  EXPECT_FALSE(ft::ConnectionsFromPackets(*packets, 80, &error));
  EXPECT_NE(error.find("SYN"), std::string::npos);
}

TEST(CaptureParseTest, BadLineIsAnError) {
  std::string error;
  EXPECT_FALSE(ft::ParseTsharkFields("1700000000.1\t0\t40000\n", &error));
  EXPECT_NE(error.find("line 1"), std::string::npos);
}

TEST(CaptureParseTest, StraceSockets) {
  // Three threads of a server on port 8080; 4117 accepts, 4115 writes.
  const char* text =
      "4117  accept4(4<TCP:[127.0.0.1:8080]>, NULL, NULL, SOCK_NONBLOCK) = "
      "12<TCP:[127.0.0.1:8080->127.0.0.1:59452]>\n"
      "4115  writev(12<TCP:[127.0.0.1:8080->127.0.0.1:59452]>, [...], 1) = "
      "112\n"
      "4116  read(13<TCP:[127.0.0.1:8080->127.0.0.1:59458]>, \"GET\", 4096 "
      "<unfinished ...>\n"
      "4117  accept4(4<TCP:[127.0.0.1:8080]>, NULL, NULL, 0 <unfinished "
      "...>\n"
      "4116  <... read resumed>) = 3\n"
      "4117  <... accept4 resumed>) = 13<TCP:[127.0.0.1:8080->127.0.0.1:59458]>\n"
      "4115  write(5<TCP:[127.0.0.1:9090->127.0.0.1:59458]>, \"x\", 1) = 1\n"
      "4118  close(12<TCP:[127.0.0.1:8080->127.0.0.1:59452]>) = 0\n";
  auto s = ft::ParseStraceSockets(text, 8080);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[59452].accept_tid, 4117);
  EXPECT_EQ(s[59452].writer_tids, std::set<pid_t>({4115}));
  EXPECT_EQ(s[59452].closer_tids, std::set<pid_t>({4118}));
  EXPECT_EQ(s[59452].Touched(), std::set<pid_t>({4115, 4117, 4118}));
  EXPECT_EQ(s[59458].accept_tid, 4117);
  EXPECT_EQ(s[59458].reader_tids, std::set<pid_t>({4116}));
  EXPECT_TRUE(s[59458].writer_tids.empty());  // the 9090 socket is another
}

}  // namespace
