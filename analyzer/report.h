#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/reader.h"

namespace faultline::analyzer {
// `faultline report FILE ...`: args exclude "faultline report".
int RunReport(const std::vector<std::string>& args);

// The command line that `faultline report` and `faultline script` share:
// FILE [--format text|json] [-o OUT] [--help].
struct TraceCommandLine {
  std::string file;
  bool json = false;    // --format json
  std::optional<std::string> output;  // -o; none: stdout
};

// What differs between the commands that take a TraceCommandLine.
struct TraceCommandSpec {
  const char* name;         // "report": messages start "faultline report: "
  const char* usage;        // --help: printed before the options
  const char* examples;     // --help: printed after them
  const char* format_help;  // help text of --format
  const char* output_help;  // help text of --output
};

// Parses `args` into `*line`. Returns nullopt to go on, or the exit code to
// end with now: 0 after printing --help on stdout, 2 after one line on stderr.
std::optional<int> ParseTraceCommandLine(const std::vector<std::string>& args,
                                         const TraceCommandSpec& spec,
                                         TraceCommandLine* line);

// Prints a reader's warnings on stderr as "faultline NAME: warning: ...":
// the first 10, then one line saying that more are not shown.
class WarningPrinter : public trace::TraceVisitor {
 public:
  explicit WarningPrinter(const char* name) : name_(name) {}
  void OnWarning(std::string_view msg) override;

 private:
  const char* name_;
  int printed_ = 0;
};
}  // namespace faultline::analyzer
