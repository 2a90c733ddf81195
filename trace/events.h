// The decoded trace records that TraceReader hands to a TraceVisitor
// (trace/reader.h). The field names follow the raw structs of
// bpf/faultline.h; trace/records.h says how each is encoded.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "bpf/faultline.h"

namespace faultline::trace {

// Decoded records. string_views and spans point into the reader's block
// buffer and are valid only during the callback.
struct FaultEvent {
  uint64_t ts_ns = 0;  // entry time, CLOCK_MONOTONIC
  uint64_t address = 0;
  uint64_t ip = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t latency_ns = 0;
  int32_t stack_id = -1;
  uint16_t error_code = 0;  // FL_PF_*
  uint16_t cpu = 0;
  uint8_t outcome = 0;  // enum fl_fault_outcome
  uint8_t flags = 0;    // enum fl_fault_flags
};

struct MmapEvent {  // FL_EV_MMAP/MUNMAP/MREMAP/BRK/MPROTECT, see fl_mmap
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t start = 0, len = 0, pgoff = 0, aux = 0;
  uint32_t pid = 0, tid = 0, prot = 0, flags = 0;
  int32_t fd = -1;
  std::string_view path;
};

struct TaskEvent {  // FL_EV_FORK/EXEC/EXIT, see fl_task
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint32_t pid = 0, tid = 0, parent_pid = 0, parent_tid = 0;
  int32_t exit_code = 0;
  uint32_t is_thread = 0;
  std::string_view comm;
  std::string_view path;
};

struct TlbEvent {  // FL_EV_TLB_FLUSH
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint32_t pid = 0, tid = 0;
  int32_t reason = 0;
  uint64_t pages = 0;
};

// TCP records (bpf/faultline.h, "TCP connections", says what every field
// means). Addresses: AF_INET in bytes 0..3 (network order), AF_INET6 all 16.
using TcpAddr = std::array<uint8_t, 16>;

struct TcpStateEvent {  // FL_EV_TCP_STATE / FL_EV_TCP_SEEN, see fl_tcp_state
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t sk = 0, gen = 0;
  TcpAddr saddr{}, daddr{};
  uint32_t pid = 0, tid = 0, cur_pid = 0, cur_tid = 0;
  uint32_t backlog = 0, max_backlog = 0;
  uint16_t sport = 0, dport = 0, family = 0;
  uint8_t old_state = 0, new_state = 0;
};

struct TcpAcceptEvent {  // FL_EV_TCP_ACCEPT, see fl_tcp_accept
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t sk = 0, gen = 0, listener = 0, established_ns = 0;
  TcpAddr saddr{}, daddr{};
  uint32_t pid = 0, tid = 0, backlog = 0, max_backlog = 0;
  int32_t fd = -1;
  uint16_t sport = 0, dport = 0, family = 0;
  uint8_t state = 0;
};

struct TcpConnectEvent {  // FL_EV_TCP_CONNECT, see fl_tcp_connect
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t sk = 0, gen = 0;
  TcpAddr saddr{}, daddr{};
  uint32_t pid = 0, tid = 0;
  int32_t fd = -1, ret = 0;
  uint16_t sport = 0, dport = 0, family = 0;
  uint8_t state = 0;
};

struct TcpResetEvent {  // FL_EV_TCP_RESET, see fl_tcp_reset
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t sk = 0, gen = 0;
  TcpAddr saddr{}, daddr{};
  uint32_t pid = 0, tid = 0, cur_pid = 0, cur_tid = 0;
  uint16_t sport = 0, dport = 0, family = 0, kernel_reason = 0;
  uint8_t state = 0;
  uint8_t reason = 0;  // enum fl_rst_reason
  uint8_t flags = 0;   // enum fl_rst_flags
};

struct TcpServeEvent {  // FL_EV_TCP_SERVE, see fl_tcp_serve
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t sk = 0, gen = 0, bytes_in = 0, bytes_out = 0;
  uint32_t pid = 0, tid = 0, prev_tid = 0;
  int32_t len = 0;
  uint8_t send = 0;
};

struct TcpCloseEvent {  // FL_EV_TCP_CLOSE, see fl_tcp_close
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t sk = 0, gen = 0, bytes_in = 0, bytes_out = 0;
  TcpAddr saddr{}, daddr{};
  uint32_t pid = 0, tid = 0, last_tid = 0, retransmits = 0;
  uint16_t sport = 0, dport = 0, family = 0;
  uint8_t state = 0;
};

struct TcpNetstatEvent {  // FL_EV_TCP_NETSTAT, see fl_tcp_netstat
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t listen_overflows = 0, listen_drops = 0;
  uint64_t abort_on_data = 0, abort_on_close = 0, abort_on_linger = 0,
           abort_on_timeout = 0;
  uint32_t phase = 0;  // enum fl_netstat_phase
};

struct UsdtEvent {  // FL_EV_USDT, see fl_usdt
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  uint64_t conn_id = 0, body_bytes = 0, duration_ns = 0;
  uint32_t pid = 0, tid = 0;
  int32_t stream_id = 0, value = 0, arg_tid = 0;
  uint16_t probe = 0;  // enum fl_usdt_probe
  std::string_view name;
  std::string_view path;
};

struct OpaqueEvent {  // a record type this version does not know
  uint16_t type = 0;
  uint16_t cpu = 0;
  uint64_t ts_ns = 0;
  std::string_view body;  // the record bytes after struct fl_hdr
};

struct ProcessInfo {
  uint32_t pid = 0, ppid = 0;
  std::string_view comm, exe;
};
struct ThreadInfo {
  uint32_t pid = 0, tid = 0;
  std::string_view comm;
};
struct MappingInfo {
  uint32_t pid = 0;
  uint64_t start = 0, end = 0, pgoff = 0;
  uint32_t prot = 0;  // PROT_* | kMappingShared
  uint64_t ts_ns = 0;
  std::string_view path;
};
struct StackInfo {
  int32_t stack_id = 0;
  std::span<const uint64_t> ips;
};
struct SummaryInfo {
  fl_summary_key key{};
  fl_summary_val val{};
};
}  // namespace faultline::trace
