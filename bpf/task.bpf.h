/* SPDX-License-Identifier: GPL-2.0 */
/*
 * task.bpf.h: who is traced, shared by every family. The settings of the
 * target filter, the target set "targets" (tgids; followed across fork and
 * exit by bpf/tasks.bpf.c), and the per-thread state "tstate" that caches
 * the filter verdict and holds what a program must keep between two hooks
 * on the same thread (a fault's entry until its completion, a syscall's
 * arguments until its exit).
 *
 * Only programs that run in the context of the task they describe may use
 * current_state(): page faults, syscalls, sched hooks. A program in softirq
 * context (sock:inet_sock_set_state for most transitions) must not: there
 * `current` is whoever was interrupted (docs/collector.md, "Softirq
 * attribution").
 *
 * Maps and settings are __weak so that several .bpf.c files of one skeleton
 * share them (see common.bpf.h).
 */
#ifndef FAULTLINE_BPF_TASK_BPF_H_
#define FAULTLINE_BPF_TASK_BPF_H_

#include "common.bpf.h"

/* Settings, set by the collector between open and load. */
const volatile __u8 filter_tgid __weak;  /* 1: only tgids in map "targets" */
const volatile __u8 summary_mode __weak; /* 1: --summary (faults.bpf.h) */
const volatile __u32 self_tgid __weak;   /* the collector: never traced */

/* Traced processes (tgid -> 1). Filled by the collector (the -p targets,
 * their descendants as found in /proc, the command); children of targets
 * are added at fork and removed when their thread group dies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps") __weak;

static __always_inline int is_target_tgid(__u32 tgid)
{
	if (tgid == self_tgid)
		return 0;
	if (!filter_tgid)
		return 1;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

/* A target forked a new process `ctgid`: trace it too. */
static __always_inline void target_follow_fork(__u32 ptgid, __u32 ctgid)
{
	if (filter_tgid && ctgid != ptgid) {
		__u8 one = 1;

		bpf_map_update_elem(&targets, &ctgid, &one, BPF_ANY);
	}
}

/* A thread of target `tgid` exits; `group_dead`: the last one, so the
 * tgid may be recycled and leaves the set. */
static __always_inline void target_exit(__u32 tgid, int group_dead)
{
	if (filter_tgid && group_dead)
		bpf_map_delete_elem(&targets, &tgid);
}

/*
 * --summary fast path: each traced process gets a slot; its FL_SK_NR
 * aggregates are rows slot * FL_SK_NR + kind of a per-CPU array
 * (faults.bpf.h), whose lookup the verifier inlines (a hash lookup per
 * fault cost more). A task caches its process's slot in its state.
 * Processes beyond FL_SUM_SLOTS fall back to the "summary" hash.
 */
#define FL_SUM_SLOTS 1024
#define FL_SUM_PROBES 4

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_SUM_SLOTS);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* slot */
} sum_slots SEC(".maps") __weak;

/* Slot owners: inserting with BPF_NOEXIST is the atomic claim (the BPF
 * target of this build has no fetch-and-add). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_SUM_SLOTS);
	__type(key, __u32);   /* slot */
	__type(value, __u32); /* tgid */
} sum_owner SEC(".maps") __weak;

/* Per-thread state. Families append their fields at the end. */
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
} tstate SEC(".maps") __weak;

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
 * a task's tgid never changes, and the collector fills "targets" (the -p
 * processes and all their existing descendants) before it attaches any
 * program that calls this, so a cached "no" cannot hide a later target
 * (children are new tasks with fresh storage). Only the programs of
 * bpf/tasks.bpf.c, which never call this, are attached earlier.
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

#endif /* FAULTLINE_BPF_TASK_BPF_H_ */
