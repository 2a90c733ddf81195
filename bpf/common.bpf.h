/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.bpf.h: what every BPF program file of faultline shares, kernel
 * side only: the ring buffer "events" that carries every record to the
 * collector, the per-CPU counters "cpu_stats", and the helpers that reserve,
 * fill the header of and submit a record.
 *
 * Sharing across files: each bpf/<family>.bpf.c includes this header, and
 * cmake/Bpf.cmake links all of them into ONE object (bpftool gen object)
 * and one skeleton. Maps and settings defined in a header are __weak: the
 * libbpf static linker merges the weak definitions of one name into one map
 * (or one .rodata variable) and rejects two that differ, so every family
 * writes to the same ring and bumps the same counters. Helpers are static
 * __always_inline: each file gets its own inlined copy, no call.
 *
 * bench/collector-rate/producer.bpf.c includes only this header, so that its
 * "events" and "cpu_stats" have the recorder's types by construction (it
 * points them at the running recorder's maps by fd).
 */
#ifndef FAULTLINE_BPF_COMMON_BPF_H_
#define FAULTLINE_BPF_COMMON_BPF_H_

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "faultline.h"

/* The context of a tp/syscalls/sys_{enter,exit}_<name> program (the
 * tracepoint's format: common fields, syscall number, then the arguments
 * or the return value). A program may read only the arguments its syscall
 * has. */
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

/* Every record, of every family, in submission order per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* resized by the collector (--ring-mb) */
} events SEC(".maps") __weak;

/* struct fl_cpu_stats per CPU; the collector sums them into the footer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_cpu_stats);
} cpu_stats SEC(".maps") __weak;

static __always_inline struct fl_cpu_stats *stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_stats, &zero);
}

/*
 * One record of `nevents` events built elsewhere (a per-CPU batch), copied
 * into the ring with bpf_ringbuf_output() and no wakeup; counted as
 * recorded or lost.
 */
static __always_inline void output_counted(void *data, __u64 size,
					   __u32 nevents)
{
	struct fl_cpu_stats *s = stats();

	if (bpf_ringbuf_output(&events, data, size, BPF_RB_NO_WAKEUP)) {
		if (s) {
			s->lost_events += nevents;
			s->lost_records++;
		}
	} else if (s) {
		s->recorded_events += nevents;
	}
}

/* ---- low-rate records: reserved one by one ---- */

/* Space for one record in the ring; NULL (counted as lost) when full. */
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

/* Commits a reserve()d record, counted as recorded. `flags`:
 * BPF_RB_NO_WAKEUP (the collector polls on a timer) or BPF_RB_FORCE_WAKEUP
 * for the rare records the collector must act on at once. */
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

/* The record header: now, on this CPU. */
static __always_inline void fill_hdr(struct fl_hdr *h, __u16 type, __u32 size)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->type = type;
	h->cpu = bpf_get_smp_processor_id();
	h->size = size;
}

#endif /* FAULTLINE_BPF_COMMON_BPF_H_ */
