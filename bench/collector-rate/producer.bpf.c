// SPDX-License-Identifier: GPL-2.0
/*
 * producer.bpf.c: a synthetic fault source for the collector-rate benchmark
 * (bench/collector-rate/). Run from user space with
 * bpf_prog_test_run_opts(); each run sends `batches` full
 * struct fl_fault_batch records (FL_BATCH faults each) into faultline's own
 * ring buffer "events" and counts them in faultline's own per-CPU
 * "cpu_stats", exactly like emit_fault() in bpf/faults.bpf.h: one
 * bpf_ringbuf_output() of a per-CPU batch with BPF_RB_NO_WAKEUP, a failed
 * output adds FL_BATCH to lost_events and 1 to lost_records, a successful
 * one FL_BATCH to recorded_events.
 *
 * The user-space half (producer.cc) points "events" and "cpu_stats" at the
 * running recorder's maps with bpf_map__reuse_fd() before load, so the
 * definitions in bpf/common.bpf.h only give the types; sizes come from the
 * recorder.
 *
 * The fields vary like a fault storm's (see send_batch()): entry times from
 * bpf_ktime_get_ns() once per batch plus 16..47 ns per fault, addresses walking pages through a few
 * regions, a handful of IPs, error codes mostly write|user, latencies
 * spread over ~0.7..1.7 us with a tail, pid/tid of the calling thread.
 */
/* The recorder's own "events" and "cpu_stats", by the header that defines
 * them for the bpf/ families (same types by construction). */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The batch being filled (1.5 KiB: too big for the BPF stack), as
 * faults.bpf.h keeps it in its per-CPU "batches" map. Our own map: the
 * recorder's partial batches are left alone. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_fault_batch);
} pbatch SEC(".maps");

/* Run argument (ctx_in of bpf_prog_test_run_opts). */
struct producer_args {
	__u32 batches; /* full batches to send in this run */
	__u32 _pad;
};

/* Producer state and counters, read and set by producer.cc through the
 * skeleton. Only one thread runs the program. */
__u64 rng = 0x9e3779b97f4a7c15ULL;
__u64 region_base[4] = { 0x7f3a10000000ULL, 0x7f3a50000000ULL,
			 0x55d0c2400000ULL, 0x7ffd8e000000ULL };
__u64 region_page[4];
__u64 ips[4] = { 0x55d0c1e0a1c4ULL, 0x55d0c1e0a1f0ULL,
		 0x7f3a8f2c4e10ULL, 0x7f3a8f2c5a38ULL };
__u64 sent_events;   /* faults in batches the ring buffer took */
__u64 failed_events; /* faults in batches it refused (ring full) */
__u64 runs;

static __always_inline __u64 next_rand(void)
{
	/* xorshift64 */
	__u64 x = rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng = x;
	return x;
}

static long send_batch(__u32 index, void *unused)
{
	struct fl_fault_batch *b;
	struct fl_cpu_stats *s;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 ts = bpf_ktime_get_ns();
	__u32 zero = 0, i;

	b = bpf_map_lookup_elem(&pbatch, &zero);
	if (!b)
		return 1;
	for (i = 0; i < FL_BATCH; i++) {
		struct fl_fault_slim *f = &b->faults[i];
		__u64 r = next_rand();
		/* Like a fault storm: mostly the next page of one region,
		 * touched at its start, from one IP. Now and then (1 in 32)
		 * another region, (1 in 16) another IP, (1 in 4) an offset
		 * inside the page, (1 in 8) a read; latencies 0.7..1.7 us
		 * with (1 in 64) a slow one up to ~17 us. */
		__u32 reg = (r >> 8) & 31 ? 0 : (r >> 13) & 3;
		__u32 ipi = (r >> 16) & 15 ? 0 : (r >> 20) & 3;
		__u64 off = (r >> 22) & 3 ? 0 : (r >> 24) & 0xff8;
		__u64 lat = 700 + ((r >> 32) & 1023);
		__u64 page;

		if (((r >> 42) & 63) == 0)
			lat += (r >> 48) & 0x3fff;
		page = region_page[reg & 3]++;
		/* One clock read per batch (a read per fault was 40% of the
		 * producer's time), then 16..47 ns apart: deltas of the size
		 * and spread a clock read per fault gave. */
		ts += 16 + ((r >> 2) & 31);
		f->ts_ns = ts;
		f->address = region_base[reg & 3] + (page << 12) + off;
		f->ip = ips[ipi & 3];
		f->pid = pid_tgid >> 32;
		f->tid = (__u32)pid_tgid;
		f->latency_ns = lat;
		f->stack_id = -1;
		f->error_code = (r >> 60) & 7 ? FL_PF_WRITE | FL_PF_USER :
						 FL_PF_USER;
		f->outcome = FL_FAULT_MINOR;
		f->flags = 0;
		f->_pad = 0;
	}
	b->count = FL_BATCH;
	b->_pad = 0;
	b->hdr.ts_ns = b->faults[0].ts_ns;
	b->hdr.type = FL_EV_FAULT_BATCH;
	b->hdr.cpu = bpf_get_smp_processor_id();
	b->hdr.size = sizeof(*b);
	s = bpf_map_lookup_elem(&cpu_stats, &zero);
	/* As emit_fault() in bpf/faults.bpf.h (output_counted() does not also
	 * count into this program's own sent/failed totals). */
	if (bpf_ringbuf_output(&events, b, sizeof(*b), BPF_RB_NO_WAKEUP)) {
		if (s) {
			s->lost_events += FL_BATCH;
			s->lost_records++;
		}
		failed_events += FL_BATCH;
	} else {
		if (s)
			s->recorded_events += FL_BATCH;
		sent_events += FL_BATCH;
	}
	b->count = 0;
	return 0;
}

SEC("syscall")
int produce(struct producer_args *args)
{
	__u32 n = args->batches;

	runs++;
	bpf_loop(n, send_batch, NULL, 0);
	return 0;
}
