#include "analyzer/report.h"

#include <cstdio>

namespace faultline::analyzer {
int RunReport(const std::vector<std::string>&) {
  std::fputs("faultline report: not built yet\n", stderr);
  return 1;
}
}  // namespace faultline::analyzer
