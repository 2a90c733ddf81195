/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tcp_conn.bpf.h: the value of the "tcp_conns" map of bpf/tcp.bpf.c (key:
 * the struct sock *), shared with user space: at the end of a recording
 * the collector walks the map (collector/tcp_family.cc) and writes the
 * byte totals of the connections still open as FL_EV_TCP_SERVE records.
 * Plain C, fixed-width types only; not part of the trace format.
 */
#ifndef FAULTLINE_BPF_TCP_CONN_BPF_H_
#define FAULTLINE_BPF_TCP_CONN_BPF_H_

#ifdef __BPF__
/* vmlinux.h provides __u8 .. __u64 in BPF programs. */
#else
#include <linux/types.h>
#endif

/* A traced socket. */
struct fl_conn {
	__u64 gen;          /* ts of the event that created the entry */
	__u64 est_ns;       /* SYN_RECV->ESTABLISHED ts, 0 = not seen */
	__u64 bytes_in;     /* payload bytes received so far (no MSG_PEEK) */
	__u64 bytes_out;    /* payload bytes sent so far */
	__u8 saddr[16];     /* the 4-tuple as last seen while valid */
	__u8 daddr[16];
	__u32 pid;          /* owner, 0 = not known yet */
	__u32 tid;
	__u32 last_tid;     /* thread of the last I/O, 0 = none yet */
	__u32 retransmits;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 listener;      /* 1: a listening socket */
	__u8 _pad;
};

#endif /* FAULTLINE_BPF_TCP_CONN_BPF_H_ */
