#include "collector/record.h"

#include <cstdio>

namespace faultline::collector {
int RunRecord(const std::vector<std::string>&) {
  std::fputs("faultline record: not built yet\n", stderr);
  return 1;
}
}  // namespace faultline::collector
