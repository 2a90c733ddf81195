// Incremental HTTP/1.1 response parser for faultline-load (client side).
//
// The head (status line + header fields) is parsed by a pure function over
// a string_view; the body is consumed by a small state machine that never
// stores body bytes (a load generator only counts them). ResponseParser
// glues the two together and accepts input split at any byte boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace faultline::load {

enum class ParseStatus {
  // The input ends before the element is complete. Nothing was consumed by
  // ParseResponseHead; ResponseParser::Feed has consumed (and remembered)
  // everything it was given. Call again with more bytes.
  kNeedsMoreData,
  // The input is not a valid HTTP/1.x response. The connection cannot be
  // reused; the caller counts a protocol error and closes it.
  kInvalid,
  // One complete element was parsed. ParseResponseHead: `head_length`
  // bytes form the head. ResponseParser::Feed: the response ended after
  // `consumed` bytes of this call's input; the rest belongs to the next
  // response (pipelining) or is garbage.
  kSuccess,
};

// Largest head (status line + fields + blank line) accepted.
inline constexpr size_t kMaxHeadBytes = 64 * 1024;

struct ResponseHead {
  int version_minor = 1;              // HTTP/1.<minor>
  int status = 0;                     // 100..999
  size_t head_length = 0;             // bytes up to and including CRLFCRLF
  std::optional<uint64_t> content_length;
  bool chunked = false;               // Transfer-Encoding ends in "chunked"
  bool connection_close = false;      // the server will close after this
  bool connection_keep_alive = false; // explicit keep-alive (HTTP/1.0)
};

// Parses a response head at the start of `input`. Accepts CRLF or bare LF
// line ends. On kSuccess fills `*head`; on the other states `*head` is
// unspecified.
ParseStatus ParseResponseHead(std::string_view input, ResponseHead* head);

// Whether the response to a GET with this head has a body that must be
// read (1xx, 204 and 304 never do).
bool HasBody(const ResponseHead& head);

class ResponseParser {
 public:
  struct Result {
    ParseStatus status = ParseStatus::kNeedsMoreData;
    size_t consumed = 0;  // bytes of this Feed's input used
  };

  // Feeds the next bytes of the connection. Interim (1xx) responses are
  // skipped. After kSuccess, head() describes the final response and the
  // parser must be Reset() before the next response; after kInvalid it
  // stays invalid.
  Result Feed(std::string_view data);

  // The peer closed the connection. Returns kSuccess when this completes a
  // body delimited by the close (no Content-Length, not chunked), kInvalid
  // when a response had started and is now cut off, kNeedsMoreData when no
  // byte of a response had arrived.
  ParseStatus FeedEof();

  void Reset();

  const ResponseHead& head() const { return head_; }
  // Any byte of this response (including interim responses) seen yet.
  bool started() const { return started_; }
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State {
    kHead,
    kBodyLength,    // Content-Length body, remaining_ bytes left
    kBodyUntilEof,  // no framing: body ends when the server closes
    kChunkSize,     // reading "hex[;ext]CRLF" into line_
    kChunkData,     // remaining_ bytes of chunk data left
    kChunkDataEnd,  // expecting CRLF after chunk data (line_ holds partial)
    kTrailer,       // trailer fields, one line at a time, until empty line
    kDone,
    kInvalid,
  };

  // Reads one line (terminated by LF) into line_. Returns the bytes
  // consumed and sets *complete when the LF was seen.
  size_t TakeLine(std::string_view data, bool* complete);
  Result Fail(size_t consumed);

  State state_ = State::kHead;
  ResponseHead head_;
  std::string buffer_;  // head bytes accumulated so far
  std::string line_;    // current chunk-size / trailer line
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  bool started_ = false;
};

}  // namespace faultline::load
