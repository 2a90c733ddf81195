// SPDX-License-Identifier: GPL-2.0
/*
 * mm.bpf.c: the address-space family: mmap/munmap/mremap/brk/mprotect of
 * targets (struct fl_mmap, the file path resolved from the fd at mmap time)
 * and TLB shootdowns (struct fl_tlb). Not loaded with --summary.
 */
#include "faults.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- address space: syscalls of targets ---- */

/*
 * A syscall tracepoint program may only read the arguments its tracepoint
 * has (the kernel rejects the attach otherwise), so `nargs` is a constant
 * at every call site and the dead reads vanish.
 */
static __always_inline int sys_enter(struct sys_enter_ctx *ctx, __u32 type,
				     int nargs)
{
	struct task_state *st = current_state();

	if (!st)
		return 0;
	st->sys_event = type;
	st->sys_arg[0] = ctx->args[0];
	if (nargs > 1)
		st->sys_arg[1] = ctx->args[1];
	if (nargs > 2)
		st->sys_arg[2] = ctx->args[2];
	if (nargs > 3)
		st->sys_arg[3] = ctx->args[3];
	if (nargs > 4)
		st->sys_arg[4] = ctx->args[4];
	return 0;
}

/* Scratch for fd_path(): components are written backwards from the middle. */
struct path_buf {
	char b[2 * FL_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

#define FL_PATH_DEPTH 32 /* directories and mount crossings walked */

/* State of fd_path()'s walk, passed to each path_step(). */
struct path_walk {
	struct dentry *d;
	struct mount *mnt;
	struct path_buf *pb;
	__u32 pos;  /* the path so far is pb->b[pos .. FL_PATH_LEN) */
	int state;  /* 0 walking, 1 reached the root, -1 too long */
};

/* One step of the walk (a bpf_loop() callback, so that the verifier checks
 * it once instead of once per unrolled level). */
static long path_step(__u64 index, void *arg)
{
	/* Locals only inside BPF_CORE_READ(): it would relocate w's fields. */
	struct path_walk *w = arg;
	struct dentry *d = w->d, *parent = BPF_CORE_READ(d, d_parent);
	struct mount *mnt = w->mnt;
	const unsigned char *name;
	__u32 len, pos = w->pos;

	if (d == BPF_CORE_READ(mnt, mnt.mnt_root) || d == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (up == mnt || !up) {
			w->state = 1; /* the root */
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	if (len == 0 || len + 1 > pos || pos > FL_PATH_LEN) {
		w->state = -1;
		return 1;
	}
	pos -= len + 1;
	w->pb->b[pos & (FL_PATH_LEN - 1)] = '/';
	bpf_probe_read_kernel(&w->pb->b[(pos + 1) & (FL_PATH_LEN - 1)],
			      len & (FL_PATH_LEN - 1), name);
	w->pos = pos;
	w->d = parent;
	return 0;
}

/*
 * The path of the file open on `fd` in the current task, from its dentry
 * up to the root, crossing mount points (bpf_d_path() would do this but
 * needs fentry, which this kernel refuses). Written to `out`; left empty
 * when the walk is deeper than FL_PATH_DEPTH or the path longer than
 * FL_PATH_LEN - 1. Used for mmap() of a file: by the time the collector
 * reads the event, a short-lived mapping (ld.so.cache) may be gone from
 * /proc/PID/map_files, but here the fd is still open.
 */
static __always_inline void fd_path(int fd, char *out)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct path_walk w = {};
	struct fdtable *fdt;
	struct file **fds;
	struct file *file = NULL;
	__u32 zero = 0;

	if (fd < 0)
		return;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return;
	w.pb = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!w.pb)
		return;
	w.pb->b[FL_PATH_LEN] = 0;
	w.d = BPF_CORE_READ(file, f_path.dentry);
	w.mnt = container_of(BPF_CORE_READ(file, f_path.mnt), struct mount,
			     mnt);
	w.pos = FL_PATH_LEN;
	bpf_loop(FL_PATH_DEPTH, path_step, &w, 0);
	if (w.state != 1 || w.pos >= FL_PATH_LEN)
		return;
	bpf_probe_read_kernel_str(out, FL_PATH_LEN,
				  &w.pb->b[w.pos & (FL_PATH_LEN - 1)]);
}

static __always_inline int sys_exit(struct sys_exit_ctx *ctx, __u32 type)
{
	struct task_state *st = current_state_lookup();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fl_mmap *e;
	__s64 ret = ctx->ret;

	if (!st || st->sys_event != type)
		return 0;
	st->sys_event = 0;
	/* brk returns the new break; the others return 0 or an address. */
	if (ret < 0 && ret > -4096)
		return 0;
	if (type != FL_EV_MMAP)
		flush_batch(); /* faults before the change precede it */
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, type, sizeof(*e));
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->prot = 0;
	e->flags = 0;
	e->fd = -1;
	e->pgoff = 0;
	e->aux = 0;
	e->_pad = 0;
	e->path[0] = 0;
	switch (type) {
	case FL_EV_MMAP: /* addr, len, prot, flags, fd, off */
		e->start = ret;
		e->len = st->sys_arg[1];
		e->prot = st->sys_arg[2];
		e->flags = st->sys_arg[3];
		e->fd = (__s32)st->sys_arg[4];
		/* off is args[5]; saved only for mmap, see handler */
		e->pgoff = st->sys_arg[0];
		if (!(e->flags & 0x20 /* MAP_ANONYMOUS */))
			fd_path(e->fd, e->path);
		break;
	case FL_EV_MUNMAP: /* addr, len */
		e->start = st->sys_arg[0];
		e->len = st->sys_arg[1];
		break;
	case FL_EV_MREMAP: /* old addr, old len, new len, flags, new addr */
		e->start = st->sys_arg[0];
		e->len = st->sys_arg[1];
		e->pgoff = ret;
		e->aux = st->sys_arg[2];
		e->flags = st->sys_arg[3];
		break;
	case FL_EV_BRK: /* new break in ret; start = requested */
		e->start = ret;
		e->len = 0;
		e->aux = st->sys_arg[0];
		break;
	case FL_EV_MPROTECT: /* addr, len, prot */
		e->start = st->sys_arg[0];
		e->len = st->sys_arg[1];
		e->prot = st->sys_arg[2];
		break;
	}
	submit(e);
	return 0;
}

SEC("tp/syscalls/sys_enter_mmap")
int handle_enter_mmap(struct sys_enter_ctx *ctx)
{
	struct task_state *st;

	sys_enter(ctx, FL_EV_MMAP, 5);
	st = current_state_lookup();
	if (st)
		st->sys_arg[0] = ctx->args[5]; /* keep off in place of addr */
	return 0;
}

/*
 * The exit of every syscall above, and the entry of those with nothing to
 * keep besides the arguments: handle_{enter,exit}_<name> (the names in the
 * probe table, collector/families.cc).
 */
#define SYS_EXIT_PROG(name, type)					\
	SEC("tp/syscalls/sys_exit_" #name)				\
	int handle_exit_##name(struct sys_exit_ctx *ctx)		\
	{								\
		return sys_exit(ctx, type);				\
	}

#define SYS_PROGS(name, type, nargs)					\
	SEC("tp/syscalls/sys_enter_" #name)				\
	int handle_enter_##name(struct sys_enter_ctx *ctx)		\
	{								\
		return sys_enter(ctx, type, nargs);			\
	}								\
	SYS_EXIT_PROG(name, type)

SYS_EXIT_PROG(mmap, FL_EV_MMAP)
SYS_PROGS(munmap, FL_EV_MUNMAP, 2)
SYS_PROGS(mremap, FL_EV_MREMAP, 5)
SYS_PROGS(brk, FL_EV_BRK, 1)
SYS_PROGS(mprotect, FL_EV_MPROTECT, 3)

SEC("tp/tlb/tlb_flush")
int handle_tlb_flush(struct trace_event_raw_tlb_flush *ctx)
{
	__u64 pid_tgid;
	struct fl_tlb *e;

	/* A switch to another mm is not a shootdown, and is by far the most
	 * frequent reason (every context switch between processes). */
	if (ctx->reason == TLB_FLUSH_ON_TASK_SWITCH)
		return 0;
	if (!current_state())
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, FL_EV_TLB_FLUSH, sizeof(*e));
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->reason = ctx->reason;
	e->_pad = 0;
	e->pages = ctx->pages;
	submit(e);
	return 0;
}
