#include "analyzer/script.h"

#include <cinttypes>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analyzer/connection_names.h"
#include "analyzer/report.h"
#include "analyzer/session.h"

namespace faultline::analyzer {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kUsage =
    "usage: faultline script FILE [--format text|json] [-o OUT]\n"
    "\n"
    "Prints every event of a trace written by 'faultline record', decoded,\n"
    "one per line, in time order: comm, pid/tid, [cpu], seconds since the\n"
    "start of the trace, type, fields. Faults name the mapping that held\n"
    "the address at that moment and their kind. json: one object per line\n"
    "(JSON Lines) with the time also in raw nanoseconds (docs/script.md).\n";
constexpr const char* kExamples =
    "examples:\n"
    "  faultline script run.flt | less\n"
    "  faultline script run.flt | grep ' fault ' | grep major\n"
    "  faultline script run.flt --format json | jq -c 'select(.type == \"munmap\")'\n";

const char* Outcome(uint8_t o) {
  switch (o) {
    case FL_FAULT_MINOR:
      return "minor";
    case FL_FAULT_MAJOR:
      return "major";
    default:
      return "incomplete";
  }
}

const char* MmapType(uint16_t t) {
  switch (t) {
    case FL_EV_MMAP:
      return "mmap";
    case FL_EV_MUNMAP:
      return "munmap";
    case FL_EV_MREMAP:
      return "mremap";
    case FL_EV_BRK:
      return "brk";
    case FL_EV_MPROTECT:
      return "mprotect";
    default:
      return "mmap?";
  }
}

const char* TaskType(uint16_t t) {
  switch (t) {
    case FL_EV_FORK:
      return "fork";
    case FL_EV_EXEC:
      return "exec";
    case FL_EV_EXIT:
      return "exit";
    default:
      return "task?";
  }
}

// enum tlb_flush_reason
const char* TlbReason(int32_t r) {
  switch (r) {
    case 0:
      return "task_switch";
    case 1:
      return "remote_shootdown";
    case 2:
      return "local_shootdown";
    case 3:
      return "local_mm_shootdown";
    case 4:
      return "remote_send_ipi";
    default:
      return "unknown";
  }
}

std::string Prot(uint32_t prot) {
  std::string s = "---";
  if (prot & 1) s[0] = 'r';
  if (prot & 2) s[1] = 'w';
  if (prot & 4) s[2] = 'x';
  return s;
}

}  // namespace

struct ScriptPrinter::Line {
  struct Field {
    const char* key;
    enum Kind { kNum, kInt, kHex, kStr } kind;
    uint64_t num = 0;
    int64_t sint = 0;
    std::string str;
  };
  const char* type = "";
  uint64_t ts = 0;
  bool has_task = true;  // pid/tid known
  uint32_t pid = 0, tid = 0;
  uint16_t cpu = 0;
  std::vector<Field> fields;
  void Num(const char* k, uint64_t v) { fields.push_back({k, Field::kNum, v, 0, {}}); }
  void Int(const char* k, int64_t v) { fields.push_back({k, Field::kInt, 0, v, {}}); }
  void Hex(const char* k, uint64_t v) { fields.push_back({k, Field::kHex, v, 0, {}}); }
  void Str(const char* k, std::string_view v) {
    fields.push_back({k, Field::kStr, 0, 0, std::string(v)});
  }
  // type, time, task and cpu of an event that has them.
  template <class E>
  void Head(const char* t, const E& e) {
    type = t;
    ts = e.ts_ns;
    pid = e.pid;
    tid = e.tid;
    cpu = e.cpu;
  }
  // Head, then the socket and its endpoints, of a tcp_* event whose task
  // may be unknown (pid 0: in softirq).
  template <class E>
  void TcpHead(const char* t, const E& e) {
    Head(t, e);
    has_task = e.pid != 0;
    Hex("sk", e.sk);
    Num("gen", e.gen);
    Str("local", FormatTcpEndpoint(e.family, e.saddr, e.sport));
    Str("remote", FormatTcpEndpoint(e.family, e.daddr, e.dport));
  }
};

ScriptPrinter::ScriptPrinter(const Names& names, const AddressTracker& tracker,
                             uint64_t start_ns, Format format, std::FILE* out)
    : names_(names),
      tracker_(tracker),
      start_ns_(start_ns),
      have_start_(start_ns != 0),
      format_(format),
      out_(out) {}

ScriptPrinter::~ScriptPrinter() { Flush(); }

bool ScriptPrinter::Flush() {
  if (!buf_.empty()) {
    if (std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) ok_ = false;
    buf_.clear();
  }
  if (std::fflush(out_) != 0) ok_ = false;
  return ok_;
}

void ScriptPrinter::Emit(Line& l) {
  if (!have_start_) {
    start_ns_ = l.ts;
    have_start_ = true;
  }
  const int64_t rel = static_cast<int64_t>(l.ts - start_ns_);
  const std::string& comm = l.has_task ? names_.CommOf(l.pid, l.tid) : std::string();
  char head[160];
  if (format_ == Format::kText) {
    char who[32];
    if (l.has_task) {
      std::snprintf(who, sizeof who, "%u/%u", l.pid, l.tid);
    } else {
      std::snprintf(who, sizeof who, "-/-");
    }
    std::snprintf(head, sizeof head, "%16.16s %15s [%03u] %15.9f: %-9s",
                  comm.c_str(), who, l.cpu, rel / 1e9, l.type);
    buf_ += head;
    for (const Line::Field& f : l.fields) {
      if (f.kind == Line::Field::kStr && f.str.empty()) continue;
      buf_ += ' ';
      buf_ += f.key;
      buf_ += '=';
      char v[32];
      switch (f.kind) {
        case Line::Field::kNum:
          std::snprintf(v, sizeof v, "%" PRIu64, f.num);
          buf_ += v;
          break;
        case Line::Field::kInt:
          std::snprintf(v, sizeof v, "%" PRId64, f.sint);
          buf_ += v;
          break;
        case Line::Field::kHex:
          std::snprintf(v, sizeof v, "0x%" PRIx64, f.num);
          buf_ += v;
          break;
        case Line::Field::kStr:
          buf_ += f.str;
          break;
      }
    }
    buf_ += '\n';
  } else {
    Json j;
    j["time"] = rel / 1e9;
    j["time_ns"] = l.ts;
    if (l.has_task) {
      j["pid"] = l.pid;
      j["tid"] = l.tid;
      j["comm"] = comm;
    } else {
      j["pid"] = nullptr;
      j["tid"] = nullptr;
      j["comm"] = nullptr;
    }
    j["cpu"] = l.cpu;
    j["type"] = l.type;
    for (const Line::Field& f : l.fields) {
      switch (f.kind) {
        case Line::Field::kNum:
          j[f.key] = f.num;
          break;
        case Line::Field::kInt:
          j[f.key] = f.sint;
          break;
        case Line::Field::kHex: {
          char v[32];
          std::snprintf(v, sizeof v, "0x%" PRIx64, f.num);
          j[f.key] = v;
          break;
        }
        case Line::Field::kStr:
          j[f.key] = f.str;
          break;
      }
    }
    buf_ += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    buf_ += '\n';
  }
  ++lines_;
  if (buf_.size() >= (1u << 16)) {
    if (std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) ok_ = false;
    buf_.clear();
  }
}

void ScriptPrinter::OnFault(const trace::FaultEvent& f) {
  Line l;
  l.Head("fault", f);
  l.Hex("addr", f.address);
  l.Hex("ip", f.ip);
  l.Str("outcome", Outcome(f.outcome));
  l.Str("mode", (f.flags & FL_FAULT_F_KERNEL) ? "kernel" : "user");
  l.Num("latency_ns", f.latency_ns);
  l.Hex("error_code", f.error_code);
  const AddressTracker::Resolved& r = tracker_.resolved();
  FaultFacts facts;
  facts.error_code = f.error_code;
  facts.outcome = f.outcome;
  facts.flags = f.flags;
  facts.vma = r.vma;
  facts.below_stack = r.below_stack;
  l.Str("kind", FaultKindName(Classify(facts)));
  l.Str("map", tracker_.ResolvedName());
  if (f.flags & FL_FAULT_F_HUGE) l.Num("huge", 1);
  if (f.flags & FL_FAULT_F_ADDR_MISMATCH) l.Num("addr_mismatch", 1);
  if (f.stack_id >= 0) l.Int("stack_id", f.stack_id);
  Emit(l);
}

void ScriptPrinter::OnMmap(const trace::MmapEvent& m) {
  Line l;
  l.Head(MmapType(m.type), m);
  switch (m.type) {
    case FL_EV_MMAP:
      l.Hex("start", m.start);
      l.Hex("len", m.len);
      l.Str("prot", Prot(m.prot));
      l.Hex("flags", m.flags);
      l.Int("fd", m.fd);
      l.Hex("pgoff", m.pgoff);
      l.Str("path", m.path);
      break;
    case FL_EV_MREMAP:
      l.Hex("old_start", m.start);
      l.Hex("old_len", m.len);
      l.Hex("start", m.pgoff);
      l.Hex("len", m.aux);
      break;
    case FL_EV_BRK:
      l.Hex("heap_start", m.start);
      l.Hex("heap_end", m.start + m.len);
      break;
    case FL_EV_MPROTECT:
      l.Hex("start", m.start);
      l.Hex("len", m.len);
      l.Str("prot", Prot(m.prot));
      break;
    default:  // munmap
      l.Hex("start", m.start);
      l.Hex("len", m.len);
      break;
  }
  Emit(l);
}

void ScriptPrinter::OnTask(const trace::TaskEvent& t) {
  Line l;
  l.Head(TaskType(t.type), t);
  switch (t.type) {
    case FL_EV_FORK:
      l.Num("parent_pid", t.parent_pid);
      l.Num("parent_tid", t.parent_tid);
      l.Str("child", t.is_thread ? "thread" : "process");
      l.Str("child_comm", t.comm);
      break;
    case FL_EV_EXEC:
      l.Str("new_comm", t.comm);
      l.Str("path", t.path);
      break;
    case FL_EV_EXIT:
      l.Int("exit_code", t.exit_code);
      break;
    default:
      break;
  }
  Emit(l);
}

void ScriptPrinter::OnTlb(const trace::TlbEvent& t) {
  Line l;
  l.Head("tlb_flush", t);
  l.Str("reason", TlbReason(t.reason));
  if (t.pages == ~uint64_t{0}) {
    l.Str("pages", "all");
  } else {
    l.Num("pages", t.pages);
  }
  Emit(l);
}

void ScriptPrinter::OnOpaque(const trace::OpaqueEvent& o) {
  Line l;
  l.type = "unknown";
  l.ts = o.ts_ns;
  l.has_task = false;
  l.cpu = o.cpu;
  l.Num("record_type", o.type);
  l.Num("length", o.body.size());
  Emit(l);
}

namespace {

std::string Cur(uint32_t pid, uint32_t tid) {
  return std::to_string(pid) + "/" + std::to_string(tid);
}

std::string RstFlags(uint8_t f) {
  std::string s;
  auto add = [&](const char* n) {
    if (!s.empty()) s += ',';
    s += n;
  };
  if (f & FL_RST_F_PASSIVE) add("passive");
  if (f & FL_RST_F_NO_SOCK) add("no_sock");
  if (f & FL_RST_F_TIMEWAIT) add("timewait");
  if (f & FL_RST_F_REQUEST) add("request");
  if (f & FL_RST_F_DESTROYED) add("destroyed");
  return s;
}

}  // namespace

void ScriptPrinter::OnTcpState(const trace::TcpStateEvent& e) {
  Line l;
  l.TcpHead(e.type == FL_EV_TCP_SEEN ? "tcp_seen" : "tcp_state", e);
  if (e.type == FL_EV_TCP_SEEN) {
    l.Str("state", TcpStateName(e.new_state));
  } else {
    l.Str("old", TcpStateName(e.old_state));
    l.Str("new", TcpStateName(e.new_state));
  }
  if (e.cur_pid != 0) l.Str("cur", Cur(e.cur_pid, e.cur_tid));
  if (e.backlog != 0 || e.max_backlog != 0) {
    l.Num("backlog", e.backlog);
    l.Num("max_backlog", e.max_backlog);
  }
  Emit(l);
}

void ScriptPrinter::OnTcpAccept(const trace::TcpAcceptEvent& e) {
  Line l;
  l.TcpHead("tcp_accept", e);
  l.Int("fd", e.fd);
  l.Hex("listener", e.listener);
  l.Num("backlog", e.backlog);
  l.Num("max_backlog", e.max_backlog);
  l.Str("state", TcpStateName(e.state));
  if (e.established_ns != 0 && e.ts_ns >= e.established_ns) {
    l.Num("accept_wait_ns", e.ts_ns - e.established_ns);
  }
  Emit(l);
}

void ScriptPrinter::OnTcpConnect(const trace::TcpConnectEvent& e) {
  Line l;
  l.TcpHead("tcp_connect", e);
  l.Int("fd", e.fd);
  l.Int("ret", e.ret);
  l.Str("state", TcpStateName(e.state));
  Emit(l);
}

void ScriptPrinter::OnTcpReset(const trace::TcpResetEvent& e) {
  const bool received = (e.flags & FL_RST_F_RECEIVED) != 0;
  Line l;
  l.TcpHead(received ? "tcp_reset_received" : "tcp_reset_sent", e);
  l.Str("state", TcpStateName(e.state));
  if (!received) {
    l.Str("reason", ResetReasonName(e.reason));
    l.Num("kernel_reason", e.kernel_reason);
  }
  l.Str("flags", RstFlags(e.flags));
  if (e.cur_pid != 0) l.Str("cur", Cur(e.cur_pid, e.cur_tid));
  Emit(l);
}

void ScriptPrinter::OnTcpServe(const trace::TcpServeEvent& e) {
  Line l;
  l.Head("tcp_serve", e);
  l.Hex("sk", e.sk);
  l.Num("gen", e.gen);
  l.Num("prev_tid", e.prev_tid);
  l.Str("io", e.send ? "send" : "recv");
  l.Int("len", e.len);
  l.Num("bytes_in", e.bytes_in);
  l.Num("bytes_out", e.bytes_out);
  Emit(l);
}

void ScriptPrinter::OnTcpClose(const trace::TcpCloseEvent& e) {
  Line l;
  l.TcpHead("tcp_close", e);
  l.Str("state", TcpStateName(e.state));
  l.Num("bytes_in", e.bytes_in);
  l.Num("bytes_out", e.bytes_out);
  l.Num("last_tid", e.last_tid);
  l.Num("retransmits", e.retransmits);
  Emit(l);
}

void ScriptPrinter::OnTcpNetstat(const trace::TcpNetstatEvent& e) {
  Line l;
  l.type = "tcp_netstat";
  l.ts = e.ts_ns;
  l.has_task = false;
  l.cpu = e.cpu;
  l.Str("phase", e.phase == FL_NETSTAT_START ? "start"
                 : e.phase == FL_NETSTAT_END ? "end"
                                             : "periodic");
  l.Num("listen_overflows", e.listen_overflows);
  l.Num("listen_drops", e.listen_drops);
  l.Num("abort_on_data", e.abort_on_data);
  l.Num("abort_on_close", e.abort_on_close);
  l.Num("abort_on_linger", e.abort_on_linger);
  l.Num("abort_on_timeout", e.abort_on_timeout);
  Emit(l);
}

int RunScript(const std::vector<std::string>& args) {
  TraceCommandLine cl;
  if (auto end = ParseTraceCommandLine(
          args,
          {"script", kUsage, kExamples, "text (default) or json (JSON Lines)",
           "write to this file, not stdout"},
          &cl)) {
    return *end;
  }
  auto reader = trace::TraceReader::Open(cl.file);
  if (!reader) {
    std::fprintf(stderr, "faultline script: %s\n", reader.error().message.c_str());
    return reader.error().exit_code;
  }
  std::FILE* out = stdout;
  std::string out_path;
  if (cl.output) {
    out_path = *cl.output;
    out = std::fopen(out_path.c_str(), "wb");
    if (out == nullptr) {
      std::fprintf(stderr, "faultline script: cannot write %s\n", out_path.c_str());
      return 2;
    }
  }
  Names names;
  AddressTracker tracker;
  WarningPrinter warnings("script");
  bool ok;
  Result<void> read;
  SessionStats stats;
  {
    ScriptPrinter printer(names, tracker, (*reader)->header().meta.start_monotonic_ns,
                          cl.json ? ScriptPrinter::Format::kJson
                                           : ScriptPrinter::Format::kText,
                          out);
    Session session;
    session.Add(&names, kWantTask | kWantMetadata);
    session.Add(&tracker, kWantFault | kWantMmap | kWantTask | kWantMetadata);
    session.Add(&printer,
                kWantFault | kWantMmap | kWantTask | kWantTlb | kWantOpaque | kWantTcp);
    session.Add(&warnings, kWantWarning);
    read = session.Run(**reader);
    stats = session.stats();
    ok = printer.Flush();
  }
  if (out != stdout && std::fclose(out) != 0) ok = false;
  if (!read) {
    std::fprintf(stderr, "faultline script: %s\n", read.error().message.c_str());
    return read.error().exit_code;
  }
  if (!ok) {
    std::fprintf(stderr, "faultline script: cannot write %s\n",
                 out_path.empty() ? "to stdout" : out_path.c_str());
    return 2;
  }
  if (stats.late > 0) {
    std::fprintf(stderr,
                 "faultline script: warning: %llu events arrived later than the "
                 "reorder window and are printed out of time order (up to %llu "
                 "ns late)\n",
                 (unsigned long long)stats.late, (unsigned long long)stats.max_late_ns);
  }
  return 0;
}

}  // namespace faultline::analyzer
