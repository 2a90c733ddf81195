// HTTP/1.1 response parser of faultline-load, on canned wire bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "server/load/http1_response.h"

namespace faultline::load {
namespace {

struct Parsed {
  ParseStatus status = ParseStatus::kNeedsMoreData;
  size_t consumed = 0;
  int code = 0;
  uint64_t body = 0;
  bool close = false;
};

// Feeds `wire` in pieces of at most `piece` bytes, stopping at kSuccess or
// kInvalid; `eof` then signals the peer's close.
Parsed FeedPieces(const std::string& wire, size_t piece, bool eof = false) {
  ResponseParser p;
  Parsed out;
  size_t pos = 0;
  while (pos < wire.size()) {
    size_t n = std::min(piece, wire.size() - pos);
    ResponseParser::Result r = p.Feed(std::string_view(wire).substr(pos, n));
    out.consumed += r.consumed;
    pos += n;
    out.status = r.status;
    if (r.status != ParseStatus::kNeedsMoreData) break;
  }
  if (eof && out.status == ParseStatus::kNeedsMoreData) out.status = p.FeedEof();
  out.code = p.head().status;
  out.body = p.body_bytes();
  out.close = p.head().connection_close;
  return out;
}

const std::string kContentLength =
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 6\r\n\r\nhello\n";
const std::string kChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n1;ext=1\r\n\n\r\n0\r\nX-Trailer: t\r\n\r\n";

TEST(LoadHttp1Response, ContentLength) {
  Parsed p = FeedPieces(kContentLength, 1 << 20);
  EXPECT_EQ(p.status, ParseStatus::kSuccess);
  EXPECT_EQ(p.code, 200);
  EXPECT_EQ(p.body, 6u);
  EXPECT_EQ(p.consumed, kContentLength.size());
  EXPECT_FALSE(p.close);
}

TEST(LoadHttp1Response, Chunked) {
  Parsed p = FeedPieces(kChunked, 1 << 20);
  EXPECT_EQ(p.status, ParseStatus::kSuccess);
  EXPECT_EQ(p.body, 6u);
  EXPECT_EQ(p.consumed, kChunked.size());
}

// Every split point of every canned response gives the same result as one
// piece: the parser keeps state across Feed calls correctly.
TEST(LoadHttp1Response, SplitAtEveryByte) {
  const std::vector<std::string> wires = {
      kContentLength, kChunked,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n",
      "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
      "HTTP/1.0 200 OK\nContent-Length: 2\n\nok",
  };
  for (const std::string& wire : wires) {
    Parsed whole = FeedPieces(wire, wire.size());
    ASSERT_EQ(whole.status, ParseStatus::kSuccess) << wire;
    for (size_t split = 1; split < wire.size(); ++split) {
      ResponseParser p;
      ResponseParser::Result a = p.Feed(std::string_view(wire).substr(0, split));
      size_t consumed = a.consumed;
      ParseStatus st = a.status;
      if (st == ParseStatus::kNeedsMoreData) {
        ResponseParser::Result b = p.Feed(std::string_view(wire).substr(split));
        consumed += b.consumed;
        st = b.status;
      }
      EXPECT_EQ(st, ParseStatus::kSuccess) << "split " << split << " of " << wire;
      EXPECT_EQ(consumed, wire.size()) << "split " << split;
      EXPECT_EQ(p.head().status, whole.code) << "split " << split;
      EXPECT_EQ(p.body_bytes(), whole.body) << "split " << split;
      EXPECT_EQ(p.head().connection_close, whole.close) << "split " << split;
    }
    // And one byte at a time.
    Parsed bytes = FeedPieces(wire, 1);
    EXPECT_EQ(bytes.status, ParseStatus::kSuccess);
    EXPECT_EQ(bytes.consumed, wire.size());
    EXPECT_EQ(bytes.body, whole.body);
  }
}

TEST(LoadHttp1Response, InterimResponseIsSkipped) {
  Parsed p = FeedPieces("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", 7);
  EXPECT_EQ(p.status, ParseStatus::kSuccess);
  EXPECT_EQ(p.code, 503);
}

TEST(LoadHttp1Response, NoBodyStatuses) {
  for (int code : {204, 304}) {
    std::string wire = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 10\r\n\r\n";
    Parsed p = FeedPieces(wire, 100);
    EXPECT_EQ(p.status, ParseStatus::kSuccess) << code;
    EXPECT_EQ(p.body, 0u) << code;
  }
}

TEST(LoadHttp1Response, ConnectionClose) {
  EXPECT_TRUE(FeedPieces("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", 9).close);
  EXPECT_TRUE(FeedPieces("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 9).close);
  EXPECT_FALSE(FeedPieces("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 9).close);
}

TEST(LoadHttp1Response, BodyUntilClose) {
  const std::string wire = "HTTP/1.1 200 OK\r\n\r\nstream of bytes";
  Parsed open = FeedPieces(wire, 4);
  EXPECT_EQ(open.status, ParseStatus::kNeedsMoreData);
  Parsed closed = FeedPieces(wire, 4, /*eof=*/true);
  EXPECT_EQ(closed.status, ParseStatus::kSuccess);
  EXPECT_EQ(closed.body, 15u);
  EXPECT_TRUE(closed.close);
}

TEST(LoadHttp1Response, EofStates) {
  ResponseParser fresh;
  EXPECT_EQ(fresh.FeedEof(), ParseStatus::kNeedsMoreData);  // no byte: maybe retryable
  EXPECT_FALSE(fresh.started());
  ResponseParser partial;
  partial.Feed("HTTP/1.1 200 OK\r\nContent-Le");
  EXPECT_TRUE(partial.started());
  EXPECT_EQ(partial.FeedEof(), ParseStatus::kInvalid);
  ResponseParser short_body;
  short_body.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(short_body.FeedEof(), ParseStatus::kInvalid);
  ResponseParser short_chunk;
  short_chunk.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  EXPECT_EQ(short_chunk.FeedEof(), ParseStatus::kInvalid);
}

TEST(LoadHttp1Response, LeavesPipelinedBytes) {
  std::string two = kContentLength + kContentLength;
  ResponseParser p;
  ResponseParser::Result r = p.Feed(two);
  EXPECT_EQ(r.status, ParseStatus::kSuccess);
  EXPECT_EQ(r.consumed, kContentLength.size());
}

TEST(LoadHttp1Response, Invalid) {
  const std::vector<std::string> bad = {
      "GET / HTTP/1.1\r\n\r\n",                                   // a request
      "HTTP/2.0 200 OK\r\n\r\n",                                  // wrong version
      "HTTP/1.1 2x0 OK\r\n\r\n",                                  // bad status
      "HTTP/1.1 099 Low\r\n\r\n",                                 // status < 100
      "HTTP/1.1 200OK\r\n\r\n",                                   // no space
      "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",                 // space in name
      "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",                       // no colon
      "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",                    // obs-fold
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",            // bad length
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",      // bad chunk size
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",    // no CRLF after data
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",  // overflow
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  };
  for (const std::string& wire : bad) {
    EXPECT_EQ(FeedPieces(wire, 1 << 20).status, ParseStatus::kInvalid) << wire;
    EXPECT_EQ(FeedPieces(wire, 1).status, ParseStatus::kInvalid) << wire;
  }
}

TEST(LoadHttp1Response, HeadTooLarge) {
  std::string wire = "HTTP/1.1 200 OK\r\nX: " + std::string(kMaxHeadBytes, 'a');
  EXPECT_EQ(FeedPieces(wire, 4096).status, ParseStatus::kInvalid);
}

TEST(LoadHttp1Response, TransferEncodingOverridesLength) {
  ResponseHead head;
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                              &head),
            ParseStatus::kSuccess);
  EXPECT_TRUE(head.chunked);
  EXPECT_FALSE(head.content_length.has_value());
  EXPECT_TRUE(head.connection_close);
}

TEST(LoadHttp1Response, HeadNeedsMoreDataConsumesNothing) {
  ResponseHead head;
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", &head),
            ParseStatus::kNeedsMoreData);
  EXPECT_EQ(ParseResponseHead("HTT", &head), ParseStatus::kNeedsMoreData);
  EXPECT_EQ(ParseResponseHead("HTX", &head), ParseStatus::kInvalid);
}

// Hostile input: random mutations of valid responses, fed whole and in
// random pieces. The parser must not crash, never claim more bytes than it
// was given, and reach the same verdict however the bytes are split.
TEST(LoadHttp1Response, MutatedInputIsSplitInvariant) {
  const std::vector<std::string> seeds = {
      kContentLength, kChunked,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
      "HTTP/1.0 200 OK\r\n\r\nuntil close"};
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string wire = seeds[rng() % seeds.size()];
    int mutations = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < mutations && !wire.empty(); ++k) {
      size_t at = rng() % wire.size();
      switch (rng() % 4) {
        case 0: wire[at] = static_cast<char>(rng()); break;
        case 1: wire.insert(at, 1, "\r\n:;0 9aF"[rng() % 10]); break;
        case 2: wire.erase(at, 1 + rng() % 4); break;
        case 3: wire.insert(at, wire.substr(at, rng() % 16)); break;
      }
    }
    ResponseParser whole;
    ResponseParser::Result w = whole.Feed(wire);
    ASSERT_LE(w.consumed, wire.size());

    ResponseParser pieces;
    size_t pos = 0;
    size_t consumed = 0;
    ParseStatus st = ParseStatus::kNeedsMoreData;
    while (pos < wire.size() && st == ParseStatus::kNeedsMoreData) {
      size_t n = std::min<size_t>(1 + rng() % 7, wire.size() - pos);
      ResponseParser::Result r = pieces.Feed(std::string_view(wire).substr(pos, n));
      ASSERT_LE(r.consumed, n);
      consumed += r.consumed;
      st = r.status;
      pos += n;
    }
    ASSERT_EQ(st, w.status) << wire;
    if (st == ParseStatus::kSuccess) {
      ASSERT_EQ(consumed, w.consumed) << wire;
      ASSERT_EQ(pieces.head().status, whole.head().status) << wire;
      ASSERT_EQ(pieces.body_bytes(), whole.body_bytes()) << wire;
    }
    ASSERT_EQ(pieces.FeedEof(), whole.FeedEof()) << wire;
  }
}

}  // namespace
}  // namespace faultline::load
