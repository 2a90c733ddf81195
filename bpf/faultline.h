/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * faultline.h: the event records shared by the BPF programs (bpf/<x>.bpf.c)
 * and user space (collector/, analyzer/). Plain C, fixed-width types only,
 * widest fields first, no pointers, no bool. tests/unit/event_layout_test.cc
 * pins sizes and offsets: change a struct and that test tells you so.
 *
 * Clock: every *_ns timestamp is bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC
 * in nanoseconds. Every record starts with struct fl_hdr so that one ring
 * buffer carries all kinds; user space dispatches on hdr.type.
 */
#ifndef FAULTLINE_BPF_FAULTLINE_H_
#define FAULTLINE_BPF_FAULTLINE_H_

#ifdef __BPF__
/* vmlinux.h provides __u8 .. __u64 in BPF programs. */
#else
#include <linux/types.h>
#endif

#define FL_COMM_LEN 16
#define FL_PATH_LEN 256

/* Record types (fl_hdr.type). Values are part of the trace format: never
 * renumber, only append. */
enum fl_event_type {
	FL_EV_FAULT = 1,       /* struct fl_fault */
	FL_EV_FAULT_BATCH = 2, /* struct fl_fault_batch: up to FL_BATCH faults */
	FL_EV_MMAP = 3,        /* struct fl_mmap: mmap() returned a mapping */
	FL_EV_MUNMAP = 4,      /* struct fl_mmap: [start, start+len) unmapped */
	FL_EV_MREMAP = 5,      /* struct fl_mmap: old range in start/len,
				* new start in pgoff, new len in aux */
	FL_EV_BRK = 6,         /* struct fl_mmap: heap now ends at start+len */
	FL_EV_FORK = 7,        /* struct fl_task: parent -> child */
	FL_EV_EXEC = 8,        /* struct fl_task: pid exec-ed comm/filename */
	FL_EV_EXIT = 9,        /* struct fl_task: a thread (or process) ended */
	FL_EV_TLB_FLUSH = 10,  /* struct fl_tlb: tlb:tlb_flush shootdown */
	FL_EV_MPROTECT = 11,   /* struct fl_mmap: prot of [start,start+len) */
	/* 32..63 are reserved for TCP/socket events (issue: connections). */
	FL_EV_TCP_STATE = 32,   /* struct fl_tcp_state: inet_sock_set_state */
	FL_EV_TCP_SEEN = 33,    /* struct fl_tcp_state: first sight of a
				 * socket that was open before (no state
				 * change: old_state = new_state = now) */
	FL_EV_TCP_ACCEPT = 34,  /* struct fl_tcp_accept: accept/accept4 exit */
	FL_EV_TCP_CONNECT = 35, /* struct fl_tcp_connect: connect exit */
	FL_EV_TCP_RESET = 36,   /* struct fl_tcp_reset: tcp_send_reset, or
				 * tcp_receive_reset (FL_RST_F_RECEIVED) */
	FL_EV_TCP_SERVE = 37,   /* struct fl_tcp_serve: a thread other than
				 * the last one did I/O on the socket */
	FL_EV_TCP_CLOSE = 38,   /* struct fl_tcp_close: tcp_destroy_sock,
				 * with the connection's totals */
	FL_EV_TCP_NETSTAT = 39, /* struct fl_tcp_netstat: written by the
				 * collector from /proc/net/netstat */
	/* 64..79: application probes (USDT). */
	FL_EV_USDT = 64,        /* struct fl_usdt: one of faultline-server's
				 * USDT probes fired (enum fl_usdt_probe) */
};

/* Outcome of one page fault (fl_fault.outcome). */
enum fl_fault_outcome {
	FL_FAULT_MINOR = 1,      /* completed, PERF_COUNT_SW_PAGE_FAULTS_MIN */
	FL_FAULT_MAJOR = 2,      /* completed, PERF_COUNT_SW_PAGE_FAULTS_MAJ */
	FL_FAULT_INCOMPLETE = 3, /* entry seen, no completion event before the
				  * thread's next fault entry or exit:
				  * SIGSEGV, VM_FAULT_ERROR, fixup in kernel */
};

/* fl_fault.flags bits. */
enum fl_fault_flags {
	FL_FAULT_F_KERNEL = 1,     /* entry from exceptions:page_fault_kernel
				    * (a fault on user memory taken inside a
				    * system call, e.g. read() into a new
				    * buffer) */
	FL_FAULT_F_ADDR_MISMATCH = 2, /* the completion's address differed
				       * from the entry's (kept, flagged) */
	FL_FAULT_F_HUGE = 4,       /* the fault mapped a PMD-sized page
				    * (transparent huge page): the process's
				    * file + anon + shmem RSS counters grew
				    * by >= FL_HUGE_MIN_PAGES between entry
				    * and completion */
};
#define FL_HUGE_MIN_PAGES 256 /* a PMD maps 512 pages; per-CPU counter
			       * batches move the shared count by < 64 */

/* x86 page fault error code bits (fl_fault.error_code). */
#define FL_PF_PROT (1u << 0)  /* 0: page not present, 1: protection */
#define FL_PF_WRITE (1u << 1) /* write access */
#define FL_PF_USER (1u << 2)  /* fault from user mode */
#define FL_PF_RSVD (1u << 3)  /* reserved bit set in a PTE */
#define FL_PF_INSTR (1u << 4) /* instruction fetch */
#define FL_PF_PK (1u << 5)    /* protection key violation */

/* Common header of every ring-buffer record. 16 bytes. */
struct fl_hdr {
	__u64 ts_ns; /* event time (for faults: entry time) */
	__u16 type;  /* enum fl_event_type */
	__u16 cpu;   /* CPU the record was produced on */
	__u32 size;  /* total record size in bytes, header included */
};

/* A batch of faults produced on one CPU, sent as one ring-buffer record to
 * amortise the reserve/commit cost. hdr.ts_ns = first fault's entry time. */
#define FL_BATCH 32
struct fl_fault_slim {
	__u64 ts_ns;      /* entry time */
	__u64 address;    /* faulting virtual address */
	__u64 ip;         /* instruction pointer at the fault (user IP for
			   * user-mode faults, kernel IP otherwise) */
	__u32 pid;        /* tgid */
	__u32 tid;        /* thread id */
	__u32 latency_ns; /* completion - entry; 0 for FL_FAULT_INCOMPLETE;
			   * saturates at 0xffffffff (~4.3 s) */
	__s32 stack_id;   /* user stack id in the stack map with --stacks,
			   * else -1 */
	__u16 error_code; /* x86 error code bits (FL_PF_*) */
	__u8 outcome;     /* enum fl_fault_outcome */
	__u8 flags;       /* enum fl_fault_flags */
	__u32 _pad;
}; /* 48 bytes */

/* One page fault outside a batch (flushes, exits). 64 bytes. */
struct fl_fault {
	struct fl_hdr hdr; /* hdr.ts_ns = f.ts_ns */
	struct fl_fault_slim f;
};

struct fl_fault_batch {
	struct fl_hdr hdr;
	__u32 count; /* valid entries in faults[] */
	__u32 _pad;
	struct fl_fault_slim faults[FL_BATCH];
};

/* Address-space change of a traced process. 64 + FL_PATH_LEN bytes. */
struct fl_mmap {
	struct fl_hdr hdr;
	__u64 start;  /* mapping start (mmap return value) */
	__u64 len;    /* length in bytes */
	__u64 pgoff;  /* file offset in bytes (mmap); new start (mremap) */
	__u64 aux;    /* new len (mremap); unused otherwise */
	__u32 pid;
	__u32 tid;
	__u32 prot;   /* PROT_* */
	__u32 flags;  /* MAP_* */
	__s32 fd;     /* -1 for anonymous */
	__u32 _pad;
	char path[FL_PATH_LEN]; /* file path when fd >= 0 and resolvable,
				 * else empty */
};

/* Task lifecycle. 64 bytes + FL_PATH_LEN for exec. */
struct fl_task {
	struct fl_hdr hdr;
	__u32 pid;        /* tgid of the task */
	__u32 tid;        /* the task (child tid for FL_EV_FORK) */
	__u32 parent_pid; /* FL_EV_FORK: parent tgid */
	__u32 parent_tid; /* FL_EV_FORK: parent thread */
	__s32 exit_code;  /* FL_EV_EXIT */
	__u32 is_thread;  /* FL_EV_FORK: 1 when the child shares the mm
			   * (a new thread), 0 for a new process */
	char comm[FL_COMM_LEN];
	char path[FL_PATH_LEN]; /* FL_EV_EXEC: filename */
};

/* tlb:tlb_flush in a traced process, except TLB_FLUSH_ON_TASK_SWITCH
 * (a context switch, not a shootdown; not recorded). */
struct fl_tlb {
	struct fl_hdr hdr;
	__u32 pid;
	__u32 tid;
	__s32 reason;  /* TLB_FLUSH_ON_TASK_SWITCH .. (kernel enum) */
	__u32 _pad;
	__u64 pages;   /* pages flushed; TLB_FLUSH_ALL is ~0 */
};

/* --summary mode: in-kernel aggregation, read from maps at the end. */
#define FL_HIST_BUCKETS 32 /* log2 latency buckets: bucket i counts latencies
			    * in [2^i, 2^(i+1)) ns; bucket 0 also has 0 */
enum fl_summary_kind {
	FL_SK_MINOR_USER = 0,
	FL_SK_MAJOR_USER = 1,
	FL_SK_MINOR_KERNEL = 2,
	FL_SK_MAJOR_KERNEL = 3,
	FL_SK_INCOMPLETE = 4,
	FL_SK_NR = 5,
};
struct fl_summary_key {
	__u32 pid;
	__u32 kind; /* enum fl_summary_kind */
};
struct fl_summary_val {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 hist[FL_HIST_BUCKETS];
};

/* Per-CPU counters kept by the BPF programs (map "cpu_stats", one entry per
 * CPU), read by the collector at the end and written to the trace footer.
 * Appended after the frozen structs above. */
struct fl_cpu_stats {
	__u64 recorded_events; /* events handed to the ring buffer (a batch
				* counts as its number of faults) */
	__u64 lost_events;     /* events dropped because the ring buffer was
				* full (a failed batch counts its faults) */
	__u64 lost_records;    /* failed ring-buffer writes (reserve/output) */
	__u64 incomplete;      /* faults emitted as FL_FAULT_INCOMPLETE */
	__u64 unpaired;        /* completions with no pending entry on the
				* thread (fault started before attach, or
				* the entry program was skipped) */
	__u64 summary_full;    /* --summary: updates dropped, map full */
	__u64 stack_errors;    /* --stacks: faults whose stack could not be
				* stored (stack_id < 0: -EEXIST for a hash
				* collision in the stack map, -EFAULT) */
};

/* ==== TCP connections (bpf/tcp.bpf.c; docs/collector.md, "TCP") ==========
 *
 * Conventions of every fl_tcp_* record below:
 *  - sk: the kernel address of the struct sock (full, timewait or request
 *    sock, see the record). Addresses are recycled within microseconds,
 *    also between server and client roles: a connection is identified by
 *    (sk, gen), never by sk alone.
 *  - gen: the hdr.ts_ns of the event that put the socket into the kernel's
 *    connection map: LISTEN->SYN_RECV (accepted), CLOSE->SYN_SENT
 *    (connected), CLOSE->LISTEN (listener), or the first sight of a socket
 *    that was open before the recording (FL_EV_TCP_SEEN). The entry lives
 *    until tcp_destroy_sock (FL_EV_TCP_CLOSE). 0 = the socket is not (or no
 *    longer) in the map: match such records by 4-tuple.
 *  - saddr/daddr: local/remote address. AF_INET: the 4 address bytes in
 *    network order at [0..3], [4..15] zero; AF_INET6: the 16 bytes.
 *  - sport/dport: local/remote port, host byte order.
 *  - family: AF_INET (2) or AF_INET6 (10).
 *  - *_state: the kernel's TCP state numbers (include/net/tcp_states.h):
 *    1 ESTABLISHED, 2 SYN_SENT, 3 SYN_RECV, 4 FIN_WAIT1, 5 FIN_WAIT2,
 *    6 TIME_WAIT, 7 CLOSE, 8 CLOSE_WAIT, 9 LAST_ACK, 10 LISTEN, 11 CLOSING,
 *    12 NEW_SYN_RECV (request sock). 0 = none (no socket).
 *  - pid/tid: the OWNER: the process and thread that accepted (accept
 *    exit), connected (CLOSE->SYN_SENT, connect exit), listened
 *    (CLOSE->LISTEN) or first did I/O on the socket; 0 = not known yet
 *    (e.g. a child between SYN_RECV and its accept). Never taken from the
 *    task that happens to run a softirq.
 *  - cur_pid/cur_tid: the task the event ran in, only when it ran in
 *    process context (a syscall, or the socket backlog processed in
 *    release_sock()); 0/0 when it ran in softirq (there `current` is
 *    whoever was interrupted: on loopback, the peer) or when the context
 *    could not be told.
 */

/* Reset reasons (fl_tcp_reset.reason), mapped in the kernel from
 * enum sk_rst_reason (6.10+) by name, so they do not depend on the
 * kernel's numbering. FL_RST_OTHER: a reason without a name here (MPTCP,
 * newer kernels); fl_tcp_reset.kernel_reason has the kernel's number. */
enum fl_rst_reason {
	FL_RST_NOT_SPECIFIED = 0,
	FL_RST_NO_SOCKET = 1,           /* segment for no socket (refused) */
	FL_RST_INVALID_ACK_SEQUENCE = 2,
	FL_RST_RFC7323_PAWS = 3,
	FL_RST_TOO_OLD_ACK = 4,
	FL_RST_ACK_UNSENT_DATA = 5,
	FL_RST_FLAGS = 6,
	FL_RST_OLD_ACK = 7,
	FL_RST_ABORT_ON_DATA = 8,       /* data arrived after we closed */
	FL_RST_TIMEWAIT_SOCKET = 9,     /* a timewait sock answered */
	FL_RST_INVALID_SYN = 10,
	FL_RST_ABORT_ON_CLOSE = 11,     /* close() with unread received data */
	FL_RST_ABORT_ON_LINGER = 12,
	FL_RST_ABORT_ON_MEMORY = 13,
	FL_RST_TCP_STATE = 14,          /* abort from a state: SO_LINGER 0
					 * close() gives this on 6.18 */
	FL_RST_KEEPALIVE_TIMEOUT = 15,
	FL_RST_DISCONNECT_WITH_DATA = 16,
	FL_RST_OTHER = 17,
};

/* fl_tcp_reset.flags bits. */
enum fl_rst_flags {
	FL_RST_F_RECEIVED = 32, /* tcp_receive_reset: the peer reset us
				 * (sk is our full sock); else we sent it */
	FL_RST_F_PASSIVE = 1,   /* sent: in answer to an incoming segment
				 * (skb != NULL); else active (our abort) */
	FL_RST_F_NO_SOCK = 2,   /* sent: sk was NULL (addresses and ports
				 * from the incoming segment) */
	FL_RST_F_TIMEWAIT = 4,  /* sk is a timewait sock (another address
				 * than the full sock; gen 0, owner 0) */
	FL_RST_F_REQUEST = 8,   /* sk is a request sock (NEW_SYN_RECV) */
	FL_RST_F_DESTROYED = 16, /* sk was already destroyed: gen/owner come
				  * from the recently-closed map (a reset
				  * can follow tcp_destroy_sock, e.g.
				  * ABORT_ON_DATA) */
};

/* FL_EV_TCP_STATE / FL_EV_TCP_SEEN. 96 bytes. hdr.ts_ns: the transition
 * (the tracepoint fires just before the new state is stored). */
struct fl_tcp_state {
	struct fl_hdr hdr;
	__u64 sk;
	__u64 gen;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pid;         /* owner (see above) */
	__u32 tid;
	__u32 cur_pid;     /* process context only, else 0 */
	__u32 cur_tid;
	__u32 backlog;     /* SYN_RECV->ESTABLISHED: the listener's
			    * sk_ack_backlog (this child already counted);
			    * ->LISTEN: 0; else 0 */
	__u32 max_backlog; /* same events: the listener's sk_max_ack_backlog
			    * (listen()'s backlog, capped by somaxconn); the
			    * next SYN is dropped while backlog > max */
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 old_state;    /* FL_EV_TCP_SEEN: = new_state */
	__u8 new_state;
};

/* FL_EV_TCP_ACCEPT: accept()/accept4() returned a TCP socket, in the
 * acceptor's context. hdr.ts_ns: the syscall exit. 112 bytes. */
struct fl_tcp_accept {
	struct fl_hdr hdr;
	__u64 sk;             /* the accepted child (= the sk of its
			       * SYN_RECV->ESTABLISHED) */
	__u64 gen;
	__u64 listener;       /* the listening sock's address */
	__u64 established_ns; /* ts of this child's SYN_RECV->ESTABLISHED,
			       * 0 if not seen. Accept wait = hdr.ts_ns -
			       * established_ns; for a TCP Fast Open child
			       * (accepted before ESTABLISHED) use gen
			       * (its SYN_RECV) */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pid;            /* the acceptor: the new owner */
	__u32 tid;
	__u32 backlog;        /* listener's sk_ack_backlog after this
			       * dequeue */
	__u32 max_backlog;    /* listener's sk_max_ack_backlog */
	__s32 fd;             /* the returned fd */
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 state;           /* the child's state at the return */
	__u8 _pad[5];
};

/* FL_EV_TCP_CONNECT: connect() on a TCP socket returned, in the caller's
 * context. hdr.ts_ns: the syscall exit. 88 bytes. */
struct fl_tcp_connect {
	struct fl_hdr hdr;
	__u64 sk;
	__u64 gen;     /* the CLOSE->SYN_SENT of this connect, 0 if unseen */
	__u8 saddr[16];
	__u8 daddr[16]; /* a failed connect was tcp_disconnect()ed: the
			 * remote side is 0 then */
	__u32 pid;     /* the caller: the owner */
	__u32 tid;
	__s32 fd;
	__s32 ret;     /* 0, -EINPROGRESS (-115) non-blocking,
			* -ECONNREFUSED (-111) ... */
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 state;    /* at the return: ESTABLISHED, SYN_SENT (in flight)
			* or CLOSE (failed) */
	__u8 _pad;
};

/* FL_EV_TCP_RESET: tcp_send_reset, or tcp_receive_reset when flags has
 * FL_RST_F_RECEIVED. hdr.ts_ns: the tracepoint (for a sent reset, after
 * the transmit: on loopback the peer's received reset can come first).
 * 96 bytes. */
struct fl_tcp_reset {
	struct fl_hdr hdr;
	__u64 sk;        /* 0: no socket (FL_RST_F_NO_SOCK) */
	__u64 gen;       /* of the connection, also for a destroyed one
			  * (FL_RST_F_DESTROYED); 0 = unknown (timewait,
			  * request, no sock, untracked) */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pid;       /* owner, 0 = unknown */
	__u32 tid;
	__u32 cur_pid;   /* process context only (e.g. an abort in
			  * close()), else 0 */
	__u32 cur_tid;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 kernel_reason; /* sent: the kernel's enum sk_rst_reason number */
	__u8 state;      /* sk's state at the event; 0 with no sock */
	__u8 reason;     /* sent: enum fl_rst_reason; received: 0 */
	__u8 flags;      /* enum fl_rst_flags */
	__u8 _pad[5];
};

/* FL_EV_TCP_SERVE: a thread did I/O (send or receive, MSG_PEEK excluded,
 * ret > 0) on a tracked socket and it is not the thread that did the last
 * I/O on it (or no thread did yet): from here on this thread serves the
 * connection. Runs in the caller's context (sock_send_length /
 * sock_recv_length). hdr.ts_ns: that I/O. 72 bytes.
 * Also written by the collector at the end of a recording, after detach
 * and the last drain, once per connection still open that did I/O: the
 * current totals, tid = prev_tid = the last I/O thread, len 0, send 0,
 * hdr.ts_ns = the end, hdr.cpu = 0 (collector/tcp_family.cc). */
struct fl_tcp_serve {
	struct fl_hdr hdr;
	__u64 sk;
	__u64 gen;
	__u64 bytes_in;  /* payload bytes received on the socket before this
			  * call (all threads) */
	__u64 bytes_out; /* payload bytes sent before this call */
	__u32 pid;       /* the serving thread's process (may differ from
			  * the owner: prefork, fd passing) */
	__u32 tid;
	__u32 prev_tid;  /* the thread of the previous I/O, 0 = none */
	__s32 len;       /* bytes of this call */
	__u8 send;       /* 1: this call sent, 0: it received */
	__u8 _pad[7];
};

/* FL_EV_TCP_CLOSE: tcp_destroy_sock of a tracked socket: the end of the
 * connection (sk, gen); its map entry is gone after this. hdr.ts_ns: the
 * destroy (after FIN_WAIT2/LAST_ACK->CLOSE, or the abort). 104 bytes. */
struct fl_tcp_close {
	struct fl_hdr hdr;
	__u64 sk;
	__u64 gen;
	__u64 bytes_in;    /* payload bytes received, whole life, excluding
			    * MSG_PEEK (= the peer's TCP payload read by the
			    * application; unread bytes are not counted) */
	__u64 bytes_out;   /* payload bytes the application sent */
	__u8 saddr[16];    /* as recorded at open when the sock's own are
			    * already cleared (tcp_disconnect: SO_LINGER 0) */
	__u8 daddr[16];
	__u32 pid;         /* owner, 0 = never known */
	__u32 tid;
	__u32 last_tid;    /* the thread of the last I/O, 0 = none */
	__u32 retransmits; /* tcp_retransmit_skb calls on the socket */
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 state;        /* at destroy (CLOSE normally) */
	__u8 _pad;
};

/* FL_EV_TCP_NETSTAT: machine-wide counters of /proc/net/netstat (TcpExt,
 * parsed by name), sampled by the collector at the start, at every flush
 * (~1 s) and at the end. Cumulative since boot: the report takes deltas.
 * ListenOverflows/ListenDrops count dropped SYNs (retransmissions
 * included), not connections. A counter missing from the file reads 0.
 * hdr.cpu = 0. 72 bytes. */
enum fl_netstat_phase {
	FL_NETSTAT_START = 0,
	FL_NETSTAT_PERIODIC = 1,
	FL_NETSTAT_END = 2,
};
struct fl_tcp_netstat {
	struct fl_hdr hdr;
	__u64 listen_overflows; /* TcpExt ListenOverflows */
	__u64 listen_drops;     /* TcpExt ListenDrops */
	__u64 abort_on_data;    /* TCPAbortOnData */
	__u64 abort_on_close;   /* TCPAbortOnClose */
	__u64 abort_on_linger;  /* TCPAbortOnLinger */
	__u64 abort_on_timeout; /* TCPAbortOnTimeout */
	__u32 phase;            /* enum fl_netstat_phase */
	__u32 _pad;
};

/* Per-CPU counters of the TCP family (map "tcp_stats"), summed into the
 * trace footer as named counters (the shared fl_cpu_stats counts its
 * records and lost records). */
struct fl_tcp_cpu_stats {
	__u64 conns_full;   /* a connection not tracked: map "tcp_conns" was
			     * full ("tcp_conns_full") */
	__u64 ctx_unknown;  /* events whose context (softirq or not) could
			     * not be read: cur_pid/cur_tid left 0
			     * ("tcp_ctx_unknown") */
	__u64 opened;       /* connections that entered the map
			     * ("tcp_opened"; listeners excluded) */
	__u64 closed;       /* FL_EV_TCP_CLOSE emitted or lost
			     * ("tcp_closed"; listeners excluded) */
};

/* ---- Application probes (USDT) ----------------------------------------
 * faultline-server's USDT probes (provider "faultline", docs/server.md
 * "USDT probes"), attached by faultline record to every target binary that
 * has them. One record type for all of them: fl_usdt.probe says which, and
 * the comments below say which fields each one fills. hdr.ts_ns: the probe
 * (bpf_ktime_get_ns, CLOCK_MONOTONIC, the same clock as every record). */
enum fl_usdt_probe {
	FL_USDT_CONN_ACCEPTED = 1,      /* conn_id, value = fd,
					 * arg_tid = the accept4 thread */
	FL_USDT_REQUEST_START = 2,      /* conn_id, stream_id, name = method,
					 * path = path (query excluded) */
	FL_USDT_REQUEST_END = 3,        /* conn_id, stream_id, value = status,
					 * body_bytes, duration_ns */
	FL_USDT_CONN_CLOSE_DECIDED = 4, /* conn_id, name = reason */
	FL_USDT_GOAWAY_SENT = 5,        /* conn_id, stream_id = last stream
					 * id, value = phase (1, 2, 3) */
	FL_USDT_SHUTDOWN_PHASE = 6,     /* value = phase (0..5), name */
	FL_USDT_CONN_CLOSED = 7,        /* conn_id, name = how */
};
#define FL_USDT_NAME_LEN 24
#define FL_USDT_PATH_LEN 128
/* 216 bytes at most; the ring gets the record up to path's NUL. */
struct fl_usdt {
	struct fl_hdr hdr;
	__u64 conn_id;     /* the server's connection id (0 = none) */
	__u64 body_bytes;  /* FL_USDT_REQUEST_END */
	__u64 duration_ns; /* FL_USDT_REQUEST_END: since request_start */
	__u32 pid;         /* the thread that fired the probe */
	__u32 tid;
	__s32 stream_id;   /* REQUEST_START/END (0 = HTTP/1.1); GOAWAY_SENT:
			    * last stream id */
	__s32 value;       /* see enum fl_usdt_probe */
	__s32 arg_tid;     /* FL_USDT_CONN_ACCEPTED: the accepting thread */
	__u16 probe;       /* enum fl_usdt_probe */
	__u16 _pad;
	char name[FL_USDT_NAME_LEN]; /* NUL-terminated (truncated) */
	char path[FL_USDT_PATH_LEN]; /* NUL-terminated (truncated) */
};

#endif /* FAULTLINE_BPF_FAULTLINE_H_ */
