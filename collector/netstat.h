// Reading the kernel's TCP tables in /proc for the TCP family
// (collector/tcp_family.cc): the TcpExt counters of /proc/net/netstat (the
// FL_EV_TCP_NETSTAT samples), the listening sockets of /proc/net/tcp{,6},
// and the socket inodes a process holds (/proc/PID/fd). Pure parsers are
// separate from the file reads so that they can be unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/faultline.h"

namespace faultline::collector {

// The "TcpExt:" counters of a /proc/net/netstat text, by name (a names line
// then a values line; positions change between kernels, names do not).
// Empty when there is no well-formed TcpExt pair.
std::map<std::string, uint64_t> ParseNetstat(std::string_view text);

// The record fields from parsed counters (a missing name reads 0);
// hdr.ts_ns/type/size/cpu are set by the caller.
void FillNetstat(const std::map<std::string, uint64_t>& counters,
                 fl_tcp_netstat* out);

// Reads /proc/net/netstat into an FL_EV_TCP_NETSTAT record stamped `ts_ns`.
// nullopt when the file cannot be read or has no TcpExt counters.
std::optional<fl_tcp_netstat> ReadNetstat(uint64_t ts_ns, uint32_t phase);

// One line of /proc/net/tcp or /proc/net/tcp6.
struct ProcTcpEntry {
  uint16_t local_port = 0;
  uint8_t state = 0;  // kernel TCP state number (0x0A = LISTEN)
  uint64_t inode = 0;
};
inline constexpr uint8_t kProcTcpListen = 0x0A;

// The entries of a /proc/net/tcp{,6} text (header line and malformed lines
// skipped).
std::vector<ProcTcpEntry> ParseProcNetTcp(std::string_view text);

// Both tables of the machine (this network namespace).
std::vector<ProcTcpEntry> ReadProcNetTcp();

// The socket inodes among `pid`'s open fds ("socket:[N]" links).
std::set<uint64_t> SocketInodes(uint32_t pid);

// The local ports of the listening TCP sockets that `pids` hold.
std::set<uint16_t> ListeningPorts(const std::vector<uint32_t>& pids);

// The processes holding a TCP socket that listens on `port` (a /proc scan).
std::vector<uint32_t> ProcessesListeningOn(uint16_t port);

}  // namespace faultline::collector
