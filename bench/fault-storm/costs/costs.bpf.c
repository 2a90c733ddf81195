// SPDX-License-Identifier: GPL-2.0
/*
 * costs.bpf.c: what the building blocks of a fault-pairing program cost,
 * one program per block, all attached to exceptions:page_fault_user at
 * once. With kernel.bpf_stats_enabled=1 each program's run_time_ns/run_cnt
 * is its average cost plus the stats overhead (the empty program).
 * Built and run by run.sh in this directory.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct slot {
	__u64 ts, addr, ip;
	__u32 tid, err;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct slot);
} task_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot);
} cpu_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct slot);
} tid_slots SEC(".maps");

struct fault_ctx {
	__u64 common;
	__u64 address, ip, error_code;
};

SEC("tp/exceptions/page_fault_user")
int empty(struct fault_ctx *ctx)
{
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int ktime(struct fault_ctx *ctx)
{
	return bpf_ktime_get_ns() == 1;
}

SEC("tp/exceptions/page_fault_user")
int pid_tgid(struct fault_ctx *ctx)
{
	return bpf_get_current_pid_tgid() == 1;
}

SEC("tp/exceptions/page_fault_user")
int task_storage(struct fault_ctx *ctx)
{
	struct slot *s = bpf_task_storage_get(&task_slots,
					      bpf_get_current_task_btf(), 0,
					      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (s)
		s->addr = ctx->address;
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int percpu_slot(struct fault_ctx *ctx)
{
	__u32 zero = 0;
	struct slot *s = bpf_map_lookup_elem(&cpu_slots, &zero);

	if (s)
		s->addr = ctx->address;
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int tid_hash(struct fault_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct slot *s = bpf_map_lookup_elem(&tid_slots, &tid);

	if (s)
		s->addr = ctx->address;
	else
		bpf_map_update_elem(&tid_slots, &tid, &(struct slot){}, BPF_ANY);
	return 0;
}
