// The page-fault family (bpf/faults.bpf.c, state in bpf/faults.bpf.h):
// its probe table, its settings, and what it keeps in maps rather than in
// the ring: the per-CPU partial batches, the --summary aggregates and the
// --stacks stack map, collected at the end.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <utility>

#include "collector/family.h"
#include "faultline_bpf.skel.h"
#include "trace/writer.h"

namespace faultline::collector {

namespace {

constexpr uint32_t kTp = kNeedBtf | kNeedTracefs;
constexpr uint32_t kRaw = kNeedBtf;
constexpr uint32_t kPerf = kNeedBtf | kNeedPerfEvents;

// Attach order: completions before entries so that the first entries pair;
// the entries of the kernel before the user's. Streaming enters on
// tracepoints (they carry the IP), --summary on raw tracepoints (cheaper;
// docs/benchmarks.md).
constexpr Probe kFaultProbes[] = {
    {"handle_fault_min", Hook::kPerfEvent, "page-faults-min",
     PERF_COUNT_SW_PAGE_FAULTS_MIN, When::kFaults, kPerf, false},
    {"handle_fault_maj", Hook::kPerfEvent, "page-faults-maj",
     PERF_COUNT_SW_PAGE_FAULTS_MAJ, When::kFaults, kPerf, false},
    {"handle_page_fault_kernel", Hook::kTracepoint,
     "exceptions:page_fault_kernel", 0, When::kFaultsStreaming, kTp, false},
    {"summary_fault_kernel", Hook::kRawTracepoint,
     "raw tracepoint page_fault_kernel", 0, When::kFaultsSummary, kRaw, false},
    {"handle_page_fault_user", Hook::kTracepoint, "exceptions:page_fault_user",
     0, When::kFaultsStreaming, kTp, false},
    {"summary_fault_user", Hook::kRawTracepoint,
     "raw tracepoint page_fault_user", 0, When::kFaultsSummary, kRaw, false},
};

void Accumulate(fl_summary_val& sum, const fl_summary_val& v) {
  sum.count += v.count;
  sum.total_ns += v.total_ns;
  if (v.max_ns > sum.max_ns) sum.max_ns = v.max_ns;
  for (int i = 0; i < FL_HIST_BUCKETS; ++i) sum.hist[i] += v.hist[i];
}

class FaultsFamily : public Family {
 public:
  std::string_view name() const override { return "faults"; }
  std::span<const Probe> probes() const override { return kFaultProbes; }

  Result<void> Configure(faultline_bpf* skel, const BpfSettings& s) override {
    settings_ = s;
    skel->rodata->summary_mode = s.summary;
    skel->rodata->with_stacks = s.stacks;
    skel->rodata->latency_sample_mask =
        s.latency_sample > 1 ? s.latency_sample - 1 : 0;
    // Maps a mode does not use: one entry, not megabytes.
    if (!s.stacks) bpf_map__set_max_entries(skel->maps.stacks, 1);
    if (!s.summary) {
      bpf_map__set_max_entries(skel->maps.summary, 1);
      bpf_map__set_max_entries(skel->maps.sum_vals, 1);
      bpf_map__set_max_entries(skel->maps.sum_slots, 1);
      bpf_map__set_max_entries(skel->maps.sum_owner, 1);
    }
    return {};
  }

  // The partial batches (their faults count as recorded), the --summary
  // aggregates, the stacks.
  Result<void> Finish(FinishContext& ctx) override {
    for (const auto& batch : TakePartialBatches(ctx)) {
      if (auto r = ctx.writer->AddRecord(batch.data(), batch.size()); !r) {
        return r;
      }
      const auto* b = reinterpret_cast<const fl_fault_batch*>(batch.data());
      if (ctx.stats && b->hdr.cpu < ctx.stats->size()) {
        (*ctx.stats)[b->hdr.cpu].recorded_events += b->count;
      }
    }
    for (const auto& [key, val] : ReadSummary(ctx)) {
      if (auto r = ctx.writer->AddSummary(key, val); !r) return r;
      ctx.summary_faults += val.count;
      for (uint64_t h : val.hist) ctx.summary_timed += h;
    }
    for (const auto& [id, ips] : ReadStacks(ctx)) {
      if (auto r = ctx.writer->AddStack(id, ips); !r) return r;
    }
    return {};
  }

 private:
  // After detaching: the partial per-CPU fault batches, as ring records,
  // and the map zeroed so that a second call does not repeat them.
  std::vector<std::vector<uint8_t>> TakePartialBatches(
      const FinishContext& ctx) const {
    std::vector<std::vector<uint8_t>> out;
    if (settings_.summary || !settings_.faults) return out;
    std::vector<fl_fault_batch> per_cpu(ctx.ncpus);
    uint32_t zero = 0;
    if (bpf_map__lookup_elem(ctx.skel->maps.batches, &zero, sizeof(zero),
                             per_cpu.data(),
                             sizeof(fl_fault_batch) * per_cpu.size(), 0)) {
      return out;
    }
    for (int cpu = 0; cpu < ctx.ncpus; ++cpu) {
      fl_fault_batch& b = per_cpu[cpu];
      uint32_t n = b.count;
      if (n == 0 || n >= FL_BATCH) continue;  // FL_BATCH: already sent
      b.hdr.ts_ns = b.faults[0].ts_ns;
      b.hdr.type = FL_EV_FAULT_BATCH;
      b.hdr.cpu = static_cast<uint16_t>(cpu);
      b.hdr.size = static_cast<uint32_t>(offsetof(fl_fault_batch, faults) +
                                         n * sizeof(fl_fault_slim));
      const uint8_t* p = reinterpret_cast<const uint8_t*>(&b);
      out.emplace_back(p, p + b.hdr.size);
    }
    std::vector<fl_fault_batch> zeros(ctx.ncpus);
    std::memset(zeros.data(), 0, sizeof(fl_fault_batch) * zeros.size());
    bpf_map__update_elem(ctx.skel->maps.batches, &zero, sizeof(zero),
                         zeros.data(), sizeof(fl_fault_batch) * zeros.size(),
                         BPF_ANY);
    return out;
  }

  // --summary aggregates, per-CPU values summed: (pid, kind) over the slot
  // rows and the fallback hash (a recycled pid may have several rows).
  std::vector<std::pair<fl_summary_key, fl_summary_val>> ReadSummary(
      const FinishContext& ctx) const {
    std::vector<std::pair<fl_summary_key, fl_summary_val>> out;
    if (!settings_.summary) return out;
    std::map<std::pair<uint32_t, uint32_t>, fl_summary_val> merged;
    std::vector<fl_summary_val> vals(ctx.ncpus);

    bpf_map* owners = ctx.skel->maps.sum_owner;
    uint32_t slot = 0, next_slot = 0;
    const void* prev_slot = nullptr;
    while (bpf_map__get_next_key(owners, prev_slot, &next_slot,
                                 sizeof(next_slot)) == 0) {
      slot = next_slot;
      prev_slot = &slot;
      uint32_t pid = 0;
      if (bpf_map__lookup_elem(owners, &slot, sizeof(slot), &pid,
                               sizeof(pid), 0)) {
        continue;
      }
      for (uint32_t kind = 0; kind < FL_SK_NR; ++kind) {
        uint32_t row = slot * FL_SK_NR + kind;
        if (bpf_map__lookup_elem(ctx.skel->maps.sum_vals, &row, sizeof(row),
                                 vals.data(),
                                 sizeof(fl_summary_val) * vals.size(), 0)) {
          continue;
        }
        fl_summary_val& sum = merged[{pid, kind}];
        for (const auto& v : vals) Accumulate(sum, v);
      }
    }

    bpf_map* map = ctx.skel->maps.summary;
    fl_summary_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
      key = next;
      prev = &key;
      if (bpf_map__lookup_elem(map, &key, sizeof(key), vals.data(),
                               sizeof(fl_summary_val) * vals.size(), 0)) {
        continue;
      }
      fl_summary_val& sum = merged[{key.pid, key.kind}];
      for (const auto& v : vals) Accumulate(sum, v);
    }
    for (const auto& [k, v] : merged) {
      if (v.count == 0) continue;
      fl_summary_key sk{};
      sk.pid = k.first;
      sk.kind = k.second;
      out.emplace_back(sk, v);
    }
    return out;
  }

  // Every user stack in the stack map: (id, ips innermost first).
  std::vector<std::pair<int32_t, std::vector<uint64_t>>> ReadStacks(
      const FinishContext& ctx) const {
    std::vector<std::pair<int32_t, std::vector<uint64_t>>> out;
    if (!settings_.stacks) return out;
    bpf_map* map = ctx.skel->maps.stacks;
    size_t depth = bpf_map__value_size(map) / sizeof(uint64_t);
    std::vector<uint64_t> ips(depth);
    uint32_t key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
      key = next;
      prev = &key;
      if (bpf_map__lookup_elem(map, &key, sizeof(key), ips.data(),
                               ips.size() * sizeof(uint64_t), 0)) {
        continue;
      }
      size_t n = 0;
      while (n < depth && ips[n] != 0) ++n;
      out.emplace_back(static_cast<int32_t>(key),
                       std::vector<uint64_t>(ips.begin(), ips.begin() + n));
    }
    return out;
  }

  BpfSettings settings_;
};

}  // namespace

std::unique_ptr<Family> MakeFaultsFamily() {
  return std::make_unique<FaultsFamily>();
}

}  // namespace faultline::collector
