// SPDX-License-Identifier: GPL-2.0
/*
 * faults.bpf.c: page faults with their latency and minor/major verdict,
 * plus the task and address-space events needed to attribute them.
 *
 * Entry:      tp/exceptions/page_fault_{user,kernel}
 * Completion: perf_event programs on PERF_COUNT_SW_PAGE_FAULTS_{MIN,MAJ},
 *             which the kernel raises at the end of handle_mm_fault() in
 *             the faulting task (mm_account_fault()).
 *
 * The pending entry of each thread lives in task-local storage (no hash map
 * keyed by tid): it follows the task across CPUs, which matters for major
 * faults that sleep. Completed faults are appended to a per-CPU batch that
 * goes to the ring buffer with one bpf_ringbuf_output() per FL_BATCH faults
 * and no wakeup; the collector polls on a timer and, after detaching,
 * flushes the partial batches itself from the "batches" map.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "faultline.h"

char LICENSE[] SEC("license") = "GPL";

/* Settings, set by the collector between open and load. */
const volatile __u8 filter_tgid;   /* 1: only tgids in map "targets" */
const volatile __u8 summary_mode;  /* 1: aggregate in "summary", no stream */
const volatile __u8 with_stacks;   /* 1: user stack ids in "stacks" */
const volatile __u32 self_tgid;    /* the collector: never traced */
/* --summary: time one fault in (latency_sample_mask + 1), a power of two,
 * chosen at random per thread; 0 times every fault. Every fault is counted. */
const volatile __u32 latency_sample_mask;

/* Traced processes (tgid -> 1). Filled by the collector; children of
 * targets are added at fork and removed when their thread group dies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* resized by the collector (--ring-mb) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_cpu_stats);
} cpu_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_fault_batch);
} batches SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fl_summary_key);
	__type(value, struct fl_summary_val);
} summary SEC(".maps");

/*
 * --summary fast path: each traced process gets a slot; its FL_SK_NR
 * aggregates are rows slot * FL_SK_NR + kind of a per-CPU array, whose
 * lookup the verifier inlines (a hash lookup per fault cost more). A task
 * caches its process's slot in its storage. Processes beyond
 * FL_SUM_SLOTS fall back to the "summary" hash.
 */
#define FL_SUM_SLOTS 1024
#define FL_SUM_PROBES 4

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_SUM_SLOTS);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* slot */
} sum_slots SEC(".maps");

/* Slot owners: inserting with BPF_NOEXIST is the atomic claim (the BPF
 * target of this build has no fetch-and-add). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_SUM_SLOTS);
	__type(key, __u32);   /* slot */
	__type(value, __u32); /* tgid */
} sum_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_SUM_SLOTS * FL_SK_NR);
	__type(key, __u32);
	__type(value, struct fl_summary_val);
} sum_vals SEC(".maps");

/* --stacks. A stack map drops a new stack whose hash bucket holds another
 * one (-EEXIST; BPF_F_REUSE_STACKID would instead re-point ids that earlier
 * faults carry), so it is sized well above the number of distinct stacks:
 * 64K buckets of 64 frames, 32 MiB, allocated only with --stacks. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 65536);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} stacks SEC(".maps");

/* Per-thread state. */
#define TS_UNKNOWN 0
#define TS_TARGET 1
#define TS_OTHER 2
struct task_state {
	__u64 fault_ts;      /* entry time of the pending fault, 0 = none */
	__u64 fault_addr;
	__u64 fault_ip;
	__s32 fault_stack;
	__u16 fault_err;
	__u8 fault_flags;
	__u8 target;         /* TS_TARGET / TS_OTHER (cached filter verdict) */
	/* syscall arguments saved at sys_enter for sys_exit */
	__u64 sys_arg[5];
	__u32 sys_event;     /* FL_EV_* of the syscall in flight, 0 = none */
	__u32 sum_slot;      /* --summary: 1 + the process's row in
			      * "sum_vals", 0 = none (use "summary") */
	__u64 fault_rss;     /* RSS pages (mm counters) at fault entry */
	__u32 rnd;           /* --summary: xorshift32 state for sampling */
	__u8 sum_pending;    /* --summary: a fault entered, not completed;
			      * fault_ts is its entry time if it is timed */
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} tstate SEC(".maps");

/* tp/exceptions/page_fault_{user,kernel}: not in vmlinux BTF. */
struct fault_entry_ctx {
	__u64 common;
	__u64 address;
	__u64 ip;
	__u64 error_code;
};

struct sys_enter_ctx {
	__u64 common;
	__s64 nr;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s64 nr;
	__s64 ret;
};

static __always_inline struct fl_cpu_stats *stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_stats, &zero);
}

static __always_inline int is_target_tgid(__u32 tgid)
{
	if (tgid == self_tgid)
		return 0;
	if (!filter_tgid)
		return 1;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

/* 1 + the --summary slot of process `tgid`, claimed on first use; 0 when
 * no slot is free among the FL_SUM_PROBES candidates. */
static __always_inline __u32 summary_slot(__u32 tgid)
{
	__u32 *slot = bpf_map_lookup_elem(&sum_slots, &tgid);
	__u32 i;

	if (slot)
		return *slot + 1;
	for (i = 0; i < FL_SUM_PROBES; i++) {
		__u32 cand = (tgid + i) % FL_SUM_SLOTS;
		__u32 *owner;

		if (bpf_map_update_elem(&sum_owner, &cand, &tgid,
					BPF_NOEXIST) == 0) {
			/* Claimed. A sibling thread may have claimed another
			 * slot meanwhile: then use that one; this one stays
			 * ours (the same pid) and is merged at the end. */
			bpf_map_update_elem(&sum_slots, &tgid, &cand,
					    BPF_NOEXIST);
			slot = bpf_map_lookup_elem(&sum_slots, &tgid);
			return slot ? *slot + 1 : 0;
		}
		owner = bpf_map_lookup_elem(&sum_owner, &cand);
		if (owner && *owner == tgid) {
			/* Ours from before (a sibling, or the same pid in an
			 * earlier life): rows of one pid are merged anyway. */
			bpf_map_update_elem(&sum_slots, &tgid, &cand, BPF_ANY);
			return cand + 1;
		}
	}
	return 0;
}

/*
 * The current thread's state, created on first use. Returns NULL for
 * threads that are not traced. The filter verdict is cached in the storage:
 * a task's tgid never changes, and the collector fills "targets" before it
 * attaches anything, so a cached "no" cannot hide a later target (children
 * are new tasks with fresh storage).
 */
static __always_inline struct task_state *current_state(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_state *st;

	st = bpf_task_storage_get(&tstate, task, 0, 0);
	if (!st) {
		st = bpf_task_storage_get(&tstate, task, 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!st)
			return NULL;
		st->fault_stack = -1;
		st->target = is_target_tgid(bpf_get_current_pid_tgid() >> 32) ?
			     TS_TARGET : TS_OTHER;
		if (summary_mode && st->target == TS_TARGET)
			st->sum_slot = summary_slot(bpf_get_current_pid_tgid()
						    >> 32);
	}
	return st->target == TS_TARGET ? st : NULL;
}

/* Existing state only (no creation): for completions and exits. */
static __always_inline struct task_state *current_state_lookup(void)
{
	struct task_state *st;

	st = bpf_task_storage_get(&tstate, bpf_get_current_task_btf(), 0, 0);
	if (!st || st->target != TS_TARGET)
		return NULL;
	return st;
}

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r < FL_HIST_BUCKETS ? r : FL_HIST_BUCKETS - 1;
}

/* Books one fault of `kind`; `timed`: `lat` is its latency (only the timed
 * faults add to the latency sum, maximum and histogram). */
static __always_inline void summary_add(struct task_state *st, __u32 kind,
					__u64 lat, int timed)
{
	struct fl_summary_val *v = NULL;

	if (st->sum_slot) {
		__u32 row = (st->sum_slot - 1) * FL_SK_NR + kind;

		v = bpf_map_lookup_elem(&sum_vals, &row);
	}
	if (!v) {
		struct fl_summary_key key = {
			.pid = bpf_get_current_pid_tgid() >> 32, .kind = kind };
		v = bpf_map_lookup_elem(&summary, &key);
		if (!v) {
			struct fl_summary_val zero = {};

			bpf_map_update_elem(&summary, &key, &zero, BPF_NOEXIST);
			v = bpf_map_lookup_elem(&summary, &key);
			if (!v) {
				struct fl_cpu_stats *s = stats();

				if (s)
					s->summary_full++;
				return;
			}
		}
	}
	/* Per-CPU values: plain updates, no atomics. */
	v->count++;
	if (!timed)
		return;
	v->total_ns += lat;
	if (lat > v->max_ns)
		v->max_ns = lat;
	v->hist[log2_bucket(lat) & (FL_HIST_BUCKETS - 1)]++;
}

/* Append one fault to this CPU's batch; send the batch when full. */
static __always_inline void emit_fault(struct task_state *st, __u8 outcome,
				       __u64 now, __u64 pid_tgid)
{
	struct fl_fault_batch *b;
	struct fl_fault_slim *f;
	struct fl_cpu_stats *s;
	__u64 lat = now > st->fault_ts ? now - st->fault_ts : 0;
	__u32 zero = 0, n;

	b = bpf_map_lookup_elem(&batches, &zero);
	if (!b)
		return;
	n = b->count;
	if (n >= FL_BATCH)
		n = 0;
	f = &b->faults[n & (FL_BATCH - 1)];
	f->ts_ns = st->fault_ts;
	f->address = st->fault_addr;
	f->ip = st->fault_ip;
	f->pid = pid_tgid >> 32;
	f->tid = (__u32)pid_tgid;
	if (outcome == FL_FAULT_INCOMPLETE)
		f->latency_ns = 0;
	else
		f->latency_ns = lat > 0xffffffffULL ? 0xffffffffU : lat;
	f->stack_id = st->fault_stack;
	f->error_code = st->fault_err;
	f->outcome = outcome;
	f->flags = st->fault_flags;
	f->_pad = 0;
	n++;
	if (n < FL_BATCH) {
		b->count = n;
		return;
	}
	b->count = FL_BATCH;
	b->hdr.ts_ns = b->faults[0].ts_ns;
	b->hdr.type = FL_EV_FAULT_BATCH;
	b->hdr.cpu = bpf_get_smp_processor_id();
	b->hdr.size = sizeof(*b);
	s = stats();
	if (bpf_ringbuf_output(&events, b, sizeof(*b), BPF_RB_NO_WAKEUP)) {
		if (s) {
			s->lost_events += FL_BATCH;
			s->lost_records++;
		}
	} else if (s) {
		s->recorded_events += FL_BATCH;
	}
	b->count = 0;
}

/*
 * Send this CPU's partial batch now. Called before an address-space or task
 * record goes out, so that the faults a thread took before its munmap(),
 * mremap(), exec or exit precede that record in the ring buffer (and so in
 * the trace file): otherwise a fault could reach the analyzer after the
 * unmapping of the very page it touched. Faults waiting on another CPU's
 * batch (the thread migrated) can still come later; the analyzer tolerates
 * that (docs/collector.md).
 */
static __always_inline void flush_batch(void)
{
	struct fl_fault_batch *b;
	struct fl_cpu_stats *s;
	__u32 zero = 0, n;

	if (summary_mode)
		return;
	b = bpf_map_lookup_elem(&batches, &zero);
	if (!b)
		return;
	n = b->count;
	if (n == 0 || n >= FL_BATCH)
		return;
	b->hdr.ts_ns = b->faults[0].ts_ns;
	b->hdr.type = FL_EV_FAULT_BATCH;
	b->hdr.cpu = bpf_get_smp_processor_id();
	b->hdr.size = offsetof(struct fl_fault_batch, faults) +
		      n * sizeof(struct fl_fault_slim);
	s = stats();
	if (bpf_ringbuf_output(&events, b,
			       offsetof(struct fl_fault_batch, faults) +
				       (n & (FL_BATCH - 1)) *
					       sizeof(struct fl_fault_slim),
			       BPF_RB_NO_WAKEUP)) {
		if (s) {
			s->lost_events += n;
			s->lost_records++;
		}
	} else if (s) {
		s->recorded_events += n;
	}
	b->count = 0;
}

/*
 * The shared part of the current process's file + anon + shmem RSS
 * counters. A fault that maps a transparent huge page adds 512 pages at
 * once, which always lands in the shared count (it exceeds the per-CPU
 * batch); ordinary faults move it only when a CPU's batch (< 64) spills.
 * Read through the task's BTF pointer: plain loads, no helper call.
 */
static __always_inline __s64 rss_pages(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = task->mm;

	if (!mm)
		return 0;
	return mm->rss_stat[MM_FILEPAGES].count +
	       mm->rss_stat[MM_ANONPAGES].count +
	       mm->rss_stat[MM_SHMEMPAGES].count;
}

/* Whether the thread has a fault that entered and has not completed. */
static __always_inline int fault_pending(const struct task_state *st)
{
	return summary_mode ? st->sum_pending : st->fault_ts != 0;
}

/*
 * The thread's pending fault will never complete (SIGSEGV, error, fixup:
 * the thread faulted again, or it is exiting): book it on its own as
 * incomplete, so that it cannot pair with a later completion. `now` and
 * `pid_tgid` are used when streaming only.
 */
static __always_inline void book_incomplete(struct task_state *st, __u64 now,
					    __u64 pid_tgid)
{
	struct fl_cpu_stats *s = stats();

	if (summary_mode) {
		summary_add(st, FL_SK_INCOMPLETE, 0, 0);
		st->sum_pending = 0;
	} else {
		emit_fault(st, FL_FAULT_INCOMPLETE, now, pid_tgid);
	}
	st->fault_ts = 0;
	if (s)
		s->incomplete++;
}

static __always_inline int on_fault_entry(struct fault_entry_ctx *ctx,
					  __u8 flags)
{
	struct task_state *st = current_state();
	__u64 now;

	if (!st)
		return 0;
	now = bpf_ktime_get_ns();
	if (fault_pending(st))
		book_incomplete(st, now, bpf_get_current_pid_tgid());
	st->fault_ts = now;
	st->fault_addr = ctx->address;
	st->fault_ip = ctx->ip;
	st->fault_err = ctx->error_code;
	st->fault_flags = flags;
	st->fault_rss = rss_pages();
	if (with_stacks) {
		st->fault_stack = bpf_get_stackid(ctx, &stacks,
						  BPF_F_USER_STACK);
		if (st->fault_stack < 0) {
			struct fl_cpu_stats *s = stats();

			if (s)
				s->stack_errors++;
		}
	}
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int handle_page_fault_user(struct fault_entry_ctx *ctx)
{
	return on_fault_entry(ctx, 0);
}

SEC("tp/exceptions/page_fault_kernel")
int handle_page_fault_kernel(struct fault_entry_ctx *ctx)
{
	return on_fault_entry(ctx, FL_FAULT_F_KERNEL);
}

/*
 * --summary entry, on raw tracepoints: no trace record is built for them
 * (tp/ fills one per fault) and nothing here needs the IP. Every fault is
 * counted at its completion; one in (latency_sample_mask + 1), picked by a
 * per-thread xorshift32, also reads the clock at both ends. Two clock reads
 * per fault cost more than the whole --summary budget (docs/benchmarks.md).
 */
static __always_inline int on_summary_entry(__u8 flags)
{
	struct task_state *st = current_state();
	__u32 x;

	if (!st)
		return 0;
	if (fault_pending(st))
		book_incomplete(st, 0, 0);
	x = st->rnd;
	if (!x)
		x = bpf_get_prandom_u32() | 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	st->rnd = x;
	st->fault_ts = (x & latency_sample_mask) ? 0 : bpf_ktime_get_ns();
	st->fault_flags = flags;
	st->sum_pending = 1;
	return 0;
}

SEC("raw_tp/page_fault_user")
int summary_fault_user(void *ctx)
{
	return on_summary_entry(0);
}

SEC("raw_tp/page_fault_kernel")
int summary_fault_kernel(void *ctx)
{
	return on_summary_entry(FL_FAULT_F_KERNEL);
}

static __always_inline int on_summary_done(struct task_state *st,
					   __u8 outcome)
{
	__u32 kind = (outcome == FL_FAULT_MAJOR ? 1 : 0) +
		     ((st->fault_flags & FL_FAULT_F_KERNEL) ? 2 : 0);

	if (!fault_pending(st)) {
		struct fl_cpu_stats *s = stats();

		if (s)
			s->unpaired++;
		return 0;
	}
	if (st->fault_ts) {
		__u64 now = bpf_ktime_get_ns();

		summary_add(st, kind, now > st->fault_ts ? now - st->fault_ts : 0,
			    1);
		st->fault_ts = 0;
	} else {
		summary_add(st, kind, 0, 0);
	}
	st->sum_pending = 0;
	return 0;
}

static __always_inline int on_fault_done(struct bpf_perf_event_data *ctx,
					 __u8 outcome)
{
	struct task_state *st = current_state_lookup();
	__u64 now;

	if (!st)
		return 0;
	if (summary_mode)
		return on_summary_done(st, outcome);
	if (!st->fault_ts) {
		struct fl_cpu_stats *s = stats();

		if (s)
			s->unpaired++;
		return 0;
	}
	now = bpf_ktime_get_ns();
	if ((ctx->addr ^ st->fault_addr) >> 12)
		st->fault_flags |= FL_FAULT_F_ADDR_MISMATCH;
	if (rss_pages() - (__s64)st->fault_rss >= FL_HUGE_MIN_PAGES)
		st->fault_flags |= FL_FAULT_F_HUGE;
	emit_fault(st, outcome, now, bpf_get_current_pid_tgid());
	st->fault_ts = 0;
	return 0;
}

SEC("perf_event")
int handle_fault_min(struct bpf_perf_event_data *ctx)
{
	return on_fault_done(ctx, FL_FAULT_MINOR);
}

SEC("perf_event")
int handle_fault_maj(struct bpf_perf_event_data *ctx)
{
	return on_fault_done(ctx, FL_FAULT_MAJOR);
}

/* ---- low-rate records: reserved one by one ---- */

static __always_inline void *reserve(__u64 size)
{
	void *p = bpf_ringbuf_reserve(&events, size, 0);

	if (!p) {
		struct fl_cpu_stats *s = stats();

		if (s) {
			s->lost_events++;
			s->lost_records++;
		}
	}
	return p;
}

static __always_inline void submit_flags(void *p, __u64 flags)
{
	struct fl_cpu_stats *s = stats();

	if (s)
		s->recorded_events++;
	bpf_ringbuf_submit(p, flags);
}

static __always_inline void submit(void *p)
{
	submit_flags(p, BPF_RB_NO_WAKEUP);
}

static __always_inline void fill_hdr(struct fl_hdr *h, __u16 type, __u32 size)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->type = type;
	h->cpu = bpf_get_smp_processor_id();
	h->size = size;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct fl_task *e;

	if (!is_target_tgid(ptgid))
		return 0;
	if (filter_tgid && ctgid != ptgid) {
		__u8 one = 1;

		bpf_map_update_elem(&targets, &ctgid, &one, BPF_ANY);
	}
	flush_batch(); /* the parent's faults precede the child's copy */
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, FL_EV_FORK, sizeof(*e));
	e->pid = ctgid;
	e->tid = BPF_CORE_READ(child, pid);
	e->parent_pid = ptgid;
	e->parent_tid = BPF_CORE_READ(parent, pid);
	e->exit_code = 0;
	e->is_thread = ctgid == ptgid;
	BPF_CORE_READ_STR_INTO(&e->comm, child, comm);
	e->path[0] = 0;
	/* A new process: wake the collector now so that its /proc maps
	 * snapshot is taken while the process is young. Threads: no wakeup. */
	submit_flags(e, e->is_thread ? BPF_RB_NO_WAKEUP : BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct fl_task *e;

	if (!is_target_tgid(pid_tgid >> 32))
		return 0;
	flush_batch(); /* faults of the old image precede the exec */
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, FL_EV_EXEC, sizeof(*e));
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->parent_pid = 0;
	e->parent_tid = old_pid;
	e->exit_code = 0;
	e->is_thread = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(&e->path, sizeof(e->path),
				  BPF_CORE_READ(bprm, filename));
	/* Rare and important: the collector snapshots the new image's
	 * mappings from /proc as soon as it sees this. */
	submit_flags(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p, bool group_dead)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct task_state *st;
	struct fl_task *e;

	if (!is_target_tgid(tgid))
		return 0;
	st = current_state_lookup();
	if (st && fault_pending(st))
		book_incomplete(st, summary_mode ? 0 : bpf_ktime_get_ns(),
				pid_tgid);
	flush_batch(); /* the thread's faults precede its exit */
	e = reserve(sizeof(*e));
	if (e) {
		fill_hdr(&e->hdr, FL_EV_EXIT, sizeof(*e));
		e->pid = tgid;
		e->tid = (__u32)pid_tgid;
		e->parent_pid = 0;
		e->parent_tid = 0;
		e->exit_code = BPF_CORE_READ(p, exit_code);
		e->is_thread = !group_dead;
		bpf_get_current_comm(&e->comm, sizeof(e->comm));
		e->path[0] = 0;
		submit(e);
	}
	if (filter_tgid && group_dead)
		bpf_map_delete_elem(&targets, &tgid);
	/* The slot stays owned (its rows are read at the end); a recycled
	 * pid finds it again through "sum_owner". */
	if (summary_mode && group_dead)
		bpf_map_delete_elem(&sum_slots, &tgid);
	return 0;
}

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

SEC("tp/syscalls/sys_exit_mmap")
int handle_exit_mmap(struct sys_exit_ctx *ctx)
{
	return sys_exit(ctx, FL_EV_MMAP);
}

SEC("tp/syscalls/sys_enter_munmap")
int handle_enter_munmap(struct sys_enter_ctx *ctx)
{
	return sys_enter(ctx, FL_EV_MUNMAP, 2);
}

SEC("tp/syscalls/sys_exit_munmap")
int handle_exit_munmap(struct sys_exit_ctx *ctx)
{
	return sys_exit(ctx, FL_EV_MUNMAP);
}

SEC("tp/syscalls/sys_enter_mremap")
int handle_enter_mremap(struct sys_enter_ctx *ctx)
{
	return sys_enter(ctx, FL_EV_MREMAP, 5);
}

SEC("tp/syscalls/sys_exit_mremap")
int handle_exit_mremap(struct sys_exit_ctx *ctx)
{
	return sys_exit(ctx, FL_EV_MREMAP);
}

SEC("tp/syscalls/sys_enter_brk")
int handle_enter_brk(struct sys_enter_ctx *ctx)
{
	return sys_enter(ctx, FL_EV_BRK, 1);
}

SEC("tp/syscalls/sys_exit_brk")
int handle_exit_brk(struct sys_exit_ctx *ctx)
{
	return sys_exit(ctx, FL_EV_BRK);
}

SEC("tp/syscalls/sys_enter_mprotect")
int handle_enter_mprotect(struct sys_enter_ctx *ctx)
{
	return sys_enter(ctx, FL_EV_MPROTECT, 3);
}

SEC("tp/syscalls/sys_exit_mprotect")
int handle_exit_mprotect(struct sys_exit_ctx *ctx)
{
	return sys_exit(ctx, FL_EV_MPROTECT);
}

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
