// Pins the layout of the records shared by BPF and user space: a change
// to bpf/faultline.h that moves a field fails here first.
#include <cstddef>

#include <gtest/gtest.h>

extern "C" {
#include "bpf/faultline.h"
}

TEST(EventLayout, HeaderIs16Bytes) {
  EXPECT_EQ(sizeof(fl_hdr), 16u);
  EXPECT_EQ(offsetof(fl_hdr, type), 8u);
  EXPECT_EQ(offsetof(fl_hdr, size), 12u);
}

TEST(EventLayout, FaultRecords) {
  EXPECT_EQ(sizeof(fl_fault_slim), 48u);
  EXPECT_EQ(offsetof(fl_fault_slim, address), 8u);
  EXPECT_EQ(offsetof(fl_fault_slim, ip), 16u);
  EXPECT_EQ(offsetof(fl_fault_slim, pid), 24u);
  EXPECT_EQ(offsetof(fl_fault_slim, latency_ns), 32u);
  EXPECT_EQ(offsetof(fl_fault_slim, stack_id), 36u);
  EXPECT_EQ(offsetof(fl_fault_slim, error_code), 40u);
  EXPECT_EQ(offsetof(fl_fault_slim, outcome), 42u);
  EXPECT_EQ(sizeof(fl_fault), 64u);
  EXPECT_EQ(offsetof(fl_fault_batch, faults), 24u);
  EXPECT_EQ(sizeof(fl_fault_batch), 24u + 48u * FL_BATCH);
}

TEST(EventLayout, TaskAndMmapRecords) {
  EXPECT_EQ(offsetof(fl_mmap, start), 16u);
  EXPECT_EQ(offsetof(fl_mmap, path), 72u);
  EXPECT_EQ(sizeof(fl_mmap), 72u + FL_PATH_LEN);
  EXPECT_EQ(offsetof(fl_task, comm), 40u);
  EXPECT_EQ(sizeof(fl_task), 56u + FL_PATH_LEN);
}
