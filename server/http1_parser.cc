#include "server/http1_parser.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

namespace faultline::server::http1 {
namespace {

// Longest chunk-size line (size, extensions) accepted, without its CRLF.
constexpr size_t kMaxChunkLine = 1024;

constexpr std::array<bool, 256> MakeTcharTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}
constexpr std::array<bool, 256> kTchar = MakeTcharTable();

bool IsTchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

// request-target bytes: visible ASCII except '#' (no fragment on the wire).
bool IsTargetChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e && u != '#';
}

// field-vchar / SP / HTAB, obs-text included (RFC 9110 5.5).
bool IsFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char ToLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each comma-separated element of a list field value,
// trimmed of OWS (empty elements included; callers decide about them).
template <typename Fn>
void ForEachListElement(std::string_view value, Fn fn) {
  while (true) {
    const size_t comma = value.find(',');
    fn(TrimOws(value.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

// Length of an incomplete line that starts at `start` and runs to the end of
// `buf`, not counting a final CR that may turn out to be half of the CRLF.
// It never exceeds the length of the completed line (without CRLF), which is
// what keeps the limit checks on prefixes consistent with the final answer.
size_t IncompleteLineLength(std::string_view buf, size_t start) {
  size_t len = buf.size() - start;
  if (len > 0 && buf.back() == '\r') --len;
  return len;
}

void Reset(Request* r) {
  r->method.clear();
  r->target.clear();
  r->path.clear();
  r->query.clear();
  r->version_minor = 1;
  r->headers.clear();
  r->body.clear();
  r->keep_alive = true;
  r->expect_continue = false;
}

void SplitPathQuery(std::string_view s, Request* out) {
  const size_t q = s.find('?');
  if (q == std::string_view::npos) {
    out->path.assign(s);
  } else {
    out->path.assign(s.substr(0, q));
    out->query.assign(s.substr(q + 1));
  }
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 3),
// without its CRLF.
Status ParseRequestLine(std::string_view line, Request* out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return Status::kBadRequest;
  const std::string_view method = line.substr(0, sp1);
  for (char c : method) {
    if (!IsTchar(c)) return Status::kBadRequest;
  }
  const std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0) return Status::kBadRequest;
  const std::string_view target = rest.substr(0, sp2);
  for (char c : target) {
    if (!IsTargetChar(c)) return Status::kBadRequest;
  }
  const std::string_view version = rest.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
      version[5] < '0' || version[5] > '9' || version[6] != '.' ||
      version[7] < '0' || version[7] > '9') {
    return Status::kBadRequest;
  }
  if (version[5] != '1') return Status::kVersionNotSupported;
  out->version_minor = version[7] == '0' ? 0 : 1;
  out->method.assign(method);
  out->target.assign(target);

  if (target.front() == '/') {  // origin-form
    SplitPathQuery(target, out);
    return Status::kComplete;
  }
  if (method == "CONNECT") {  // authority-form: host:port
    if (target.find_first_of("/?") != std::string_view::npos ||
        target.find(':') == std::string_view::npos) {
      return Status::kBadRequest;
    }
    return Status::kComplete;
  }
  if (target == "*") {  // asterisk-form
    if (method != "OPTIONS") return Status::kBadRequest;
    out->path = "*";
    return Status::kComplete;
  }
  // absolute-form: scheme "://" authority [path-abempty] ["?" query]
  size_t scheme_len = 0;
  if (target.size() >= 7 && EqualsIgnoreCase(target.substr(0, 7), "http://")) {
    scheme_len = 7;
  } else if (target.size() >= 8 &&
             EqualsIgnoreCase(target.substr(0, 8), "https://")) {
    scheme_len = 8;
  } else {
    return Status::kBadRequest;
  }
  const std::string_view after_scheme = target.substr(scheme_len);
  const size_t auth_end = after_scheme.find_first_of("/?");
  if (auth_end == 0) return Status::kBadRequest;  // empty authority
  if (auth_end == std::string_view::npos) {
    out->path = "/";
    return Status::kComplete;
  }
  const std::string_view path_and_query = after_scheme.substr(auth_end);
  if (path_and_query.front() == '?') {
    out->path = "/";
    out->query.assign(path_and_query.substr(1));
  } else {
    SplitPathQuery(path_and_query, out);
  }
  return Status::kComplete;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 5), without CRLF.
// A line starting with whitespace (obs-fold, RFC 9112 5.2) and whitespace
// before the colon (RFC 9112 5.1) are both rejected.
bool ParseFieldLine(std::string_view line, std::string_view* name,
                    std::string_view* value) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  *name = line.substr(0, colon);
  for (char c : *name) {
    if (!IsTchar(c)) return false;
  }
  const std::string_view raw = line.substr(colon + 1);
  for (char c : raw) {
    if (!IsFieldValueChar(c)) return false;
  }
  *value = TrimOws(raw);
  return true;
}

// Parses field lines from *pos up to and including the empty line that ends
// them, adding their bytes to *bytes. Calls on_field(name, value) for each.
// Returns kComplete with *pos after the empty line, kNeedsMoreData, or an
// error.
template <typename OnField>
Status ParseFieldSection(std::string_view buf, const Limits& limits,
                         size_t* pos, size_t* bytes, size_t* count,
                         OnField on_field) {
  while (true) {
    const size_t start = *pos;
    const size_t nl = buf.find('\n', start);
    if (nl == std::string_view::npos) {
      if (start < buf.size() &&
          *bytes + IncompleteLineLength(buf, start) > limits.max_header_bytes) {
        return Status::kHeadersTooLarge;
      }
      return Status::kNeedsMoreData;
    }
    if (nl == start + 1 && buf[start] == '\r') {  // the empty line
      *pos = nl + 1;
      return Status::kComplete;
    }
    *bytes += nl - start + 1;
    if (*bytes > limits.max_header_bytes) return Status::kHeadersTooLarge;
    if (++*count > limits.max_headers) return Status::kHeadersTooLarge;
    if (nl == start || buf[nl - 1] != '\r') return Status::kBadRequest;
    std::string_view name, value;
    if (!ParseFieldLine(buf.substr(start, nl - 1 - start), &name, &value)) {
      return Status::kBadRequest;
    }
    on_field(name, value);
    *pos = nl + 1;
  }
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// (RFC 9112 7.1.1); chunk-ext-val = token / quoted-string.
bool IsValidChunkExt(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto skip_bws = [&] {
    while (i < n && IsOws(s[i])) ++i;
  };
  auto token = [&] {
    const size_t begin = i;
    while (i < n && IsTchar(s[i])) ++i;
    return i > begin;
  };
  while (i < n) {
    skip_bws();
    if (i == n || s[i] != ';') return false;
    ++i;
    skip_bws();
    if (!token()) return false;
    const size_t after_name = i;
    skip_bws();
    if (i < n && s[i] == '=') {
      ++i;
      skip_bws();
      if (i < n && s[i] == '"') {
        ++i;
        bool closed = false;
        while (i < n) {
          const auto u = static_cast<unsigned char>(s[i]);
          if (u == '"') {
            closed = true;
            ++i;
            break;
          }
          if (u ==
              '\\') {  // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
            if (i + 1 >= n) return false;
            const auto e = static_cast<unsigned char>(s[i + 1]);
            if (!(e == '\t' || (e >= 0x20 && e != 0x7f))) return false;
            i += 2;
            continue;
          }
          if (!(u == '\t' || (u >= 0x20 && u != 0x7f))) return false;
          ++i;
        }
        if (!closed) return false;
      } else if (!token()) {
        return false;
      }
    } else {
      i = after_name;
    }
  }
  return true;
}

// Parses "chunked" body data at *pos (RFC 9112 7.1) into out->body, then the
// trailer section. *header_bytes carries the header section's size so that
// trailers share its limit.
Status ParseChunkedBody(std::string_view buf, const Limits& limits, size_t* pos,
                        size_t* header_bytes, Request* out) {
  while (true) {
    const size_t start = *pos;
    const size_t nl = buf.find('\n', start);
    if (nl == std::string_view::npos) {
      return IncompleteLineLength(buf, start) > kMaxChunkLine
                 ? Status::kBadRequest
                 : Status::kNeedsMoreData;
    }
    if (nl - start > kMaxChunkLine + 1) return Status::kBadRequest;
    if (nl == start || buf[nl - 1] != '\r') return Status::kBadRequest;
    const std::string_view line = buf.substr(start, nl - 1 - start);
    size_t i = 0;
    uint64_t size = 0;
    while (i < line.size() && IsHexDigit(line[i])) {
      if (size > (std::numeric_limits<uint64_t>::max() >> 4)) {
        return Status::kBadRequest;  // chunk-size overflow
      }
      size = (size << 4) | static_cast<uint64_t>(HexValue(line[i]));
      ++i;
    }
    if (i == 0 || !IsValidChunkExt(line.substr(i))) return Status::kBadRequest;
    *pos = nl + 1;
    if (size == 0) break;
    if (size > limits.max_body - out->body.size()) return Status::kBodyTooLarge;
    const size_t data_end = *pos + static_cast<size_t>(size);
    if (buf.size() < data_end + 2) return Status::kNeedsMoreData;
    if (buf[data_end] != '\r' || buf[data_end + 1] != '\n') {
      return Status::kBadRequest;
    }
    out->body.append(buf.substr(*pos, static_cast<size_t>(size)));
    *pos = data_end + 2;
  }
  // trailer-section, then the final CRLF. Trailer fields are dropped: none of
  // them may change how this server handles the request.
  size_t trailer_count = 0;
  return ParseFieldSection(buf, limits, pos, header_bytes, &trailer_count,
                           [](std::string_view, std::string_view) {});
}

// The method is checked as its bytes arrive, before the request line is
// complete: buf[pos, end) up to the first SP must be a non-empty token
// prefix. `end` is capped at max_request_line by the caller, in the same way
// for complete and incomplete lines, so both give the same answer.
bool MethodPrefixValid(std::string_view buf, size_t pos, size_t end) {
  if (pos < end && buf[pos] == ' ') return false;  // empty method
  for (size_t i = pos; i < end; ++i) {
    if (buf[i] == ' ') return true;
    if (!IsTchar(buf[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view Request::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

ParseResult ParseRequest(std::string_view buf, const Limits& limits,
                         Request* out) {
  Reset(out);
  // Empty lines before the request line are ignored (RFC 9112 2.2).
  size_t pos = 0;
  while (pos + 1 < buf.size() && buf[pos] == '\r' && buf[pos + 1] == '\n') {
    pos += 2;
  }
  const size_t line_nl = buf.find('\n', pos);
  if (line_nl == std::string_view::npos) {
    const size_t avail = IncompleteLineLength(buf, 0);
    if (!MethodPrefixValid(buf, pos,
                           std::min(avail, limits.max_request_line))) {
      return {Status::kBadRequest};  // e.g. a TLS ClientHello: no need to wait
    }
    if (avail > limits.max_request_line) return {Status::kUriTooLong};
    return {Status::kNeedsMoreData};
  }
  const bool has_cr = line_nl > pos && buf[line_nl - 1] == '\r';
  const size_t line_end = has_cr ? line_nl - 1 : line_nl;
  if (!MethodPrefixValid(buf, pos,
                         std::min(line_end, limits.max_request_line))) {
    return {Status::kBadRequest};
  }
  if (line_end > limits.max_request_line) return {Status::kUriTooLong};
  if (!has_cr) return {Status::kBadRequest};
  if (Status s = ParseRequestLine(buf.substr(pos, line_end - pos), out);
      s != Status::kComplete) {
    Reset(out);
    return {s};
  }
  pos = line_nl + 1;

  // Header section. Framing fields are collected as they come.
  size_t header_bytes = 0;
  size_t header_count = 0;
  size_t host_count = 0;
  bool has_te = false;
  std::string_view last_te_element;
  size_t chunked_count = 0;
  bool unknown_coding = false;
  bool empty_te = true;
  bool has_cl = false;
  bool bad_cl = false;
  uint64_t content_length = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool expect_continue = false;
  const Status hs = ParseFieldSection(
      buf, limits, &pos, &header_bytes, &header_count,
      [&](std::string_view name, std::string_view value) {
        std::string lower(name.size(), '\0');
        for (size_t i = 0; i < name.size(); ++i)
          lower[i] = ToLowerAscii(name[i]);
        if (lower == "content-length") {
          ForEachListElement(value, [&](std::string_view e) {
            if (e.empty()) {
              bad_cl = true;
              return;
            }
            uint64_t v = 0;
            for (char c : e) {
              if (c < '0' || c > '9') {
                bad_cl = true;
                return;
              }
              const auto digit = static_cast<uint64_t>(c - '0');
              if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
                bad_cl = true;  // overflow
                return;
              }
              v = v * 10 + digit;
            }
            if (has_cl && v != content_length) bad_cl = true;
            has_cl = true;
            content_length = v;
          });
        } else if (lower == "transfer-encoding") {
          has_te = true;
          ForEachListElement(value, [&](std::string_view e) {
            if (e.empty()) return;
            empty_te = false;
            last_te_element = e;
            if (EqualsIgnoreCase(e, "chunked")) {
              ++chunked_count;
            } else {
              unknown_coding = true;
            }
          });
        } else if (lower == "connection") {
          ForEachListElement(value, [&](std::string_view e) {
            if (EqualsIgnoreCase(e, "close")) conn_close = true;
            if (EqualsIgnoreCase(e, "keep-alive")) conn_keep_alive = true;
          });
        } else if (lower == "host") {
          ++host_count;
        } else if (lower == "expect") {
          if (EqualsIgnoreCase(value, "100-continue")) expect_continue = true;
        }
        out->headers.emplace_back(std::move(lower), std::string(value));
      });
  if (hs != Status::kComplete) {
    Reset(out);
    return {hs};
  }

  // Framing and semantics, once the whole header section is known.
  Status semantic = Status::kComplete;
  if (host_count > 1 || (out->version_minor == 1 && host_count == 0)) {
    semantic = Status::kBadRequest;  // RFC 9112 3.2
  } else if (has_te) {
    if (out->version_minor == 0 || has_cl) {
      semantic = Status::kBadRequest;  // RFC 9112 6.1: smuggling vectors
    } else if (unknown_coding) {
      semantic = Status::kNotImplemented;
    } else if (empty_te || chunked_count != 1 ||
               !EqualsIgnoreCase(last_te_element, "chunked")) {
      semantic = Status::kBadRequest;  // RFC 9112 6.3
    }
  } else if (bad_cl) {
    semantic = Status::kBadRequest;
  } else if (has_cl && content_length > limits.max_body) {
    semantic = Status::kBodyTooLarge;
  }
  if (semantic != Status::kComplete) {
    Reset(out);
    return {semantic};
  }
  out->keep_alive =
      out->version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
  out->expect_continue = out->version_minor == 1 && expect_continue;

  if (has_te) {
    const Status bs = ParseChunkedBody(buf, limits, &pos, &header_bytes, out);
    if (bs == Status::kNeedsMoreData) {
      out->body.clear();
      return {bs};
    }
    if (bs != Status::kComplete) {
      Reset(out);
      return {bs};
    }
    return {Status::kComplete, pos};
  }
  if (has_cl) {
    const auto len = static_cast<size_t>(content_length);
    if (buf.size() - pos < len) return {Status::kNeedsMoreData};
    out->body.assign(buf.substr(pos, len));
    pos += len;
  }
  return {Status::kComplete, pos};
}

int HttpStatusFor(Status s) {
  switch (s) {
    case Status::kNeedsMoreData:
    case Status::kComplete:
      return 0;
    case Status::kBadRequest:
      return 400;
    case Status::kUriTooLong:
      return 414;
    case Status::kHeadersTooLarge:
      return 431;
    case Status::kBodyTooLarge:
      return 413;
    case Status::kNotImplemented:
      return 501;
    case Status::kVersionNotSupported:
      return 505;
  }
  return 500;
}

const char* StatusName(Status s) {
  switch (s) {
    case Status::kNeedsMoreData:
      return "kNeedsMoreData";
    case Status::kComplete:
      return "kComplete";
    case Status::kBadRequest:
      return "kBadRequest";
    case Status::kUriTooLong:
      return "kUriTooLong";
    case Status::kHeadersTooLarge:
      return "kHeadersTooLarge";
    case Status::kBodyTooLarge:
      return "kBodyTooLarge";
    case Status::kNotImplemented:
      return "kNotImplemented";
    case Status::kVersionNotSupported:
      return "kVersionNotSupported";
  }
  return "?";
}

}  // namespace faultline::server::http1
