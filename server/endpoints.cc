#include "server/endpoints.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace faultline::server {
namespace {

constexpr std::string_view kIndexBody = "hello from faultline-server\n";
constexpr std::string_view kBadParam = "bad or missing parameter\n";
constexpr std::string_view kNotFound = "not found\n";
constexpr size_t kPage = 4096;

// Writes one byte of every page of [p, p + len).
void TouchPages(char* p, size_t len) {
  for (size_t off = 0; off < len; off += kPage) p[off] = static_cast<char>(off);
}

bool DoAlloc(uint64_t kb) {
  size_t len = kb * 1024;
  if (len == 0) return true;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  TouchPages(static_cast<char*>(p), len);
  munmap(p, len);
  return true;
}

bool DoCow(const Resources* res, uint64_t kb) {
  size_t len = kb * 1024;
  if (len == 0) return true;
  if (res == nullptr || res->cow_fd < 0) return false;
  void* m =
      mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, res->cow_fd, 0);
  if (m == MAP_FAILED) return false;
  volatile char* p = static_cast<char*>(m);
  // Read first: the page cache page is mapped read-only into this private
  // mapping. The write then takes a write-protect fault that copies it.
  for (size_t off = 0; off < len; off += kPage) {
    char c = p[off];
    p[off] = static_cast<char>(c + 1);
  }
  munmap(m, len);
  return true;
}

// Each level keeps 1 KiB of stack live and touched.
__attribute__((noinline)) uint64_t Recurse(uint64_t levels) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof(frame); i += 64)
    frame[i] = static_cast<char>(i);
  if (levels <= 1) return frame[0];
  return Recurse(levels - 1) + frame[64];
}

}  // namespace

std::optional<uint64_t> QueryUint(std::string_view query, std::string_view key,
                                  uint64_t max) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != key) continue;
    std::string_view v = pair.substr(eq + 1);
    if (v.empty() || v.size() > 10) return std::nullopt;
    uint64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (n > max) return std::nullopt;
    return n;
  }
  return std::nullopt;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void HandleEndpoint(std::string_view method, std::string_view path,
                    std::string_view query, std::string_view body,
                    const Resources* res, Response* out) {
  (void)method;
  if (path == "/") {
    out->SetStatic(200, kIndexBody);
    return;
  }
  if (path == "/echo") {
    out->SetOwned(200, std::string(body));
    return;
  }
  if (path == "/sleep") {
    auto ms = QueryUint(query, "ms", kMaxSleepMs);
    if (!ms) return out->SetStatic(400, kBadParam);
    out->SetOwned(200, "slept " + std::to_string(*ms) + " ms\n");
    out->sleep_ms = static_cast<int64_t>(*ms);
    return;
  }
  if (path == "/stack") {
    auto kb = QueryUint(query, "kb", kMaxStackKb);
    if (!kb) return out->SetStatic(400, kBadParam);
    uint64_t v = *kb ? Recurse(*kb) : 0;
    out->SetOwned(200, "stack " + std::to_string(*kb) + " KiB " +
                           std::to_string(v & 1) + "\n");
    return;
  }
  if (path == "/alloc" || path == "/cow" || path == "/file") {
    auto kb = QueryUint(query, "kb", kMaxKb);
    if (!kb) return out->SetStatic(400, kBadParam);
    if (path == "/file") {
      if (res == nullptr || res->file_map == nullptr)
        return out->SetStatic(500, "no file\n");
      out->SetStatic(200, std::string_view(res->file_map, *kb * 1024));
      return;
    }
    bool ok = path == "/alloc" ? DoAlloc(*kb) : DoCow(res, *kb);
    if (!ok) return out->SetStatic(500, "mmap failed\n");
    out->SetOwned(200, std::string(path.substr(1)) + " " + std::to_string(*kb) +
                           " KiB\n");
    return;
  }
  out->SetStatic(404, kNotFound);
}

Result<const Resources*> InitResources() {
  static Resources res;
  const size_t size = kMaxKb * 1024;
  // File-backed: a real file on $TMPDIR (unlinked at once), filled with
  // text, mapped read-only and shared. Its pages sit in the page cache; the
  // first touch of each page through this mapping is a file-backed fault.
  const char* dir = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(dir && *dir ? dir : "/tmp") + "/faultline-server-file-XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return std::unexpected(ErrnoError("mkstemp " + tmpl, errno));
  unlink(tmpl.c_str());
  std::string chunk(1 << 16, 'f');
  for (size_t i = 0; i < chunk.size(); i += 64) chunk[i + 63] = '\n';
  for (size_t off = 0; off < size; off += chunk.size()) {
    if (write(fd, chunk.data(), chunk.size()) !=
        static_cast<ssize_t>(chunk.size())) {
      int e = errno;
      close(fd);
      return std::unexpected(ErrnoError("write " + tmpl, e));
    }
  }
  void* m = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (m == MAP_FAILED) return std::unexpected(ErrnoError("mmap file", e));
  res.file_map = static_cast<const char*>(m);
  res.file_size = size;

  // Copy-on-write source: a memfd whose pages are written once here; every
  // /cow request maps it MAP_PRIVATE and writes, so the kernel copies.
  int mfd = memfd_create("faultline-cow", MFD_CLOEXEC);
  if (mfd < 0) return std::unexpected(ErrnoError("memfd_create", errno));
  if (ftruncate(mfd, static_cast<off_t>(size)) != 0)
    return std::unexpected(ErrnoError("ftruncate memfd", errno));
  void* w = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (w == MAP_FAILED) return std::unexpected(ErrnoError("mmap memfd", errno));
  TouchPages(static_cast<char*>(w), size);
  munmap(w, size);
  res.cow_fd = mfd;
  res.cow_size = size;
  return &res;
}

}  // namespace faultline::server
