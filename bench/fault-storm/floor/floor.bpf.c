// SPDX-License-Identifier: GPL-2.0
/*
 * floor.bpf.c: empty programs on the attach points `faultline record
 * --summary` uses (raw tracepoints page_fault_user/page_fault_kernel for
 * the entry, a perf_event program on the PERF_COUNT_SW_PAGE_FAULTS_MIN
 * software event for the completion). What a fault costs with these
 * attached and doing nothing is the floor under any pairing design on this
 * kernel. Loaded by ../costs/loader.c from ../run.sh (setup "floor").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/page_fault_user")
int floor_entry_user(void *ctx)
{
	return 0;
}

SEC("raw_tp/page_fault_kernel")
int floor_entry_kernel(void *ctx)
{
	return 0;
}

SEC("perf_event")
int floor_done(void *ctx)
{
	return 0;
}
