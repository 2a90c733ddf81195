// The endpoints of faultline-server. Each one makes a known, real kind of
// memory behaviour (see docs/server.md):
//   /            small static body
//   /alloc?kb=N  mmap N KiB of fresh anonymous memory, write every page,
//                munmap: N/4 anonymous first-touch faults per request
//   /file?kb=N   the first N KiB of a file mapped at startup (the socket write
//                copies from the mapping; the first touch faults pages in)
//   /cow?kb=N    maps N KiB of a memfd prepared at startup MAP_PRIVATE, reads
//                then writes every page: each write breaks copy-on-write
//   /stack?kb=N  recursion that uses N KiB of stack
//   /sleep?ms=N  answers after N ms (a timer on the event loop, never a
//                blocking sleep)
//   /echo        the request body (used by tests of chunked uploads)
// Bad parameters (missing, not a decimal number, above the cap): 400.
// Unknown path: 404.
#ifndef FAULTLINE_SERVER_ENDPOINTS_H_
#define FAULTLINE_SERVER_ENDPOINTS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace faultline::server {

inline constexpr uint64_t kMaxKb = 65536;      // /alloc, /file, /cow
inline constexpr uint64_t kMaxStackKb = 4096;  // threads have >= 8 MiB stacks
inline constexpr uint64_t kMaxSleepMs = 10000;

// A response produced by an endpoint. The body is either static or mapped
// memory that lives as long as the process (ext), or owned.
struct Response {
  int status = 200;
  bool use_owned = false;
  std::string_view ext;  // Static / process-lifetime memory.
  std::string owned;
  // >= 0: the answer is deferred by this many milliseconds (/sleep); the
  // caller arms a timer and sends the (already filled in) body when it fires.
  int64_t sleep_ms = -1;

  std::string_view Body() const {
    return use_owned ? std::string_view(owned) : ext;
  }
  void SetStatic(int s, std::string_view body) {
    status = s;
    use_owned = false;
    ext = body;
    sleep_ms = -1;
  }
  void SetOwned(int s, std::string body) {
    status = s;
    use_owned = true;
    owned = std::move(body);
    sleep_ms = -1;
  }
};

// Memory prepared once at startup, before any thread or child process
// exists, and shared by every pattern.
struct Resources {
  const char* file_map = nullptr;  // kMaxKb KiB, PROT_READ, MAP_SHARED
  size_t file_size = 0;
  int cow_fd = -1;  // memfd of kMaxKb KiB, filled with data at startup
  size_t cow_size = 0;
};

// Creates the mapped file (in $TMPDIR or /tmp, unlinked at once) and the
// memfd. Call once; the result lives until exit.
Result<const Resources*> InitResources();

// Parses "N" of `key=N` in a query string such as "kb=64&x=1". Returns the
// value if present, a decimal number of at most 10 digits, and <= max.
std::optional<uint64_t> QueryUint(std::string_view query, std::string_view key,
                                  uint64_t max);

// Runs the endpoint for `path`/`query` and fills `out`. `res` may be null
// only in tests that do not touch /file or /cow. Never throws except
// std::bad_alloc.
void HandleEndpoint(std::string_view method, std::string_view path,
                    std::string_view query, std::string_view body,
                    const Resources* res, Response* out);

// Reason phrase for a status code ("OK", "Not Found", ...).
std::string_view ReasonPhrase(int status);

}  // namespace faultline::server

#endif  // FAULTLINE_SERVER_ENDPOINTS_H_
