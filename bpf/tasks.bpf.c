// SPDX-License-Identifier: GPL-2.0
/*
 * tasks.bpf.c: the task family: fork, exec and exit of targets, and the
 * following of the target set (a target's child process becomes a target;
 * a dead thread group leaves the set). The collector attaches these first,
 * before it walks the existing descendants of the -p targets, so that a
 * child forked during the walk is caught here.
 */
#include "faults.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct fl_task *e;

	if (!is_target_tgid(ptgid))
		return 0;
	target_follow_fork(ptgid, ctgid);
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
	target_exit(tgid, group_dead);
	/* The slot stays owned (its rows are read at the end); a recycled
	 * pid finds it again through "sum_owner". */
	if (summary_mode && group_dead)
		bpf_map_delete_elem(&sum_slots, &tgid);
	return 0;
}
