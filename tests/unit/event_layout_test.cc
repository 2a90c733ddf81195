// Pins the layout of every struct shared by BPF and user space in
// bpf/faultline.h (offset and size of every field, size of every struct) and
// the values of its enums: they are part of the trace format, so a change
// that moves a field or renumbers a value fails here first. A new struct or
// field gets its lines here.
#include <cstddef>

#include <gtest/gtest.h>

extern "C" {
#include "bpf/faultline.h"
}

namespace {

// Offset and size of field `f` of struct `s`.
#define EXPECT_FIELD(s, f, offset, size)                \
  do {                                                  \
    EXPECT_EQ(offsetof(s, f), size_t{offset}) << #s "." #f; \
    EXPECT_EQ(sizeof(s::f), size_t{size}) << #s "." #f;     \
  } while (0)

TEST(EventLayout, Header) {
  EXPECT_EQ(sizeof(fl_hdr), 16u);
  EXPECT_FIELD(fl_hdr, ts_ns, 0, 8);
  EXPECT_FIELD(fl_hdr, type, 8, 2);
  EXPECT_FIELD(fl_hdr, cpu, 10, 2);
  EXPECT_FIELD(fl_hdr, size, 12, 4);
}

TEST(EventLayout, FaultSlim) {
  EXPECT_EQ(sizeof(fl_fault_slim), 48u);
  EXPECT_FIELD(fl_fault_slim, ts_ns, 0, 8);
  EXPECT_FIELD(fl_fault_slim, address, 8, 8);
  EXPECT_FIELD(fl_fault_slim, ip, 16, 8);
  EXPECT_FIELD(fl_fault_slim, pid, 24, 4);
  EXPECT_FIELD(fl_fault_slim, tid, 28, 4);
  EXPECT_FIELD(fl_fault_slim, latency_ns, 32, 4);
  EXPECT_FIELD(fl_fault_slim, stack_id, 36, 4);
  EXPECT_FIELD(fl_fault_slim, error_code, 40, 2);
  EXPECT_FIELD(fl_fault_slim, outcome, 42, 1);
  EXPECT_FIELD(fl_fault_slim, flags, 43, 1);
  EXPECT_FIELD(fl_fault_slim, _pad, 44, 4);
}

TEST(EventLayout, FaultAndBatch) {
  EXPECT_EQ(sizeof(fl_fault), 64u);
  EXPECT_FIELD(fl_fault, hdr, 0, 16);
  EXPECT_FIELD(fl_fault, f, 16, 48);
  EXPECT_EQ(FL_BATCH, 32);
  EXPECT_EQ(sizeof(fl_fault_batch), 24u + 48u * FL_BATCH);
  EXPECT_FIELD(fl_fault_batch, hdr, 0, 16);
  EXPECT_FIELD(fl_fault_batch, count, 16, 4);
  EXPECT_FIELD(fl_fault_batch, _pad, 20, 4);
  EXPECT_FIELD(fl_fault_batch, faults, 24, 48 * FL_BATCH);
}

TEST(EventLayout, Mmap) {
  EXPECT_EQ(FL_PATH_LEN, 256);
  EXPECT_EQ(sizeof(fl_mmap), 72u + FL_PATH_LEN);
  EXPECT_FIELD(fl_mmap, hdr, 0, 16);
  EXPECT_FIELD(fl_mmap, start, 16, 8);
  EXPECT_FIELD(fl_mmap, len, 24, 8);
  EXPECT_FIELD(fl_mmap, pgoff, 32, 8);
  EXPECT_FIELD(fl_mmap, aux, 40, 8);
  EXPECT_FIELD(fl_mmap, pid, 48, 4);
  EXPECT_FIELD(fl_mmap, tid, 52, 4);
  EXPECT_FIELD(fl_mmap, prot, 56, 4);
  EXPECT_FIELD(fl_mmap, flags, 60, 4);
  EXPECT_FIELD(fl_mmap, fd, 64, 4);
  EXPECT_FIELD(fl_mmap, _pad, 68, 4);
  EXPECT_FIELD(fl_mmap, path, 72, FL_PATH_LEN);
}

TEST(EventLayout, Task) {
  EXPECT_EQ(FL_COMM_LEN, 16);
  EXPECT_EQ(sizeof(fl_task), 56u + FL_PATH_LEN);
  EXPECT_FIELD(fl_task, hdr, 0, 16);
  EXPECT_FIELD(fl_task, pid, 16, 4);
  EXPECT_FIELD(fl_task, tid, 20, 4);
  EXPECT_FIELD(fl_task, parent_pid, 24, 4);
  EXPECT_FIELD(fl_task, parent_tid, 28, 4);
  EXPECT_FIELD(fl_task, exit_code, 32, 4);
  EXPECT_FIELD(fl_task, is_thread, 36, 4);
  EXPECT_FIELD(fl_task, comm, 40, FL_COMM_LEN);
  EXPECT_FIELD(fl_task, path, 56, FL_PATH_LEN);
}

TEST(EventLayout, Tlb) {
  EXPECT_EQ(sizeof(fl_tlb), 40u);
  EXPECT_FIELD(fl_tlb, hdr, 0, 16);
  EXPECT_FIELD(fl_tlb, pid, 16, 4);
  EXPECT_FIELD(fl_tlb, tid, 20, 4);
  EXPECT_FIELD(fl_tlb, reason, 24, 4);
  EXPECT_FIELD(fl_tlb, _pad, 28, 4);
  EXPECT_FIELD(fl_tlb, pages, 32, 8);
}

TEST(EventLayout, Summary) {
  EXPECT_EQ(FL_HIST_BUCKETS, 32);
  EXPECT_EQ(sizeof(fl_summary_key), 8u);
  EXPECT_FIELD(fl_summary_key, pid, 0, 4);
  EXPECT_FIELD(fl_summary_key, kind, 4, 4);
  EXPECT_EQ(sizeof(fl_summary_val), 24u + 8u * FL_HIST_BUCKETS);
  EXPECT_FIELD(fl_summary_val, count, 0, 8);
  EXPECT_FIELD(fl_summary_val, total_ns, 8, 8);
  EXPECT_FIELD(fl_summary_val, max_ns, 16, 8);
  EXPECT_FIELD(fl_summary_val, hist, 24, 8 * FL_HIST_BUCKETS);
}

TEST(EventLayout, CpuStats) {
  EXPECT_EQ(sizeof(fl_cpu_stats), 56u);
  EXPECT_FIELD(fl_cpu_stats, recorded_events, 0, 8);
  EXPECT_FIELD(fl_cpu_stats, lost_events, 8, 8);
  EXPECT_FIELD(fl_cpu_stats, lost_records, 16, 8);
  EXPECT_FIELD(fl_cpu_stats, incomplete, 24, 8);
  EXPECT_FIELD(fl_cpu_stats, unpaired, 32, 8);
  EXPECT_FIELD(fl_cpu_stats, summary_full, 40, 8);
  EXPECT_FIELD(fl_cpu_stats, stack_errors, 48, 8);
}

TEST(EventLayout, EnumValues) {
  EXPECT_EQ(FL_EV_FAULT, 1);
  EXPECT_EQ(FL_EV_FAULT_BATCH, 2);
  EXPECT_EQ(FL_EV_MMAP, 3);
  EXPECT_EQ(FL_EV_MUNMAP, 4);
  EXPECT_EQ(FL_EV_MREMAP, 5);
  EXPECT_EQ(FL_EV_BRK, 6);
  EXPECT_EQ(FL_EV_FORK, 7);
  EXPECT_EQ(FL_EV_EXEC, 8);
  EXPECT_EQ(FL_EV_EXIT, 9);
  EXPECT_EQ(FL_EV_TLB_FLUSH, 10);
  EXPECT_EQ(FL_EV_MPROTECT, 11);
  EXPECT_EQ(FL_FAULT_MINOR, 1);
  EXPECT_EQ(FL_FAULT_MAJOR, 2);
  EXPECT_EQ(FL_FAULT_INCOMPLETE, 3);
  EXPECT_EQ(FL_FAULT_F_KERNEL, 1);
  EXPECT_EQ(FL_FAULT_F_ADDR_MISMATCH, 2);
  EXPECT_EQ(FL_FAULT_F_HUGE, 4);
  EXPECT_EQ(FL_SK_MINOR_USER, 0);
  EXPECT_EQ(FL_SK_MAJOR_USER, 1);
  EXPECT_EQ(FL_SK_MINOR_KERNEL, 2);
  EXPECT_EQ(FL_SK_MAJOR_KERNEL, 3);
  EXPECT_EQ(FL_SK_INCOMPLETE, 4);
  EXPECT_EQ(FL_SK_NR, 5);
  EXPECT_EQ(FL_PF_PROT, 1u);
  EXPECT_EQ(FL_PF_WRITE, 2u);
  EXPECT_EQ(FL_PF_USER, 4u);
  EXPECT_EQ(FL_PF_RSVD, 8u);
  EXPECT_EQ(FL_PF_INSTR, 16u);
  EXPECT_EQ(FL_PF_PK, 32u);
}

}  // namespace
