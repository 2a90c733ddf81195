// Session: one read of a trace feeds several analyses in timestamp order
// (perf's session + ordered_events).
//
// The reader hands records over in file order, which is not time order: the
// kernel sends a CPU's completed faults in batches of up to FL_BATCH (32)
// when the batch is full, and flushes a partial batch only before that
// CPU's own munmap/mremap/brk/mprotect/fork/exec/exit records (the
// collector adds the last partial batches after it detached the programs).
// Another CPU's partial batch can therefore reach the file after later
// records. The session copies every record out of the reader's block buffer
// into queues per CPU (faults by value in one, any other event behind a
// pointer in a second; records of one CPU arrive in time order; a rare
// inversion is sorted into place), merges the queues, and delivers a record
// to the visitors once it is outside the reorder window:
//
//   - time: its ts_ns is at least `window_ns` older than the newest
//     timestamp read so far (default 1 s: a partial batch of a CPU that
//     went idle reaches the file with the collector's next flush, about
//     once a second), or
//   - count: more than `max_pending` records are held (default 262144;
//     a held fault is 56 bytes, another record a 24-byte slot and its
//     copy (~100-200 bytes with its strings), so for faults ~14 MiB, plus
//     the paths of held mmap/exec records, which are bounded by
//     `max_held_bytes`, default 64 MiB). This is the memory bound.
//     Reaching it releases the oldest eighth at once (one merge pass
//     delivers a run of records rather than one).
//
// A record that arrives older than one already delivered came later than
// the window allows: it is delivered at once (never dropped) and counted in
// stats().late; its lateness goes to stats().max_late_ns.
//
// Metadata (processes, threads, /proc maps lines, stacks, --summary
// aggregates) has no timestamp of its own in the stream: it is ordered at
// the newest event timestamp read before it, so it stays after every event
// that preceded it in the file and before every later event that is not
// older (the writer puts a flush's metadata before that flush's events).
// The footer is delivered last. Warnings go to the visitors at once.
//
// Visitors are called in the order they were added, each record to all of
// them before the next record: add the shared tables (Names,
// AddressTracker) first so that the analyses after them see the state as
// of that record.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <string>
#include <vector>

#include "common/error.h"
#include "trace/reader.h"

namespace faultline::analyzer {

struct SessionOptions {
  uint64_t window_ns = 1000000000;  // 1 s
  size_t max_pending = size_t{1} << 18;
  // Bytes of copied strings (paths, comms, stacks, opaque bodies) held at
  // most; past it the oldest records go as for max_pending.
  size_t max_held_bytes = size_t{64} << 20;
};

struct SessionStats {
  uint64_t delivered = 0;    // records (events and metadata) delivered
                             // (set by Finish())
  uint64_t late = 0;         // events that arrived after the window closed
  uint64_t max_late_ns = 0;  // the latest of them: delivered ts - its ts
  uint64_t max_held = 0;     // most records held at once
  // The oldest and newest event timestamps read (0: no event).
  uint64_t first_ts_ns = 0, last_ts_ns = 0;
};

// Which callbacks a visitor wants (Session::Add); records of other types
// are not offered to it, which keeps the fault path to the visitors that
// use faults.
enum Wants : uint32_t {
  kWantFault = 1u << 0,
  kWantMmap = 1u << 1,
  kWantTask = 1u << 2,
  kWantTlb = 1u << 3,
  kWantOpaque = 1u << 4,
  kWantMetadata = 1u << 5,  // process, thread, mapping, stack, summary
  kWantFooter = 1u << 6,
  kWantWarning = 1u << 7,
  kWantTcp = 1u << 8,  // every FL_EV_TCP_* record (OnTcp*)
  kWantUsdt = 1u << 9, // application probes (OnUsdt)
  kWantAll = 0xffffffffu,
};

class Session : public trace::TraceVisitor {
 public:
  explicit Session(SessionOptions options = {});
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Not owned; must outlive Run(). Called in the order added.
  void Add(trace::TraceVisitor* v, uint32_t wants = kWantAll);

  // Reads the whole trace through the window and delivers everything.
  Result<void> Run(trace::TraceReader& reader);
  // Delivers every held record, then the footer (if one was read). Run()
  // calls it; use it after feeding the On* callbacks by hand (tests).
  void Finish();

  const SessionStats& stats() const { return stats_; }
  const SessionOptions& options() const { return options_; }

  // TraceVisitor: the records as the reader decodes them.
  void OnFault(const trace::FaultEvent& f) override;
  void OnMmap(const trace::MmapEvent& m) override;
  void OnTask(const trace::TaskEvent& t) override;
  void OnTlb(const trace::TlbEvent& t) override;
  void OnOpaque(const trace::OpaqueEvent& o) override;
  void OnTcpState(const trace::TcpStateEvent& e) override;
  void OnTcpAccept(const trace::TcpAcceptEvent& e) override;
  void OnTcpConnect(const trace::TcpConnectEvent& e) override;
  void OnTcpReset(const trace::TcpResetEvent& e) override;
  void OnTcpServe(const trace::TcpServeEvent& e) override;
  void OnTcpClose(const trace::TcpCloseEvent& e) override;
  void OnTcpNetstat(const trace::TcpNetstatEvent& e) override;
  void OnUsdt(const trace::UsdtEvent& e) override;
  void OnProcess(const trace::ProcessInfo& p) override;
  void OnThread(const trace::ThreadInfo& t) override;
  void OnMapping(const trace::MappingInfo& m) override;
  void OnStack(const trace::StackInfo& s) override;
  void OnSummary(const trace::SummaryInfo& s) override;
  void OnFooter(const trace::Footer& f) override;
  void OnWarning(std::string_view msg) override;

  // A record that is not a fault, copied out of the reader's buffer.
  struct Owned {
    virtual ~Owned() = default;
    virtual void Deliver(Session& s) = 0;
    size_t bytes = 0;  // copied strings, for max_held_bytes
  };

 private:
  // The queues hold records in (ts, seq) order; seq (arrival order) breaks
  // ties between queues. Faults, nearly every record, are held by value in
  // a queue of their own per CPU (56 bytes, no allocation, no destructor);
  // every other record is an Owned behind a pointer in a second queue of
  // its CPU (metadata: one more queue). The release merges all of them.
  struct FaultSlot {
    trace::FaultEvent f;
    uint64_t seq;
  };
  struct OtherSlot {
    uint64_t ts = 0;
    uint64_t seq = 0;
    std::unique_ptr<Owned> rec;
  };
  // A growable ring of T in (ts, seq) order. T is trivially copyable
  // (faults: raw storage, never initialised nor destroyed) or movable.
  template <class T>
  class Ring {
   public:
    Ring() = default;
    Ring(Ring&& o) noexcept { *this = std::move(o); }
    Ring& operator=(Ring&& o) noexcept {
      std::swap(items_, o.items_);
      std::swap(cap_, o.cap_);
      std::swap(mask_, o.mask_);
      std::swap(head_, o.head_);
      std::swap(tail_, o.tail_);
      std::swap(back_ts_, o.back_ts_);
      return *this;
    }
    ~Ring() { Destroy(); }
    bool empty() const { return head_ == tail_; }
    size_t size() const { return tail_ - head_; }
    T& front() { return items_[head_ & mask_]; }
    T& at(size_t i) { return items_[(head_ + i) & mask_]; }
    uint64_t back_ts() const { return back_ts_; }  // the newest held
    T& PushBack(uint64_t ts) {
      if (tail_ - head_ == cap_) Grow();
      back_ts_ = ts;
      return items_[tail_++ & mask_];
    }
    // Inserts in ts order (for the rare record older than the queue's
    // back), after the held records of the same ts.
    T& InsertSorted(uint64_t ts);
    void PopFront() {
      if constexpr (!std::is_trivially_copyable_v<T>) items_[head_ & mask_] = T();
      ++head_;
    }
    void PopFront(size_t n) { head_ += n; }  // trivially copyable T only

   private:
    static uint64_t TsOf(const T& t);
    void Grow();
    void Destroy();
    T* items_ = nullptr;
    size_t cap_ = 0, mask_ = 0;
    size_t head_ = 0, tail_ = 0;
    uint64_t back_ts_ = 0;
  };
  using FaultQueue = Ring<FaultSlot>;
  using OtherQueue = Ring<OtherSlot>;

  void HoldOther(uint16_t cpu, uint64_t ts, std::unique_ptr<Owned> o);
  void HoldMetadata(std::unique_ptr<Owned> o);
  // Queues `o` at `ts` on `q` (false: late, the caller delivers it).
  bool HoldOwned(OtherQueue& q, uint64_t ts, std::unique_ptr<Owned>& o);
  bool Late(uint64_t ts) {
    if (ts >= delivered_ts_) return false;
    ++stats_.late;
    stats_.max_late_ns = std::max(stats_.max_late_ns, delivered_ts_ - ts);
    return true;
  }
  bool OverBound() const {
    return held_ > options_.max_pending || held_bytes_ > options_.max_held_bytes;
  }
  void Release(bool all);
  void SeenEvent(uint64_t ts) {
    if (ts > newest_ts_) newest_ts_ = ts;
    if (stats_.first_ts_ns == 0 || ts < stats_.first_ts_ns) stats_.first_ts_ns = ts;
  }
  void DeliverFault(const trace::FaultEvent& f) {
    for (trace::TraceVisitor* v : fault_) v->OnFault(f);
  }

 public:
  // Delivery to the visitors that want each type (used by Owned records).
  void EmitMmap(const trace::MmapEvent& m) {
    for (trace::TraceVisitor* v : mmap_) v->OnMmap(m);
  }
  void EmitTask(const trace::TaskEvent& t) {
    for (trace::TraceVisitor* v : task_) v->OnTask(t);
  }
  void EmitTlb(const trace::TlbEvent& t) {
    for (trace::TraceVisitor* v : tlb_) v->OnTlb(t);
  }
  // The TCP records: plain structs, no strings (one template for all).
  template <class E>
  void EmitTcp(const E& e);
  void EmitUsdt(const trace::UsdtEvent& u) {
    for (trace::TraceVisitor* v : usdt_) v->OnUsdt(u);
  }
  void EmitOpaque(const trace::OpaqueEvent& o) {
    for (trace::TraceVisitor* v : opaque_) v->OnOpaque(o);
  }
  void EmitProcess(const trace::ProcessInfo& p) {
    for (trace::TraceVisitor* v : meta_) v->OnProcess(p);
  }
  void EmitThread(const trace::ThreadInfo& t) {
    for (trace::TraceVisitor* v : meta_) v->OnThread(t);
  }
  void EmitMapping(const trace::MappingInfo& m) {
    for (trace::TraceVisitor* v : meta_) v->OnMapping(m);
  }
  void EmitStack(const trace::StackInfo& s) {
    for (trace::TraceVisitor* v : meta_) v->OnStack(s);
  }
  void EmitSummary(const trace::SummaryInfo& s) {
    for (trace::TraceVisitor* v : meta_) v->OnSummary(s);
  }

 private:
  SessionOptions options_;
  SessionStats stats_;
  std::vector<trace::TraceVisitor*> fault_, mmap_, task_, tlb_, opaque_,
      meta_, footer_visitors_, warning_, tcp_, usdt_;

  std::vector<FaultQueue> faults_;  // faults_[cpu]
  std::vector<OtherQueue> others_;  // others_[cpu]: events that are not faults
  OtherQueue metadata_;
  size_t held_ = 0;
  size_t held_bytes_ = 0;
  uint64_t seq_ = 0;
  uint64_t newest_ts_ = 0;     // the newest timestamp read
  uint64_t delivered_ts_ = 0;  // the newest timestamp delivered
  // The smallest front timestamp over the queues (UINT64_MAX: none held);
  // kept so that most arrivals decide in one compare that nothing is due.
  uint64_t min_front_ = ~uint64_t{0};
  bool have_footer_ = false;
  trace::Footer footer_;
  size_t low_water_;  // held records after a release forced by the count
};

}  // namespace faultline::analyzer
