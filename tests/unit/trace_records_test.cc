// Version 2's self-describing records (trace/records.h): a record type the
// reader does not know is skipped, counted and warned about once, and the
// faults in the same block survive; every record of a block is framed by
// its type and length; bytes a newer writer appends to a known record are
// ignored; the descriptors name their fields.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "trace/format.h"
#include "trace/reader.h"
#include "trace/records.h"
#include "trace/writer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/trace_builder.h"

namespace faultline::trace {
namespace {

using ::faultline::testing::TempDir;

using ::faultline::testing::ReadBytes;

fl_fault_slim Fault(uint64_t ts, uint64_t addr, uint32_t tid) {
  fl_fault_slim f;
  std::memset(&f, 0, sizeof f);
  f.ts_ns = ts;
  f.address = addr;
  f.ip = 0x401000 + (tid & 3) * 16;
  f.pid = 100;
  f.tid = tid;
  f.latency_ns = 700 + static_cast<uint32_t>(ts % 500);
  f.stack_id = -1;
  f.error_code = FL_PF_USER | FL_PF_WRITE;
  f.outcome = FL_FAULT_MINOR;
  return f;
}

// A full batch as the kernel sends it: faults first..first+count-1.
Result<void> AddBatch(TraceWriter& w, uint64_t first, uint32_t count, uint16_t cpu) {
  std::vector<fl_fault_slim> faults;
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t i = first + k;
    faults.push_back(Fault(1000 + i * 1500, 0x7f0000000000 + i * 4096,
                           100 + static_cast<uint32_t>(i % 3)));
  }
  return ::faultline::testing::AddFaultBatch(w, cpu, faults);
}

fl_mmap Mmap(uint64_t ts, uint64_t start) {
  fl_mmap m;
  std::memset(&m, 0, sizeof m);
  m.hdr = {ts, FL_EV_MMAP, 0, sizeof m};
  m.start = start;
  m.len = 8192;
  m.pid = 100;
  m.tid = 101;
  m.prot = 3;
  m.fd = -1;
  return m;
}

struct Collect : TraceVisitor {
  std::vector<FaultEvent> faults;
  std::vector<MmapEvent> mmaps;
  std::vector<std::string> processes;
  std::vector<std::string> warnings;
  void OnFault(const FaultEvent& f) override { faults.push_back(f); }
  void OnMmap(const MmapEvent& m) override {
    mmaps.push_back(m);
    mmaps.back().path = {};
  }
  void OnProcess(const ProcessInfo& p) override {
    processes.push_back(std::to_string(p.pid) + " " + std::string(p.comm));
  }
  void OnWarning(std::string_view w) override { warnings.emplace_back(w); }
};

TraceMeta Meta() {
  TraceMeta m;
  m.kernel_release = "6.1.0-test";
  m.hostname = "host";
  m.command_line = "test";
  m.ncpus = 2;
  return m;
}

// The expected faults: the same stream as AddBatch writes.
void ExpectFaults(const std::vector<FaultEvent>& got, uint64_t n) {
  ASSERT_EQ(got.size(), n);
  for (uint64_t i = 0; i < n; ++i) {
    fl_fault_slim want = Fault(1000 + i * 1500, 0x7f0000000000 + i * 4096,
                               100 + static_cast<uint32_t>(i % 3));
    EXPECT_EQ(got[i].ts_ns, want.ts_ns) << i;
    EXPECT_EQ(got[i].address, want.address) << i;
    EXPECT_EQ(got[i].tid, want.tid) << i;
    EXPECT_EQ(got[i].ip, want.ip) << i;
    EXPECT_EQ(got[i].latency_ns, want.latency_ns) << i;
  }
}

TEST(TraceUnknownRecord, EventTypeIsSkippedWithOneWarningAndFaultsBesideItSurvive) {
  TempDir dir;
  const std::string path = dir.File("unknown.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  // One events block: faults, an unknown record (type 40, a newer
  // writer's), more faults, an mmap whose delta state must not be disturbed
  // by the skipped record, unknown type 41 twice, faults.
  ASSERT_TRUE(AddBatch(**w, 0, 32, 0));
  ASSERT_TRUE((*w)->AddEncodedForTesting(false, 40, "\x05\x01\x02garbage-we-cannot-read"));
  ASSERT_TRUE(AddBatch(**w, 32, 32, 1));
  fl_mmap m1 = Mmap(60000, 0x7f1000000000);
  ASSERT_TRUE((*w)->AddRecord(&m1, sizeof m1));
  ASSERT_TRUE((*w)->AddEncodedForTesting(false, 41, std::string(300, '\xff')));
  fl_mmap m2 = Mmap(70000, 0x7f2000000000);
  ASSERT_TRUE((*w)->AddRecord(&m2, sizeof m2));
  ASSERT_TRUE((*w)->AddEncodedForTesting(false, 41, ""));
  ASSERT_TRUE(AddBatch(**w, 64, 7, 0));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{{71, 0}, {0, 0}}));

  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  Collect c;
  ASSERT_TRUE((*r)->ReadAll(c));
  const ReadStats& st = (*r)->stats();
  EXPECT_EQ(st.corrupt_blocks, 0u);
  EXPECT_TRUE(st.footer);
  ExpectFaults(c.faults, 71);
  ASSERT_EQ(c.mmaps.size(), 2u);
  EXPECT_EQ(c.mmaps[0].ts_ns, 60000u);
  EXPECT_EQ(c.mmaps[0].start, 0x7f1000000000u);
  EXPECT_EQ(c.mmaps[1].ts_ns, 70000u);
  EXPECT_EQ(c.mmaps[1].start, 0x7f2000000000u);
  EXPECT_EQ(c.mmaps[1].tid, 101u);
  EXPECT_EQ(st.events, 73u);
  EXPECT_EQ(st.skipped_records, 3u);
  EXPECT_EQ(st.skipped_event_types, (std::map<uint32_t, uint64_t>{{40, 1}, {41, 2}}));
  EXPECT_TRUE(st.skipped_metadata_types.empty());
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0], path + ": skipped 3 records of event types 40, 41 that "
                                  "this faultline does not know (written by a "
                                  "newer version?)");
  EXPECT_EQ(st.warnings, c.warnings);
}

TEST(TraceUnknownRecord, MetadataTypeIsSkippedWithOneWarning) {
  TempDir dir;
  const std::string path = dir.File("meta.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->AddProcess(100, 1, "first", "/bin/first"));
  ASSERT_TRUE((*w)->AddEncodedForTesting(true, 9, "a newer writer's metadata"));
  ASSERT_TRUE((*w)->AddProcess(101, 1, "second", "/bin/second"));
  ASSERT_TRUE(AddBatch(**w, 0, 5, 0));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{}));
  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value());
  Collect c;
  ASSERT_TRUE((*r)->ReadAll(c));
  EXPECT_EQ(c.processes, (std::vector<std::string>{"100 first", "101 second"}));
  ExpectFaults(c.faults, 5);
  EXPECT_EQ((*r)->stats().skipped_metadata_types, (std::map<uint32_t, uint64_t>{{9, 1}}));
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0], path + ": skipped 1 record of metadata type 9 that this "
                                  "faultline does not know (written by a newer "
                                  "version?)");
}

// Walks an events block as docs/trace-format.md says any reader may: type
// varint, length varint, body; returns the types in order, or {} when the
// records do not tile the block exactly.
std::vector<uint64_t> RecordTypes(const uint8_t* p, size_t n) {
  ByteCursor c(p, n);
  std::vector<uint64_t> types;
  while (!c.done()) {
    uint64_t type = c.Varint();
    uint64_t len = c.Varint();
    c.Take(len);
    if (!c.ok()) return {};
    types.push_back(type);
  }
  return types;
}

// The payloads of the blocks of type `type` in a stored (uncompressed or
// inflated) form.
std::vector<std::vector<uint8_t>> Blocks(const std::vector<uint8_t>& file,
                                         BlockType type) {
  std::vector<std::vector<uint8_t>> out;
  size_t pos = GetLe32(file.data() + 12);
  while (pos + kBlockHeaderBytes <= file.size()) {
    const uint8_t* h = &file[pos];
    uint32_t stored = GetLe32(h + 8), raw = GetLe32(h + 12);
    const uint8_t* payload = h + kBlockHeaderBytes;
    if (h[4] == static_cast<uint8_t>(type)) {
      std::vector<uint8_t> b(raw);
      if (h[5] == static_cast<uint8_t>(Codec::kZlib)) {
        uLongf len = raw;
        EXPECT_EQ(uncompress(b.data(), &len, payload, stored), Z_OK);
      } else {
        std::memcpy(b.data(), payload, raw);
      }
      out.push_back(std::move(b));
    }
    pos += kBlockHeaderBytes + stored;
  }
  return out;
}

TEST(TraceRecordFraming, EveryRecordOfABlockCarriesTypeAndLength) {
  TempDir dir;
  const std::string path = dir.File("framing.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->AddProcess(100, 1, "p", "/bin/p"));
  ASSERT_TRUE((*w)->AddMapping(100, 0x1000, 0x2000, 0, 5, "/bin/p", 1));
  const uint64_t ips[] = {1, 2, 3};
  ASSERT_TRUE((*w)->AddStack(3, ips));
  ASSERT_TRUE((*w)->AddSummary({100, 0}, {}));
  // Three batches make one fault run; an mmap ends it; two more batches
  // start the next.
  ASSERT_TRUE(AddBatch(**w, 0, 32, 0));
  ASSERT_TRUE(AddBatch(**w, 32, 32, 1));
  ASSERT_TRUE(AddBatch(**w, 64, 3, 0));
  fl_mmap m = Mmap(200000, 0x7f1000000000);
  ASSERT_TRUE((*w)->AddRecord(&m, sizeof m));
  ASSERT_TRUE(AddBatch(**w, 67, 32, 0));
  ASSERT_TRUE(AddBatch(**w, 99, 1, 1));
  struct {
    fl_hdr hdr;
    char body[4];
  } tcp{{300000, 40, 1, sizeof(fl_hdr) + 4}, {'t', 'c', 'p', '!'}};
  ASSERT_TRUE((*w)->AddRecord(&tcp, sizeof tcp));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{}));

  std::vector<uint8_t> file = ReadBytes(path);
  auto ev = Blocks(file, BlockType::kEvents);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(RecordTypes(ev[0].data(), ev[0].size()),
            (std::vector<uint64_t>{kRecFaultRun, FL_EV_MMAP, kRecFaultRun, kRecOpaque}));
  auto meta = Blocks(file, BlockType::kMetadata);
  ASSERT_EQ(meta.size(), 1u);
  EXPECT_EQ(RecordTypes(meta[0].data(), meta[0].size()),
            (std::vector<uint64_t>{1, 3, 4, 5}));

  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value());
  Collect c;
  ASSERT_TRUE((*r)->ReadAll(c));
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
  ExpectFaults(c.faults, 100);
}

TEST(TraceRecordFraming, BytesAppendedToAKnownRecordAreIgnored) {
  // A newer writer may append fields to a known type: the reader decodes
  // the fields it knows and skips the rest of the body.
  TempDir dir;
  const std::string path = dir.File("appended.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  fl_tlb t;
  std::memset(&t, 0, sizeof t);
  t.hdr = {5000, FL_EV_TLB_FLUSH, 1, sizeof t};
  t.pid = 7;
  t.tid = 8;
  t.reason = 2;
  t.pages = 3;
  uint64_t state[kMaxDeltaFields] = {};
  std::string body;
  EncodeBody(kTlbRecord, t, state, body);
  body += "\x2a\x2b new field";
  ASSERT_TRUE((*w)->AddEncodedForTesting(false, FL_EV_TLB_FLUSH, body));
  ASSERT_TRUE(AddBatch(**w, 0, 4, 0));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{}));
  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value());
  struct : Collect {
    std::vector<TlbEvent> tlbs;
    void OnTlb(const TlbEvent& e) override { tlbs.push_back(e); }
  } c;
  ASSERT_TRUE((*r)->ReadAll(c));
  EXPECT_TRUE(c.warnings.empty());
  ASSERT_EQ(c.tlbs.size(), 1u);
  EXPECT_EQ(c.tlbs[0].ts_ns, 5000u);
  EXPECT_EQ(c.tlbs[0].cpu, 1u);
  EXPECT_EQ(c.tlbs[0].pid, 7u);
  EXPECT_EQ(c.tlbs[0].tid, 8u);
  EXPECT_EQ(c.tlbs[0].reason, 2);
  EXPECT_EQ(c.tlbs[0].pages, 3u);
  ExpectFaults(c.faults, 4);
}

TEST(TraceRecordFraming, ARecordLongerThanItsBlockIsMalformed) {
  TempDir dir;
  const std::string path = dir.File("long.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(AddBatch(**w, 0, 4, 0));
  ASSERT_TRUE((*w)->Flush());
  // An (unknown, so normally skipped) record whose length claims 100 bytes
  // more than the block holds: the faults of the earlier block are kept,
  // this block is reported as malformed.
  ASSERT_TRUE((*w)->AddEncodedForTesting(false, 40, ""));
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{}));
  std::vector<uint8_t> file = ReadBytes(path);
  // Find the second events block (stored: it is tiny) and set its only
  // record's length to 100; fix the CRCs so that only the framing is wrong.
  size_t pos = GetLe32(file.data() + 12);
  int events = 0;
  while (pos + kBlockHeaderBytes <= file.size()) {
    uint8_t* h = &file[pos];
    uint32_t stored = GetLe32(h + 8);
    if (h[4] == static_cast<uint8_t>(BlockType::kEvents) && ++events == 2) {
      ASSERT_EQ(h[5], static_cast<uint8_t>(Codec::kStored));
      uint8_t* payload = h + kBlockHeaderBytes;
      ASSERT_EQ(payload[0], 40);
      PutPaddedLen(reinterpret_cast<char*>(payload + 1), 100);
      PutLe32(reinterpret_cast<char*>(h + 16), crc32(0, payload, stored));
      PutLe32(reinterpret_cast<char*>(h + 20), crc32(0, h, 20));
    }
    pos += kBlockHeaderBytes + stored;
  }
  ASSERT_EQ(events, 2);
  auto r = TraceReader::FromMemory(file);
  ASSERT_TRUE(r.has_value());
  Collect c;
  ASSERT_TRUE((*r)->ReadAll(c));
  ExpectFaults(c.faults, 4);
  EXPECT_EQ((*r)->stats().corrupt_blocks, 1u);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("malformed records"), std::string::npos);
}

TEST(TraceRecordDescriptors, NameTheirFields) {
  auto mmap = FieldNames(kMmapRecord);
  EXPECT_EQ(std::vector<std::string>(mmap.begin(), mmap.end()),
            (std::vector<std::string>{"pid", "tid", "start", "len", "pgoff", "aux",
                                      "prot", "flags", "fd", "path"}));
  auto task = FieldNames(kTaskRecord);
  EXPECT_EQ(std::string(task[4]), "exit_code");
  EXPECT_EQ(FieldNames(kTlbRecord).size(), 4u);
  EXPECT_EQ(std::string(FieldNames(kMappingRecord)[6]), "path");
  EXPECT_EQ(std::string(kMmapRecord.name), "mmap");
  EXPECT_EQ(EventFieldNames(FL_EV_TLB_FLUSH),
            (std::vector<std::string_view>{"ts_ns", "cpu", "pid", "tid", "reason",
                                           "pages"}));
  EXPECT_EQ(EventFieldNames(FL_EV_EXIT).size(), 10u);
  EXPECT_TRUE(EventFieldNames(FL_EV_FAULT_BATCH).empty());
  EXPECT_TRUE(EventFieldNames(40).empty());
}

TEST(TraceRecordDescriptors, DeltaFieldsRoundTripAcrossRecordsOfOneType) {
  // pid/tid are deltas vs the previous record of the same type: a sequence
  // with increases, decreases and wrap-around decodes to itself.
  const uint32_t tids[] = {5, 4000000000u, 1, 1, 0xffffffffu, 0};
  uint64_t wstate[kMaxDeltaFields] = {}, rstate[kMaxDeltaFields] = {};
  std::string bytes;
  for (uint32_t tid : tids) {
    fl_tlb t;
    std::memset(&t, 0, sizeof t);
    t.hdr = {uint64_t{tid} * 3, FL_EV_TLB_FLUSH, 1, sizeof t};
    t.pid = tid / 2;
    t.tid = tid;
    t.reason = -static_cast<int32_t>(tid % 7);
    t.pages = ~uint64_t{tid};
    EncodeBody(kTlbRecord, t, wstate, bytes);
  }
  ByteCursor c(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  for (uint32_t tid : tids) {
    TlbEvent e;
    ASSERT_TRUE(DecodeBody(kTlbRecord, c, rstate, e));
    EXPECT_EQ(e.ts_ns, uint64_t{tid} * 3);
    EXPECT_EQ(e.pid, tid / 2);
    EXPECT_EQ(e.tid, tid);
    EXPECT_EQ(e.reason, -static_cast<int32_t>(tid % 7));
    EXPECT_EQ(e.pages, ~uint64_t{tid});
  }
  EXPECT_TRUE(c.done());
}

TEST(TraceRecordDescriptors, AppendedFieldsMayBeMissingFromAnOlderWritersBody) {
  // As if `pages` had been appended to the TLB record later: a body without
  // it (an older writer's) decodes with the default, one cut inside the
  // required fields does not.
  constexpr auto kWithAppended = WithRequiredFields(kTlbRecord, 3);
  fl_tlb t;
  std::memset(&t, 0, sizeof t);
  t.hdr = {77, FL_EV_TLB_FLUSH, 1, sizeof t};
  t.pid = 5;
  t.tid = 6;
  t.reason = -1;
  t.pages = 1000;
  uint64_t ws[kMaxDeltaFields] = {};
  std::string full;
  EncodeBody(kTlbRecord, t, ws, full);
  std::string old_body = full.substr(0, full.size() - 2);  // pages: 2 bytes
  uint64_t rs[kMaxDeltaFields] = {};
  ByteCursor c(reinterpret_cast<const uint8_t*>(old_body.data()), old_body.size());
  TlbEvent e;
  ASSERT_TRUE(DecodeBody(kWithAppended, c, rs, e));
  EXPECT_EQ(e.ts_ns, 77u);
  EXPECT_EQ(e.reason, -1);
  EXPECT_EQ(e.pages, 0u);
  uint64_t rs2[kMaxDeltaFields] = {};
  ByteCursor c2(reinterpret_cast<const uint8_t*>(old_body.data()), old_body.size());
  EXPECT_FALSE(DecodeBody(kTlbRecord, c2, rs2, e));  // all required
  std::string cut = full.substr(0, full.size() - 3);  // reason missing too
  uint64_t rs3[kMaxDeltaFields] = {};
  ByteCursor c3(reinterpret_cast<const uint8_t*>(cut.data()), cut.size());
  EXPECT_FALSE(DecodeBody(kWithAppended, c3, rs3, e));
  uint64_t rs4[kMaxDeltaFields] = {};
  ByteCursor c4(reinterpret_cast<const uint8_t*>(full.data()), full.size());
  ASSERT_TRUE(DecodeBody(kWithAppended, c4, rs4, e));
  EXPECT_EQ(e.pages, 1000u);
}

TEST(TraceRecordDescriptors, ValuesOutOfTheFieldsRangeAreMalformed) {
  // tlb: ts, cpu, pid delta, ... A cpu above 0xffff or a pid above 2^32
  // must fail, not wrap.
  std::string b;
  PutSigned(b, 1);
  PutVarint(b, 0x10000);  // cpu
  ByteCursor c1(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  uint64_t s1[kMaxDeltaFields] = {};
  TlbEvent e;
  EXPECT_FALSE(DecodeBody(kTlbRecord, c1, s1, e));
  std::string b2;
  PutSigned(b2, 1);
  PutVarint(b2, 0);
  PutSigned(b2, int64_t{1} << 33);  // pid
  PutSigned(b2, 0);
  PutSigned(b2, 0);
  PutVarint(b2, 0);
  ByteCursor c2(reinterpret_cast<const uint8_t*>(b2.data()), b2.size());
  uint64_t s2[kMaxDeltaFields] = {};
  EXPECT_FALSE(DecodeBody(kTlbRecord, c2, s2, e));
}

}  // namespace
}  // namespace faultline::trace

namespace faultline::trace {
namespace {

// The same file with every block stored uncompressed (codec 0), CRCs set:
// a fuzzing seed whose mutations hit the record decoders, not zlib.
std::vector<uint8_t> Uncompressed(const std::vector<uint8_t>& file) {
  size_t pos = GetLe32(file.data() + 12);
  std::vector<uint8_t> out(file.begin(), file.begin() + pos);
  while (pos + kBlockHeaderBytes <= file.size()) {
    const uint8_t* h = &file[pos];
    uint32_t stored = GetLe32(h + 8), raw = GetLe32(h + 12);
    std::vector<uint8_t> payload(raw);
    if (h[5] == static_cast<uint8_t>(Codec::kZlib)) {
      uLongf len = raw;
      EXPECT_EQ(uncompress(payload.data(), &len, h + kBlockHeaderBytes, stored), Z_OK);
    } else {
      std::memcpy(payload.data(), h + kBlockHeaderBytes, raw);
    }
    char nh[kBlockHeaderBytes];
    std::memcpy(nh, h, 8);
    nh[5] = static_cast<char>(Codec::kStored);
    PutLe32(nh + 8, raw);
    PutLe32(nh + 12, raw);
    PutLe32(nh + 16, crc32(0, payload.data(), raw));
    PutLe32(nh + 20, crc32(0, reinterpret_cast<const Bytef*>(nh), 20));
    out.insert(out.end(), nh, nh + sizeof nh);
    out.insert(out.end(), payload.begin(), payload.end());
    pos += kBlockHeaderBytes + stored;
  }
  return out;
}

// Version-2 seeds for fuzz/corpus/trace_reader_fuzz/ (docs/fuzzing.md):
// every record type, known and unknown, in events and metadata blocks.
// With FAULTLINE_WRITE_SEEDS=DIR the files are (re)written there; either
// way they must read without damage.
// ---- TCP records (bpf/faultline.h, "TCP connections") -------------------------

// A v4 address (bytes 0..3, the rest zero) and a v6 one whose last byte is
// zero (trailing zeros are not stored and must come back).
void V4(uint8_t* a, uint8_t last) {
  std::memset(a, 0, 16);
  a[0] = 127;
  a[3] = last;
}
void V6(uint8_t* a, uint8_t seed) {
  for (int i = 0; i < 16; ++i) a[i] = static_cast<uint8_t>(seed + i * 17);
  a[15] = 0;
  a[14] = 0;
}
TcpAddr Addr(const uint8_t* a) {
  TcpAddr r;
  std::memcpy(r.data(), a, 16);
  return r;
}

// The fields that every tcp_* record with endpoints carries: decoded `e`
// against the raw record `r` it came from.
template <class E, class R>
void ExpectFlow(const E& e, const R& r) {
  EXPECT_EQ(e.ts_ns, r.hdr.ts_ns);
  EXPECT_EQ(e.sk, r.sk);
  EXPECT_EQ(e.gen, r.gen);
  EXPECT_EQ(e.saddr, Addr(r.saddr));
  EXPECT_EQ(e.daddr, Addr(r.daddr));
  EXPECT_EQ(e.pid, r.pid);
  EXPECT_EQ(e.tid, r.tid);
  EXPECT_EQ(e.sport, r.sport);
  EXPECT_EQ(e.dport, r.dport);
  EXPECT_EQ(e.family, r.family);
}

struct TcpCollect : TraceVisitor {
  std::vector<TcpStateEvent> states;
  std::vector<TcpAcceptEvent> accepts;
  std::vector<TcpConnectEvent> connects;
  std::vector<TcpResetEvent> resets;
  std::vector<TcpServeEvent> serves;
  std::vector<TcpCloseEvent> closes;
  std::vector<TcpNetstatEvent> netstats;
  std::vector<std::string> warnings;
  void OnTcpState(const TcpStateEvent& e) override { states.push_back(e); }
  void OnTcpAccept(const TcpAcceptEvent& e) override { accepts.push_back(e); }
  void OnTcpConnect(const TcpConnectEvent& e) override { connects.push_back(e); }
  void OnTcpReset(const TcpResetEvent& e) override { resets.push_back(e); }
  void OnTcpServe(const TcpServeEvent& e) override { serves.push_back(e); }
  void OnTcpClose(const TcpCloseEvent& e) override { closes.push_back(e); }
  void OnTcpNetstat(const TcpNetstatEvent& e) override { netstats.push_back(e); }
  void OnWarning(std::string_view w) override { warnings.emplace_back(w); }
};

template <class T>
T Zeroed() {
  T t;
  std::memset(&t, 0, sizeof t);
  return t;
}

TEST(TraceTcpRecords, EveryFieldOfEveryTypeRoundTrips) {
  TempDir dir;
  const std::string path = dir.File("tcp.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  // Two of each type (i = 0, 1): the second exercises the delta state, with
  // values that go down as well as up. i = 1 is IPv6.
  std::vector<fl_tcp_state> st;
  std::vector<fl_tcp_accept> ac;
  std::vector<fl_tcp_connect> co;
  std::vector<fl_tcp_reset> rs;
  std::vector<fl_tcp_serve> sv;
  std::vector<fl_tcp_close> cl;
  std::vector<fl_tcp_netstat> ns;
  for (uint32_t i = 0; i < 2; ++i) {
    const uint64_t ts = 1000000 + i * 777;
    const uint64_t sk = i ? 0xffff888100000040ull : 0xffff8881094aca00ull;
    const uint16_t fam = i ? 10 : 2;
    auto addrs = [&](uint8_t* s, uint8_t* d) {
      if (i) {
        V6(s, 3);
        V6(d, 5);
      } else {
        V4(s, 1);
        V4(d, 2);
      }
    };
    auto s = Zeroed<fl_tcp_state>();
    s.hdr = {ts, static_cast<uint16_t>(i ? FL_EV_TCP_SEEN : FL_EV_TCP_STATE), 1,
             sizeof s};
    s.sk = sk;
    s.gen = ts - 500 + i * 9000;
    addrs(s.saddr, s.daddr);
    s.pid = 4000 - i * 3000;
    s.tid = 4001 + i;
    s.cur_pid = i ? 0 : 77;
    s.cur_tid = i ? 0 : 78;
    s.backlog = 3 + i;
    s.max_backlog = 511;
    s.sport = 18080;
    s.dport = static_cast<uint16_t>(46376 + i);
    s.family = fam;
    s.old_state = i ? 1 : 3;
    s.new_state = 1;
    st.push_back(s);
    auto a = Zeroed<fl_tcp_accept>();
    a.hdr = {ts + 1, FL_EV_TCP_ACCEPT, 0, sizeof a};
    a.sk = sk;
    a.gen = s.gen;
    a.listener = sk - 0x1000 + i * 0x5000;
    a.established_ns = ts - 100;
    addrs(a.saddr, a.daddr);
    a.pid = 4000;
    a.tid = 4002 - i;
    a.backlog = 1 - i;
    a.max_backlog = 16;
    a.fd = i ? -1 : 4;
    a.sport = 18080;
    a.dport = 50000;
    a.family = fam;
    a.state = 1;
    ac.push_back(a);
    auto c = Zeroed<fl_tcp_connect>();
    c.hdr = {ts + 2, FL_EV_TCP_CONNECT, 1, sizeof c};
    c.sk = sk + 8;
    c.gen = i ? 0 : ts - 50;
    addrs(c.saddr, c.daddr);
    c.pid = 9;
    c.tid = 10 + i;
    c.fd = 3;
    c.ret = i ? -115 : 0;
    c.sport = 41906;
    c.dport = 18080;
    c.family = fam;
    c.state = i ? 2 : 1;
    co.push_back(c);
    auto r = Zeroed<fl_tcp_reset>();
    r.hdr = {ts + 3, FL_EV_TCP_RESET, 1, sizeof r};
    r.sk = i ? 0 : sk;
    r.gen = i ? 0 : s.gen;
    addrs(r.saddr, r.daddr);
    r.pid = i ? 0 : 4000;
    r.tid = i ? 0 : 4002;
    r.cur_pid = 4000;
    r.cur_tid = 4003;
    r.sport = 18080;
    r.dport = 1234;
    r.family = fam;
    r.kernel_reason = i ? 1 : 11;
    r.state = i ? 0 : 7;
    r.reason = i ? FL_RST_NO_SOCKET : FL_RST_ABORT_ON_CLOSE;
    r.flags = i ? (FL_RST_F_PASSIVE | FL_RST_F_NO_SOCK) : FL_RST_F_RECEIVED;
    rs.push_back(r);
    auto v = Zeroed<fl_tcp_serve>();
    v.hdr = {ts + 4, FL_EV_TCP_SERVE, 0, sizeof v};
    v.sk = sk;
    v.gen = s.gen;
    v.bytes_in = i ? 89 : 0;
    v.bytes_out = i ? (1ull << 40) : 0;
    v.pid = 4000;
    v.tid = 4005 - i;
    v.prev_tid = i ? 4005 : 0;
    v.len = 86 - static_cast<int32_t>(i);
    v.send = static_cast<uint8_t>(i);
    sv.push_back(v);
    auto d = Zeroed<fl_tcp_close>();
    d.hdr = {ts + 5, FL_EV_TCP_CLOSE, 1, sizeof d};
    d.sk = sk;
    d.gen = s.gen;
    d.bytes_in = 175 - i;
    d.bytes_out = 27417 + i;
    addrs(d.saddr, d.daddr);
    d.pid = 4000;
    d.tid = 4002;
    d.last_tid = 4004 + i;
    d.retransmits = i * 3;
    d.sport = 18080;
    d.dport = 60790;
    d.family = fam;
    d.state = 7;
    cl.push_back(d);
    auto n = Zeroed<fl_tcp_netstat>();
    n.hdr = {ts + 6, FL_EV_TCP_NETSTAT, 0, sizeof n};
    n.listen_overflows = 109 - i * 96;
    n.listen_drops = 110 + i;
    n.abort_on_data = 5 + i;
    n.abort_on_close = 6;
    n.abort_on_linger = 7 * i;
    n.abort_on_timeout = 8;
    n.phase = i ? FL_NETSTAT_END : FL_NETSTAT_START;
    ns.push_back(n);
  }
  for (uint32_t i = 0; i < 2; ++i) {
    ASSERT_TRUE((*w)->AddRecord(&st[i], sizeof st[i]));
    ASSERT_TRUE((*w)->AddRecord(&ac[i], sizeof ac[i]));
    ASSERT_TRUE((*w)->AddRecord(&co[i], sizeof co[i]));
    ASSERT_TRUE((*w)->AddRecord(&rs[i], sizeof rs[i]));
    ASSERT_TRUE((*w)->AddRecord(&sv[i], sizeof sv[i]));
    ASSERT_TRUE((*w)->AddRecord(&cl[i], sizeof cl[i]));
    ASSERT_TRUE((*w)->AddRecord(&ns[i], sizeof ns[i]));
  }
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{{7, 0}, {7, 0}}));

  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  TcpCollect got;
  ASSERT_TRUE((*r)->ReadAll(got));
  EXPECT_TRUE(got.warnings.empty());
  EXPECT_EQ((*r)->stats().events, 14u);
  EXPECT_EQ((*r)->stats().skipped_records, 0u);
  ASSERT_EQ(got.states.size(), 2u);
  ASSERT_EQ(got.accepts.size(), 2u);
  ASSERT_EQ(got.connects.size(), 2u);
  ASSERT_EQ(got.resets.size(), 2u);
  ASSERT_EQ(got.serves.size(), 2u);
  ASSERT_EQ(got.closes.size(), 2u);
  ASSERT_EQ(got.netstats.size(), 2u);
  for (uint32_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const auto& s = got.states[i];
    ExpectFlow(s, st[i]);
    EXPECT_EQ(s.type, st[i].hdr.type);
    EXPECT_EQ(s.cpu, st[i].hdr.cpu);
    EXPECT_EQ(s.cur_pid, st[i].cur_pid);
    EXPECT_EQ(s.cur_tid, st[i].cur_tid);
    EXPECT_EQ(s.backlog, st[i].backlog);
    EXPECT_EQ(s.max_backlog, st[i].max_backlog);
    EXPECT_EQ(s.old_state, st[i].old_state);
    EXPECT_EQ(s.new_state, st[i].new_state);

    const auto& a = got.accepts[i];
    ExpectFlow(a, ac[i]);
    EXPECT_EQ(a.cpu, ac[i].hdr.cpu);
    EXPECT_EQ(a.listener, ac[i].listener);
    EXPECT_EQ(a.established_ns, ac[i].established_ns);
    EXPECT_EQ(a.backlog, ac[i].backlog);
    EXPECT_EQ(a.max_backlog, ac[i].max_backlog);
    EXPECT_EQ(a.fd, ac[i].fd);
    EXPECT_EQ(a.state, ac[i].state);

    const auto& c = got.connects[i];
    ExpectFlow(c, co[i]);
    EXPECT_EQ(c.fd, co[i].fd);
    EXPECT_EQ(c.ret, co[i].ret);
    EXPECT_EQ(c.state, co[i].state);

    const auto& x = got.resets[i];
    ExpectFlow(x, rs[i]);
    EXPECT_EQ(x.cur_pid, rs[i].cur_pid);
    EXPECT_EQ(x.cur_tid, rs[i].cur_tid);
    EXPECT_EQ(x.kernel_reason, rs[i].kernel_reason);
    EXPECT_EQ(x.state, rs[i].state);
    EXPECT_EQ(x.reason, rs[i].reason);
    EXPECT_EQ(x.flags, rs[i].flags);

    const auto& v = got.serves[i];
    EXPECT_EQ(v.ts_ns, sv[i].hdr.ts_ns);
    EXPECT_EQ(v.sk, sv[i].sk);
    EXPECT_EQ(v.gen, sv[i].gen);
    EXPECT_EQ(v.bytes_in, sv[i].bytes_in);
    EXPECT_EQ(v.bytes_out, sv[i].bytes_out);
    EXPECT_EQ(v.pid, sv[i].pid);
    EXPECT_EQ(v.tid, sv[i].tid);
    EXPECT_EQ(v.prev_tid, sv[i].prev_tid);
    EXPECT_EQ(v.len, sv[i].len);
    EXPECT_EQ(v.send, sv[i].send);

    const auto& d = got.closes[i];
    ExpectFlow(d, cl[i]);
    EXPECT_EQ(d.bytes_in, cl[i].bytes_in);
    EXPECT_EQ(d.bytes_out, cl[i].bytes_out);
    EXPECT_EQ(d.last_tid, cl[i].last_tid);
    EXPECT_EQ(d.retransmits, cl[i].retransmits);
    EXPECT_EQ(d.state, cl[i].state);

    const auto& n = got.netstats[i];
    EXPECT_EQ(n.ts_ns, ns[i].hdr.ts_ns);
    EXPECT_EQ(n.listen_overflows, ns[i].listen_overflows);
    EXPECT_EQ(n.listen_drops, ns[i].listen_drops);
    EXPECT_EQ(n.abort_on_data, ns[i].abort_on_data);
    EXPECT_EQ(n.abort_on_close, ns[i].abort_on_close);
    EXPECT_EQ(n.abort_on_linger, ns[i].abort_on_linger);
    EXPECT_EQ(n.abort_on_timeout, ns[i].abort_on_timeout);
    EXPECT_EQ(n.phase, ns[i].phase);
  }
}

TEST(TraceTcpRecords, AddressesStoreOnlyTheirSignificantBytes) {
  // A v4 address costs its 4 bytes (+ length), not 16.
  auto s = Zeroed<fl_tcp_state>();
  s.hdr = {1, FL_EV_TCP_STATE, 0, sizeof s};
  V4(s.saddr, 1);
  uint64_t state[kMaxDeltaFields] = {};
  std::string v4;
  EncodeBody(kTcpStateRecord, s, state, v4);
  V6(s.saddr, 3);
  s.saddr[15] = 1;
  uint64_t state2[kMaxDeltaFields] = {};
  std::string v6;
  EncodeBody(kTcpStateRecord, s, state2, v6);
  EXPECT_EQ(v6.size() - v4.size(), 12u);
}

TEST(TraceTcpRecords, AnAddressLongerThanSixteenBytesIsMalformed) {
  // tcp_state: ts, cpu, sk, gen, then saddr with 17 bytes.
  std::string b;
  PutSigned(b, 1);
  PutVarint(b, 0);
  PutSigned(b, 0);
  PutSigned(b, 0);
  PutBytes(b, std::string(17, '\x01'));
  ByteCursor c(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  uint64_t state[kMaxDeltaFields] = {};
  TcpStateEvent e;
  EXPECT_FALSE(DecodeBody(kTcpStateRecord, c, state, e));
}

TEST(TraceTcpRecords, AShortRecordIsRefused) {
  TempDir dir;
  auto w = TraceWriter::Create(dir.File("short.flt"), Meta());
  ASSERT_TRUE(w.has_value());
  auto s = Zeroed<fl_tcp_close>();
  s.hdr = {1, FL_EV_TCP_CLOSE, 0, 40};
  EXPECT_FALSE((*w)->AddRecord(&s, 40));
}

TEST(TraceTcpRecords, FieldNamesStartWithTheHeader) {
  auto names = EventFieldNames(FL_EV_TCP_SEEN);
  ASSERT_EQ(names.size(), 17u);
  EXPECT_EQ(names[2], "sk");
  EXPECT_EQ(names[3], "gen");
  EXPECT_EQ(names[16], "max_backlog");
  EXPECT_EQ(EventFieldNames(FL_EV_TCP_RESET).back(), "flags");
  EXPECT_EQ(EventFieldNames(FL_EV_TCP_NETSTAT).size(), 9u);
}

TEST(TraceSeeds, Version2SeedsReadCleanly) {
  TempDir dir;
  const std::string path = dir.File("v2_all_types.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  TraceWriter& tw = **w;
  ASSERT_TRUE(tw.AddProcess(100, 1, "server", "/usr/bin/server"));
  ASSERT_TRUE(tw.AddThread(100, 101, "worker"));
  ASSERT_TRUE(tw.AddMapping(100, 0x400000, 0x401000, 0, 5, "/usr/bin/server", 1));
  ASSERT_TRUE(tw.AddMapping(100, 0x7f0000000000, 0x7f0000100000, 0, 3, "", 1));
  const uint64_t ips[] = {0x401234, 0x400100};
  ASSERT_TRUE(tw.AddStack(1, ips));
  fl_summary_val val{};
  val.count = 2;
  val.hist[4] = 2;
  ASSERT_TRUE(tw.AddSummary({100, FL_SK_MINOR_USER}, val));
  ASSERT_TRUE(tw.AddEncodedForTesting(true, 9, "meta"));
  ASSERT_TRUE(AddBatch(tw, 0, 6, 0));
  fl_mmap m = Mmap(20000, 0x7f1000000000);
  std::strcpy(m.path, "/data/f");
  m.fd = 3;
  for (uint16_t type : {FL_EV_MMAP, FL_EV_MUNMAP, FL_EV_MREMAP, FL_EV_BRK,
                        FL_EV_MPROTECT}) {
    m.hdr.type = type;
    ASSERT_TRUE(tw.AddRecord(&m, sizeof m));
  }
  fl_task t;
  std::memset(&t, 0, sizeof t);
  t.pid = 100;
  t.tid = 102;
  std::strcpy(t.comm, "worker");
  std::strcpy(t.path, "/bin/x");
  for (uint16_t type : {FL_EV_FORK, FL_EV_EXEC, FL_EV_EXIT}) {
    t.hdr = {30000u + type, type, 1, sizeof t};
    ASSERT_TRUE(tw.AddRecord(&t, sizeof t));
  }
  fl_tlb tlb;
  std::memset(&tlb, 0, sizeof tlb);
  tlb.hdr = {40000, FL_EV_TLB_FLUSH, 0, sizeof tlb};
  tlb.pid = 100;
  tlb.pages = 4;
  ASSERT_TRUE(tw.AddRecord(&tlb, sizeof tlb));
  struct {
    fl_hdr hdr;
    char body[4];
  } raw40{{50000, 40, 1, sizeof(fl_hdr) + 4}, {'t', 'c', 'p', '!'}};
  ASSERT_TRUE(tw.AddRecord(&raw40, sizeof raw40));  // opaque
  ASSERT_TRUE(tw.AddEncodedForTesting(false, 41, "\x01\x02"));  // unknown
  fl_fault_slim odd = Fault(60000, 0x1000, 103);
  odd.stack_id = 1;
  odd.outcome = FL_FAULT_INCOMPLETE;
  odd.flags = FL_FAULT_F_KERNEL;
  fl_fault_batch b;
  std::memset(&b, 0, sizeof b);
  b.count = 1;
  b.faults[0] = odd;
  b.hdr = {60000, FL_EV_FAULT_BATCH, 1, sizeof b};
  ASSERT_TRUE(tw.AddRecord(&b, sizeof b));
  ASSERT_TRUE(tw.Flush());
  ASSERT_TRUE(AddBatch(tw, 6, 32, 1));
  FooterData footer;
  footer.per_cpu = {{20, 0}, {21, 1}};
  footer.counters = {{"unpaired", 2}, {"stack_errors", 0}};
  ASSERT_TRUE(tw.Finish(footer));

  const std::vector<uint8_t> zlib_file = ReadBytes(path);
  const std::vector<uint8_t> stored_file = Uncompressed(zlib_file);
  for (const auto* bytes : {&zlib_file, &stored_file}) {
    auto r = TraceReader::FromMemory(*bytes);
    ASSERT_TRUE(r.has_value());
    Collect c;
    ASSERT_TRUE((*r)->ReadAll(c));
    EXPECT_EQ((*r)->stats().corrupt_blocks, 0u);
    EXPECT_EQ((*r)->stats().skipped_records, 2u);
    EXPECT_EQ(c.faults.size(), 39u);
    EXPECT_EQ(c.mmaps.size(), 5u);
    ASSERT_EQ(c.warnings.size(), 1u);  // the skipped types
  }
  if (const char* out = getenv("FAULTLINE_WRITE_SEEDS")) {
    for (const auto& [name, bytes] :
         {std::pair{"v2_all_types.flt", &zlib_file},
          std::pair{"v2_all_types_stored.flt", &stored_file}}) {
      std::ofstream f(std::string(out) + "/" + name, std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes->data()), bytes->size());
      ASSERT_TRUE(f.good()) << out << "/" << name;
    }
  }
}

}  // namespace
}  // namespace faultline::trace

namespace faultline::trace {
namespace {

struct UsdtCollect : TraceVisitor {
  struct Got {
    UsdtEvent e;
    std::string name, path;
  };
  std::vector<Got> got;
  std::vector<std::string> warnings;
  void OnUsdt(const UsdtEvent& e) override { got.push_back({e, std::string(e.name), std::string(e.path)}); }
  void OnWarning(std::string_view w) override { warnings.emplace_back(w); }
};

// Every probe kind, each field set, strings of every length up to the
// arrays' (no NUL at the full length), and the ring's variable length: a
// record may end right after path's NUL.
TEST(TraceUsdtRecords, EveryProbeRoundTripsWithItsStrings) {
  TempDir dir;
  const std::string path = dir.File("usdt.flt");
  auto w = TraceWriter::Create(path, Meta());
  ASSERT_TRUE(w.has_value());
  std::vector<fl_usdt> in;
  const std::string long_path(FL_USDT_PATH_LEN, 'p');
  const std::string long_name(FL_USDT_NAME_LEN, 'n');
  for (uint16_t probe = FL_USDT_CONN_ACCEPTED; probe <= FL_USDT_CONN_CLOSED; ++probe) {
    fl_usdt u;
    std::memset(&u, 0, sizeof u);
    u.hdr = {5000000u + probe * 1000u - (probe % 2) * 1500u, FL_EV_USDT,
             static_cast<uint16_t>(probe % 2), sizeof u};
    u.conn_id = probe == FL_USDT_SHUTDOWN_PHASE ? 0 : 100 - probe;
    u.body_bytes = probe == FL_USDT_REQUEST_END ? 65536 : 0;
    u.duration_ns = probe == FL_USDT_REQUEST_END ? 123456789 : 0;
    u.pid = 4242;
    u.tid = 4242 + probe;
    u.stream_id = probe == FL_USDT_GOAWAY_SENT ? 2147483647 : probe * 2 - 1;
    u.value = probe == FL_USDT_REQUEST_END ? 503 : -probe;
    u.arg_tid = probe == FL_USDT_CONN_ACCEPTED ? 4243 : 0;
    u.probe = probe;
    const std::string n = probe == 2 ? "GET" : probe == 4 ? long_name : "linger-fin";
    std::memcpy(u.name, n.data(), std::min(n.size(), sizeof u.name));
    const std::string p = probe == 2 ? "/alloc" : probe == 3 ? long_path : "";
    std::memcpy(u.path, p.data(), std::min(p.size(), sizeof u.path));
    in.push_back(u);
  }
  for (auto& u : in) {
    // The ring's length: up to path's NUL (the whole struct when full).
    const size_t plen = strnlen(u.path, sizeof u.path);
    const size_t len = std::min(sizeof u, offsetof(fl_usdt, path) + plen + 1);
    u.hdr.size = static_cast<uint32_t>(len);
    ASSERT_TRUE((*w)->AddRecord(&u, len));
  }
  ASSERT_TRUE((*w)->Finish(std::vector<CpuCounts>{{4, 0}, {3, 0}}));

  auto r = TraceReader::Open(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  UsdtCollect got;
  ASSERT_TRUE((*r)->ReadAll(got));
  EXPECT_TRUE(got.warnings.empty());
  EXPECT_EQ((*r)->stats().skipped_records, 0u);
  ASSERT_EQ(got.got.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& g = got.got[i];
    const auto& u = in[i];
    EXPECT_EQ(g.e.ts_ns, u.hdr.ts_ns);
    EXPECT_EQ(g.e.cpu, u.hdr.cpu);
    EXPECT_EQ(g.e.probe, u.probe);
    EXPECT_EQ(g.e.conn_id, u.conn_id);
    EXPECT_EQ(g.e.body_bytes, u.body_bytes);
    EXPECT_EQ(g.e.duration_ns, u.duration_ns);
    EXPECT_EQ(g.e.pid, u.pid);
    EXPECT_EQ(g.e.tid, u.tid);
    EXPECT_EQ(g.e.stream_id, u.stream_id);
    EXPECT_EQ(g.e.value, u.value);
    EXPECT_EQ(g.e.arg_tid, u.arg_tid);
    EXPECT_EQ(g.name, std::string(u.name, strnlen(u.name, sizeof u.name)));
    EXPECT_EQ(g.path, std::string(u.path, strnlen(u.path, sizeof u.path)));
  }
  EXPECT_EQ(got.got[3].name, long_name);
  EXPECT_EQ(got.got[2].path, long_path);
  EXPECT_EQ(got.got[1].name, "GET");
  EXPECT_EQ(got.got[1].path, "/alloc");
}

}  // namespace
}  // namespace faultline::trace
