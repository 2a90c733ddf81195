// The analyses behind `faultline report`, wired to one Session: the shared
// tables (Names, AddressTracker) first, then one visitor per report section
// (trace, faults, TLB, connections). Model() gathers each section's model into the
// ReportModel that the renderers print (render_json.h, render_text.h).
//
// A new section (connections, requests, ...) is a visitor with a Model()
// in its own files, a member here, a field in ReportModel, and one function
// in each renderer: docs/report.md has the recipe.
#pragma once

#include <string>

#include "analyzer/address_tracker.h"
#include "analyzer/connection_analysis.h"
#include "analyzer/fault_analysis.h"
#include "analyzer/names.h"
#include "analyzer/session.h"
#include "analyzer/tlb_analysis.h"
#include "analyzer/trace_section.h"
#include "common/error.h"
#include "trace/reader.h"

namespace faultline::analyzer {

class Symbolizer;

struct ReportModel {
  std::string version;  // of the faultline that made the report
  TraceModel trace;
  FaultsModel faults;
  TlbModel tlb;
  ConnectionsModel connections;
};

class ReportAnalyses {
 public:
  explicit ReportAnalyses(const trace::FileHeader& header,
                          AnalysisOptions options = {},
                          SessionOptions session_options = {},
                          ConnectionOptions connection_options = {});
  ReportAnalyses(const ReportAnalyses&) = delete;
  ReportAnalyses& operator=(const ReportAnalyses&) = delete;

  // Add further visitors (a warning printer, `faultline script`) before
  // Run(); they see each record after the analyses.
  Session& session() { return session_; }
  Result<void> Run(trace::TraceReader& reader) { return session_.Run(reader); }
  // `symbolizer` may be null (sites stay "path+0xoff").
  ReportModel Model(const trace::ReadStats& stats, Symbolizer* symbolizer) const;

  const Names& names() const { return names_; }
  AddressTracker& tracker() { return tracker_; }
  const FaultAnalysis& faults() const { return faults_; }
  const ConnectionAnalysis& connections() const { return connections_; }

 private:
  Names names_;
  AddressTracker tracker_;
  TraceAnalysis trace_;
  FaultAnalysis faults_;
  TlbAnalysis tlb_;
  ConnectionAnalysis connections_;
  Session session_;
};

// Opens nothing: reads `reader` to the end through ReportAnalyses and
// returns the model. `warnings` (may be null) receives the read's warnings.
Result<ReportModel> AnalyzeTrace(trace::TraceReader& reader,
                                 Symbolizer* symbolizer,
                                 trace::TraceVisitor* warnings = nullptr,
                                 AnalysisOptions options = {},
                                 SessionOptions session_options = {});

}  // namespace faultline::analyzer
