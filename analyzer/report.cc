// `faultline report FILE [--format text|json] [-o OUT]`: reads a trace in
// one streaming pass through the analyses (analysis.h), then renders their
// models as text (render_text.h) or JSON (render_json.h).
#include "analyzer/report.h"

#include <boost/program_options.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "analyzer/analysis.h"
#include "analyzer/render_json.h"
#include "analyzer/render_text.h"
#include "analyzer/symbolizer.h"
#include "trace/reader.h"

namespace faultline::analyzer {

namespace {

namespace po = boost::program_options;
using Json = nlohmann::ordered_json;

constexpr const char* kUsage =
    "usage: faultline report FILE [--format text|json] [-o OUT]\n"
    "\n"
    "Analyses a trace written by 'faultline record': page faults by kind,\n"
    "latency, process, thread, mapping and code site (docs/report.md).\n";
constexpr const char* kExamples =
    "examples:\n"
    "  faultline report run.flt\n"
    "  faultline report run.flt --format json -o run.json\n";

}  // namespace

std::optional<int> ParseTraceCommandLine(const std::vector<std::string>& args,
                                         const TraceCommandSpec& spec,
                                         TraceCommandLine* line) {
  po::options_description opts("options");
  opts.add_options()("help,h", "show this help")(
      "format,f", po::value<std::string>()->default_value("text"), spec.format_help)(
      "output,o", po::value<std::string>(), spec.output_help);
  po::options_description hidden;
  hidden.add_options()("file", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("file", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "faultline %s: %s (try --help)\n", spec.name, e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << spec.usage << "\n" << opts << "\n" << spec.examples;
    return 0;
  }
  if (!vm.count("file")) {
    std::fprintf(stderr, "faultline %s: no trace file given (try --help)\n", spec.name);
    return 2;
  }
  const auto& files = vm["file"].as<std::vector<std::string>>();
  if (files.size() != 1) {
    std::fprintf(stderr, "faultline %s: give exactly one trace file\n", spec.name);
    return 2;
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") {
    std::fprintf(stderr, "faultline %s: unknown --format '%s' (text or json)\n",
                 spec.name, format.c_str());
    return 2;
  }
  line->file = files[0];
  line->json = format == "json";
  if (vm.count("output")) line->output = vm["output"].as<std::string>();
  return std::nullopt;
}

void WarningPrinter::OnWarning(std::string_view msg) {
  if (printed_++ < 10) {
    std::fprintf(stderr, "faultline %s: warning: %.*s\n", name_,
                 static_cast<int>(msg.size()), msg.data());
  } else if (printed_ == 11) {
    std::fprintf(stderr, "faultline %s: warning: (more warnings not shown)\n", name_);
  }
}

int RunReport(const std::vector<std::string>& args) {
  TraceCommandLine cl;
  if (auto end = ParseTraceCommandLine(
          args,
          {"report", kUsage, kExamples, "text (default) or json",
           "write the report to this file, not stdout"},
          &cl)) {
    return *end;
  }
  auto reader = trace::TraceReader::Open(cl.file);
  if (!reader) {
    std::fprintf(stderr, "faultline report: %s\n", reader.error().message.c_str());
    return reader.error().exit_code;
  }
  WarningPrinter warnings("report");
  Symbolizer symbolizer;
  auto model = AnalyzeTrace(**reader, &symbolizer, &warnings);
  if (!model) {
    std::fprintf(stderr, "faultline report: %s\n", model.error().message.c_str());
    return model.error().exit_code;
  }
  // Names in a trace (comm, paths, host) are bytes, not necessarily UTF-8:
  // invalid sequences become U+FFFD rather than an exception.
  std::string text =
      cl.json
          ? ToJson(*model).dump(2, ' ', false, Json::error_handler_t::replace) + "\n"
          : RenderText(*model, cl.file);
  if (cl.output) {
    const std::string& out = *cl.output;
    std::ofstream os(out, std::ios::binary | std::ios::trunc);
    if (!os || !(os << text) || !os.flush()) {
      std::fprintf(stderr, "faultline report: cannot write %s\n", out.c_str());
      return 2;
    }
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return 0;
}

}  // namespace faultline::analyzer
