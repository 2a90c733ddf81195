// Building blocks of the synthetic traces that unit tests write with the real
// TraceWriter: fault batches as the kernel and the collector send them;
// and reading files back.
// Header-only (the test binaries link gtest and faultline_trace).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "bpf/faultline.h"
#include "trace/writer.h"

namespace faultline::testing {

// The whole of a file (a trace, a report), as bytes or as text; empty if it
// cannot be read.
inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes `faults` as one FL_EV_FAULT_BATCH record of `cpu`, timed by its
// first fault (as the kernel does), sized to the faults it holds.
inline Result<void> AddFaultBatch(trace::TraceWriter& w, uint16_t cpu,
                                  std::span<const fl_fault_slim> faults) {
  fl_fault_batch b;
  std::memset(&b, 0, sizeof b);
  b.count = static_cast<uint32_t>(faults.size());
  size_t i = 0;
  for (const fl_fault_slim& f : faults) {
    if (i == FL_BATCH) break;  // the writer rejects count > FL_BATCH
    b.faults[i++] = f;
  }
  const size_t size = offsetof(fl_fault_batch, faults) + i * sizeof(fl_fault_slim);
  b.hdr = {faults.empty() ? 0 : faults.front().ts_ns, FL_EV_FAULT_BATCH, cpu,
           static_cast<uint32_t>(size)};
  return w.AddRecord(&b, size);
}
inline Result<void> AddFaultBatch(trace::TraceWriter& w, uint16_t cpu,
                                  std::initializer_list<fl_fault_slim> faults) {
  return AddFaultBatch(w, cpu, std::span<const fl_fault_slim>(faults.begin(), faults.size()));
}

// Collects faults in a batch per CPU and sends a batch when it is full, or
// when asked (before that CPU's next non-fault record, and at the end), as
// the kernel and the collector do.
class FaultBatcher {
 public:
  static constexpr uint16_t kCpus = 2;
  explicit FaultBatcher(trace::TraceWriter& w) : w_(w) {}
  // A zeroed fault (padding too, as the kernel's records are).
  static fl_fault_slim Zeroed() {
    fl_fault_slim f;
    std::memset(&f, 0, sizeof f);
    return f;
  }
  void Add(uint16_t cpu, const fl_fault_slim& f) {
    Batch& b = batch_[cpu];
    b.faults[b.count++] = f;
    if (b.count == FL_BATCH) Send(cpu);
  }
  // Sends `cpu`'s batch if it holds a fault.
  void Send(uint16_t cpu) {
    Batch& b = batch_[cpu];
    if (b.count == 0) return;
    ASSERT_TRUE(AddFaultBatch(w_, cpu, std::span<const fl_fault_slim>(b.faults, b.count)));
    b.count = 0;
  }
  // Sends every CPU's batch.
  void Flush() {
    for (uint16_t c = 0; c < kCpus; ++c) Send(c);
  }

 private:
  struct Batch {
    fl_fault_slim faults[FL_BATCH];
    uint32_t count = 0;
  };
  trace::TraceWriter& w_;
  Batch batch_[kCpus] = {};
};

}  // namespace faultline::testing
