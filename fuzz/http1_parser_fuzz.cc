// libFuzzer target for the HTTP/1.1 request parser (server/http1_parser.h).
//
// Beyond "does not crash", it checks the parser's documented contract and
// aborts when it is broken, so that the replay test (fuzz/replay_main.cc)
// fails too:
// - kComplete consumes 1..size bytes, within the limits, with lower-case
//   names and no CR/LF/NUL in any value;
// - nothing is consumed for any other status;
// - the same input gives the same answer (the parser is a pure function);
// - a prefix of the input gives kNeedsMoreData or the same final answer;
// - pipelined requests after the first one parse the same way.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "server/http1_parser.h"

namespace {

namespace http1 = faultline::server::http1;

[[noreturn]] void Fail(const char* what, http1::Status s) {
  std::fprintf(stderr, "http1_parser_fuzz: contract broken: %s (status %s)\n",
               what, http1::StatusName(s));
  std::abort();
}

void Check(bool ok, const char* what, http1::Status s) {
  if (!ok) Fail(what, s);
}

void CheckRequest(const http1::Request& r, const http1::Limits& limits,
                  http1::Status s) {
  Check(!r.method.empty(), "empty method", s);
  Check(r.version_minor == 0 || r.version_minor == 1, "version_minor", s);
  Check(r.body.size() <= limits.max_body, "body over max_body", s);
  Check(r.headers.size() <= limits.max_headers, "too many headers", s);
  Check(r.target.size() <= limits.max_request_line, "target over limit", s);
  Check(r.path.size() <= r.target.size() || r.path == "/", "path longer", s);
  for (const auto& [name, value] : r.headers) {
    Check(!name.empty(), "empty header name", s);
    for (char c : name) {
      Check(!(c >= 'A' && c <= 'Z'), "upper-case header name", s);
      Check(c != ' ' && c != ':' && c != '\r' && c != '\n', "bad name byte", s);
    }
    for (char c : value) {
      Check(c != '\r' && c != '\n' && c != '\0', "CR/LF/NUL in value", s);
    }
    if (!value.empty()) {
      Check(value.front() != ' ' && value.back() != ' ', "untrimmed value", s);
    }
  }
  if (r.version_minor == 0) Check(!r.expect_continue, "1.0 expect", s);
}

http1::ParseResult ParseAndCheck(std::string_view buf,
                                 const http1::Limits& limits,
                                 http1::Request* out) {
  const http1::ParseResult res = http1::ParseRequest(buf, limits, out);
  if (res.status == http1::Status::kComplete) {
    Check(res.consumed > 0 && res.consumed <= buf.size(), "consumed range",
          res.status);
    CheckRequest(*out, limits, res.status);
  } else {
    Check(res.consumed == 0, "consumed without kComplete", res.status);
  }
  const int code = http1::HttpStatusFor(res.status);
  const bool is_error = res.status != http1::Status::kComplete &&
                        res.status != http1::Status::kNeedsMoreData;
  Check(is_error == (code >= 400 && code <= 505), "HttpStatusFor", res.status);
  return res;
}

void Exercise(std::string_view data, const http1::Limits& limits) {
  http1::Request r;
  const http1::ParseResult full = ParseAndCheck(data, limits, &r);

  http1::Request again;
  const http1::ParseResult second = ParseAndCheck(data, limits, &again);
  Check(second.status == full.status && second.consumed == full.consumed &&
            again.headers == r.headers && again.body == r.body,
        "not deterministic", full.status);

  // Prefixes: a handful of split points derived from the input (every one
  // would be quadratic), plus the input minus its last byte.
  const size_t end =
      full.status == http1::Status::kComplete ? full.consumed : data.size();
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data.substr(0, 64)) h = (h ^ c) * 1099511628211ull;
  for (int i = 0; i < 9 && end > 0; ++i) {
    const size_t len = i == 0 ? end - 1 : static_cast<size_t>(h % end);
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    http1::Request p;
    const http1::ParseResult pr =
        ParseAndCheck(data.substr(0, len), limits, &p);
    if (full.status == http1::Status::kComplete) {
      Check(pr.status == http1::Status::kNeedsMoreData,
            "prefix of a complete request did not need more data", pr.status);
    } else if (pr.status != http1::Status::kNeedsMoreData) {
      Check(pr.status == full.status, "prefix gave a different answer",
            pr.status);
    }
  }

  // Pipelined requests after the first.
  std::string_view rest = data;
  http1::ParseResult res = full;
  for (int i = 0; i < 16 && res.status == http1::Status::kComplete; ++i) {
    rest.remove_prefix(res.consumed);
    res = ParseAndCheck(rest, limits, &r);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Exercise(input, http1::Limits());
  // Small limits reach every limit branch with short inputs.
  http1::Limits tiny;
  tiny.max_request_line = 48;
  tiny.max_header_bytes = 96;
  tiny.max_headers = 4;
  tiny.max_body = 24;
  Exercise(input, tiny);
  return 0;
}
