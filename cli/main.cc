// faultline: one binary, one subcommand per job. Each subcommand parses its
// own flags (Boost.Program_options) and returns the process exit code:
// 0 success, 1 the job failed, 2 bad usage or an environment that cannot
// run it (not root, no BTF, ...), always with one clear line on stderr.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "analyzer/report.h"
#include "analyzer/script.h"
#include "cli/demo.h"
#include "collector/record.h"

namespace {

constexpr const char* kUsage =
    "usage: faultline <command> [options]\n"
    "\n"
    "commands:\n"
    "  record   trace page faults of a command, processes or the machine\n"
    "  report   analyse a trace file (text, json)\n"
    "  script   print every event of a trace, one per line, in time order\n"
    "  demo     run faultline-server in every pattern under load, record,\n"
    "           shut it down under load, compare the patterns\n"
    "\n"
    "Run 'faultline <command> --help' for a command's options.\n"
    "examples:\n"
    "  faultline record -o run.flt -- ./my-server --port 8080\n"
    "  faultline record -p 1234 -d 10 -o run.flt\n"
    "  faultline report run.flt --format json\n"
    "  faultline script run.flt --format json\n"
    "  faultline demo --out /tmp/demo --duration 3\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("faultline %s\n", FAULTLINE_VERSION);
    return 0;
  }
  if (cmd == "record") return faultline::collector::RunRecord(args);
  if (cmd == "report") return faultline::analyzer::RunReport(args);
  if (cmd == "script") return faultline::analyzer::RunScript(args);
  if (cmd == "demo") return faultline::cli::RunDemo(args);
  std::fprintf(stderr, "faultline: unknown command '%s' (try --help)\n",
               cmd.c_str());
  return 2;
}
