/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * faultline.h: the event records shared by the BPF programs (bpf/<x>.bpf.c)
 * and user space (collector/, analyzer/). Plain C, fixed-width types only,
 * widest fields first, no pointers, no bool. tests/unit/event_layout_test.cc
 * pins sizes and offsets: change a struct and that test tells you so.
 *
 * Clock: every *_ns timestamp is bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC
 * in nanoseconds. Every record starts with struct fl_hdr so that one ring
 * buffer carries all kinds; user space dispatches on hdr.type.
 */
#ifndef FAULTLINE_BPF_FAULTLINE_H_
#define FAULTLINE_BPF_FAULTLINE_H_

#ifdef __BPF__
/* vmlinux.h provides __u8 .. __u64 in BPF programs. */
#else
#include <linux/types.h>
#endif

#define FL_COMM_LEN 16
#define FL_PATH_LEN 256

/* Record types (fl_hdr.type). Values are part of the trace format: never
 * renumber, only append. */
enum fl_event_type {
	FL_EV_FAULT = 1,       /* struct fl_fault */
	FL_EV_FAULT_BATCH = 2, /* struct fl_fault_batch: up to FL_BATCH faults */
	FL_EV_MMAP = 3,        /* struct fl_mmap: mmap() returned a mapping */
	FL_EV_MUNMAP = 4,      /* struct fl_mmap: [start, start+len) unmapped */
	FL_EV_MREMAP = 5,      /* struct fl_mmap: old range in start/len,
				* new start in pgoff, new len in aux */
	FL_EV_BRK = 6,         /* struct fl_mmap: heap now ends at start+len */
	FL_EV_FORK = 7,        /* struct fl_task: parent -> child */
	FL_EV_EXEC = 8,        /* struct fl_task: pid exec-ed comm/filename */
	FL_EV_EXIT = 9,        /* struct fl_task: a thread (or process) ended */
	FL_EV_TLB_FLUSH = 10,  /* struct fl_tlb: tlb:tlb_flush shootdown */
	FL_EV_MPROTECT = 11,   /* struct fl_mmap: prot of [start,start+len) */
	/* 32..63 are reserved for TCP/socket events (issue: connections). */
};

/* Outcome of one page fault (fl_fault.outcome). */
enum fl_fault_outcome {
	FL_FAULT_MINOR = 1,      /* completed, PERF_COUNT_SW_PAGE_FAULTS_MIN */
	FL_FAULT_MAJOR = 2,      /* completed, PERF_COUNT_SW_PAGE_FAULTS_MAJ */
	FL_FAULT_INCOMPLETE = 3, /* entry seen, no completion event before the
				  * thread's next fault entry or exit:
				  * SIGSEGV, VM_FAULT_ERROR, fixup in kernel */
};

/* fl_fault.flags bits. */
enum fl_fault_flags {
	FL_FAULT_F_KERNEL = 1,     /* entry from exceptions:page_fault_kernel
				    * (a fault on user memory taken inside a
				    * system call, e.g. read() into a new
				    * buffer) */
	FL_FAULT_F_ADDR_MISMATCH = 2, /* the completion's address differed
				       * from the entry's (kept, flagged) */
	FL_FAULT_F_HUGE = 4,       /* the fault mapped a PMD-sized page
				    * (transparent huge page): the process's
				    * file + anon + shmem RSS counters grew
				    * by >= FL_HUGE_MIN_PAGES between entry
				    * and completion */
};
#define FL_HUGE_MIN_PAGES 256 /* a PMD maps 512 pages; per-CPU counter
			       * batches move the shared count by < 64 */

/* x86 page fault error code bits (fl_fault.error_code). */
#define FL_PF_PROT (1u << 0)  /* 0: page not present, 1: protection */
#define FL_PF_WRITE (1u << 1) /* write access */
#define FL_PF_USER (1u << 2)  /* fault from user mode */
#define FL_PF_RSVD (1u << 3)  /* reserved bit set in a PTE */
#define FL_PF_INSTR (1u << 4) /* instruction fetch */
#define FL_PF_PK (1u << 5)    /* protection key violation */

/* Common header of every ring-buffer record. 16 bytes. */
struct fl_hdr {
	__u64 ts_ns; /* event time (for faults: entry time) */
	__u16 type;  /* enum fl_event_type */
	__u16 cpu;   /* CPU the record was produced on */
	__u32 size;  /* total record size in bytes, header included */
};

/* A batch of faults produced on one CPU, sent as one ring-buffer record to
 * amortise the reserve/commit cost. hdr.ts_ns = first fault's entry time. */
#define FL_BATCH 32
struct fl_fault_slim {
	__u64 ts_ns;      /* entry time */
	__u64 address;    /* faulting virtual address */
	__u64 ip;         /* instruction pointer at the fault (user IP for
			   * user-mode faults, kernel IP otherwise) */
	__u32 pid;        /* tgid */
	__u32 tid;        /* thread id */
	__u32 latency_ns; /* completion - entry; 0 for FL_FAULT_INCOMPLETE;
			   * saturates at 0xffffffff (~4.3 s) */
	__s32 stack_id;   /* user stack id in the stack map with --stacks,
			   * else -1 */
	__u16 error_code; /* x86 error code bits (FL_PF_*) */
	__u8 outcome;     /* enum fl_fault_outcome */
	__u8 flags;       /* enum fl_fault_flags */
	__u32 _pad;
}; /* 48 bytes */

/* One page fault outside a batch (flushes, exits). 64 bytes. */
struct fl_fault {
	struct fl_hdr hdr; /* hdr.ts_ns = f.ts_ns */
	struct fl_fault_slim f;
};

struct fl_fault_batch {
	struct fl_hdr hdr;
	__u32 count; /* valid entries in faults[] */
	__u32 _pad;
	struct fl_fault_slim faults[FL_BATCH];
};

/* Address-space change of a traced process. 64 + FL_PATH_LEN bytes. */
struct fl_mmap {
	struct fl_hdr hdr;
	__u64 start;  /* mapping start (mmap return value) */
	__u64 len;    /* length in bytes */
	__u64 pgoff;  /* file offset in bytes (mmap); new start (mremap) */
	__u64 aux;    /* new len (mremap); unused otherwise */
	__u32 pid;
	__u32 tid;
	__u32 prot;   /* PROT_* */
	__u32 flags;  /* MAP_* */
	__s32 fd;     /* -1 for anonymous */
	__u32 _pad;
	char path[FL_PATH_LEN]; /* file path when fd >= 0 and resolvable,
				 * else empty */
};

/* Task lifecycle. 64 bytes + FL_PATH_LEN for exec. */
struct fl_task {
	struct fl_hdr hdr;
	__u32 pid;        /* tgid of the task */
	__u32 tid;        /* the task (child tid for FL_EV_FORK) */
	__u32 parent_pid; /* FL_EV_FORK: parent tgid */
	__u32 parent_tid; /* FL_EV_FORK: parent thread */
	__s32 exit_code;  /* FL_EV_EXIT */
	__u32 is_thread;  /* FL_EV_FORK: 1 when the child shares the mm
			   * (a new thread), 0 for a new process */
	char comm[FL_COMM_LEN];
	char path[FL_PATH_LEN]; /* FL_EV_EXEC: filename */
};

/* tlb:tlb_flush in a traced process, except TLB_FLUSH_ON_TASK_SWITCH
 * (a context switch, not a shootdown; not recorded). */
struct fl_tlb {
	struct fl_hdr hdr;
	__u32 pid;
	__u32 tid;
	__s32 reason;  /* TLB_FLUSH_ON_TASK_SWITCH .. (kernel enum) */
	__u32 _pad;
	__u64 pages;   /* pages flushed; TLB_FLUSH_ALL is ~0 */
};

/* --summary mode: in-kernel aggregation, read from maps at the end. */
#define FL_HIST_BUCKETS 32 /* log2 latency buckets: bucket i counts latencies
			    * in [2^i, 2^(i+1)) ns; bucket 0 also has 0 */
enum fl_summary_kind {
	FL_SK_MINOR_USER = 0,
	FL_SK_MAJOR_USER = 1,
	FL_SK_MINOR_KERNEL = 2,
	FL_SK_MAJOR_KERNEL = 3,
	FL_SK_INCOMPLETE = 4,
	FL_SK_NR = 5,
};
struct fl_summary_key {
	__u32 pid;
	__u32 kind; /* enum fl_summary_kind */
};
struct fl_summary_val {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 hist[FL_HIST_BUCKETS];
};

/* Per-CPU counters kept by the BPF programs (map "cpu_stats", one entry per
 * CPU), read by the collector at the end and written to the trace footer.
 * Appended after the frozen structs above. */
struct fl_cpu_stats {
	__u64 recorded_events; /* events handed to the ring buffer (a batch
				* counts as its number of faults) */
	__u64 lost_events;     /* events dropped because the ring buffer was
				* full (a failed batch counts its faults) */
	__u64 lost_records;    /* failed ring-buffer writes (reserve/output) */
	__u64 incomplete;      /* faults emitted as FL_FAULT_INCOMPLETE */
	__u64 unpaired;        /* completions with no pending entry on the
				* thread (fault started before attach, or
				* the entry program was skipped) */
	__u64 summary_full;    /* --summary: updates dropped, map full */
	__u64 stack_errors;    /* --stacks: faults whose stack could not be
				* stored (stack_id < 0: -EEXIST for a hash
				* collision in the stack map, -EFAULT) */
};

#endif /* FAULTLINE_BPF_FAULTLINE_H_ */
