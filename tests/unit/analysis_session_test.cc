// Session: records fed in file order come out in time order through the
// reorder window; late records are delivered at once and counted; the
// count bound holds; strings outlive the reader's buffer; metadata keeps
// its place; the footer comes last; visitors get only what they asked for.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analyzer/session.h"

namespace faultline::analyzer {
namespace {

// Logs what it receives as short strings.
class Log : public trace::TraceVisitor {
 public:
  void OnFault(const trace::FaultEvent& f) override {
    got.push_back("F" + std::to_string(f.ts_ns));
  }
  void OnMmap(const trace::MmapEvent& m) override {
    got.push_back("M" + std::to_string(m.ts_ns) + ":" + std::string(m.path));
  }
  void OnTask(const trace::TaskEvent& t) override {
    got.push_back("T" + std::to_string(t.ts_ns) + ":" + std::string(t.comm));
  }
  void OnProcess(const trace::ProcessInfo& p) override {
    got.push_back("P:" + std::string(p.comm));
  }
  void OnFooter(const trace::Footer&) override { got.push_back("footer"); }
  void OnWarning(std::string_view w) override { got.push_back("W:" + std::string(w)); }
  std::vector<std::string> got;
};

trace::FaultEvent Fault(uint64_t ts, uint16_t cpu) {
  trace::FaultEvent f;
  f.ts_ns = ts;
  f.cpu = cpu;
  f.pid = f.tid = 1;
  return f;
}

TEST(SessionTest, InterleavedCpuBatchesComeOutInTimeOrder) {
  Session s;
  Log log;
  s.Add(&log);
  // CPU 0's full batch, then CPU 1's batch that started earlier, then
  // CPU 0 again, with one inversion inside CPU 1's stream.
  for (uint64_t ts : {10, 20, 30, 40}) s.OnFault(Fault(ts, 0));
  for (uint64_t ts : {15, 25, 22, 45}) s.OnFault(Fault(ts, 1));
  s.OnFault(Fault(50, 0));
  EXPECT_TRUE(log.got.empty()) << "all inside the 1 s window";
  s.Finish();
  EXPECT_EQ(log.got, (std::vector<std::string>{"F10", "F15", "F20", "F22", "F25",
                                               "F30", "F40", "F45", "F50"}));
  EXPECT_EQ(s.stats().late, 0u);
  EXPECT_EQ(s.stats().delivered, 9u);
}

TEST(SessionTest, RecordOlderThanTheWindowIsDeliveredAtOnceAndCounted) {
  SessionOptions o;
  o.window_ns = 100;
  Session s(o);
  Log log;
  s.Add(&log);
  s.OnFault(Fault(1000, 0));
  s.OnFault(Fault(5000, 0));  // 1000 is now 4000 older than the newest
  EXPECT_EQ(log.got, std::vector<std::string>{"F1000"});
  s.OnFault(Fault(2000, 1));  // not late (after 1000), due at once
  EXPECT_EQ(log.got, (std::vector<std::string>{"F1000", "F2000"}));
  s.OnFault(Fault(1500, 1));  // older than 2000, already delivered: late
  EXPECT_EQ(log.got, (std::vector<std::string>{"F1000", "F2000", "F1500"}));
  s.Finish();
  EXPECT_EQ(log.got.back(), "F5000");
  EXPECT_EQ(s.stats().late, 1u);
  EXPECT_EQ(s.stats().max_late_ns, 500u);
  EXPECT_EQ(s.stats().delivered, 4u) << "never dropped";
}

TEST(SessionTest, CountBoundReleasesTheOldest) {
  SessionOptions o;
  o.max_pending = 2;
  Session s(o);
  Log log;
  s.Add(&log);
  s.OnFault(Fault(30, 0));
  s.OnFault(Fault(20, 1));
  EXPECT_TRUE(log.got.empty());
  s.OnFault(Fault(10, 2));
  EXPECT_EQ(log.got, std::vector<std::string>{"F10"});
  s.Finish();
  EXPECT_EQ(log.got, (std::vector<std::string>{"F10", "F20", "F30"}));
  EXPECT_EQ(s.stats().max_held, 3u);
}

TEST(SessionTest, ByteBoundReleasesTheOldest) {
  SessionOptions o;
  o.max_held_bytes = 10;
  Session s(o);
  Log log;
  s.Add(&log);
  trace::MmapEvent m;
  m.type = FL_EV_MMAP;
  m.ts_ns = 1;
  m.path = "/a/12345";  // 8 bytes
  s.OnMmap(m);
  EXPECT_TRUE(log.got.empty());
  m.ts_ns = 2;
  m.path = "/b/12345";
  s.OnMmap(m);  // 16 bytes held > 10
  EXPECT_EQ(log.got, std::vector<std::string>{"M1:/a/12345"});
  s.Finish();
  EXPECT_EQ(log.got.size(), 2u);
}

TEST(SessionTest, StringsAreCopiedOutOfTheReadersBuffer) {
  Session s;
  Log log;
  s.Add(&log);
  std::string buffer = "/usr/lib/libfirst.so";
  trace::MmapEvent m;
  m.ts_ns = 100;
  m.type = FL_EV_MMAP;
  m.path = buffer;
  s.OnMmap(m);
  trace::TaskEvent t;
  t.ts_ns = 90;
  t.cpu = 1;
  t.type = FL_EV_EXEC;
  std::string comm = "newcomm";
  t.comm = comm;
  s.OnTask(t);
  buffer.assign(buffer.size(), 'x');  // the reader reuses its block buffer
  comm.assign(comm.size(), 'y');
  s.Finish();
  EXPECT_EQ(log.got, (std::vector<std::string>{"T90:newcomm", "M100:/usr/lib/libfirst.so"}));
}

TEST(SessionTest, MetadataKeepsItsPlaceAndTheFooterComesLast) {
  Session s;
  Log log;
  s.Add(&log);
  s.OnFault(Fault(100, 0));
  trace::ProcessInfo p;
  p.comm = "meta";
  s.OnProcess(p);
  s.OnFault(Fault(50, 1));   // older than what preceded the metadata
  s.OnFault(Fault(200, 0));  // newer: after it
  trace::Footer footer;
  s.OnFooter(footer);
  s.OnWarning("damaged block");  // warnings are not held
  EXPECT_EQ(log.got, std::vector<std::string>{"W:damaged block"});
  s.OnFault(Fault(300, 1));
  s.Finish();
  EXPECT_EQ(log.got, (std::vector<std::string>{"W:damaged block", "F50", "F100",
                                               "P:meta", "F200", "F300", "footer"}));
}

TEST(SessionTest, VisitorsGetOnlyWhatTheyAskForInTheOrderAdded) {
  Session s;
  Log all, mmaps_only;
  s.Add(&all);
  s.Add(&mmaps_only, kWantMmap);
  s.OnFault(Fault(1, 0));
  trace::MmapEvent m;
  m.ts_ns = 2;
  m.type = FL_EV_MUNMAP;
  s.OnMmap(m);
  s.Finish();
  EXPECT_EQ(all.got, (std::vector<std::string>{"F1", "M2:"}));
  EXPECT_EQ(mmaps_only.got, std::vector<std::string>{"M2:"});
}

// Faults and the other records of a CPU wait in separate queues: records of
// one timestamp still come out in arrival order, across queues and CPUs.
TEST(SessionTest, EqualTimestampsKeepArrivalOrderAcrossQueues) {
  struct ByAddress : trace::TraceVisitor {
    void OnFault(const trace::FaultEvent& f) override {
      got.push_back("F@" + std::to_string(f.address));
    }
    void OnMmap(const trace::MmapEvent& m) override {
      got.push_back("M:" + std::string(m.path));
    }
    void OnTask(const trace::TaskEvent& t) override {
      got.push_back("T:" + std::string(t.comm));
    }
    std::vector<std::string> got;
  } log;
  Session s;
  s.Add(&log);
  auto fault = [](uint64_t address, uint16_t cpu) {
    trace::FaultEvent f = Fault(10, cpu);
    f.address = address;
    return f;
  };
  trace::MmapEvent m;
  m.type = FL_EV_MMAP;
  m.ts_ns = 10;
  m.path = "a";
  trace::TaskEvent t;
  t.type = FL_EV_EXIT;
  t.ts_ns = 10;
  t.cpu = 1;
  t.comm = "c";
  s.OnFault(fault(1, 0));
  s.OnMmap(m);
  s.OnFault(fault(2, 0));
  s.OnFault(fault(3, 1));
  s.OnTask(t);
  s.OnFault(fault(4, 0));
  s.Finish();
  EXPECT_EQ(log.got, (std::vector<std::string>{"F@1", "M:a", "F@2", "F@3", "T:c",
                                               "F@4"}));
}

// Over the byte bound, a run of faults (which hold no bytes) is released
// whole, up to the record that holds the bytes; then the release stops.
TEST(SessionTest, ByteBoundDrainsFaultsUpToTheRecordThatHoldsTheBytes) {
  SessionOptions o;
  o.max_held_bytes = 10;
  Session s(o);
  Log log;
  s.Add(&log);
  for (uint64_t ts : {1, 2, 3, 7}) s.OnFault(Fault(ts, 0));
  trace::MmapEvent m;
  m.type = FL_EV_MMAP;
  m.ts_ns = 5;
  m.cpu = 1;
  m.path = "/sixteen/bytes/x";
  s.OnMmap(m);
  EXPECT_EQ(log.got, (std::vector<std::string>{"F1", "F2", "F3", "M5:/sixteen/bytes/x"}));
  s.Finish();
  EXPECT_EQ(log.got.back(), "F7");
  EXPECT_EQ(s.stats().late, 0u);
}

}  // namespace
}  // namespace faultline::analyzer
