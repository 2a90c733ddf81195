// TraceWriter's compression worker (trace/writer.cc): blocks cut
// while earlier ones are still being compressed reach the file whole and in
// order (many more blocks than the queue holds), and a write error in the
// worker is returned by a later call instead of being lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstring>
#include <string>
#include <vector>

#include "trace/reader.h"
#include "trace/writer.h"
#include "tests/support/temp_dir.h"

namespace faultline::trace {
namespace {

using faultline::testing::TempDir;

TraceMeta Meta() {
  TraceMeta m;
  m.kernel_release = "6.1.0-test";
  m.hostname = "host-w";
  m.command_line = "faultline record -- ./w";
  m.start_monotonic_ns = 1000;
  m.ncpus = 2;
  return m;
}

// Fault number i of a deterministic but irregular stream.
fl_fault_slim NthFault(uint64_t i) {
  uint64_t r = (i + 1) * 0x9e3779b97f4a7c15ull;
  r ^= r >> 29;
  fl_fault_slim f;
  std::memset(&f, 0, sizeof f);
  f.ts_ns = 1000000 + i * 37 + (r & 15);
  f.address = 0x7f0000000000ull + (i << 12) + ((r >> 8) & 0xff8);
  f.ip = 0x401000 + ((r >> 20) & 3) * 0x40;
  f.pid = 100 + static_cast<uint32_t>(i / 100000);
  f.tid = f.pid + static_cast<uint32_t>((r >> 24) & 1);
  f.latency_ns = 600 + static_cast<uint32_t>((r >> 32) & 2047);
  f.stack_id = -1;
  f.error_code = FL_PF_USER | FL_PF_WRITE;
  f.outcome = FL_FAULT_MINOR;
  return f;
}

fl_fault_batch Batch(uint64_t first, uint16_t cpu) {
  fl_fault_batch b;
  std::memset(&b, 0, sizeof b);
  for (uint32_t k = 0; k < FL_BATCH; ++k) b.faults[k] = NthFault(first + k);
  b.count = FL_BATCH;
  b.hdr = {b.faults[0].ts_ns, FL_EV_FAULT_BATCH, cpu, sizeof b};
  return b;
}

struct Collect : TraceVisitor {
  std::vector<FaultEvent> faults;
  uint64_t processes = 0;
  void OnFault(const FaultEvent& f) override { faults.push_back(f); }
  void OnProcess(const ProcessInfo&) override { ++processes; }
};

TEST(TraceWriterWorker, ManyBlocksArriveWholeAndInOrder) {
  TempDir dir;
  const std::string path = dir.File("many.flt");
  const uint64_t batches = 40000;  // 1.28M faults, ~10 MiB raw: ~10 blocks
  {
    auto w = TraceWriter::Create(path, Meta());
    ASSERT_TRUE(w.has_value()) << w.error().message;
    for (uint64_t b = 0; b < batches; ++b) {
      fl_fault_batch batch = Batch(b * FL_BATCH, static_cast<uint16_t>(b & 1));
      ASSERT_TRUE((*w)->AddRecord(&batch, sizeof batch));
      if (b % 5000 == 0) {
        ASSERT_TRUE((*w)->AddProcess(static_cast<uint32_t>(b), 1, "p", "/p"));
      }
      if (b == batches / 2) {
        ASSERT_TRUE((*w)->Flush());
      }
    }
    ASSERT_TRUE((*w)->Finish({{batches * FL_BATCH, 0}, {0, 0}}));
    EXPECT_EQ((*w)->events_written(), batches * FL_BATCH);
  }
  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  Collect c;
  ASSERT_TRUE((*r)->ReadAll(c));
  EXPECT_TRUE((*r)->stats().footer);
  EXPECT_EQ((*r)->stats().corrupt_blocks, 0u);
  EXPECT_GT((*r)->stats().blocks, 8u);
  EXPECT_EQ(c.processes, batches / 5000);
  ASSERT_EQ(c.faults.size(), batches * FL_BATCH);
  for (uint64_t i = 0; i < c.faults.size(); ++i) {
    const fl_fault_slim want = NthFault(i);
    const FaultEvent& got = c.faults[i];
    ASSERT_EQ(got.ts_ns, want.ts_ns) << "fault " << i;
    ASSERT_EQ(got.address, want.address) << "fault " << i;
    ASSERT_EQ(got.ip, want.ip) << "fault " << i;
    ASSERT_EQ(got.tid, want.tid) << "fault " << i;
    ASSERT_EQ(got.latency_ns, want.latency_ns) << "fault " << i;
    ASSERT_EQ(got.cpu, (i / FL_BATCH) & 1) << "fault " << i;
  }
}

TEST(TraceWriterWorker, WriteErrorInTheWorkerIsReturnedLater) {
  TempDir dir;
  const std::string path = dir.File("full.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value()) << w.error().message;
  // The file may not grow past 256 KiB: the worker's write() of a block
  // fails with EFBIG (SIGXFSZ ignored). Restored before any assertion.
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct sigaction ign {}, old_sa{};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGXFSZ, &ign, &old_sa);
  rlimit small = old;
  small.rlim_cur = 256 << 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);

  std::string error;
  bool later_call_failed = false;
  for (uint64_t b = 0; b < 100000 && error.empty(); ++b) {
    fl_fault_batch batch = Batch(b * FL_BATCH, 0);
    if (auto ok = (*w)->AddRecord(&batch, sizeof batch); !ok) {
      error = ok.error().message;
    }
  }
  if (error.empty()) {
    if (auto ok = (*w)->Flush(); !ok) error = ok.error().message;
  }
  if (!error.empty()) {
    fl_fault_batch batch = Batch(0, 0);
    later_call_failed = !(*w)->AddRecord(&batch, sizeof batch).has_value() &&
                        !(*w)->Finish(std::vector<CpuCounts>{}).has_value();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  sigaction(SIGXFSZ, &old_sa, nullptr);

  ASSERT_FALSE(error.empty()) << "no call reported the failed write";
  EXPECT_NE(error.find("write " + path), std::string::npos) << error;
  EXPECT_TRUE(later_call_failed);
}

}  // namespace
}  // namespace faultline::trace
