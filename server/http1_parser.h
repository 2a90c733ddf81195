// HTTP/1.1 request parser (RFC 9112), in the style of picohttpparser and
// Pixie's protocol parsers: a pure function over the bytes received so far.
//
// The caller keeps one receive buffer per connection, appends what read()
// returns, and calls ParseRequest() on the whole unconsumed buffer. Nothing is
// remembered between calls: a call that returns kNeedsMoreData parses the
// same prefix again next time (bounded by Limits, so the cost of a slow
// client is bounded too).
//
// Choices where the RFC leaves room (each one is tested in
// tests/unit/http1_parser_test.cc):
// - Line endings: only CRLF. A bare LF (allowed by RFC 9112 section 2.2 as a
//   MAY) is rejected with 400, and so is a CR not followed by LF. Being
//   strict means this server never disagrees with a stricter proxy in front
//   of it about where a line ends.
// - Empty lines (CRLF) before the request line are skipped (RFC 9112 2.2);
//   they count towards max_request_line.
// - Transfer-Encoding with Content-Length, or in an HTTP/1.0 request: 400
//   (RFC 9112 6.1 permits rejecting; both are request-smuggling vectors).
//   Any coding other than "chunked": 501. "chunked" twice or not last: 400.
// - Content-Length: digits only; a comma list or repeated fields are
//   accepted only when every value is the same (RFC 9110 8.6); overflow 400.
// - HTTP/1.1 without exactly one Host field: 400 (RFC 9112 3.2 MUST).
// - HTTP/1.x with x >= 2 is served as HTTP/1.1 (RFC 9110 2.5); any other
//   major version is 505; a malformed version is 400.
// - Target: origin-form ("/p?q"), absolute-form ("http://h/p?q"),
//   asterisk-form ("*", OPTIONS only) and authority-form (CONNECT only).
//   Bytes outside 0x21..0x7e and '#' are 400. No percent-decoding.
// - Trailer fields of a chunked body are checked and dropped; their bytes
//   count towards max_header_bytes.
//
// - The method's bytes are checked as they arrive: a first line that cannot
//   be a request (a TLS ClientHello, binary junk) is 400 at once instead of
//   waiting for a line end.
//
// Errors are reported in byte order: the first problem in the input decides
// the status. Limits are checked before the syntax of the same line, and also
// on incomplete input, so that once a status other than kNeedsMoreData is
// returned for a prefix, every longer buffer gets the same status.
#ifndef FAULTLINE_SERVER_HTTP1_PARSER_H_
#define FAULTLINE_SERVER_HTTP1_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace faultline::server::http1 {

struct Limits {
  // Bytes of the request line without its CRLF (and with any empty lines
  // before it). Longer: kUriTooLong.
  size_t max_request_line = 8192;
  // Bytes of the field lines including their CRLFs, without the request line
  // and the final empty line; trailer fields of a chunked body add to it.
  // Larger: kHeadersTooLarge.
  size_t max_header_bytes = 16384;
  // Number of field lines. More: kHeadersTooLarge.
  size_t max_headers = 100;
  // Bytes of the (de-chunked) body. Larger: kBodyTooLarge.
  size_t max_body = 1 << 20;
};

struct Request {
  std::string method;     // As sent (case-sensitive token), e.g. "GET".
  std::string target;     // The request-target exactly as sent.
  std::string path;       // Target up to '?', "/" for absolute-form without
                          // one; "*" for asterisk-form; "" for authority-form.
  std::string query;      // After the first '?', without it; "" if none.
  int version_minor = 1;  // 0 or 1.
  // In arrival order; names lower-cased, values without surrounding
  // whitespace. Trailer fields are not included.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // De-chunked.
  // HTTP/1.1: true unless a Connection field lists "close". HTTP/1.0: false
  // unless a Connection field lists "keep-alive" (and not "close").
  bool keep_alive = true;
  // HTTP/1.1 request with "Expect: 100-continue" (ignored for HTTP/1.0, as
  // RFC 9110 10.1.1 requires).
  bool expect_continue = false;

  // Value of the first field named `lower_name` (which must be lower-case),
  // or "" when there is none.
  std::string_view Header(std::string_view lower_name) const;
};

enum class Status {
  // The buffer holds no complete request yet and nothing wrong so far.
  // Nothing is consumed: append more bytes and call again with the whole
  // buffer. If the header section is already complete (only body bytes are
  // missing), *out holds everything except the body, so the caller can act on
  // out->expect_continue (send "100 Continue"); otherwise *out is reset.
  kNeedsMoreData,
  // One request is in *out and the first `consumed` bytes of the buffer were
  // used. Bytes after them (pipelined requests) are untouched: drop
  // `consumed` bytes and call again.
  kComplete,
  // Malformed request (syntax, framing, smuggling-prone combinations): answer
  // 400 and close. Nothing is consumed; the connection cannot be resynced.
  kBadRequest,
  // Request line longer than max_request_line (known as soon as that many
  // bytes arrive without a line end): answer 414 and close.
  kUriTooLong,
  // Header section (or trailer section) over max_header_bytes or
  // max_headers, known as soon as that many bytes or lines arrive: answer 431
  // and close.
  kHeadersTooLarge,
  // Content-Length or the chunks so far over max_body, known before the body
  // is read: answer 413 and close.
  kBodyTooLarge,
  // Transfer-Encoding with a coding other than chunked: answer 501 and close.
  kNotImplemented,
  // HTTP major version other than 1: answer 505 and close.
  kVersionNotSupported,
};

struct ParseResult {
  Status status;
  // Bytes of the buffer used by the request; non-zero only for kComplete.
  size_t consumed = 0;
};

// Parses the first request in `buf`. `out` must not be null. Never reads
// beyond `buf` and never throws except std::bad_alloc.
ParseResult ParseRequest(std::string_view buf, const Limits& limits,
                         Request* out);

// The HTTP status code to answer an error status with (400, 414, 431, 413,
// 501, 505); 0 for kNeedsMoreData and kComplete.
int HttpStatusFor(Status s);

// Name of the enum value, e.g. "kBadRequest" (for logs and test output).
const char* StatusName(Status s);

}  // namespace faultline::server::http1

#endif  // FAULTLINE_SERVER_HTTP1_PARSER_H_
