// `faultline script FILE [--format text|json] [-o OUT]`: every event of a
// trace, decoded, one per line, in time order (perf script). docs/script.md
// describes the lines.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "analyzer/address_tracker.h"
#include "analyzer/names.h"
#include "trace/reader.h"

namespace faultline::analyzer {

// args exclude "faultline script".
int RunScript(const std::vector<std::string>& args);

// Prints one line per event. Add it to a Session after `names` and
// `tracker` (it reads the comm and the fault's mapping as of that event).
class ScriptPrinter : public trace::TraceVisitor {
 public:
  enum class Format { kText, kJson };
  // `start_ns`: time 0 of the "time" column (the trace's start; 0: the
  // first event's time).
  ScriptPrinter(const Names& names, const AddressTracker& tracker,
                uint64_t start_ns, Format format, std::FILE* out);
  ~ScriptPrinter() override;

  void OnFault(const trace::FaultEvent& f) override;
  void OnMmap(const trace::MmapEvent& m) override;
  void OnTask(const trace::TaskEvent& t) override;
  void OnTlb(const trace::TlbEvent& t) override;
  void OnOpaque(const trace::OpaqueEvent& o) override;
  void OnTcpState(const trace::TcpStateEvent& e) override;
  void OnTcpAccept(const trace::TcpAcceptEvent& e) override;
  void OnTcpConnect(const trace::TcpConnectEvent& e) override;
  void OnTcpReset(const trace::TcpResetEvent& e) override;
  void OnTcpServe(const trace::TcpServeEvent& e) override;
  void OnTcpClose(const trace::TcpCloseEvent& e) override;
  void OnTcpNetstat(const trace::TcpNetstatEvent& e) override;

  // Writes what is buffered; false on a write error.
  bool Flush();
  uint64_t lines() const { return lines_; }

 private:
  struct Line;
  void Emit(Line& line);

  const Names& names_;
  const AddressTracker& tracker_;
  uint64_t start_ns_;
  bool have_start_;
  Format format_;
  std::FILE* out_;
  std::string buf_;
  uint64_t lines_ = 0;
  bool ok_ = true;
};

}  // namespace faultline::analyzer
