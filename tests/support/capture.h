// Ground truth for the connection tests: a packet capture of the loopback
// (dumpcap, the capture engine tshark runs) on one TCP port, read back with
// tshark into per-connection facts that come from the wire, not from
// faultline: who sent the first FIN or RST, FIN vs RST, payload bytes each
// way, and the handshake times.
#ifndef FAULTLINE_TESTS_SUPPORT_CAPTURE_H_
#define FAULTLINE_TESTS_SUPPORT_CAPTURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.h"

namespace faultline::testing {

// One TCP segment as tshark decoded it.
struct CapturedPacket {
  int64_t time_ns = 0;  // frame.time_epoch: CLOCK_REALTIME, ns
  int stream = -1;      // tcp.stream: tshark's connection index
  int src_port = 0;
  int dst_port = 0;
  bool syn = false, ack = false, fin = false, rst = false;
  uint64_t seq = 0;  // tcp.seq, relative (the SYN is 0, first byte 1)
  uint64_t ack_no = 0;  // tcp.ack, relative (0 when the ACK flag is off)
  uint64_t len = 0;  // tcp.len: payload bytes of this segment
};

// One connection to the server port, from its packets.
struct CapturedConnection {
  int stream = -1;
  int client_port = 0;  // the client's ephemeral port
  int server_port = 0;
  // CLOCK_REALTIME ns of the client's SYN, the server's SYN-ACK and the
  // client's ACK that completes the handshake (the server's socket becomes
  // ESTABLISHED on it); 0 when the capture has no such packet.
  int64_t syn_ns = 0, syn_ack_ns = 0, ack_ns = 0;
  // Payload bytes each way, by sequence space (retransmissions count once).
  uint64_t bytes_to_server = 0, bytes_to_client = 0;
  bool server_fin = false, client_fin = false;
  bool server_rst = false, client_rst = false;
  // The side whose FIN or RST was the first in the capture: "server",
  // "client", or "open" (none). Same words as the report's "closed_by".
  std::string first_close = "open";
  int64_t first_close_ns = 0;
  // Both sides sent a FIN and the second one does not acknowledge the
  // first: each side closed before it had processed the other's FIN (a
  // simultaneous close; the kernel goes FIN_WAIT1 -> CLOSING). Which FIN
  // the wire carried first is then a matter of microseconds, not of who
  // decided to close: either side is a right "closed_by".
  bool fins_crossed = false;

  // The report's "close" as the wire shows it: "rst" when either side sent
  // a RST, else "fin" when a FIN was sent, else "open".
  std::string Close() const;
};

// Parses `tshark -T fields` output with the columns of kTsharkFields
// (tab-separated; booleans as 1/0 or True/False). Lines that do not parse
// are errors (nullopt, *error says which).
extern const std::vector<std::string> kTsharkFields;
std::optional<std::vector<CapturedPacket>> ParseTsharkFields(
    std::string_view text, std::string* error);

// Groups packets into connections to `server_port`, in order of their
// first packet. A stream whose first packet is not the client's SYN (the
// capture started late) is an error.
std::optional<std::vector<CapturedConnection>> ConnectionsFromPackets(
    const std::vector<CapturedPacket>& packets, int server_port,
    std::string* error);

// Runs tshark on a capture file and returns its connections to
// `server_port`.
std::optional<std::vector<CapturedConnection>> ReadCapture(
    const std::string& pcap_path, int server_port, std::string* error);

// A running capture of `tcp port PORT` on lo into a pcapng file.
class LoopbackCapture {
 public:
  // Starts dumpcap and returns once it says it is capturing (dumpcap
  // prints that after the socket is open and the filter attached). nullopt
  // and *error when dumpcap is missing or fails.
  static std::optional<LoopbackCapture> Start(int port,
                                              const std::string& pcap_path,
                                              std::string* error);
  // SIGINT (dumpcap then writes out what it has) and waits for it to exit.
  bool Stop(std::string* error);
  const std::string& path() const { return path_; }

 private:
  LoopbackCapture(Child child, std::string path)
      : child_(std::move(child)), path_(std::move(path)) {}
  Child child_;
  std::string path_;
  bool stopped_ = false;
};

// CLOCK_REALTIME - CLOCK_MONOTONIC in ns, read back to back (the closest
// of several reads): converts capture times to the monotonic clock of
// bpf_ktime_get_ns and of the test helpers.
int64_t RealtimeMinusMonotonicNs();

}  // namespace faultline::testing

#endif  // FAULTLINE_TESTS_SUPPORT_CAPTURE_H_
