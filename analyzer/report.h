#pragma once
#include <string>
#include <vector>

namespace faultline::analyzer {
// `faultline report FILE ...`: args exclude "faultline report".
int RunReport(const std::vector<std::string>& args);
}  // namespace faultline::analyzer
