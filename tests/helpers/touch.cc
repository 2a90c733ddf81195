// touch: touches memory in a known way and prints its own fault counts
// (getrusage(RUSAGE_SELF)) as one JSON line per process on stdout. The
// system tests compare faultline's trace with these numbers.
//
//   touch anon N         write one byte to each of N fresh anonymous pages
//   touch file PATH N    write an N-page file, fsync, drop it from the page
//                        cache (POSIX_FADV_DONTNEED), mmap it and read each
//                        page (MADV_RANDOM: one major fault per page)
//   touch cow N          touch N private pages, fork; the child writes them
//                        (copy-on-write faults in the child); both print,
//                        and the parent adds a "cow-child-final" line with
//                        the child's totals at its death (wait4)
//   touch stack KB       recurse until KB KiB of stack are in use
//   touch populate N     mmap N anonymous pages with MAP_POPULATE: the
//                        kernel faults them in through get_user_pages,
//                        counted by getrusage but raising no perf event
//   touch brief PATH N   write an N-page file, then map it, close the fd,
//                        read each page and unmap it at once: a mapping
//                        gone long before the collector could look in
//                        /proc (the report must still name the file)
//   touch thp N          an anonymous region of N 2 MiB blocks, aligned,
//                        madvise(MADV_HUGEPAGE), one byte written per
//                        block: each fault maps a transparent huge page
//                        when the kernel has one; "huge_pages" is what
//                        /proc/self/smaps_rollup (AnonHugePages) says
//   touch segv N         write to N PROT_NONE pages; a SIGSEGV handler
//                        makes each page writable, so every page takes one
//                        fault that never completes (SIGSEGV) and then one
//                        that does; "signals" counts the handler calls
//
// Each line: {"mode","pid","ppid","pages","minflt_delta","majflt_delta",
// "minflt","majflt","addr"}: *_delta count only the touching step, the
// others are the process totals at the end (what the kernel's /proc stat
// shows).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Faults {
  long minflt = 0;
  long majflt = 0;
};

Faults Now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {ru.ru_minflt, ru.ru_majflt};
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "touch: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

void Print(const char* mode, long pages, const Faults& before,
           const Faults& after, uintptr_t addr) {
  Faults total = Now();
  std::printf(
      "{\"mode\":\"%s\",\"pid\":%d,\"ppid\":%d,\"pages\":%ld,"
      "\"minflt_delta\":%ld,\"majflt_delta\":%ld,\"minflt\":%ld,"
      "\"majflt\":%ld,\"addr\":%lu}\n",
      mode, getpid(), getppid(), pages, after.minflt - before.minflt,
      after.majflt - before.majflt, total.minflt, total.majflt,
      static_cast<unsigned long>(addr));
  std::fflush(stdout);
}

long PageSize() { return sysconf(_SC_PAGESIZE); }

int Anon(long n) {
  long ps = PageSize();
  char* p = static_cast<char*>(mmap(nullptr, n * ps, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) Die("mmap");
  Faults before = Now();
  for (long i = 0; i < n; ++i) p[i * ps] = 1;
  Faults after = Now();
  Print("anon", n, before, after, reinterpret_cast<uintptr_t>(p));
  return 0;
}

int File(const char* path, long n) {
  long ps = PageSize();
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) Die("open");
  std::string page(ps, 'x');
  for (long i = 0; i < n; ++i) {
    if (write(fd, page.data(), ps) != ps) Die("write");
  }
  if (fsync(fd) != 0) Die("fsync");
  if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) Die("fadvise");
  char* p = static_cast<char*>(mmap(nullptr, n * ps, PROT_READ, MAP_SHARED,
                                    fd, 0));
  if (p == MAP_FAILED) Die("mmap");
  if (madvise(p, n * ps, MADV_RANDOM) != 0) Die("madvise");
  volatile long sum = 0;
  Faults before = Now();
  for (long i = 0; i < n; ++i) sum = sum + p[i * ps];
  Faults after = Now();
  Print("file", n, before, after, reinterpret_cast<uintptr_t>(p));
  munmap(p, n * ps);
  close(fd);
  return 0;
}

int Brief(const char* path, long n) {
  long ps = PageSize();
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) Die("open");
  std::string page(ps, 'y');
  for (long i = 0; i < n; ++i) {
    if (write(fd, page.data(), ps) != ps) Die("write");
  }
  char* p = static_cast<char*>(mmap(nullptr, n * ps, PROT_READ, MAP_PRIVATE,
                                    fd, 0));
  if (p == MAP_FAILED) Die("mmap");
  close(fd);
  volatile long sum = 0;
  Faults before = Now();
  for (long i = 0; i < n; ++i) sum = sum + p[i * ps];
  Faults after = Now();
  munmap(p, n * ps);
  Print("brief", n, before, after, reinterpret_cast<uintptr_t>(p));
  return 0;
}

int Cow(long n) {
  long ps = PageSize();
  char* p = static_cast<char*>(mmap(nullptr, n * ps, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) Die("mmap");
  for (long i = 0; i < n; ++i) p[i * ps] = 1;
  std::fflush(stdout);
  pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    Faults before = Now();
    for (long i = 0; i < n; ++i) p[i * ps] = 2;
    Faults after = Now();
    Print("cow-child", n, before, after, reinterpret_cast<uintptr_t>(p));
    _exit(0);
  }
  int status = 0;
  rusage child_ru{};
  if (wait4(child, &status, 0, &child_ru) != child) Die("wait4");
  // The child's own line was printed before its exit; its final totals
  // (what the kernel counted until it died) come from wait4().
  std::printf("{\"mode\":\"cow-child-final\",\"pid\":%d,\"minflt\":%ld,"
              "\"majflt\":%ld}\n",
              child, child_ru.ru_minflt, child_ru.ru_majflt);
  Faults none = Now();
  Print("cow-parent", n, none, none, reinterpret_cast<uintptr_t>(p));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// Each frame holds and touches 1 KiB, so depth KB uses about KB KiB.
__attribute__((noinline)) long Recurse(long depth) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof(frame); i += 64) frame[i] = static_cast<char>(depth);
  if (depth <= 1) return frame[0];
  return Recurse(depth - 1) + frame[512];
}

int Stack(long kb) {
  Faults before = Now();
  volatile long r = Recurse(kb);
  (void)r;
  Faults after = Now();
  Print("stack", kb / 4, before, after, 0);
  return 0;
}

int Populate(long n) {
  long ps = PageSize();
  Faults before = Now();
  char* p = static_cast<char*>(mmap(nullptr, n * ps, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                                    -1, 0));
  if (p == MAP_FAILED) Die("mmap");
  Faults after = Now();
  Print("populate", n, before, after, reinterpret_cast<uintptr_t>(p));
  return 0;
}

volatile sig_atomic_t g_signals = 0;

void OnSegv(int, siginfo_t* info, void*) {
  uintptr_t page = reinterpret_cast<uintptr_t>(info->si_addr) & ~4095ul;
  if (mprotect(reinterpret_cast<void*>(page), 4096, PROT_READ | PROT_WRITE) !=
      0) {
    _exit(3);
  }
  g_signals = g_signals + 1;
}

int Segv(long n) {
  long ps = PageSize();
  char* p = static_cast<char*>(mmap(nullptr, n * ps, PROT_NONE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) Die("mmap");
  struct sigaction sa {};
  sa.sa_sigaction = OnSegv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, nullptr) != 0) Die("sigaction");
  Faults before = Now();
  for (long i = 0; i < n; ++i) p[i * ps] = 1;
  Faults after = Now();
  Faults total = Now();
  std::printf(
      "{\"mode\":\"segv\",\"pid\":%d,\"pages\":%ld,\"signals\":%d,"
      "\"minflt_delta\":%ld,\"majflt_delta\":%ld,\"minflt\":%ld,"
      "\"majflt\":%ld}\n",
      getpid(), n, static_cast<int>(g_signals), after.minflt - before.minflt,
      after.majflt - before.majflt, total.minflt, total.majflt);
  return 0;
}

// AnonHugePages of this process in kB (smaps_rollup), -1 when unknown.
long AnonHugeKb() {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb;
}

int Thp(long n) {
  constexpr long kHuge = 2L << 20;
  char* raw = static_cast<char*>(mmap(nullptr, (n + 1) * kHuge,
                                      PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (raw == MAP_FAILED) Die("mmap");
  char* p = reinterpret_cast<char*>(
      (reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
  if (madvise(p, n * kHuge, MADV_HUGEPAGE) != 0) Die("madvise");
  Faults before = Now();
  for (long i = 0; i < n; ++i) p[i * kHuge] = 1;
  Faults after = Now();
  Faults total = Now();
  long kb = AnonHugeKb();
  std::printf(
      "{\"mode\":\"thp\",\"pid\":%d,\"blocks\":%ld,\"huge_pages\":%ld,"
      "\"minflt_delta\":%ld,\"majflt_delta\":%ld,\"minflt\":%ld,"
      "\"majflt\":%ld}\n",
      getpid(), n, kb < 0 ? -1 : kb / 2048, after.minflt - before.minflt,
      after.majflt - before.majflt, total.minflt, total.majflt);
  return 0;
}

long ParseCount(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (!end || *end != 0 || v <= 0 || v > (1L << 24)) {
    std::fprintf(stderr, "touch: bad count '%s'\n", s);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "anon" && argc == 3) return Anon(ParseCount(argv[2]));
  if (mode == "file" && argc == 4) return File(argv[2], ParseCount(argv[3]));
  if (mode == "cow" && argc == 3) return Cow(ParseCount(argv[2]));
  if (mode == "stack" && argc == 3) return Stack(ParseCount(argv[2]));
  if (mode == "segv" && argc == 3) return Segv(ParseCount(argv[2]));
  if (mode == "populate" && argc == 3) return Populate(ParseCount(argv[2]));
  if (mode == "thp" && argc == 3) return Thp(ParseCount(argv[2]));
  if (mode == "brief" && argc == 4) return Brief(argv[2], ParseCount(argv[3]));
  std::fprintf(stderr,
               "usage: touch anon N | file PATH N | cow N | stack KB | segv N | "
               "populate N | thp N | brief PATH N\n");
  return 2;
}
