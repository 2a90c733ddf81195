#include "analyzer/analysis.h"

#ifndef FAULTLINE_VERSION
#define FAULTLINE_VERSION "unknown"
#endif

namespace faultline::analyzer {

ReportAnalyses::ReportAnalyses(const trace::FileHeader& header,
                               AnalysisOptions options,
                               SessionOptions session_options,
                               ConnectionOptions connection_options)
    : trace_(header),
      faults_(header, names_, tracker_, options),
      tlb_(names_),
      connections_(header, names_, connection_options),
      session_(session_options) {
  session_.Add(&names_, kWantTask | kWantMetadata);
  session_.Add(&tracker_, kWantFault | kWantMmap | kWantTask | kWantMetadata);
  session_.Add(&trace_, kWantOpaque | kWantFooter);
  session_.Add(&faults_, kWantFault | kWantMetadata);
  session_.Add(&tlb_, kWantTlb);
  session_.Add(&connections_, kWantTcp | kWantFooter);
}

ReportModel ReportAnalyses::Model(const trace::ReadStats& stats,
                                  Symbolizer* symbolizer) const {
  ReportModel m;
  m.version = FAULTLINE_VERSION;
  m.trace = trace_.Model(stats, session_.stats());
  m.faults = faults_.Model(symbolizer);
  m.tlb = tlb_.Model();
  m.connections = connections_.Model();
  return m;
}

Result<ReportModel> AnalyzeTrace(trace::TraceReader& reader,
                                 Symbolizer* symbolizer,
                                 trace::TraceVisitor* warnings,
                                 AnalysisOptions options,
                                 SessionOptions session_options) {
  ReportAnalyses a(reader.header(), options, session_options);
  if (warnings != nullptr) a.session().Add(warnings, kWantWarning);
  if (auto ok = a.Run(reader); !ok) return std::unexpected(ok.error());
  return a.Model(reader.stats(), symbolizer);
}

}  // namespace faultline::analyzer
