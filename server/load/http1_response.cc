#include "server/load/http1_response.h"

#include <algorithm>
#include <cctype>

namespace faultline::load {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Calls fn(token) for each comma-separated, trimmed, non-empty element.
template <typename Fn>
void ForEachListElement(std::string_view value, Fn fn) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = Trim(value.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

ParseStatus ParseResponseHead(std::string_view input, ResponseHead* head) {
  // Reject garbage as soon as the first bytes show it is not a response.
  constexpr std::string_view kPrefix = "HTTP/1.";
  size_t n = std::min(input.size(), kPrefix.size());
  if (input.substr(0, n) != kPrefix.substr(0, n)) return ParseStatus::kInvalid;

  *head = ResponseHead{};
  size_t pos = 0;
  bool first = true;
  bool saw_te = false;
  while (true) {
    size_t lf = input.find('\n', pos);
    if (lf == std::string_view::npos) {
      return input.size() > kMaxHeadBytes ? ParseStatus::kInvalid
                                          : ParseStatus::kNeedsMoreData;
    }
    if (lf + 1 > kMaxHeadBytes) return ParseStatus::kInvalid;
    std::string_view line = input.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = lf + 1;

    if (first) {
      first = false;
      // "HTTP/1.x SSS[ reason]"
      if (line.size() < 12 || line.substr(0, 7) != kPrefix ||
          (line[7] != '0' && line[7] != '1') || line[8] != ' ') {
        return ParseStatus::kInvalid;
      }
      head->version_minor = line[7] - '0';
      int status = 0;
      for (int i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return ParseStatus::kInvalid;
        status = status * 10 + (line[i] - '0');
      }
      if (status < 100) return ParseStatus::kInvalid;
      if (line.size() > 12 && line[12] != ' ') return ParseStatus::kInvalid;
      head->status = status;
      continue;
    }

    if (line.empty()) break;  // end of head
    // Obsolete line folding is not accepted (RFC 9112 section 5.2 lets a
    // client reject it; no server we test sends it).
    if (line.front() == ' ' || line.front() == '\t') return ParseStatus::kInvalid;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseStatus::kInvalid;
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) {
      return ParseStatus::kInvalid;
    }
    std::string_view value = Trim(line.substr(colon + 1));

    if (IEquals(name, "content-length")) {
      uint64_t length = 0;
      if (!ParseDecimal(value, &length)) return ParseStatus::kInvalid;
      if (head->content_length && *head->content_length != length) {
        return ParseStatus::kInvalid;
      }
      head->content_length = length;
    } else if (IEquals(name, "transfer-encoding")) {
      saw_te = true;
      bool last_chunked = false;
      ForEachListElement(value, [&](std::string_view coding) {
        last_chunked = IEquals(coding, "chunked");
      });
      head->chunked = last_chunked;
    } else if (IEquals(name, "connection")) {
      ForEachListElement(value, [&](std::string_view option) {
        if (IEquals(option, "close")) head->connection_close = true;
        if (IEquals(option, "keep-alive")) head->connection_keep_alive = true;
      });
    }
  }
  head->head_length = pos;
  if (saw_te) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 section 6.3);
    // a response with both, or with a final coding other than chunked, is
    // delimited by the close, so the connection cannot be reused.
    if (head->content_length) head->connection_close = true;
    head->content_length.reset();
    if (!head->chunked) head->connection_close = true;
  }
  if (head->version_minor == 0 && !head->connection_keep_alive) {
    head->connection_close = true;
  }
  return ParseStatus::kSuccess;
}

bool HasBody(const ResponseHead& head) {
  return !(head.status < 200 || head.status == 204 || head.status == 304);
}

void ResponseParser::Reset() { *this = ResponseParser(); }

ResponseParser::Result ResponseParser::Fail(size_t consumed) {
  state_ = State::kInvalid;
  return {ParseStatus::kInvalid, consumed};
}

size_t ResponseParser::TakeLine(std::string_view data, bool* complete) {
  size_t lf = data.find('\n');
  *complete = lf != std::string_view::npos;
  size_t take = *complete ? lf + 1 : data.size();
  line_.append(data.substr(0, take));
  return take;
}

ResponseParser::Result ResponseParser::Feed(std::string_view data) {
  constexpr size_t kMaxLine = 4096;
  size_t used = 0;
  if (!data.empty()) started_ = true;
  while (true) {
    std::string_view rest = data.substr(used);
    switch (state_) {
      case State::kInvalid:
        return {ParseStatus::kInvalid, used};
      case State::kDone:
        return {ParseStatus::kSuccess, used};
      case State::kHead: {
        if (rest.empty()) return {ParseStatus::kNeedsMoreData, used};
        size_t before = buffer_.size();
        buffer_.append(rest);
        ParseStatus st = ParseResponseHead(buffer_, &head_);
        if (st == ParseStatus::kInvalid) return Fail(used + rest.size());
        if (st == ParseStatus::kNeedsMoreData) {
          return {ParseStatus::kNeedsMoreData, used + rest.size()};
        }
        used += head_.head_length - before;
        buffer_.clear();
        if (head_.status == 101) return Fail(used);  // we never ask to upgrade
        if (head_.status < 200) {                    // interim: skip it
          head_ = ResponseHead{};
          continue;
        }
        if (!HasBody(head_)) {
          state_ = State::kDone;
        } else if (head_.chunked) {
          state_ = State::kChunkSize;
        } else if (head_.content_length) {
          remaining_ = *head_.content_length;
          state_ = remaining_ == 0 ? State::kDone : State::kBodyLength;
        } else {
          head_.connection_close = true;
          state_ = State::kBodyUntilEof;
        }
        continue;
      }
      case State::kBodyLength:
      case State::kChunkData: {
        if (rest.empty()) return {ParseStatus::kNeedsMoreData, used};
        uint64_t take = std::min<uint64_t>(remaining_, rest.size());
        remaining_ -= take;
        body_bytes_ += take;
        used += take;
        if (remaining_ == 0) {
          state_ = state_ == State::kBodyLength ? State::kDone : State::kChunkDataEnd;
        }
        continue;
      }
      case State::kBodyUntilEof:
        body_bytes_ += rest.size();
        return {ParseStatus::kNeedsMoreData, used + rest.size()};
      case State::kChunkSize:
      case State::kChunkDataEnd:
      case State::kTrailer: {
        if (rest.empty()) return {ParseStatus::kNeedsMoreData, used};
        bool complete = false;
        used += TakeLine(rest, &complete);
        if (line_.size() > kMaxLine) return Fail(used);
        // After chunk data only CRLF (or LF) may follow: reject at once.
        if (state_ == State::kChunkDataEnd && line_ != "\r" && line_ != "\n" && line_ != "\r\n") {
          return Fail(used);
        }
        if (!complete) continue;
        std::string_view line = line_;
        line.remove_suffix(1);  // LF
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (state_ == State::kChunkDataEnd) {
          if (!line.empty()) return Fail(used);
          state_ = State::kChunkSize;
        } else if (state_ == State::kTrailer) {
          if (line.empty()) state_ = State::kDone;
        } else {
          // chunk-size [ chunk-ext ]
          size_t end = 0;
          uint64_t size = 0;
          while (end < line.size() && std::isxdigit(static_cast<unsigned char>(line[end]))) {
            if (end >= 15) return Fail(used);  // would overflow 60 bits
            char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[end])));
            size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
            ++end;
          }
          if (end == 0) return Fail(used);
          std::string_view ext = Trim(line.substr(end));
          if (!ext.empty() && ext.front() != ';') return Fail(used);
          remaining_ = size;
          state_ = size == 0 ? State::kTrailer : State::kChunkData;
        }
        line_.clear();
        continue;
      }
    }
  }
}

ParseStatus ResponseParser::FeedEof() {
  switch (state_) {
    case State::kDone:
      return ParseStatus::kSuccess;
    case State::kBodyUntilEof:
      state_ = State::kDone;
      return ParseStatus::kSuccess;
    case State::kHead:
      if (!started_) return ParseStatus::kNeedsMoreData;
      [[fallthrough]];
    default:
      state_ = State::kInvalid;
      return ParseStatus::kInvalid;
  }
}

}  // namespace faultline::load
