// The recorder's closing line and its footer counters: every kernel counter
// by name, and "lost unknown" (never "0 lost") when the per-CPU counters
// could not be read.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "collector/bpf_session.h"
#include "collector/closing_line.h"

namespace faultline::collector {
namespace {

std::vector<fl_cpu_stats> TwoCpus() {
  fl_cpu_stats a{}, b{};
  a.recorded_events = 100;
  a.lost_events = 3;
  a.lost_records = 1;
  a.incomplete = 4;
  a.unpaired = 5;
  a.summary_full = 6;
  a.stack_errors = 7;
  b.recorded_events = 20;
  b.lost_events = 0;
  b.lost_records = 10;
  b.incomplete = 20;
  b.unpaired = 30;
  b.summary_full = 40;
  b.stack_errors = 50;
  return {a, b};
}

TEST(CollectorClosing, NamedCountersHaveEveryOtherField) {
  auto c = NamedCounters(TwoCpus());
  std::vector<std::pair<std::string, uint64_t>> want = {
      {"lost_records", 11}, {"incomplete", 24},   {"unpaired", 35},
      {"summary_full", 46}, {"stack_errors", 57},
  };
  EXPECT_EQ(c, want);
  // fl_cpu_stats: recorded_events and lost_events (per CPU in the footer)
  // plus one named counter per other field.
  EXPECT_EQ(sizeof(fl_cpu_stats) / sizeof(uint64_t), 2 + c.size());
}

RunFigures Figures() {
  RunFigures f;
  f.seconds = 2.014;
  f.per_cpu = TwoCpus();
  f.events_written = 118;
  f.output = "t.flt";
  f.file_bytes = 7475;
  f.recorder_cpu_s = 0.05;
  return f;
}

TEST(CollectorClosing, KnownCounters) {
  EXPECT_EQ(ClosingLine(Figures()),
            "faultline record: 2.01 s, 120 events recorded, 3 lost (cpu0 3, "
            "cpu1 0), 24 faults incomplete; wrote t.flt (7.3 KiB); recorder "
            "CPU 0.05 s.");
  RunFigures s = Figures();
  s.stacks = true;
  EXPECT_NE(ClosingLine(s).find(", 57 faults without a stored stack;"),
            std::string::npos)
      << ClosingLine(s);
  RunFigures sum = Figures();
  sum.summary = true;
  sum.summary_faults = 5000;
  sum.summary_timed = 312;
  sum.latency_sample = 16;
  EXPECT_NE(ClosingLine(sum).find(
                "5000 faults aggregated in the kernel (312 timed, 1 in 16; "
                "120 task events recorded), 3 lost"),
            std::string::npos)
      << ClosingLine(sum);
}

TEST(CollectorClosing, UnknownCountersAreNeverZero) {
  RunFigures f = Figures();
  f.stats_known = false;
  f.per_cpu.clear();
  f.stats_error = "read the per-CPU counters: Bad file descriptor";
  f.stacks = true;
  std::string line = ClosingLine(f);
  EXPECT_EQ(line,
            "faultline record: 2.01 s, 118 events written, lost unknown "
            "(read the per-CPU counters: Bad file descriptor), faults "
            "incomplete unknown, unknown faults without a stored stack; wrote "
            "t.flt (7.3 KiB); recorder CPU 0.05 s.");
  EXPECT_EQ(line.find("0 lost"), std::string::npos);
}

TEST(CollectorClosing, ConnectionsWhenTcpWasTraced) {
  RunFigures f = Figures();
  f.tcp = true;
  f.tcp_known = true;
  f.tcp_opened = 12;
  f.tcp_closed = 11;
  EXPECT_EQ(ClosingLine(f),
            "faultline record: 2.01 s, 120 events recorded, 3 lost (cpu0 3, "
            "cpu1 0), 24 faults incomplete, 12 connections opened, 11 closed; "
            "wrote t.flt (7.3 KiB); recorder CPU 0.05 s.");
  f.tcp_known = false;
  std::string line = ClosingLine(f);
  EXPECT_NE(line.find("24 faults incomplete, connections unknown; wrote"),
            std::string::npos)
      << line;
}

TEST(CollectorClosing, Sizes) {
  EXPECT_EQ(FormatSize(512), "512 bytes");
  EXPECT_EQ(FormatSize(7475), "7.3 KiB");
  EXPECT_EQ(FormatSize(3u << 20), "3.0 MiB");
}

}  // namespace
}  // namespace faultline::collector
