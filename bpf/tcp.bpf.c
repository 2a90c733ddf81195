// SPDX-License-Identifier: GPL-2.0
/*
 * tcp.bpf.c: the TCP connection family. Every record is a struct fl_tcp_*
 * of bpf/faultline.h ("TCP connections" says what each field means); the
 * design, the hooks and their costs are in docs/collector.md ("TCP").
 *
 *   raw_tp/inet_sock_set_state   FL_EV_TCP_STATE (+ map upkeep)
 *   raw_tp/sock_send_length,     bytes summed in the map; FL_EV_TCP_SERVE
 *   raw_tp/sock_recv_length      when another thread does the I/O
 *   raw_tp/tcp_send_reset,       FL_EV_TCP_RESET
 *   raw_tp/tcp_receive_reset
 *   raw_tp/tcp_retransmit_skb    counted in the map
 *   raw_tp/tcp_destroy_sock      FL_EV_TCP_CLOSE with the totals
 *   tp/syscalls/sys_{enter,exit}_{accept,accept4,connect}
 *                                FL_EV_TCP_ACCEPT / FL_EV_TCP_CONNECT: the
 *                                owner (raw sys_enter would cost every
 *                                syscall of the machine ~9x more)
 *
 * Attribution: a socket's owner is recorded in "tcp_conns" in process
 * context (listen, connect, accept exit, first I/O) and copied into every
 * record; `current` is used only when the event ran in process context
 * (tcp_in_task()), never in softirq, where it is whoever was interrupted.
 *
 * Filtering: a socket is traced iff it is in "tcp_conns". It enters at
 * CLOSE->LISTEN or CLOSE->SYN_SENT when the calling task passes
 * tcp_task_ok(), at LISTEN->SYN_RECV when its local port is a traced
 * listener's ("tcp_listeners", also seeded by the collector), or at the
 * first process-context event of a traced task on it (FL_EV_TCP_SEEN).
 * Socks are read through bpf_rdonly_cast() (inlined loads, ~5x cheaper
 * than BPF_CORE_READ here) and records go out without wakeups.
 */
#include "task.bpf.h"
#include "tcp_conn.bpf.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define CAST(type, p) ((type *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(type)))
#define SKC(p) CAST(struct sock_common, p)
#define SK(p) CAST(struct sock, p)
#define INET(p) CAST(struct inet_sock, p)

/* Settings, set by the collector before load (collector/tcp_family.cc). */
const volatile __u8 tcp_all;        /* whole machine: every TCP socket */
const volatile __u16 tcp_port;      /* --port N (host order), 0 = none */
const volatile __u64 tcp_cgroup;    /* --cgroup: cgroup v2 id, 0 = none */
/*
 * This CPU's preempt count, to tell softirq from process context. There is
 * no CONFIG_KALLSYMS_ALL on the team's kernel, so `__preempt_count __ksym`
 * does not load. The running task's cfs_rq->rq is this CPU's copy of the
 * per-CPU `runqueues`; other per-CPU variables sit at the distance their
 * .data..percpu offsets in vmlinux BTF say (the collector computes them).
 * current_task at its computed place must be the current task, else the
 * count is not trusted. 0 = unknown.
 */
const volatile __s64 tcp_pc_delta;  /* off(__preempt_count) - off(runqueues) */
const volatile __s64 tcp_ct_delta;  /* off(current_task) - off(runqueues) */

/* struct fl_conn: bpf/tcp_conn.bpf.h (the collector reads it too). */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);  /* struct sock * */
	__type(value, struct fl_conn);
} tcp_conns SEC(".maps");

/* Recently destroyed sockets, for the resets that follow tcp_destroy_sock
 * (TCP_ABORT_ON_DATA comes ~10 us after it). */
struct fl_tomb {
	__u64 gen;
	__u64 ts;      /* destroy time */
	__u32 pid;
	__u32 tid;
	__u16 sport;   /* the ports: the address may already be another,
			* untraced socket's (reuse takes microseconds) */
	__u16 dport;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct fl_tomb);
} tcp_tombs SEC(".maps");
#define TOMB_NS 1000000000ull /* a tombstone older than 1 s is not used */

/* Traced listening ports: local port -> the listening sock (0 when seeded
 * by the collector from /proc and not seen yet). With SO_REUSEPORT several
 * listeners share a port: the last one seen is kept. */
struct fl_listener {
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16);
	__type(value, struct fl_listener);
} tcp_listeners SEC(".maps");

/* The syscall in flight of a thread (accept/connect enter -> exit). */
#define TCP_SYS_ACCEPT 1
#define TCP_SYS_CONNECT 2
struct fl_tcp_sys {
	__s64 fd;
	__u32 nr;   /* TCP_SYS_*, 0 = none */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fl_tcp_sys);
} tcp_sys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_tcp_cpu_stats);
} tcp_stats SEC(".maps");

static __always_inline struct fl_tcp_cpu_stats *tcp_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tcp_stats, &zero);
}

/* ---- context ---- */

#define CTX_TASK 0
#define CTX_IRQ 1
#define CTX_UNKNOWN 2

/* Process context (a syscall, or the backlog in release_sock()) vs
 * softirq/hardirq/NMI: the preempt count's SOFTIRQ_OFFSET, HARDIRQ and NMI
 * bits. bh-disabled process context counts as process context. */
static __always_inline int tcp_ctx(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	char *rq;
	__u64 cur = 0;
	int pc = 0;

	if (!tcp_pc_delta)
		goto unknown;
	rq = (char *)t->se.cfs_rq->rq;
	if (!rq)
		goto unknown;
	if (bpf_probe_read_kernel(&cur, sizeof(cur), rq + tcp_ct_delta) ||
	    cur != (__u64)t)
		goto unknown;
	if (bpf_probe_read_kernel(&pc, sizeof(pc), rq + tcp_pc_delta))
		goto unknown;
	return (pc & 0x00ff0100) ? CTX_IRQ : CTX_TASK;
unknown:
	{
		struct fl_tcp_cpu_stats *s = tcp_counters();

		if (s)
			s->ctx_unknown++;
	}
	return CTX_UNKNOWN;
}

/* Whether the current task's sockets are traced (process context only). */
static __always_inline int tcp_task_ok(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (tgid == self_tgid)
		return 0;
	if (tcp_all)
		return 1;
	if (filter_tgid && bpf_map_lookup_elem(&targets, &tgid))
		return 1;
	if (tcp_cgroup && bpf_get_current_cgroup_id() == tcp_cgroup)
		return 1;
	return 0;
}

/* ---- socks ---- */

/* A full TCP stream socket (not raw IPPROTO_TCP, not MPTCP). */
static __always_inline int is_tcp(const struct sock *sk)
{
	return sk && SK(sk)->sk_protocol == IPPROTO_TCP &&
	       SK(sk)->sk_type == SOCK_STREAM;
}

/*
 * Local port. Full socks: inet_sport, because at every ->CLOSE transition
 * tcp_set_state() has already run inet_put_port(), which zeroes skc_num.
 * Timewait and request socks have no inet_sock: skc_num is right there.
 */
static __always_inline __u16 local_port(const struct sock *sk, __u8 state)
{
	__u16 p;

	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return SKC(sk)->skc_num;
	/* listen() without bind(): inet_sport is set after the ->LISTEN
	 * tracepoint, skc_num before it */
	p = bpf_ntohs(INET(sk)->inet_sport);
	return p ? p : SKC(sk)->skc_num;
}

/* Addresses, ports and family of any sock (sock_common fields only). */
static __always_inline void sk_tuple(const struct sock *sk, __u8 state,
				     __u8 *saddr, __u8 *daddr, __u16 *sport,
				     __u16 *dport, __u16 *family)
{
	struct sock_common *c = SKC(sk);

	*family = c->skc_family;
	*sport = local_port(sk, state);
	*dport = bpf_ntohs(c->skc_dport);
	if (*family == AF_INET6) {
		bpf_probe_read_kernel(saddr, 16, &c->skc_v6_rcv_saddr);
		bpf_probe_read_kernel(daddr, 16, &c->skc_v6_daddr);
	} else {
		__u32 s = c->skc_rcv_saddr, d = c->skc_daddr;

		__builtin_memcpy(saddr, &s, 4);
		__builtin_memcpy(daddr, &d, 4);
	}
}

/* The connection's tuple, refreshed from the sock while it is valid (the
 * remote port is 0 once tcp_disconnect() ran). */
static __always_inline void conn_refresh(struct fl_conn *c, const struct sock *sk)
{
	__u8 sa[16] = {}, da[16] = {};
	__u16 sp, dp, fam;

	sk_tuple(sk, SKC(sk)->skc_state, sa, da, &sp, &dp, &fam);
	if (!dp)
		return;
	__builtin_memcpy(c->saddr, sa, 16);
	__builtin_memcpy(c->daddr, da, 16);
	c->sport = sp;
	c->dport = dp;
	c->family = fam;
}

static __always_inline void owner_current(struct fl_conn *c)
{
	__u64 pt = bpf_get_current_pid_tgid();

	c->pid = pt >> 32;
	c->tid = (__u32)pt;
}

/* A new map entry for `sk`, opened at `now`. NULL when the map is full. */
static __always_inline struct fl_conn *conn_open(const struct sock *sk,
						 __u64 now, int owned,
						 int listener)
{
	struct fl_tcp_cpu_stats *s = tcp_counters();
	struct fl_conn n = {};
	__u64 key = (__u64)sk;

	n.gen = now;
	n.listener = listener;
	if (owned)
		owner_current(&n);
	conn_refresh(&n, sk);
	if (!n.family)
		n.family = SKC(sk)->skc_family;
	if (bpf_map_update_elem(&tcp_conns, &key, &n, BPF_ANY)) {
		if (s)
			s->conns_full++;
		return NULL;
	}
	bpf_map_delete_elem(&tcp_tombs, &key);
	if (s && !listener)
		s->opened++;
	return bpf_map_lookup_elem(&tcp_conns, &key);
}

static __always_inline void fill_cur(__u32 *pid, __u32 *tid, int ctx)
{
	if (ctx == CTX_TASK) {
		__u64 pt = bpf_get_current_pid_tgid();

		*pid = pt >> 32;
		*tid = (__u32)pt;
	}
}

/* FL_EV_TCP_STATE / FL_EV_TCP_SEEN of `sk` at `ts`: the same clock read
 * as the entry's gen (when this event opened it) and est_ns, so that they
 * equal this record's time. */
static __always_inline void emit_state(const struct sock *sk,
				       const struct fl_conn *c, __u16 type,
				       int oldstate, int newstate, int ctx,
				       const struct sock *lsk, __u64 ts)
{
	struct fl_tcp_state *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_hdr(&e->hdr, type, sizeof(*e));
	e->hdr.ts_ns = ts;
	e->sk = (__u64)sk;
	e->gen = c->gen;
	__builtin_memset(e->saddr, 0, 16);
	__builtin_memset(e->daddr, 0, 16);
	sk_tuple(sk, oldstate, e->saddr, e->daddr, &e->sport, &e->dport,
		 &e->family);
	if (!e->dport && c->dport) {
		/* cleared by tcp_disconnect(): the last valid tuple */
		__builtin_memcpy(e->saddr, c->saddr, 16);
		__builtin_memcpy(e->daddr, c->daddr, 16);
		e->sport = c->sport;
		e->dport = c->dport;
	}
	e->pid = c->pid;
	e->tid = c->tid;
	e->cur_pid = 0;
	e->cur_tid = 0;
	fill_cur(&e->cur_pid, &e->cur_tid, ctx);
	e->backlog = 0;
	e->max_backlog = 0;
	if (lsk) {
		e->backlog = SK(lsk)->sk_ack_backlog;
		e->max_backlog = SK(lsk)->sk_max_ack_backlog;
	}
	e->old_state = oldstate;
	e->new_state = newstate;
	submit(e);
}

/* ---- state changes ---- */

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, const int oldstate,
	     const int newstate)
{
	__u64 key = (__u64)sk, now;
	const struct sock *lsk = NULL;
	struct fl_listener *l;
	struct fl_conn *c;
	__u16 lport;
	int cx;

	if (!is_tcp(sk))
		return 0;
	c = bpf_map_lookup_elem(&tcp_conns, &key);
	lport = local_port(sk, oldstate);
	now = bpf_ktime_get_ns();
	if (!c) {
		if (newstate == TCP_SYN_RECV) {
			/* a child of a traced listener? (its addresses are
			 * already the peer's) */
			if (!tcp_all && !bpf_map_lookup_elem(&tcp_listeners, &lport))
				return 0;
			c = conn_open(sk, now, 0, 0);
		} else if (newstate == TCP_SYN_SENT) {
			/* connect() or sendto(MSG_FASTOPEN): process context */
			if (!tcp_task_ok())
				return 0;
			c = conn_open(sk, now, 1, 0);
		} else if (newstate == TCP_LISTEN) {
			/* listen(): process context */
			if (!tcp_task_ok() && !(tcp_port && lport == tcp_port))
				return 0;
			c = conn_open(sk, now, 1, 1);
		} else if (tcp_all) {
			c = conn_open(sk, now, 0, 0);
		} else {
			/* a socket of a traced task from before the recording,
			 * seen in process context (e.g. its close()) */
			if (tcp_ctx() != CTX_TASK || !tcp_task_ok())
				return 0;
			c = conn_open(sk, now, 1, 0);
		}
		if (!c)
			return 0;
	}
	cx = tcp_ctx();
	if (newstate == TCP_LISTEN) {
		struct fl_listener v = { .sk = (__u64)sk };

		c->listener = 1;
		bpf_map_update_elem(&tcp_listeners, &lport, &v, BPF_ANY);
		lsk = sk;
	} else if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
		l = bpf_map_lookup_elem(&tcp_listeners, &lport);
		if (l && l->sk == (__u64)sk && !(tcp_port && lport == tcp_port))
			bpf_map_delete_elem(&tcp_listeners, &lport);
	} else if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		/* the child is already on the listener's accept queue */
		c->est_ns = now;
		l = bpf_map_lookup_elem(&tcp_listeners, &lport);
		if (l && l->sk)
			lsk = (const struct sock *)l->sk;
		conn_refresh(c, sk);
	} else if (newstate == TCP_ESTABLISHED) {
		conn_refresh(c, sk);
	}
	emit_state(sk, c, FL_EV_TCP_STATE, oldstate, newstate, cx, lsk, now);
	return 0;
}

/* ---- accept / connect: the owner ---- */

/* fd of the current task -> its struct sock, NULL if not a socket. */
static __always_inline struct sock *fd_to_sock(__s64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *file = NULL;
	struct fdtable *fdt;
	struct socket *sock;
	struct file **fds;

	if (fd < 0)
		return NULL;
	fdt = task->files->fdt;
	if (!fdt || (__u64)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	/* a variable index into a BTF pointer is refused: one helper read */
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	file = CAST(struct file, file);
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = CAST(struct socket, file->private_data);
	if (!sock)
		return NULL;
	return sock->sk;
}

static __always_inline int tcp_sys_enter(__s64 fd, __u32 nr)
{
	struct fl_tcp_sys *st;

	/* --port: an acceptor that is not a target yet may become one */
	if (!tcp_task_ok() && !(tcp_port && nr == TCP_SYS_ACCEPT))
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return 0;
	st = bpf_task_storage_get(&tcp_sys, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	st->fd = fd;
	st->nr = nr;
	return 0;
}

/* The fd of the syscall in flight, if it is `nr`; clears it. */
static __always_inline int tcp_sys_take(__u32 nr, __s64 *fd)
{
	struct fl_tcp_sys *st;

	st = bpf_task_storage_get(&tcp_sys, bpf_get_current_task_btf(), 0, 0);
	if (!st || st->nr != nr)
		return 0;
	st->nr = 0;
	*fd = st->fd;
	return 1;
}

/* --port: the process accepting on the port becomes a target (with its
 * descendants, via tasks.bpf.c), and this thread's cached verdict too. */
static __always_inline void adopt_acceptor(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_state *ts;
	__u8 one = 1;

	bpf_map_update_elem(&targets, &tgid, &one, BPF_ANY);
	ts = bpf_task_storage_get(&tstate, bpf_get_current_task_btf(), 0, 0);
	if (ts)
		ts->target = TS_TARGET;
}

/* First sight of a socket in process context: the entry and its SEEN. */
static __always_inline struct fl_conn *conn_seen(const struct sock *sk)
{
	__u8 state = SKC(sk)->skc_state;
	__u64 now = bpf_ktime_get_ns();
	struct fl_conn *c;

	c = conn_open(sk, now, 1, state == TCP_LISTEN);
	if (c)
		emit_state(sk, c, FL_EV_TCP_SEEN, state, state, CTX_TASK, NULL,
			   now);
	return c;
}

static __always_inline int tcp_accept_exit(__s64 ret)
{
	struct sock *sk, *lsk;
	struct fl_tcp_accept *e;
	struct fl_conn *c;
	__u64 key;
	__s64 lfd;
	__u16 lport;

	if (!tcp_sys_take(TCP_SYS_ACCEPT, &lfd) || ret < 0)
		return 0;
	sk = fd_to_sock(ret);
	if (!is_tcp(sk))
		return 0;
	lsk = fd_to_sock(lfd);
	if (!tcp_task_ok()) {
		if (!lsk || bpf_ntohs(INET(lsk)->inet_sport) != tcp_port)
			return 0;
		adopt_acceptor();
	}
	if (lsk) {
		struct fl_listener v = { .sk = (__u64)lsk };

		lport = bpf_ntohs(INET(lsk)->inet_sport);
		bpf_map_update_elem(&tcp_listeners, &lport, &v, BPF_ANY);
	}
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c)
		c = conn_seen(sk);
	if (!c)
		return 0;
	owner_current(c);
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, FL_EV_TCP_ACCEPT, sizeof(*e));
	e->sk = key;
	e->gen = c->gen;
	e->listener = (__u64)lsk;
	e->established_ns = c->est_ns;
	__builtin_memset(e->saddr, 0, 16);
	__builtin_memset(e->daddr, 0, 16);
	sk_tuple(sk, SKC(sk)->skc_state, e->saddr, e->daddr, &e->sport,
		 &e->dport, &e->family);
	e->pid = c->pid;
	e->tid = c->tid;
	e->backlog = lsk ? SK(lsk)->sk_ack_backlog : 0;
	e->max_backlog = lsk ? SK(lsk)->sk_max_ack_backlog : 0;
	e->fd = ret;
	e->state = SKC(sk)->skc_state;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	submit(e);
	return 0;
}

static __always_inline int tcp_connect_exit(__s64 ret)
{
	struct fl_tcp_connect *e;
	struct fl_conn *c;
	struct sock *sk;
	__u64 key;
	__s64 fd;

	if (!tcp_sys_take(TCP_SYS_CONNECT, &fd))
		return 0;
	sk = fd_to_sock(fd);
	if (!is_tcp(sk))
		return 0;
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c)
		c = conn_seen(sk);
	if (!c)
		return 0;
	owner_current(c);
	conn_refresh(c, sk);
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, FL_EV_TCP_CONNECT, sizeof(*e));
	e->sk = key;
	e->gen = c->gen;
	__builtin_memset(e->saddr, 0, 16);
	__builtin_memset(e->daddr, 0, 16);
	sk_tuple(sk, SKC(sk)->skc_state, e->saddr, e->daddr, &e->sport,
		 &e->dport, &e->family);
	e->pid = c->pid;
	e->tid = c->tid;
	e->fd = fd;
	e->ret = ret;
	e->state = SKC(sk)->skc_state;
	e->_pad = 0;
	submit(e);
	return 0;
}

/* tcp_{enter,exit}_<name>: the names in the probe table
 * (collector/tcp_family.cc). */
#define TCP_SYS_PROGS(name, nr, exit_fn)				\
	SEC("tp/syscalls/sys_enter_" #name)				\
	int tcp_enter_##name(struct sys_enter_ctx *ctx)			\
	{								\
		return tcp_sys_enter(ctx->args[0], nr);			\
	}								\
	SEC("tp/syscalls/sys_exit_" #name)				\
	int tcp_exit_##name(struct sys_exit_ctx *ctx)			\
	{								\
		return exit_fn(ctx->ret);				\
	}

TCP_SYS_PROGS(accept4, TCP_SYS_ACCEPT, tcp_accept_exit)
TCP_SYS_PROGS(accept, TCP_SYS_ACCEPT, tcp_accept_exit)
TCP_SYS_PROGS(connect, TCP_SYS_CONNECT, tcp_connect_exit)

/* ---- bytes and serving threads ---- */

static __always_inline int tcp_io(const struct sock *sk, int ret, int send)
{
	struct fl_tcp_serve *e;
	struct fl_conn *c;
	__u64 key = (__u64)sk, pt;
	__u32 tid;

	if (ret <= 0 || !is_tcp(sk))
		return 0;
	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c) {
		if (!tcp_task_ok())
			return 0;
		c = conn_seen(sk);
		if (!c)
			return 0;
	}
	pt = bpf_get_current_pid_tgid();
	tid = (__u32)pt;
	if (c->last_tid != tid) {
		e = reserve(sizeof(*e));
		if (e) {
			fill_hdr(&e->hdr, FL_EV_TCP_SERVE, sizeof(*e));
			e->sk = key;
			e->gen = c->gen;
			e->bytes_in = c->bytes_in;
			e->bytes_out = c->bytes_out;
			e->pid = pt >> 32;
			e->tid = tid;
			e->prev_tid = c->last_tid;
			e->len = ret;
			e->send = send;
			__builtin_memset(e->_pad, 0, sizeof(e->_pad));
			submit(e);
		}
		c->last_tid = tid;
	}
	if (send)
		__sync_fetch_and_add(&c->bytes_out, ret);
	else
		__sync_fetch_and_add(&c->bytes_in, ret);
	return 0;
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(tcp_send, struct sock *sk, int ret, int flags)
{
	return tcp_io(sk, ret, 1);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(tcp_recv, struct sock *sk, int ret, int flags)
{
	if (flags & MSG_PEEK)
		return 0;
	return tcp_io(sk, ret, 0);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)sk;
	struct fl_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);

	if (c)
		__sync_fetch_and_add(&c->retransmits, 1);
	return 0;
}

/* ---- resets ---- */

/* enum sk_rst_reason (this kernel's numbering, by CO-RE) -> fl_rst_reason */
static __always_inline __u8 rst_reason(int r)
{
#define RSN(name, ours)                                                       \
	if (bpf_core_enum_value_exists(enum sk_rst_reason, SK_RST_REASON_##name) && \
	    r == bpf_core_enum_value(enum sk_rst_reason, SK_RST_REASON_##name))   \
		return ours;
	RSN(NOT_SPECIFIED, FL_RST_NOT_SPECIFIED)
	RSN(NO_SOCKET, FL_RST_NO_SOCKET)
	RSN(TCP_INVALID_ACK_SEQUENCE, FL_RST_INVALID_ACK_SEQUENCE)
	RSN(TCP_RFC7323_PAWS, FL_RST_RFC7323_PAWS)
	RSN(TCP_TOO_OLD_ACK, FL_RST_TOO_OLD_ACK)
	RSN(TCP_ACK_UNSENT_DATA, FL_RST_ACK_UNSENT_DATA)
	RSN(TCP_FLAGS, FL_RST_FLAGS)
	RSN(TCP_OLD_ACK, FL_RST_OLD_ACK)
	RSN(TCP_ABORT_ON_DATA, FL_RST_ABORT_ON_DATA)
	RSN(TCP_TIMEWAIT_SOCKET, FL_RST_TIMEWAIT_SOCKET)
	RSN(INVALID_SYN, FL_RST_INVALID_SYN)
	RSN(TCP_ABORT_ON_CLOSE, FL_RST_ABORT_ON_CLOSE)
	RSN(TCP_ABORT_ON_LINGER, FL_RST_ABORT_ON_LINGER)
	RSN(TCP_ABORT_ON_MEMORY, FL_RST_ABORT_ON_MEMORY)
	RSN(TCP_STATE, FL_RST_TCP_STATE)
	RSN(TCP_KEEPALIVE_TIMEOUT, FL_RST_KEEPALIVE_TIMEOUT)
	RSN(TCP_DISCONNECT_WITH_DATA, FL_RST_DISCONNECT_WITH_DATA)
#undef RSN
	return FL_RST_OTHER;
}

/* Addresses and ports of the segment a reset answers, from our side:
 * local = its destination. IPv4 and IPv6 headers. */
static __always_inline void skb_tuple(const struct sk_buff *skb,
				      struct fl_tcp_reset *e)
{
	struct sk_buff *s = CAST(struct sk_buff, skb);
	unsigned char *head = s->head;
	__u16 nh = s->network_header, th = s->transport_header;
	struct tcphdr t = {};
	__u8 ver = 0;

	bpf_probe_read_kernel(&ver, 1, head + nh);
	if ((ver >> 4) == 6) {
		struct ipv6hdr ip6;

		if (!bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh)) {
			__builtin_memcpy(e->saddr, &ip6.daddr, 16);
			__builtin_memcpy(e->daddr, &ip6.saddr, 16);
		}
		e->family = AF_INET6;
	} else {
		struct iphdr ip;

		if (!bpf_probe_read_kernel(&ip, sizeof(ip), head + nh)) {
			__builtin_memcpy(e->saddr, &ip.daddr, 4);
			__builtin_memcpy(e->daddr, &ip.saddr, 4);
		}
		e->family = AF_INET;
	}
	bpf_probe_read_kernel(&t, sizeof(t), head + th);
	e->sport = bpf_ntohs(t.dest);
	e->dport = bpf_ntohs(t.source);
}

static __always_inline struct fl_tcp_reset *reset_begin(void)
{
	struct fl_tcp_reset *e = reserve(sizeof(*e));

	if (!e)
		return NULL;
	fill_hdr(&e->hdr, FL_EV_TCP_RESET, sizeof(*e));
	__builtin_memset(&e->sk, 0, sizeof(*e) - sizeof(e->hdr));
	return e;
}

/* Owner and gen of a full sock: live entry, else a fresh tombstone. */
static __always_inline int reset_owner(const struct sock *sk,
				       struct fl_tcp_reset *e)
{
	__u64 key = (__u64)sk;
	struct fl_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);
	struct fl_tomb *t;

	if (c) {
		e->gen = c->gen;
		e->pid = c->pid;
		e->tid = c->tid;
		return 1;
	}
	t = bpf_map_lookup_elem(&tcp_tombs, &key);
	if (t && e->hdr.ts_ns - t->ts < TOMB_NS && t->sport == e->sport &&
	    (t->dport == e->dport || !e->dport)) {
		e->gen = t->gen;
		e->pid = t->pid;
		e->tid = t->tid;
		e->flags |= FL_RST_F_DESTROYED;
		return 1;
	}
	return 0;
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(tcp_send_reset, const struct sock *sk, const struct sk_buff *skb,
	     int reason)
{
	struct fl_tcp_reset *e;
	__u8 state = 0;
	__u16 lport;
	int ours;

	/* cheap checks before the reserve: a full sock must be traced, any
	 * other one must be on a traced listening port */
	if (sk) {
		state = SKC(sk)->skc_state;
		if (state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV) {
			__u64 key = (__u64)sk;

			if (!tcp_all && !bpf_map_lookup_elem(&tcp_conns, &key) &&
			    !bpf_map_lookup_elem(&tcp_tombs, &key))
				return 0;
		}
	} else if (!skb) {
		return 0;
	}
	e = reset_begin();
	if (!e)
		return 0;
	e->reason = rst_reason(reason);
	e->kernel_reason = reason;
	if (skb)
		e->flags |= FL_RST_F_PASSIVE;
	if (sk) {
		e->sk = (__u64)sk;
		e->state = state;
		sk_tuple(sk, state, e->saddr, e->daddr, &e->sport, &e->dport,
			 &e->family);
		if (state == TCP_TIME_WAIT)
			e->flags |= FL_RST_F_TIMEWAIT;
		else if (state == TCP_NEW_SYN_RECV)
			e->flags |= FL_RST_F_REQUEST;
		/* after sk_tuple(): the tombstone check needs the ports */
		ours = (e->flags & (FL_RST_F_TIMEWAIT | FL_RST_F_REQUEST)) ?
			       0 : reset_owner(sk, e);
	} else {
		e->flags |= FL_RST_F_NO_SOCK;
		skb_tuple(skb, e);
		ours = 0;
	}
	lport = e->sport;
	if (!ours && !tcp_all && !bpf_map_lookup_elem(&tcp_listeners, &lport)) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return 0;
	}
	fill_cur(&e->cur_pid, &e->cur_tid, tcp_ctx());
	submit(e);
	return 0;
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	struct fl_tcp_reset *e;
	__u64 key = (__u64)sk;

	if (!sk || (!tcp_all && !bpf_map_lookup_elem(&tcp_conns, &key)))
		return 0;
	e = reset_begin();
	if (!e)
		return 0;
	e->sk = key;
	e->state = SKC(sk)->skc_state;
	e->flags = FL_RST_F_RECEIVED;
	sk_tuple(sk, e->state, e->saddr, e->daddr, &e->sport, &e->dport,
		 &e->family);
	reset_owner(sk, e);
	fill_cur(&e->cur_pid, &e->cur_tid, tcp_ctx());
	submit(e);
	return 0;
}

/* ---- the end ---- */

SEC("raw_tp/tcp_destroy_sock")
int BPF_PROG(tcp_destroy, struct sock *sk)
{
	struct fl_tcp_cpu_stats *s;
	struct fl_tcp_close *e;
	struct fl_tomb t = {};
	struct fl_conn *c;
	__u64 key = (__u64)sk;

	c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c)
		return 0;
	s = tcp_counters();
	if (s && !c->listener)
		s->closed++;
	e = reserve(sizeof(*e));
	if (e) {
		fill_hdr(&e->hdr, FL_EV_TCP_CLOSE, sizeof(*e));
		e->sk = key;
		e->gen = c->gen;
		e->bytes_in = c->bytes_in;
		e->bytes_out = c->bytes_out;
		__builtin_memset(e->saddr, 0, 16);
		__builtin_memset(e->daddr, 0, 16);
		e->state = SKC(sk)->skc_state;
		sk_tuple(sk, e->state, e->saddr, e->daddr, &e->sport,
			 &e->dport, &e->family);
		if (!e->dport && c->dport) {
			__builtin_memcpy(e->saddr, c->saddr, 16);
			__builtin_memcpy(e->daddr, c->daddr, 16);
			e->sport = c->sport;
			e->dport = c->dport;
		}
		e->pid = c->pid;
		e->tid = c->tid;
		e->last_tid = c->last_tid;
		e->retransmits = c->retransmits;
		e->_pad = 0;
		submit(e);
	}
	t.gen = c->gen;
	t.ts = bpf_ktime_get_ns();
	t.pid = c->pid;
	t.tid = c->tid;
	t.sport = c->sport;
	t.dport = c->dport;
	bpf_map_update_elem(&tcp_tombs, &key, &t, BPF_ANY);
	bpf_map_delete_elem(&tcp_conns, &key);
	return 0;
}
