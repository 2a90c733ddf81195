#include "analyzer/connection_names.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "bpf/faultline.h"

namespace faultline::analyzer {

std::string TcpStateName(uint8_t state) {
  static constexpr const char* kNames[] = {
      "NONE",      "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1",
      "FIN_WAIT2", "TIME_WAIT",   "CLOSE",      "CLOSE_WAIT", "LAST_ACK",
      "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
  if (state < sizeof kNames / sizeof kNames[0]) return kNames[state];
  return "STATE_" + std::to_string(state);
}

std::string ResetReasonName(uint8_t reason) {
  switch (reason) {
    case FL_RST_NOT_SPECIFIED: return "NOT_SPECIFIED";
    case FL_RST_NO_SOCKET: return "NO_SOCKET";
    case FL_RST_INVALID_ACK_SEQUENCE: return "TCP_INVALID_ACK_SEQUENCE";
    case FL_RST_RFC7323_PAWS: return "TCP_RFC7323_PAWS";
    case FL_RST_TOO_OLD_ACK: return "TCP_TOO_OLD_ACK";
    case FL_RST_ACK_UNSENT_DATA: return "TCP_ACK_UNSENT_DATA";
    case FL_RST_FLAGS: return "TCP_FLAGS";
    case FL_RST_OLD_ACK: return "TCP_OLD_ACK";
    case FL_RST_ABORT_ON_DATA: return "TCP_ABORT_ON_DATA";
    case FL_RST_TIMEWAIT_SOCKET: return "TCP_TIMEWAIT_SOCKET";
    case FL_RST_INVALID_SYN: return "INVALID_SYN";
    case FL_RST_ABORT_ON_CLOSE: return "TCP_ABORT_ON_CLOSE";
    case FL_RST_ABORT_ON_LINGER: return "TCP_ABORT_ON_LINGER";
    case FL_RST_ABORT_ON_MEMORY: return "TCP_ABORT_ON_MEMORY";
    case FL_RST_TCP_STATE: return "TCP_STATE";
    case FL_RST_KEEPALIVE_TIMEOUT: return "TCP_KEEPALIVE_TIMEOUT";
    case FL_RST_DISCONNECT_WITH_DATA: return "TCP_DISCONNECT_WITH_DATA";
    case FL_RST_OTHER: return "OTHER";
    default: return "REASON_" + std::to_string(reason);
  }
}

std::string FormatTcpAddr(uint16_t family, const trace::TcpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family == AF_INET) {
    inet_ntop(AF_INET, a.data(), buf, sizeof buf);
  } else if (family == AF_INET6) {
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  }
  return buf;
}

std::string FormatTcpEndpoint(uint16_t family, const trace::TcpAddr& a,
                              uint16_t port) {
  std::string s = FormatTcpAddr(family, a);
  if (family == AF_INET6) s = "[" + s + "]";
  return s + ":" + std::to_string(port);
}

}  // namespace faultline::analyzer
