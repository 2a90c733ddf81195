// SPDX-License-Identifier: GPL-2.0
/*
 * faults.bpf.c: page faults with their latency and minor/major verdict.
 *
 * Entry:      tp/exceptions/page_fault_{user,kernel} when streaming (they
 *             carry the IP), raw_tp/page_fault_{user,kernel} for --summary
 * Completion: perf_event programs on PERF_COUNT_SW_PAGE_FAULTS_{MIN,MAJ},
 *             which the kernel raises at the end of handle_mm_fault() in
 *             the faulting task (mm_account_fault()).
 *
 * The pending entry of each thread lives in task-local storage (no hash map
 * keyed by tid): it follows the task across CPUs, which matters for major
 * faults that sleep. The batches, the --summary maps and the stack map are
 * in faults.bpf.h; the task and address-space records that attribute the
 * faults come from tasks.bpf.c and mm.bpf.c, into the same ring.
 */
#include "faults.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* tp/exceptions/page_fault_{user,kernel}: not in vmlinux BTF. */
struct fault_entry_ctx {
	__u64 common;
	__u64 address;
	__u64 ip;
	__u64 error_code;
};

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
