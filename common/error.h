// Error values for fallible set-up: std::expected<T, Error>, chained phase
// by phase. An Error is one line that says what was tried and why it failed.
#pragma once

#include <expected>
#include <string>

namespace faultline {

struct Error {
  // Exit code the CLI should use: 2 = bad usage or an environment that
  // cannot run the job (not root, no BTF, dead PID), 1 = the job failed.
  int exit_code = 1;
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

// "op: strerror(err)" with an optional hint, e.g.
// ErrnoError("attach exceptions:page_fault_user", EPERM, "is tracefs mounted?")
Error ErrnoError(const std::string& op, int err, const std::string& hint = "",
                 int exit_code = 1);

inline std::unexpected<Error> Fail(int exit_code, std::string message) {
  return std::unexpected(Error{exit_code, std::move(message)});
}

}  // namespace faultline
