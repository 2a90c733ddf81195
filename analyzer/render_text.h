// The text renderer: one function per section model, the same models the
// JSON renderer prints, so the two always agree. Top lists are cut at 10
// rows (the JSON has them all, up to the analysis limits).
#pragma once

#include <ostream>
#include <string>

#include "analyzer/analysis.h"

namespace faultline::analyzer {

// Shared formatting: "123ns", "4.5us", "6.7ms", "8.90s".
std::string FormatNs(uint64_t ns);

void RenderText(const TraceModel& m, std::ostream& o);
void RenderText(const FaultsModel& m, std::ostream& o);
void RenderText(const TlbModel& m, std::ostream& o);
void RenderText(const ConnectionsModel& m, std::ostream& o);
// The whole report: a title line naming `file`, then each section.
std::string RenderText(const ReportModel& m, const std::string& file);

}  // namespace faultline::analyzer
