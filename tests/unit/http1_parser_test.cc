#include "server/http1_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace faultline::server::http1 {

// Makes assertion failures print kBadRequest rather than a number.
void PrintTo(Status s, std::ostream* os) { *os << StatusName(s); }

namespace {

using namespace std::string_literals;

ParseResult Parse(std::string_view wire, Request* out,
                  const Limits& limits = Limits()) {
  return ParseRequest(wire, limits, out);
}

Status StatusOf(std::string_view wire, const Limits& limits = Limits()) {
  Request r;
  return ParseRequest(wire, limits, &r).status;
}

// Feeds every prefix of `wire` (as a connection receiving it one byte at a
// time would) and checks that the answers are kNeedsMoreData up to some
// length and the final answer from then on, with nothing consumed before.
void ExpectPrefixesConsistent(std::string_view wire,
                              const Limits& limits = Limits()) {
  Request full;
  const ParseResult final_result = ParseRequest(wire, limits, &full);
  bool decided = false;
  for (size_t len = 0; len <= wire.size(); ++len) {
    Request r;
    const ParseResult res = ParseRequest(wire.substr(0, len), limits, &r);
    SCOPED_TRACE("prefix length " + std::to_string(len));
    if (!decided && res.status == Status::kNeedsMoreData) {
      EXPECT_EQ(res.consumed, 0u);
      continue;
    }
    decided = true;
    ASSERT_EQ(res.status, final_result.status);
    EXPECT_EQ(res.consumed, final_result.consumed);
    if (res.status == Status::kComplete) {
      EXPECT_EQ(r.method, full.method);
      EXPECT_EQ(r.target, full.target);
      EXPECT_EQ(r.headers, full.headers);
      EXPECT_EQ(r.body, full.body);
      EXPECT_EQ(r.keep_alive, full.keep_alive);
    }
  }
  EXPECT_TRUE(decided || final_result.status == Status::kNeedsMoreData);
}

TEST(Http1ParserTest, SimpleGet) {
  constexpr std::string_view kWire =
      "GET /alloc?kb=64 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
      "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
  Request r;
  const ParseResult res = Parse(kWire, &r);
  ASSERT_EQ(res.status, Status::kComplete);
  EXPECT_EQ(res.consumed, kWire.size());
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/alloc?kb=64");
  EXPECT_EQ(r.path, "/alloc");
  EXPECT_EQ(r.query, "kb=64");
  EXPECT_EQ(r.version_minor, 1);
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].first, "host");
  EXPECT_EQ(r.headers[0].second, "127.0.0.1:8080");
  EXPECT_EQ(r.Header("user-agent"), "curl/7.88.1");
  EXPECT_EQ(r.Header("absent"), "");
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.expect_continue);
}

TEST(Http1ParserTest, HeaderNamesLowerCasedValuesTrimmed) {
  Request r;
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHOST: a\r\nX-Thing:  \t v a l \t \r\n"
                  "Empty:\r\n\r\n",
                  &r)
                .status,
            Status::kComplete);
  EXPECT_EQ(r.Header("host"), "a");
  EXPECT_EQ(r.Header("x-thing"), "v a l");
  EXPECT_EQ(r.Header("empty"), "");
  EXPECT_EQ(r.headers.size(), 3u);
}

TEST(Http1ParserTest, ObsTextInValueAccepted) {
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"),
            Status::kComplete);
}

TEST(Http1ParserTest, NeedsMoreDataOnEmptyAndPartialInput) {
  Request r;
  EXPECT_EQ(Parse("", &r).status, Status::kNeedsMoreData);
  EXPECT_EQ(Parse("GET / HT", &r).status, Status::kNeedsMoreData);
  const ParseResult res = Parse("GET / HTTP/1.1\r\nHost: a\r\n", &r);
  EXPECT_EQ(res.status, Status::kNeedsMoreData);
  EXPECT_EQ(res.consumed, 0u);
}

TEST(Http1ParserTest, LeadingEmptyLinesSkipped) {
  constexpr std::string_view kWire =
      "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  Request r;
  const ParseResult res = Parse(kWire, &r);
  ASSERT_EQ(res.status, Status::kComplete);
  EXPECT_EQ(res.consumed, kWire.size());
  EXPECT_EQ(r.path, "/");
}

TEST(Http1ParserTest, AbsoluteFormTarget) {
  Request r;
  ASSERT_EQ(Parse("GET http://example.com:80/file?kb=4 HTTP/1.1\r\n"
                  "Host: example.com\r\n\r\n",
                  &r)
                .status,
            Status::kComplete);
  EXPECT_EQ(r.target, "http://example.com:80/file?kb=4");
  EXPECT_EQ(r.path, "/file");
  EXPECT_EQ(r.query, "kb=4");
  ASSERT_EQ(Parse("GET HTTP://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(r.query, "x=1");
  ASSERT_EQ(Parse("GET https://h HTTP/1.1\r\nHost: h\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(StatusOf("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n"),
            Status::kBadRequest);
}

TEST(Http1ParserTest, AsteriskAndAuthorityForms) {
  Request r;
  ASSERT_EQ(Parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_EQ(r.path, "*");
  EXPECT_EQ(StatusOf("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kBadRequest);
  ASSERT_EQ(Parse("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_EQ(r.path, "");
  EXPECT_EQ(StatusOf("CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n"),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf("GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n"),
            Status::kBadRequest);
}

TEST(Http1ParserTest, MalformedRequestLines) {
  for (std::string_view line : {
           "GET  / HTTP/1.1",         // two spaces
           "GET / HTTP/1.1 ",         // trailing space
           " GET / HTTP/1.1",         // leading space
           "GET /",                   // no version
           "GET / HTTP/1.1 extra",    // extra field
           "G(T / HTTP/1.1",          // method not a token
           "GET /a b HTTP/1.1",       // space in target
           "GET /a\tb HTTP/1.1",      // tab in target
           "GET /a#frag HTTP/1.1",    // fragment
           "GET /\x7f HTTP/1.1",      // DEL
           "GET /\xc3\xa9 HTTP/1.1",  // non-ASCII
           "GET / http/1.1",          // lower-case protocol
           "GET / HTTP/1.10",         // two-digit minor
           "GET / HTTP/1",            // no minor
           "GET / HTTP/a.1",          // not a digit
           "GET / HTTP/1.1\r",        // CR without LF
       }) {
    const std::string wire = std::string(line) + "\r\nHost: h\r\n\r\n";
    EXPECT_EQ(StatusOf(wire), Status::kBadRequest) << line;
    ExpectPrefixesConsistent(wire);
  }
  // NUL in the target (a string_view from a plain literal would stop there).
  EXPECT_EQ(StatusOf("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n"s),
            Status::kBadRequest);
}

TEST(Http1ParserTest, NonTokenMethodRejectedBeforeLineEnd) {
  // A TLS ClientHello on the plain-text port: no LF anywhere, 400 at once.
  EXPECT_EQ(StatusOf("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf("GE\x01"), Status::kBadRequest);
  EXPECT_EQ(StatusOf(" GET"), Status::kBadRequest);
  // Not yet decidable: a method prefix, the half of a leading CRLF.
  EXPECT_EQ(StatusOf("GE"), Status::kNeedsMoreData);
  EXPECT_EQ(StatusOf("\r"), Status::kNeedsMoreData);
  EXPECT_EQ(StatusOf("\r\n\r"), Status::kNeedsMoreData);
  EXPECT_EQ(StatusOf("GET /\x01"), Status::kNeedsMoreData);  // target: at LF
  // The method check stops at max_request_line, like the length check, so
  // that a prefix and the whole line agree (414 here, not 400).
  Limits limits;
  limits.max_request_line = 8;
  const std::string long_method = std::string(12, 'A') + "\x01 / HTTP/1.1\r\n";
  EXPECT_EQ(StatusOf(long_method, limits), Status::kUriTooLong);
  ExpectPrefixesConsistent(long_method, limits);
  ExpectPrefixesConsistent("\r\n\r\nG\x01T / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(Http1ParserTest, Versions) {
  Request r;
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\n\r\n", &r).status, Status::kComplete);
  EXPECT_EQ(r.version_minor, 0);
  EXPECT_FALSE(r.keep_alive);
  // HTTP/1.x, x >= 2, is served as 1.1.
  ASSERT_EQ(Parse("GET / HTTP/1.9\r\nHost: h\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_EQ(StatusOf("GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
            Status::kVersionNotSupported);
  EXPECT_EQ(StatusOf("GET / HTTP/0.9\r\n\r\n"), Status::kVersionNotSupported);
  // The HTTP/2 client preface, if handed to this parser by mistake.
  EXPECT_EQ(StatusOf("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Status::kVersionNotSupported);
  // 505 is known as soon as the request line is.
  EXPECT_EQ(StatusOf("GET / HTTP/3.0\r\n"), Status::kVersionNotSupported);
}

TEST(Http1ParserTest, HostRequiredOnceInHttp11) {
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\r\n\r\n"), Status::kBadRequest);
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf("GET / HTTP/1.0\r\n\r\n"), Status::kComplete);
}

TEST(Http1ParserTest, MalformedFieldLines) {
  for (std::string_view field : {
           "Host : a",     // whitespace before colon (RFC 9112 5.1)
           "Host\t: a",    // tab before colon
           "X: a\r\n b",   // obs-fold (RFC 9112 5.2)
           "X: a\r\n\tb",  // obs-fold with tab
           "X: a\rb",      // CR without LF inside a value
           "X: a\r",       // CR CR LF
           "X: a\nY: b",   // bare LF
           ": a",          // empty name
           "X a",          // no colon
           "X(: a",        // name not a token
           "X: a\x7f",     // DEL in value
           "X: a\x01",     // control in value
       }) {
    const std::string wire =
        "GET / HTTP/1.1\r\nHost: h\r\n" + std::string(field) + "\r\n\r\n";
    EXPECT_EQ(StatusOf(wire), Status::kBadRequest) << field;
    ExpectPrefixesConsistent(wire);
  }
  // A first field line that starts with whitespace.
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
            Status::kBadRequest);
}

TEST(Http1ParserTest, BareLfRejected) {
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\nHost: h\n\n"), Status::kBadRequest);
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\r\nHost: h\r\n\n"), Status::kBadRequest);
  EXPECT_EQ(StatusOf("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
            Status::kBadRequest);
}

TEST(Http1ParserTest, ContentLengthBody) {
  constexpr std::string_view kWire =
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  Request r;
  const ParseResult res = Parse(kWire, &r);
  ASSERT_EQ(res.status, Status::kComplete);
  EXPECT_EQ(res.consumed, kWire.size());
  EXPECT_EQ(r.body, "hello");
  ExpectPrefixesConsistent(kWire);
}

TEST(Http1ParserTest, ContentLengthVariants) {
  auto with_cl = [](std::string_view cl) {
    return "POST / HTTP/1.1\r\nHost: h\r\n" + std::string(cl) + "\r\n\r\nabc";
  };
  Request r;
  EXPECT_EQ(Parse(with_cl("Content-Length: 003"), &r).status,
            Status::kComplete);
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 3, 3")), Status::kComplete);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 3\r\nContent-Length: 3")),
            Status::kComplete);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 3, 4")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 3\r\nContent-Length: 2")),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: +3")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: -3")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 0x3")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 3 3")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length:")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 3,")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 18446744073709551616")),
            Status::kBadRequest);  // 2^64: overflow
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 99999999999999999999999")),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_cl("Content-Length: 18446744073709551615")),
            Status::kBodyTooLarge);  // 2^64-1 fits, but over max_body
}

TEST(Http1ParserTest, BodyTooLargeKnownFromHeaders) {
  Limits limits;
  limits.max_body = 10;
  // 413 before any body byte arrives, so the client can be told at once.
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n",
                     limits),
            Status::kBodyTooLarge);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
                     "0123456789",
                     limits),
            Status::kComplete);
  const std::string chunked =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n012345\r\n5\r\n";
  EXPECT_EQ(StatusOf(chunked, limits), Status::kBodyTooLarge);
  ExpectPrefixesConsistent(chunked, limits);
}

TEST(Http1ParserTest, ChunkedBody) {
  constexpr std::string_view kWire =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n"
      "1;name=value;flag\r\n \r\n"
      "6 ; q=\"quoted \\\"str\\\"\"\r\nworld!\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nX-Trailer: t\r\n\r\n";
  Request r;
  const ParseResult res = Parse(kWire, &r);
  ASSERT_EQ(res.status, Status::kComplete);
  EXPECT_EQ(res.consumed, kWire.size());
  EXPECT_EQ(r.body, "hello world!0123456789");
  EXPECT_EQ(r.Header("x-trailer"), "");  // trailers are dropped
  ExpectPrefixesConsistent(kWire);
}

TEST(Http1ParserTest, ChunkedErrors) {
  auto chunked = [](std::string_view body) {
    return "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
           std::string(body);
  };
  for (std::string_view body : {
           "x\r\n",                          // not hex
           "\r\n",                           // empty size
           " 5\r\nhello\r\n0\r\n\r\n",       // leading space
           "5 \r\nhello\r\n0\r\n\r\n",       // trailing space, no extension
           "-1\r\n",                         // negative
           "0x5\r\nhello\r\n0\r\n\r\n",      // 0x prefix
           "5\r\nhelloXX0\r\n\r\n",          // data not followed by CRLF
           "5\r\nhello\n0\r\n\r\n",          // data followed by bare LF
           "5\nhello\r\n0\r\n\r\n",          // size line with bare LF
           "5;\r\nhello\r\n0\r\n\r\n",       // extension without name
           "5;a=\r\nhello\r\n0\r\n\r\n",     // extension without value
           "5;a=\"x\r\nhello\r\n0\r\n\r\n",  // unterminated quoted string
           "5;a b\r\nhello\r\n0\r\n\r\n",    // junk after extension
           "10000000000000000\r\n",          // chunk-size overflow (2^64)
           "0\r\nBad Trailer: x\r\n\r\n",    // malformed trailer
           "0\r\n\r\r\n",                    // CR CR LF at the end
       }) {
    const std::string wire = chunked(body);
    EXPECT_EQ(StatusOf(wire), Status::kBadRequest) << body;
    ExpectPrefixesConsistent(wire);
  }
  // A chunk-size line that never ends is bounded.
  EXPECT_EQ(StatusOf(chunked("1;" + std::string(2000, 'a'))),
            Status::kBadRequest);
  // 2^64 - 1 fits in the parser but not in max_body.
  EXPECT_EQ(StatusOf(chunked("ffffffffffffffff\r\n")), Status::kBodyTooLarge);
}

TEST(Http1ParserTest, TransferEncodingRules) {
  auto with_te = [](std::string_view fields,
                    std::string_view version = "HTTP/1.1") {
    return "POST / " + std::string(version) + "\r\nHost: h\r\n" +
           std::string(fields) + "\r\n\r\n0\r\n\r\n";
  };
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: chunked")), Status::kComplete);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: CHUNKED")), Status::kComplete);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: ,chunked")),
            Status::kComplete);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: gzip, chunked")),
            Status::kNotImplemented);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: gzip")),
            Status::kNotImplemented);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: identity")),
            Status::kNotImplemented);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: chunked;x=1")),
            Status::kNotImplemented);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: chunked, chunked")),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: chunked\r\n"
                             "Transfer-Encoding: chunked")),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding:")), Status::kBadRequest);
  EXPECT_EQ(StatusOf(with_te("Transfer-Encoding: chunked", "HTTP/1.0")),
            Status::kBadRequest);
}

// Request smuggling (RFC 9112 6.1, 6.3, 11.2): every way that two parsers
// could disagree about where a request ends is a 400 (or 501), never a
// guess.
TEST(Http1ParserTest, SmugglingCasesRejected) {
  const std::string kHead = "POST / HTTP/1.1\r\nHost: h\r\n";
  // CL.TE and TE.CL.
  EXPECT_EQ(
      StatusOf(kHead + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\nG"),
      Status::kBadRequest);
  EXPECT_EQ(
      StatusOf(kHead + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                       "8\r\nSMUGGLED\r\n0\r\n\r\n"),
      Status::kBadRequest);
  // Obfuscated Transfer-Encoding.
  EXPECT_EQ(StatusOf(kHead + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
            Status::kBadRequest);
  EXPECT_EQ(StatusOf(kHead + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
            Status::kNotImplemented);
  EXPECT_EQ(StatusOf(kHead + "Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"),
            Status::kComplete);  // tab is OWS: same meaning everywhere
  EXPECT_EQ(StatusOf(kHead + "X: y\r\n Transfer-Encoding: chunked\r\n\r\n"
                             "0\r\n\r\n"),
            Status::kBadRequest);  // hidden in an obs-fold
  EXPECT_EQ(StatusOf(kHead + "Transfer-Encoding: chunked\r\n"
                             "Transfer-encoding: identity\r\n\r\n0\r\n\r\n"),
            Status::kNotImplemented);
  // Conflicting lengths.
  EXPECT_EQ(StatusOf(kHead + "Content-Length: 0\r\nContent-Length: 5\r\n\r\n"
                             "hello"),
            Status::kBadRequest);
  // A line that ends in LF for one parser and CRLF for another.
  EXPECT_EQ(StatusOf(kHead + "Content-Length: 5\nX: y\r\n\r\nhello"),
            Status::kBadRequest);
  // NUL in a field value (some parsers stop there).
  EXPECT_EQ(StatusOf(kHead + "X: a\0b\r\n\r\n"s), Status::kBadRequest);
}

TEST(Http1ParserTest, KeepAliveRules) {
  Request r;
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r)
                .status,
            Status::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n"
                  "\r\n",
                  &r)
                .status,
            Status::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
                  "Connection: close\r\n\r\n",
                  &r)
                .status,
            Status::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\n\r\n", &r).status, Status::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(
      Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r).status,
      Status::kComplete);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r)
                .status,
            Status::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", &r)
                .status,
            Status::kComplete);
  EXPECT_TRUE(r.keep_alive);  // "closed" is not "close"
}

TEST(Http1ParserTest, ExpectContinueVisibleBeforeBody) {
  constexpr std::string_view kHead =
      "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
      "Expect: 100-Continue\r\n\r\n";
  Request r;
  // Headers complete, body missing: the caller sees expect_continue now.
  ParseResult res = Parse(kHead, &r);
  EXPECT_EQ(res.status, Status::kNeedsMoreData);
  EXPECT_EQ(res.consumed, 0u);
  EXPECT_TRUE(r.expect_continue);
  EXPECT_EQ(r.path, "/up");
  res = Parse(std::string(kHead) + "data", &r);
  ASSERT_EQ(res.status, Status::kComplete);
  EXPECT_TRUE(r.expect_continue);
  EXPECT_EQ(r.body, "data");
  // Before the header section is complete, nothing is reported.
  EXPECT_EQ(Parse(kHead.substr(0, kHead.size() - 2), &r).status,
            Status::kNeedsMoreData);
  EXPECT_FALSE(r.expect_continue);
  // HTTP/1.0 ignores it.
  ASSERT_EQ(Parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &r).status,
            Status::kComplete);
  EXPECT_FALSE(r.expect_continue);
}

TEST(Http1ParserTest, PipelinedRequests) {
  const std::string first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second =
      "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third =
      "POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nxy\r\n0\r\n\r\n";
  const std::string fourth =
      "GET /four HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string buf = first + second + third + fourth + "GET /fi";
  std::vector<std::string> paths;
  std::vector<std::string> bodies;
  std::vector<bool> keep_alive;
  Request r;
  while (true) {
    const ParseResult res = Parse(buf, &r);
    if (res.status != Status::kComplete) {
      EXPECT_EQ(res.status, Status::kNeedsMoreData);
      break;
    }
    paths.push_back(r.path);
    bodies.push_back(r.body);
    keep_alive.push_back(r.keep_alive);
    buf.erase(0, res.consumed);
  }
  EXPECT_EQ(paths,
            (std::vector<std::string>{"/one", "/two", "/three", "/four"}));
  EXPECT_EQ(bodies, (std::vector<std::string>{"", "abc", "xy", ""}));
  EXPECT_EQ(keep_alive, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(buf, "GET /fi");
  // The first request's consumed count stops exactly at its end.
  EXPECT_EQ(Parse(first + second, &r).consumed, first.size());
}

TEST(Http1ParserTest, RequestLineLimit) {
  Limits limits;
  limits.max_request_line = 32;
  const std::string ok = "GET /" + std::string(18, 'a') + " HTTP/1.1";  // 32
  ASSERT_EQ(ok.size(), 32u);
  EXPECT_EQ(StatusOf(ok + "\r\nHost: h\r\n\r\n", limits), Status::kComplete);
  const std::string long_line = "GET /" + std::string(19, 'a') + " HTTP/1.1";
  EXPECT_EQ(StatusOf(long_line + "\r\nHost: h\r\n\r\n", limits),
            Status::kUriTooLong);
  // Known without the line end: 33 bytes and no CRLF yet.
  EXPECT_EQ(StatusOf(std::string(33, 'a'), limits), Status::kUriTooLong);
  EXPECT_EQ(StatusOf(std::string(32, 'a'), limits), Status::kNeedsMoreData);
  // Exactly at the limit with half of the CRLF: still waiting.
  EXPECT_EQ(StatusOf(ok + "\r", limits), Status::kNeedsMoreData);
  ExpectPrefixesConsistent(long_line + "\r\nHost: h\r\n\r\n", limits);
  ExpectPrefixesConsistent(ok + "\r\nHost: h\r\n\r\n", limits);
  // Default limit: an 8 KiB target.
  EXPECT_EQ(StatusOf("GET /" + std::string(9000, 'x')), Status::kUriTooLong);
  // Empty lines before the request line count too, so they cannot grow the
  // buffer without bound.
  std::string crlfs;
  for (int i = 0; i < 20; ++i) crlfs += "\r\n";
  EXPECT_EQ(StatusOf(crlfs, limits), Status::kUriTooLong);
}

TEST(Http1ParserTest, HeaderBytesLimit) {
  Limits limits;
  limits.max_header_bytes = 64;
  const std::string head = "GET / HTTP/1.1\r\n";
  // "Host: h\r\n" (9) + "X: " + 50 + "\r\n" (55) = 64: fits exactly.
  const std::string fits =
      head + "Host: h\r\nX: " + std::string(50, 'v') + "\r\n\r\n";
  EXPECT_EQ(StatusOf(fits, limits), Status::kComplete);
  ExpectPrefixesConsistent(fits, limits);
  const std::string over =
      head + "Host: h\r\nX: " + std::string(51, 'v') + "\r\n\r\n";
  EXPECT_EQ(StatusOf(over, limits), Status::kHeadersTooLarge);
  ExpectPrefixesConsistent(over, limits);
  // Slowloris: a field line that never ends is refused once it is too long.
  EXPECT_EQ(StatusOf(head + "Host: h\r\nX: " + std::string(60, 'v'), limits),
            Status::kHeadersTooLarge);
  // Many small lines, still no end of headers.
  std::string many = head;
  for (int i = 0; i < 20; ++i) many += "A: b\r\n";
  EXPECT_EQ(StatusOf(many, limits), Status::kHeadersTooLarge);
}

TEST(Http1ParserTest, HeaderCountLimit) {
  Limits limits;
  limits.max_headers = 3;
  EXPECT_EQ(
      StatusOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits),
      Status::kComplete);
  EXPECT_EQ(
      StatusOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n", limits),
      Status::kHeadersTooLarge);  // known before the empty line
}

TEST(Http1ParserTest, TrailersShareHeaderLimit) {
  Limits limits;
  limits.max_header_bytes = 40;
  const std::string wire =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nT: " +
      std::string(20, 't') + "\r\n\r\n";
  EXPECT_EQ(StatusOf(wire, limits), Status::kHeadersTooLarge);
}

TEST(Http1ParserTest, EveryStatusHasItsHttpCode) {
  EXPECT_EQ(HttpStatusFor(Status::kNeedsMoreData), 0);
  EXPECT_EQ(HttpStatusFor(Status::kComplete), 0);
  EXPECT_EQ(HttpStatusFor(Status::kBadRequest), 400);
  EXPECT_EQ(HttpStatusFor(Status::kUriTooLong), 414);
  EXPECT_EQ(HttpStatusFor(Status::kHeadersTooLarge), 431);
  EXPECT_EQ(HttpStatusFor(Status::kBodyTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(Status::kNotImplemented), 501);
  EXPECT_EQ(HttpStatusFor(Status::kVersionNotSupported), 505);
}

// Every request above, split at every byte offset: kNeedsMoreData until the
// final answer, then the final answer (checked by ExpectPrefixesConsistent).
TEST(Http1ParserTest, SplitAtEveryOffset) {
  for (std::string_view wire : {
           std::string_view("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
           std::string_view("\r\nGET http://h/x?y HTTP/1.0\r\nA: b\r\n\r\n"),
           std::string_view("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3"
                            "\r\n\r\nabc"),
           std::string_view("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                            "chunked\r\n\r\n3;e=\"v\"\r\nabc\r\n0\r\nT: x\r\n"
                            "\r\n"),
           std::string_view("GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nHost: h\r\n"
                            "Transfer-Encoding: gzip\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1"
                            "\r\nContent-Length: 2\r\n\r\nab"),
       }) {
    SCOPED_TRACE(std::string(wire));
    ExpectPrefixesConsistent(wire);
  }
}

}  // namespace
}  // namespace faultline::server::http1
