#pragma once
#include <string>
#include <vector>

namespace faultline::collector {
// `faultline record ...`: args exclude "faultline record". Returns the exit
// code (the traced command's when one was started).
int RunRecord(const std::vector<std::string>& args);
}  // namespace faultline::collector
