#pragma once
#include <string>
#include <vector>

namespace faultline::cli {
// `faultline demo ...`: args exclude "faultline demo". Returns the exit code.
int RunDemo(const std::vector<std::string>& args);
}  // namespace faultline::cli
