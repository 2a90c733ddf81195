// collector-rate-producer: a synthetic event source for measuring how many
// events/s `faultline record` drains with zero loss (bench/collector-rate/).
//
//   faultline record -o X -- build/collector-rate-producer --rate R --seconds S
//
// Run as the recorder's traced command, it finds the recorder's BPF maps
// "events" (the ring buffer) and "cpu_stats" through /proc/<ppid>/fdinfo,
// loads producer.bpf.c with those maps reused, pins itself to one CPU and
// runs the program (bpf_prog_test_run_opts) once per tick with as many
// batches of FL_BATCH faults as the target rate asks for by then. The
// records are real fl_fault_batch records in the recorder's own ring, counted
// in the recorder's own cpu_stats: the recorder and its writer are
// unmodified. Between ticks the producer sleeps, so it uses one CPU at most
// (it prints its own CPU time); the other CPU is the recorder's.
//
// Prints one line: what it produced, what the ring refused, and the change
// of the recorder's cpu_stats over the production window.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "collector_rate_producer.skel.h"
#include "faultline.h"

namespace {

struct Args {
  double rate = 1e6;     // events/s
  double seconds = 3;    // production time
  int cpu = -1;          // -1: the last CPU this process may run on
  int tick_us = 1000;    // pacing period
};

struct ProducerArgs {  // struct producer_args in producer.bpf.c
  uint32_t batches;
  uint32_t pad;
};

[[noreturn]] void Die(const std::string& msg, int code = 2) {
  std::fprintf(stderr, "collector-rate-producer: %s\n", msg.c_str());
  std::exit(code);
}

void Usage() {
  std::fputs(
      "usage: faultline record -o FILE -- collector-rate-producer "
      "[--rate EVENTS_PER_S] [--seconds S] [--cpu N] [--tick-us US]\n",
      stderr);
}

double ParseNumber(std::string_view flag, const char* s) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  // Suffixes K and M for rates (3M = 3,000,000).
  if (end && *end == 'K' && end[1] == 0) {
    v *= 1e3;
    ++end;
  } else if (end && *end == 'M' && end[1] == 0) {
    v *= 1e6;
    ++end;
  }
  if (errno || end == s || *end != 0 || !(v > 0)) {
    Die(std::string(flag) + " wants a positive number, got '" + s + "'");
  }
  return v;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view f = argv[i];
    if (f == "-h" || f == "--help") {
      Usage();
      std::exit(0);
    }
    if (i + 1 >= argc) {
      Usage();
      Die("missing value after " + std::string(f));
    }
    const char* v = argv[++i];
    if (f == "--rate") {
      a.rate = ParseNumber(f, v);
    } else if (f == "--seconds") {
      a.seconds = ParseNumber(f, v);
    } else if (f == "--cpu") {
      int c = -1;
      auto [ptr, ec] = std::from_chars(v, v + std::strlen(v), c);
      if (ec != std::errc() || *ptr != 0 || c < 0 || c >= CPU_SETSIZE) {
        Die("--cpu wants a CPU number, got '" + std::string(v) + "'");
      }
      a.cpu = c;
    } else if (f == "--tick-us") {
      a.tick_us = static_cast<int>(ParseNumber(f, v));
    } else {
      Usage();
      Die("unknown flag " + std::string(f));
    }
  }
  return a;
}

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// The recorder's maps: descriptors of the maps named `events` (ring buffer)
// and `cpu_stats` (per-CPU array of fl_cpu_stats) that process `pid` holds.
struct RecorderMaps {
  int events = -1;
  int cpu_stats = -1;
};

RecorderMaps FindRecorderMaps(pid_t pid) {
  RecorderMaps m;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) {
    Die("cannot read " + dir + " (" + std::strerror(errno) +
        "): run me as the command of `faultline record -- ...`, as root");
  }
  std::vector<uint32_t> ids;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("map_id:", 0) == 0) {
        uint32_t id = 0;
        std::string_view v(line);
        v.remove_prefix(7);
        while (!v.empty() && (v[0] == ' ' || v[0] == '\t')) v.remove_prefix(1);
        std::from_chars(v.data(), v.data() + v.size(), id);
        if (id) ids.push_back(id);
      }
    }
  }
  closedir(d);
  for (uint32_t id : ids) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      close(fd);
      continue;
    }
    std::string_view name(info.name);
    if (name == "events" && info.type == BPF_MAP_TYPE_RINGBUF &&
        m.events < 0) {
      m.events = fd;
    } else if (name == "cpu_stats" && info.type == BPF_MAP_TYPE_PERCPU_ARRAY &&
               info.value_size == sizeof(fl_cpu_stats) && m.cpu_stats < 0) {
      m.cpu_stats = fd;
    } else {
      close(fd);
    }
  }
  if (m.events < 0 || m.cpu_stats < 0) {
    Die("parent process " + std::to_string(pid) +
        " holds no faultline maps 'events' and 'cpu_stats': run me as the "
        "command of `faultline record -- ...`");
  }
  return m;
}

// Sum over CPUs of the recorder's cpu_stats.
fl_cpu_stats ReadStats(int fd) {
  int ncpus = libbpf_num_possible_cpus();
  std::vector<fl_cpu_stats> v(ncpus > 0 ? ncpus : 1);
  fl_cpu_stats sum{};
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd, &key, v.data()) != 0) {
    Die(std::string("read cpu_stats: ") + std::strerror(errno));
  }
  for (const auto& s : v) {
    sum.recorded_events += s.recorded_events;
    sum.lost_events += s.lost_events;
    sum.lost_records += s.lost_records;
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  pid_t recorder = getppid();
  RecorderMaps maps = FindRecorderMaps(recorder);

  // Pin to one CPU (by default the last one we may use): the producer's
  // records then all come from that CPU, and the recorder has the others.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    Die(std::string("sched_getaffinity: ") + std::strerror(errno));
  }
  int cpu = args.cpu;
  if (cpu < 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &allowed)) cpu = c;
    }
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) {
    Die("pin to CPU " + std::to_string(cpu) + ": " + std::strerror(errno));
  }

  collector_rate_producer* skel = collector_rate_producer__open();
  if (!skel) Die(std::string("open BPF object: ") + std::strerror(errno));
  int err = bpf_map__reuse_fd(skel->maps.events, maps.events);
  if (!err) err = bpf_map__reuse_fd(skel->maps.cpu_stats, maps.cpu_stats);
  if (err) Die(std::string("reuse the recorder's maps: ") + std::strerror(-err));
  err = collector_rate_producer__load(skel);
  if (err) Die(std::string("load producer.bpf.c: ") + std::strerror(-err));
  int prog = bpf_program__fd(skel->progs.produce);

  // No page faults of our own while producing (mlockall faults pages in
  // through get_user_pages, which the recorder does not see): the recorder's
  // counts over the window are then the producer's records only, as long as
  // nothing else it traces runs.
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    std::fprintf(stderr, "collector-rate-producer: mlockall: %s (continuing)\n",
                 std::strerror(errno));
  }

  const uint64_t total_batches = static_cast<uint64_t>(
      args.rate * args.seconds / FL_BATCH + 0.5);
  const double batches_per_ns = args.rate / FL_BATCH / 1e9;
  // One run sends at most this many batches (bpf_loop allows 8M
  // iterations; a smaller cap keeps the pacing smooth when behind).
  const uint64_t max_per_run = 4096;

  fl_cpu_stats before = ReadStats(maps.cpu_stats);
  uint64_t sent_batches = 0, behind_ticks = 0;
  const uint64_t start = NowNs();
  uint64_t tick = start;
  while (sent_batches < total_batches) {
    uint64_t now = NowNs();
    uint64_t due = static_cast<uint64_t>((now - start) * batches_per_ns);
    if (due > total_batches) due = total_batches;
    while (sent_batches < due) {
      uint64_t n = due - sent_batches;
      if (n > max_per_run) n = max_per_run;
      ProducerArgs pa{static_cast<uint32_t>(n), 0};
      LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &pa,
                  .ctx_size_in = sizeof(pa));
      err = bpf_prog_test_run_opts(prog, &opts);
      if (err) Die(std::string("run producer: ") + std::strerror(-err), 1);
      sent_batches += n;
    }
    tick += static_cast<uint64_t>(args.tick_us) * 1000;
    now = NowNs();
    if (tick <= now) {
      ++behind_ticks;  // could not keep the tick: producer-bound
      tick = now;
      continue;
    }
    timespec ts{static_cast<time_t>(tick / 1000000000ull),
                static_cast<long>(tick % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) ==
           EINTR) {
    }
  }
  const uint64_t end = NowNs();
  fl_cpu_stats after = ReadStats(maps.cpu_stats);

  uint64_t produced = skel->bss->sent_events + skel->bss->failed_events;
  double secs = (end - start) / 1e9;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  std::printf(
      "collector-rate-producer: cpu %d, target %.0f events/s for %.2f s: "
      "produced %llu events in %.3f s (%.0f events/s, %llu BPF runs, "
      "%llu late ticks), ring refused %llu; recorder cpu_stats over the "
      "window: recorded +%llu, lost +%llu; producer CPU %.2f s\n",
      cpu, args.rate, args.seconds, static_cast<unsigned long long>(produced),
      secs, produced / secs,
      static_cast<unsigned long long>(skel->bss->runs),
      static_cast<unsigned long long>(behind_ticks),
      static_cast<unsigned long long>(skel->bss->failed_events),
      static_cast<unsigned long long>(after.recorded_events -
                                      before.recorded_events),
      static_cast<unsigned long long>(after.lost_events - before.lost_events),
      cpu_s);
  std::fflush(stdout);
  collector_rate_producer__destroy(skel);
  close(maps.events);
  close(maps.cpu_stats);
  return 0;
}
