// Names of the TCP record fields (bpf/faultline.h, "TCP connections"):
// state names, reset reasons, addresses. Shared by the connections
// analysis (connection_analysis.h) and `faultline script`.
#pragma once

#include <cstdint>
#include <string>

#include "trace/events.h"

namespace faultline::analyzer {

// The kernel's TCP states (include/net/tcp_states.h).
enum TcpState : uint8_t {
  kTcpNone = 0,
  kTcpEstablished = 1,
  kTcpSynSent = 2,
  kTcpSynRecv = 3,
  kTcpFinWait1 = 4,
  kTcpFinWait2 = 5,
  kTcpTimeWait = 6,
  kTcpClose = 7,
  kTcpCloseWait = 8,
  kTcpLastAck = 9,
  kTcpListen = 10,
  kTcpClosing = 11,
  kTcpNewSynRecv = 12,
};

// "ESTABLISHED", "FIN_WAIT1", ...; "NONE" for 0, "STATE_<n>" past the table.
std::string TcpStateName(uint8_t state);
// enum fl_rst_reason as the kernel spells it: "TCP_ABORT_ON_CLOSE", ...
std::string ResetReasonName(uint8_t reason);
// "1.2.3.4" (AF_INET) or "::1" (AF_INET6); "?" for another family.
std::string FormatTcpAddr(uint16_t family, const trace::TcpAddr& a);
// "1.2.3.4:80" or "[::1]:80".
std::string FormatTcpEndpoint(uint16_t family, const trace::TcpAddr& a,
                              uint16_t port);

}  // namespace faultline::analyzer
