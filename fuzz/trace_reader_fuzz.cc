// libFuzzer target for the trace reader and the analysis behind
// `faultline report`: any bytes must be refused with an Error or read up to
// the damage with warnings, never crash, hang or allocate without bound.
#include <cstddef>
#include <cstdint>
#include <span>

#include "analyzer/analysis.h"
#include "analyzer/render_json.h"
#include "analyzer/render_text.h"
#include "trace/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace faultline;
  auto reader = trace::TraceReader::FromMemory(std::span(data, size));
  if (!reader) return 0;
  // No symbolizer: a hostile trace must not make us open files it names.
  auto model = analyzer::AnalyzeTrace(**reader, nullptr);
  if (!model) return 0;
  // As `faultline report` prints it, in both formats.
  auto json = analyzer::ToJson(*model);
  (void)json.dump(2, ' ', false, decltype(json)::error_handler_t::replace);
  (void)analyzer::RenderText(*model, "fuzz.flt");
  return 0;
}
