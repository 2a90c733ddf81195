// Pins the layout of every struct shared by BPF and user space in
// bpf/faultline.h (offset and size of every field, size of every struct) and
// the values of its enums: they are part of the trace format, so a change
// that moves a field or renumbers a value fails here first. A new struct or
// field gets its lines here.
#include <cstddef>

#include <gtest/gtest.h>

extern "C" {
#include "bpf/faultline.h"
}

namespace {

// Offset and size of field `f` of struct `s`.
#define EXPECT_FIELD(s, f, offset, size)                \
  do {                                                  \
    EXPECT_EQ(offsetof(s, f), size_t{offset}) << #s "." #f; \
    EXPECT_EQ(sizeof(s::f), size_t{size}) << #s "." #f;     \
  } while (0)

TEST(EventLayout, Header) {
  EXPECT_EQ(sizeof(fl_hdr), 16u);
  EXPECT_FIELD(fl_hdr, ts_ns, 0, 8);
  EXPECT_FIELD(fl_hdr, type, 8, 2);
  EXPECT_FIELD(fl_hdr, cpu, 10, 2);
  EXPECT_FIELD(fl_hdr, size, 12, 4);
}

TEST(EventLayout, FaultSlim) {
  EXPECT_EQ(sizeof(fl_fault_slim), 48u);
  EXPECT_FIELD(fl_fault_slim, ts_ns, 0, 8);
  EXPECT_FIELD(fl_fault_slim, address, 8, 8);
  EXPECT_FIELD(fl_fault_slim, ip, 16, 8);
  EXPECT_FIELD(fl_fault_slim, pid, 24, 4);
  EXPECT_FIELD(fl_fault_slim, tid, 28, 4);
  EXPECT_FIELD(fl_fault_slim, latency_ns, 32, 4);
  EXPECT_FIELD(fl_fault_slim, stack_id, 36, 4);
  EXPECT_FIELD(fl_fault_slim, error_code, 40, 2);
  EXPECT_FIELD(fl_fault_slim, outcome, 42, 1);
  EXPECT_FIELD(fl_fault_slim, flags, 43, 1);
  EXPECT_FIELD(fl_fault_slim, _pad, 44, 4);
}

TEST(EventLayout, FaultAndBatch) {
  EXPECT_EQ(sizeof(fl_fault), 64u);
  EXPECT_FIELD(fl_fault, hdr, 0, 16);
  EXPECT_FIELD(fl_fault, f, 16, 48);
  EXPECT_EQ(FL_BATCH, 32);
  EXPECT_EQ(sizeof(fl_fault_batch), 24u + 48u * FL_BATCH);
  EXPECT_FIELD(fl_fault_batch, hdr, 0, 16);
  EXPECT_FIELD(fl_fault_batch, count, 16, 4);
  EXPECT_FIELD(fl_fault_batch, _pad, 20, 4);
  EXPECT_FIELD(fl_fault_batch, faults, 24, 48 * FL_BATCH);
}

TEST(EventLayout, Mmap) {
  EXPECT_EQ(FL_PATH_LEN, 256);
  EXPECT_EQ(sizeof(fl_mmap), 72u + FL_PATH_LEN);
  EXPECT_FIELD(fl_mmap, hdr, 0, 16);
  EXPECT_FIELD(fl_mmap, start, 16, 8);
  EXPECT_FIELD(fl_mmap, len, 24, 8);
  EXPECT_FIELD(fl_mmap, pgoff, 32, 8);
  EXPECT_FIELD(fl_mmap, aux, 40, 8);
  EXPECT_FIELD(fl_mmap, pid, 48, 4);
  EXPECT_FIELD(fl_mmap, tid, 52, 4);
  EXPECT_FIELD(fl_mmap, prot, 56, 4);
  EXPECT_FIELD(fl_mmap, flags, 60, 4);
  EXPECT_FIELD(fl_mmap, fd, 64, 4);
  EXPECT_FIELD(fl_mmap, _pad, 68, 4);
  EXPECT_FIELD(fl_mmap, path, 72, FL_PATH_LEN);
}

TEST(EventLayout, Task) {
  EXPECT_EQ(FL_COMM_LEN, 16);
  EXPECT_EQ(sizeof(fl_task), 56u + FL_PATH_LEN);
  EXPECT_FIELD(fl_task, hdr, 0, 16);
  EXPECT_FIELD(fl_task, pid, 16, 4);
  EXPECT_FIELD(fl_task, tid, 20, 4);
  EXPECT_FIELD(fl_task, parent_pid, 24, 4);
  EXPECT_FIELD(fl_task, parent_tid, 28, 4);
  EXPECT_FIELD(fl_task, exit_code, 32, 4);
  EXPECT_FIELD(fl_task, is_thread, 36, 4);
  EXPECT_FIELD(fl_task, comm, 40, FL_COMM_LEN);
  EXPECT_FIELD(fl_task, path, 56, FL_PATH_LEN);
}

TEST(EventLayout, Tlb) {
  EXPECT_EQ(sizeof(fl_tlb), 40u);
  EXPECT_FIELD(fl_tlb, hdr, 0, 16);
  EXPECT_FIELD(fl_tlb, pid, 16, 4);
  EXPECT_FIELD(fl_tlb, tid, 20, 4);
  EXPECT_FIELD(fl_tlb, reason, 24, 4);
  EXPECT_FIELD(fl_tlb, _pad, 28, 4);
  EXPECT_FIELD(fl_tlb, pages, 32, 8);
}

TEST(EventLayout, Summary) {
  EXPECT_EQ(FL_HIST_BUCKETS, 32);
  EXPECT_EQ(sizeof(fl_summary_key), 8u);
  EXPECT_FIELD(fl_summary_key, pid, 0, 4);
  EXPECT_FIELD(fl_summary_key, kind, 4, 4);
  EXPECT_EQ(sizeof(fl_summary_val), 24u + 8u * FL_HIST_BUCKETS);
  EXPECT_FIELD(fl_summary_val, count, 0, 8);
  EXPECT_FIELD(fl_summary_val, total_ns, 8, 8);
  EXPECT_FIELD(fl_summary_val, max_ns, 16, 8);
  EXPECT_FIELD(fl_summary_val, hist, 24, 8 * FL_HIST_BUCKETS);
}

TEST(EventLayout, CpuStats) {
  EXPECT_EQ(sizeof(fl_cpu_stats), 56u);
  EXPECT_FIELD(fl_cpu_stats, recorded_events, 0, 8);
  EXPECT_FIELD(fl_cpu_stats, lost_events, 8, 8);
  EXPECT_FIELD(fl_cpu_stats, lost_records, 16, 8);
  EXPECT_FIELD(fl_cpu_stats, incomplete, 24, 8);
  EXPECT_FIELD(fl_cpu_stats, unpaired, 32, 8);
  EXPECT_FIELD(fl_cpu_stats, summary_full, 40, 8);
  EXPECT_FIELD(fl_cpu_stats, stack_errors, 48, 8);
}

TEST(EventLayout, TcpState) {
EXPECT_EQ(sizeof(fl_tcp_state), 96u);
  EXPECT_FIELD(fl_tcp_state, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_state, sk, 16, 8);
  EXPECT_FIELD(fl_tcp_state, gen, 24, 8);
  EXPECT_FIELD(fl_tcp_state, saddr, 32, 16);
  EXPECT_FIELD(fl_tcp_state, daddr, 48, 16);
  EXPECT_FIELD(fl_tcp_state, pid, 64, 4);
  EXPECT_FIELD(fl_tcp_state, tid, 68, 4);
  EXPECT_FIELD(fl_tcp_state, cur_pid, 72, 4);
  EXPECT_FIELD(fl_tcp_state, cur_tid, 76, 4);
  EXPECT_FIELD(fl_tcp_state, backlog, 80, 4);
  EXPECT_FIELD(fl_tcp_state, max_backlog, 84, 4);
  EXPECT_FIELD(fl_tcp_state, sport, 88, 2);
  EXPECT_FIELD(fl_tcp_state, dport, 90, 2);
  EXPECT_FIELD(fl_tcp_state, family, 92, 2);
  EXPECT_FIELD(fl_tcp_state, old_state, 94, 1);
  EXPECT_FIELD(fl_tcp_state, new_state, 95, 1);
}

TEST(EventLayout, TcpAccept) {
  EXPECT_EQ(sizeof(fl_tcp_accept), 112u);
  EXPECT_FIELD(fl_tcp_accept, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_accept, sk, 16, 8);
  EXPECT_FIELD(fl_tcp_accept, gen, 24, 8);
  EXPECT_FIELD(fl_tcp_accept, listener, 32, 8);
  EXPECT_FIELD(fl_tcp_accept, established_ns, 40, 8);
  EXPECT_FIELD(fl_tcp_accept, saddr, 48, 16);
  EXPECT_FIELD(fl_tcp_accept, daddr, 64, 16);
  EXPECT_FIELD(fl_tcp_accept, pid, 80, 4);
  EXPECT_FIELD(fl_tcp_accept, tid, 84, 4);
  EXPECT_FIELD(fl_tcp_accept, backlog, 88, 4);
  EXPECT_FIELD(fl_tcp_accept, max_backlog, 92, 4);
  EXPECT_FIELD(fl_tcp_accept, fd, 96, 4);
  EXPECT_FIELD(fl_tcp_accept, sport, 100, 2);
  EXPECT_FIELD(fl_tcp_accept, dport, 102, 2);
  EXPECT_FIELD(fl_tcp_accept, family, 104, 2);
  EXPECT_FIELD(fl_tcp_accept, state, 106, 1);
  EXPECT_FIELD(fl_tcp_accept, _pad, 107, 5);
}

TEST(EventLayout, TcpConnect) {
  EXPECT_EQ(sizeof(fl_tcp_connect), 88u);
  EXPECT_FIELD(fl_tcp_connect, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_connect, sk, 16, 8);
  EXPECT_FIELD(fl_tcp_connect, gen, 24, 8);
  EXPECT_FIELD(fl_tcp_connect, saddr, 32, 16);
  EXPECT_FIELD(fl_tcp_connect, daddr, 48, 16);
  EXPECT_FIELD(fl_tcp_connect, pid, 64, 4);
  EXPECT_FIELD(fl_tcp_connect, tid, 68, 4);
  EXPECT_FIELD(fl_tcp_connect, fd, 72, 4);
  EXPECT_FIELD(fl_tcp_connect, ret, 76, 4);
  EXPECT_FIELD(fl_tcp_connect, sport, 80, 2);
  EXPECT_FIELD(fl_tcp_connect, dport, 82, 2);
  EXPECT_FIELD(fl_tcp_connect, family, 84, 2);
  EXPECT_FIELD(fl_tcp_connect, state, 86, 1);
  EXPECT_FIELD(fl_tcp_connect, _pad, 87, 1);
}

TEST(EventLayout, TcpReset) {
  EXPECT_EQ(sizeof(fl_tcp_reset), 96u);
  EXPECT_FIELD(fl_tcp_reset, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_reset, sk, 16, 8);
  EXPECT_FIELD(fl_tcp_reset, gen, 24, 8);
  EXPECT_FIELD(fl_tcp_reset, saddr, 32, 16);
  EXPECT_FIELD(fl_tcp_reset, daddr, 48, 16);
  EXPECT_FIELD(fl_tcp_reset, pid, 64, 4);
  EXPECT_FIELD(fl_tcp_reset, tid, 68, 4);
  EXPECT_FIELD(fl_tcp_reset, cur_pid, 72, 4);
  EXPECT_FIELD(fl_tcp_reset, cur_tid, 76, 4);
  EXPECT_FIELD(fl_tcp_reset, sport, 80, 2);
  EXPECT_FIELD(fl_tcp_reset, dport, 82, 2);
  EXPECT_FIELD(fl_tcp_reset, family, 84, 2);
  EXPECT_FIELD(fl_tcp_reset, kernel_reason, 86, 2);
  EXPECT_FIELD(fl_tcp_reset, state, 88, 1);
  EXPECT_FIELD(fl_tcp_reset, reason, 89, 1);
  EXPECT_FIELD(fl_tcp_reset, flags, 90, 1);
  EXPECT_FIELD(fl_tcp_reset, _pad, 91, 5);
}

TEST(EventLayout, TcpServe) {
  EXPECT_EQ(sizeof(fl_tcp_serve), 72u);
  EXPECT_FIELD(fl_tcp_serve, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_serve, sk, 16, 8);
  EXPECT_FIELD(fl_tcp_serve, gen, 24, 8);
  EXPECT_FIELD(fl_tcp_serve, bytes_in, 32, 8);
  EXPECT_FIELD(fl_tcp_serve, bytes_out, 40, 8);
  EXPECT_FIELD(fl_tcp_serve, pid, 48, 4);
  EXPECT_FIELD(fl_tcp_serve, tid, 52, 4);
  EXPECT_FIELD(fl_tcp_serve, prev_tid, 56, 4);
  EXPECT_FIELD(fl_tcp_serve, len, 60, 4);
  EXPECT_FIELD(fl_tcp_serve, send, 64, 1);
  EXPECT_FIELD(fl_tcp_serve, _pad, 65, 7);
}

TEST(EventLayout, TcpClose) {
  EXPECT_EQ(sizeof(fl_tcp_close), 104u);
  EXPECT_FIELD(fl_tcp_close, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_close, sk, 16, 8);
  EXPECT_FIELD(fl_tcp_close, gen, 24, 8);
  EXPECT_FIELD(fl_tcp_close, bytes_in, 32, 8);
  EXPECT_FIELD(fl_tcp_close, bytes_out, 40, 8);
  EXPECT_FIELD(fl_tcp_close, saddr, 48, 16);
  EXPECT_FIELD(fl_tcp_close, daddr, 64, 16);
  EXPECT_FIELD(fl_tcp_close, pid, 80, 4);
  EXPECT_FIELD(fl_tcp_close, tid, 84, 4);
  EXPECT_FIELD(fl_tcp_close, last_tid, 88, 4);
  EXPECT_FIELD(fl_tcp_close, retransmits, 92, 4);
  EXPECT_FIELD(fl_tcp_close, sport, 96, 2);
  EXPECT_FIELD(fl_tcp_close, dport, 98, 2);
  EXPECT_FIELD(fl_tcp_close, family, 100, 2);
  EXPECT_FIELD(fl_tcp_close, state, 102, 1);
  EXPECT_FIELD(fl_tcp_close, _pad, 103, 1);
}

TEST(EventLayout, TcpNetstat) {
  EXPECT_EQ(sizeof(fl_tcp_netstat), 72u);
  EXPECT_FIELD(fl_tcp_netstat, hdr, 0, 16);
  EXPECT_FIELD(fl_tcp_netstat, listen_overflows, 16, 8);
  EXPECT_FIELD(fl_tcp_netstat, listen_drops, 24, 8);
  EXPECT_FIELD(fl_tcp_netstat, abort_on_data, 32, 8);
  EXPECT_FIELD(fl_tcp_netstat, abort_on_close, 40, 8);
  EXPECT_FIELD(fl_tcp_netstat, abort_on_linger, 48, 8);
  EXPECT_FIELD(fl_tcp_netstat, abort_on_timeout, 56, 8);
  EXPECT_FIELD(fl_tcp_netstat, phase, 64, 4);
  EXPECT_FIELD(fl_tcp_netstat, _pad, 68, 4);
}

TEST(EventLayout, Usdt) {
  EXPECT_EQ(FL_EV_USDT, 64);
  EXPECT_EQ(FL_USDT_CONN_ACCEPTED, 1);
  EXPECT_EQ(FL_USDT_REQUEST_START, 2);
  EXPECT_EQ(FL_USDT_REQUEST_END, 3);
  EXPECT_EQ(FL_USDT_CONN_CLOSE_DECIDED, 4);
  EXPECT_EQ(FL_USDT_GOAWAY_SENT, 5);
  EXPECT_EQ(FL_USDT_SHUTDOWN_PHASE, 6);
  EXPECT_EQ(FL_USDT_CONN_CLOSED, 7);
  EXPECT_EQ(sizeof(fl_usdt), 216u);
  EXPECT_FIELD(fl_usdt, hdr, 0, 16);
  EXPECT_FIELD(fl_usdt, conn_id, 16, 8);
  EXPECT_FIELD(fl_usdt, body_bytes, 24, 8);
  EXPECT_FIELD(fl_usdt, duration_ns, 32, 8);
  EXPECT_FIELD(fl_usdt, pid, 40, 4);
  EXPECT_FIELD(fl_usdt, tid, 44, 4);
  EXPECT_FIELD(fl_usdt, stream_id, 48, 4);
  EXPECT_FIELD(fl_usdt, value, 52, 4);
  EXPECT_FIELD(fl_usdt, arg_tid, 56, 4);
  EXPECT_FIELD(fl_usdt, probe, 60, 2);
  EXPECT_FIELD(fl_usdt, _pad, 62, 2);
  EXPECT_FIELD(fl_usdt, name, 64, 24);
  EXPECT_FIELD(fl_usdt, path, 88, 128);
}

TEST(EventLayout, TcpCpuStats) {
  EXPECT_EQ(sizeof(fl_tcp_cpu_stats), 32u);
  EXPECT_FIELD(fl_tcp_cpu_stats, conns_full, 0, 8);
  EXPECT_FIELD(fl_tcp_cpu_stats, ctx_unknown, 8, 8);
  EXPECT_FIELD(fl_tcp_cpu_stats, opened, 16, 8);
  EXPECT_FIELD(fl_tcp_cpu_stats, closed, 24, 8);
}

TEST(EventLayout, EnumValues) {
  EXPECT_EQ(FL_EV_FAULT, 1);
  EXPECT_EQ(FL_EV_FAULT_BATCH, 2);
  EXPECT_EQ(FL_EV_MMAP, 3);
  EXPECT_EQ(FL_EV_MUNMAP, 4);
  EXPECT_EQ(FL_EV_MREMAP, 5);
  EXPECT_EQ(FL_EV_BRK, 6);
  EXPECT_EQ(FL_EV_FORK, 7);
  EXPECT_EQ(FL_EV_EXEC, 8);
  EXPECT_EQ(FL_EV_EXIT, 9);
  EXPECT_EQ(FL_EV_TLB_FLUSH, 10);
  EXPECT_EQ(FL_EV_MPROTECT, 11);
  EXPECT_EQ(FL_FAULT_MINOR, 1);
  EXPECT_EQ(FL_FAULT_MAJOR, 2);
  EXPECT_EQ(FL_FAULT_INCOMPLETE, 3);
  EXPECT_EQ(FL_FAULT_F_KERNEL, 1);
  EXPECT_EQ(FL_FAULT_F_ADDR_MISMATCH, 2);
  EXPECT_EQ(FL_FAULT_F_HUGE, 4);
  EXPECT_EQ(FL_SK_MINOR_USER, 0);
  EXPECT_EQ(FL_SK_MAJOR_USER, 1);
  EXPECT_EQ(FL_SK_MINOR_KERNEL, 2);
  EXPECT_EQ(FL_SK_MAJOR_KERNEL, 3);
  EXPECT_EQ(FL_SK_INCOMPLETE, 4);
  EXPECT_EQ(FL_SK_NR, 5);
  EXPECT_EQ(FL_PF_PROT, 1u);
  EXPECT_EQ(FL_PF_WRITE, 2u);
  EXPECT_EQ(FL_PF_USER, 4u);
  EXPECT_EQ(FL_PF_RSVD, 8u);
  EXPECT_EQ(FL_PF_INSTR, 16u);
  EXPECT_EQ(FL_PF_PK, 32u);
}

TEST(EventLayout, TcpEnumValues) {
  EXPECT_EQ(FL_EV_TCP_STATE, 32);
  EXPECT_EQ(FL_EV_TCP_SEEN, 33);
  EXPECT_EQ(FL_EV_TCP_ACCEPT, 34);
  EXPECT_EQ(FL_EV_TCP_CONNECT, 35);
  EXPECT_EQ(FL_EV_TCP_RESET, 36);
  EXPECT_EQ(FL_EV_TCP_SERVE, 37);
  EXPECT_EQ(FL_EV_TCP_CLOSE, 38);
  EXPECT_EQ(FL_EV_TCP_NETSTAT, 39);
  EXPECT_EQ(FL_RST_NOT_SPECIFIED, 0);
  EXPECT_EQ(FL_RST_NO_SOCKET, 1);
  EXPECT_EQ(FL_RST_INVALID_ACK_SEQUENCE, 2);
  EXPECT_EQ(FL_RST_RFC7323_PAWS, 3);
  EXPECT_EQ(FL_RST_TOO_OLD_ACK, 4);
  EXPECT_EQ(FL_RST_ACK_UNSENT_DATA, 5);
  EXPECT_EQ(FL_RST_FLAGS, 6);
  EXPECT_EQ(FL_RST_OLD_ACK, 7);
  EXPECT_EQ(FL_RST_ABORT_ON_DATA, 8);
  EXPECT_EQ(FL_RST_TIMEWAIT_SOCKET, 9);
  EXPECT_EQ(FL_RST_INVALID_SYN, 10);
  EXPECT_EQ(FL_RST_ABORT_ON_CLOSE, 11);
  EXPECT_EQ(FL_RST_ABORT_ON_LINGER, 12);
  EXPECT_EQ(FL_RST_ABORT_ON_MEMORY, 13);
  EXPECT_EQ(FL_RST_TCP_STATE, 14);
  EXPECT_EQ(FL_RST_KEEPALIVE_TIMEOUT, 15);
  EXPECT_EQ(FL_RST_DISCONNECT_WITH_DATA, 16);
  EXPECT_EQ(FL_RST_OTHER, 17);
  EXPECT_EQ(FL_RST_F_PASSIVE, 1);
  EXPECT_EQ(FL_RST_F_NO_SOCK, 2);
  EXPECT_EQ(FL_RST_F_TIMEWAIT, 4);
  EXPECT_EQ(FL_RST_F_REQUEST, 8);
  EXPECT_EQ(FL_RST_F_DESTROYED, 16);
  EXPECT_EQ(FL_RST_F_RECEIVED, 32);
  EXPECT_EQ(FL_NETSTAT_START, 0);
  EXPECT_EQ(FL_NETSTAT_PERIODIC, 1);
  EXPECT_EQ(FL_NETSTAT_END, 2);
}

}  // namespace
