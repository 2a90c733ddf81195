/* SPDX-License-Identifier: GPL-2.0 */
/*
 * faults.bpf.h: the page-fault family's kernel-side state and helpers,
 * shared by the fault programs (bpf/faults.bpf.c) and by every program
 * whose record must follow the thread's faults in the ring
 * (bpf/tasks.bpf.c, bpf/mm.bpf.c call flush_batch(); the exit program
 * books a fault that will never complete).
 *
 * Completed faults are appended to a per-CPU batch ("batches") that goes
 * to the ring buffer with one bpf_ringbuf_output() per FL_BATCH faults and
 * no wakeup; the collector polls on a timer and, after detaching, flushes
 * the partial batches itself from the "batches" map (collector/
 * faults_family.cc). --summary aggregates in maps instead ("sum_vals",
 * "summary"), read at the end.
 */
#ifndef FAULTLINE_BPF_FAULTS_BPF_H_
#define FAULTLINE_BPF_FAULTS_BPF_H_

#include "task.bpf.h"

/* Settings, set by the collector between open and load (summary_mode is in
 * task.bpf.h: the task state claims the summary slot). */
const volatile __u8 with_stacks __weak; /* 1: user stack ids in "stacks" */
/* --summary: time one fault in (latency_sample_mask + 1), a power of two,
 * chosen at random per thread; 0 times every fault. Every fault is counted. */
const volatile __u32 latency_sample_mask __weak;

/* This CPU's batch of completed faults not yet in the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_fault_batch);
} batches SEC(".maps") __weak;

/* --summary: (pid, kind) aggregates of the processes without a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fl_summary_key);
	__type(value, struct fl_summary_val);
} summary SEC(".maps") __weak;

/* --summary: row slot * FL_SK_NR + kind (slots: task.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_SUM_SLOTS * FL_SK_NR);
	__type(key, __u32);
	__type(value, struct fl_summary_val);
} sum_vals SEC(".maps") __weak;

/* --stacks. A stack map drops a new stack whose hash bucket holds another
 * one (-EEXIST; BPF_F_REUSE_STACKID would instead re-point ids that earlier
 * faults carry), so it is sized well above the number of distinct stacks:
 * 64K buckets of 64 frames, 32 MiB, allocated only with --stacks. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 65536);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} stacks SEC(".maps") __weak;

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
	output_counted(b, sizeof(*b), FL_BATCH);
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
	output_counted(b, offsetof(struct fl_fault_batch, faults) +
			       (n & (FL_BATCH - 1)) *
				       sizeof(struct fl_fault_slim), n);
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

#endif /* FAULTLINE_BPF_FAULTS_BPF_H_ */
