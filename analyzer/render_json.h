// The JSON renderer: one function per section model, and the report
// object of SPEC section 6 ("version", "trace", "faults" with
// "tlb_shootdowns" inside it). docs/report.md explains every field.
#pragma once

#include <nlohmann/json.hpp>

#include "analyzer/analysis.h"

namespace faultline::analyzer {

nlohmann::ordered_json ToJson(const LatencyModel& m);
nlohmann::ordered_json ToJson(const TraceModel& m);
nlohmann::ordered_json ToJson(const FaultsModel& m);
nlohmann::ordered_json ToJson(const TlbModel& m);  // the list
nlohmann::ordered_json ToJson(const ConnectionsModel& m);
nlohmann::ordered_json ToJson(const ReportModel& m);

}  // namespace faultline::analyzer
