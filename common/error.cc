#include "common/error.h"

#include <cstring>

namespace faultline {

Error ErrnoError(const std::string& op, int err, const std::string& hint,
                 int exit_code) {
  std::string msg = op + ": " + std::strerror(err < 0 ? -err : err);
  if (!hint.empty()) msg += " (" + hint + ")";
  return Error{exit_code, std::move(msg)};
}

}  // namespace faultline
