#include "analyzer/session.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace faultline::analyzer {

namespace {

struct MmapRec : Session::Owned {
  trace::MmapEvent e;
  std::string path;
  void Deliver(Session& s) override {
    e.path = path;
    s.EmitMmap(e);
  }
};
struct TaskRec : Session::Owned {
  trace::TaskEvent e;
  std::string comm, path;
  void Deliver(Session& s) override {
    e.comm = comm;
    e.path = path;
    s.EmitTask(e);
  }
};
struct TlbRec : Session::Owned {
  trace::TlbEvent e;
  void Deliver(Session& s) override { s.EmitTlb(e); }
};
// A TCP record (no strings: a plain copy).
template <class E>
struct TcpRec : Session::Owned {
  E e;
  void Deliver(Session& s) override { s.EmitTcp(e); }
};
struct UsdtRec : Session::Owned {
  trace::UsdtEvent e;
  std::string name, path;
  void Deliver(Session& s) override {
    e.name = name;
    e.path = path;
    s.EmitUsdt(e);
  }
};
struct OpaqueRec : Session::Owned {
  trace::OpaqueEvent e;
  std::string body;
  void Deliver(Session& s) override {
    e.body = body;
    s.EmitOpaque(e);
  }
};
struct ProcessRec : Session::Owned {
  trace::ProcessInfo e;
  std::string comm, exe;
  void Deliver(Session& s) override {
    e.comm = comm;
    e.exe = exe;
    s.EmitProcess(e);
  }
};
struct ThreadRec : Session::Owned {
  trace::ThreadInfo e;
  std::string comm;
  void Deliver(Session& s) override {
    e.comm = comm;
    s.EmitThread(e);
  }
};
struct MappingRec : Session::Owned {
  trace::MappingInfo e;
  std::string path;
  void Deliver(Session& s) override {
    e.path = path;
    s.EmitMapping(e);
  }
};
struct StackRec : Session::Owned {
  int32_t id = 0;
  std::vector<uint64_t> ips;
  void Deliver(Session& s) override {
    trace::StackInfo e;
    e.stack_id = id;
    e.ips = ips;
    s.EmitStack(e);
  }
};
struct SummaryRec : Session::Owned {
  trace::SummaryInfo e;
  void Deliver(Session& s) override { s.EmitSummary(e); }
};

// Copies a fault word by word through general-purpose registers. The
// reader has just written `from` field by field; the 16-byte vector loads
// a plain copy compiles to would each wait on a failed store-to-load
// forward (several ns per fault on x86).
inline void CopyFault(trace::FaultEvent& to, const trace::FaultEvent& from) {
  static_assert(sizeof(trace::FaultEvent) % 8 == 0 &&
                std::is_trivially_copyable_v<trace::FaultEvent>);
#if defined(__x86_64__)
  const auto* src = reinterpret_cast<const unsigned char*>(&from);
  auto* dst = reinterpret_cast<unsigned char*>(&to);
  for (size_t i = 0; i < sizeof(trace::FaultEvent); i += 8) {
    uint64_t w;
    asm("movq %1, %0" : "=r"(w) : "m"(*reinterpret_cast<const uint64_t*>(src + i)));
    std::memcpy(dst + i, &w, 8);
  }
#else
  to = from;
#endif
}

}  // namespace

namespace {
void Call(trace::TraceVisitor* v, const trace::TcpStateEvent& e) { v->OnTcpState(e); }
void Call(trace::TraceVisitor* v, const trace::TcpAcceptEvent& e) { v->OnTcpAccept(e); }
void Call(trace::TraceVisitor* v, const trace::TcpConnectEvent& e) { v->OnTcpConnect(e); }
void Call(trace::TraceVisitor* v, const trace::TcpResetEvent& e) { v->OnTcpReset(e); }
void Call(trace::TraceVisitor* v, const trace::TcpServeEvent& e) { v->OnTcpServe(e); }
void Call(trace::TraceVisitor* v, const trace::TcpCloseEvent& e) { v->OnTcpClose(e); }
void Call(trace::TraceVisitor* v, const trace::TcpNetstatEvent& e) { v->OnTcpNetstat(e); }
}  // namespace

template <class E>
void Session::EmitTcp(const E& e) {
  for (trace::TraceVisitor* v : tcp_) Call(v, e);
}

template <>
uint64_t Session::FaultQueue::TsOf(const FaultSlot& t) {
  return t.f.ts_ns;
}
template <>
uint64_t Session::OtherQueue::TsOf(const OtherSlot& t) {
  return t.ts;
}

template <class T>
T& Session::Ring<T>::InsertSorted(uint64_t ts) {
  PushBack(back_ts_);  // the back stays the newest
  size_t i = tail_ - 1;
  while (i > head_ && TsOf(items_[(i - 1) & mask_]) > ts) {
    items_[i & mask_] = std::move(items_[(i - 1) & mask_]);
    --i;
  }
  return items_[i & mask_];
}

template <class T>
void Session::Ring<T>::Grow() {
  const size_t cap = std::max<size_t>(64, cap_ * 2);
  const size_t n = size();
  T* bigger;
  if constexpr (std::is_trivially_copyable_v<T>) {
    // Raw storage: a slot is written before it is read (FaultSlot is an
    // implicit-lifetime aggregate), so nothing is initialised up front.
    bigger = static_cast<T*>(std::malloc(cap * sizeof(T)));
    if (bigger == nullptr) throw std::bad_alloc();
    const size_t h = head_ & mask_;
    const size_t first = std::min(n, cap_ - h);
    if (n > 0) {
      std::memcpy(bigger, items_ + h, first * sizeof(T));
      std::memcpy(bigger + first, items_, (n - first) * sizeof(T));
    }
  } else {
    bigger = new T[cap];
    for (size_t i = 0; i < n; ++i) bigger[i] = std::move(items_[(head_ + i) & mask_]);
  }
  Destroy();
  items_ = bigger;
  cap_ = cap;
  mask_ = cap - 1;
  head_ = 0;
  tail_ = n;
}

template <class T>
void Session::Ring<T>::Destroy() {
  if constexpr (std::is_trivially_copyable_v<T>) {
    std::free(items_);
  } else {
    delete[] items_;
  }
  items_ = nullptr;
}

template class Session::Ring<Session::FaultSlot>;
template class Session::Ring<Session::OtherSlot>;

Session::Session(SessionOptions options) : options_(options) {
  if (options_.max_pending == 0) options_.max_pending = 1;
  low_water_ = options_.max_pending - options_.max_pending / 8;
}
Session::~Session() = default;

void Session::Add(trace::TraceVisitor* v, uint32_t wants) {
  if (wants & kWantFault) fault_.push_back(v);
  if (wants & kWantMmap) mmap_.push_back(v);
  if (wants & kWantTask) task_.push_back(v);
  if (wants & kWantTlb) tlb_.push_back(v);
  if (wants & kWantOpaque) opaque_.push_back(v);
  if (wants & kWantMetadata) meta_.push_back(v);
  if (wants & kWantFooter) footer_visitors_.push_back(v);
  if (wants & kWantWarning) warning_.push_back(v);
  if (wants & kWantTcp) tcp_.push_back(v);
  if (wants & kWantUsdt) usdt_.push_back(v);
}

Result<void> Session::Run(trace::TraceReader& reader) {
  auto ok = reader.ReadAll(*this);
  Finish();
  return ok;
}

bool Session::HoldOwned(OtherQueue& q, uint64_t ts, std::unique_ptr<Owned>& o) {
  if (Late(ts)) return false;
  OtherSlot& slot =
      q.empty() || q.back_ts() <= ts ? q.PushBack(ts) : q.InsertSorted(ts);
  slot.ts = ts;
  slot.seq = seq_++;
  held_bytes_ += o->bytes;
  slot.rec = std::move(o);
  if (ts < min_front_) min_front_ = ts;
  ++held_;
  return true;
}

void Session::HoldOther(uint16_t cpu, uint64_t ts, std::unique_ptr<Owned> o) {
  SeenEvent(ts);
  if (cpu >= others_.size()) others_.resize(size_t{cpu} + 1);
  if (!HoldOwned(others_[cpu], ts, o)) {
    o->Deliver(*this);
    return;
  }
  if (OverBound() || newest_ts_ - min_front_ >= options_.window_ns) Release(false);
}

void Session::HoldMetadata(std::unique_ptr<Owned> o) {
  if (!HoldOwned(metadata_, newest_ts_, o)) {  // cannot happen: newest_ts_ >= delivered_ts_
    o->Deliver(*this);
    return;
  }
  if (OverBound()) Release(false);
}

// The fault path: one copy into the CPU's fault queue, and two compares
// that decide nothing is due.
void Session::OnFault(const trace::FaultEvent& f) {
  const uint64_t ts = f.ts_ns;
  SeenEvent(ts);
  if (Late(ts)) {
    DeliverFault(f);
    return;
  }
  if (f.cpu >= faults_.size()) faults_.resize(size_t{f.cpu} + 1);
  FaultQueue& q = faults_[f.cpu];
  FaultSlot& slot =
      q.empty() || q.back_ts() <= ts ? q.PushBack(ts) : q.InsertSorted(ts);
  CopyFault(slot.f, f);
  slot.seq = seq_++;
  if (ts < min_front_) min_front_ = ts;
  ++held_;
  if (held_ > options_.max_pending || newest_ts_ - min_front_ >= options_.window_ns) {
    Release(false);
  }
}

// Delivers what is due (all: everything), oldest first, merging the
// queues: the oldest queue front goes next, and a run of its queue follows
// as long as it stays older than every other front.
void Session::Release(bool all) {
  // Held records only grow between releases: the most is now.
  stats_.max_held = std::max<uint64_t>(stats_.max_held, held_);
  // Down to low_water_ records (and an eighth under the byte bound).
  bool drain = OverBound();
  const size_t low_bytes = options_.max_held_bytes - options_.max_held_bytes / 8;
  auto drained = [&] { return held_ <= low_water_ && held_bytes_ <= low_bytes; };
  // Due by time: newest_ts_ - ts >= window_ns, i.e. ts <= due_max (every
  // held ts <= newest_ts_).
  const bool any_due = newest_ts_ >= options_.window_ns;
  const uint64_t due_max = newest_ts_ - options_.window_ns;
  constexpr uint64_t kNone = ~uint64_t{0};
  while (held_ > 0) {
    // The oldest front (best) and the second oldest, by (ts, seq). Source:
    // >= 0 a fault queue, < 0 the other queue -1 - cpu, kMeta metadata.
    constexpr ptrdiff_t kMeta = PTRDIFF_MIN;
    uint64_t b_ts = kNone, b_seq = kNone, s_ts = kNone, s_seq = kNone;
    ptrdiff_t best = 0;
    auto consider = [&](uint64_t ts, uint64_t seq, ptrdiff_t src) {
      if (ts < b_ts || (ts == b_ts && seq < b_seq)) {
        s_ts = b_ts;
        s_seq = b_seq;
        b_ts = ts;
        b_seq = seq;
        best = src;
      } else if (ts < s_ts || (ts == s_ts && seq < s_seq)) {
        s_ts = ts;
        s_seq = seq;
      }
    };
    for (size_t i = 0; i < faults_.size(); ++i) {
      if (faults_[i].empty()) continue;
      const FaultSlot& f = faults_[i].front();
      consider(f.f.ts_ns, f.seq, static_cast<ptrdiff_t>(i));
    }
    for (size_t i = 0; i < others_.size(); ++i) {
      if (others_[i].empty()) continue;
      const OtherSlot& o = others_[i].front();
      consider(o.ts, o.seq, -1 - static_cast<ptrdiff_t>(i));
    }
    if (!metadata_.empty()) {
      consider(metadata_.front().ts, metadata_.front().seq, kMeta);
    }
    if (drain && drained()) drain = false;
    if (!all && !drain && !(any_due && b_ts <= due_max)) {
      min_front_ = b_ts;
      return;
    }
    // Before the second front, and due.
    auto go = [&](uint64_t ts, uint64_t seq) {
      return (ts < s_ts || (ts == s_ts && seq < s_seq)) &&
             (all || drain || (any_due && ts <= due_max));
    };
    if (best >= 0) {
      // A run of faults: the visitors in a tight loop. Faults hold no
      // bytes, so a drain ends after exactly held_ - low_water_ of them
      // (or never in this run, if the byte bound is what is exceeded).
      FaultQueue& q = faults_[static_cast<size_t>(best)];
      size_t n = 0;
      const size_t size = q.size();
      const size_t drain_left =
          !drain ? 0 : held_bytes_ > low_bytes ? size : held_ - low_water_;
      trace::TraceVisitor* const* vb = fault_.data();
      trace::TraceVisitor* const* ve = vb + fault_.size();
      do {
        const FaultSlot& slot = q.at(n);
        for (trace::TraceVisitor* const* v = vb; v != ve; ++v) (*v)->OnFault(slot.f);
        ++n;
        if (n == drain_left) drain = false;
      } while (n < size && go(q.at(n).f.ts_ns, q.at(n).seq));
      delivered_ts_ = std::max(delivered_ts_, q.at(n - 1).f.ts_ns);
      q.PopFront(n);
      held_ -= n;
      continue;
    }
    OtherQueue& q = best == kMeta ? metadata_ : others_[static_cast<size_t>(-1 - best)];
    do {
      OtherSlot& slot = q.front();
      held_bytes_ -= slot.rec->bytes;
      slot.rec->Deliver(*this);
      delivered_ts_ = std::max(delivered_ts_, slot.ts);
      q.PopFront();
      --held_;
      if (drain && drained()) drain = false;
    } while (!q.empty() && go(q.front().ts, q.front().seq));
  }
  min_front_ = ~uint64_t{0};
}

void Session::Finish() {
  Release(true);
  stats_.delivered = seq_ + stats_.late;
  stats_.last_ts_ns = newest_ts_;
  if (have_footer_) {
    have_footer_ = false;
    for (trace::TraceVisitor* v : footer_visitors_) v->OnFooter(footer_);
  }
}

void Session::OnMmap(const trace::MmapEvent& m) {
  auto r = std::make_unique<MmapRec>();
  r->e = m;
  r->path.assign(m.path);
  r->bytes = r->path.size();
  HoldOther(m.cpu, m.ts_ns, std::move(r));
}

void Session::OnTask(const trace::TaskEvent& t) {
  auto r = std::make_unique<TaskRec>();
  r->e = t;
  r->comm.assign(t.comm);
  r->path.assign(t.path);
  r->bytes = r->comm.size() + r->path.size();
  HoldOther(t.cpu, t.ts_ns, std::move(r));
}

void Session::OnTlb(const trace::TlbEvent& t) {
  auto r = std::make_unique<TlbRec>();
  r->e = t;
  HoldOther(t.cpu, t.ts_ns, std::move(r));
}

void Session::OnOpaque(const trace::OpaqueEvent& o) {
  auto r = std::make_unique<OpaqueRec>();
  r->e = o;
  r->body.assign(o.body);
  r->bytes = r->body.size();
  HoldOther(o.cpu, o.ts_ns, std::move(r));
}

namespace {
template <class E>
std::unique_ptr<Session::Owned> CopyTcp(const E& e) {
  auto r = std::make_unique<TcpRec<E>>();
  r->e = e;
  return r;
}
}  // namespace

void Session::OnTcpState(const trace::TcpStateEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}
void Session::OnTcpAccept(const trace::TcpAcceptEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}
void Session::OnTcpConnect(const trace::TcpConnectEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}
void Session::OnTcpReset(const trace::TcpResetEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}
void Session::OnTcpServe(const trace::TcpServeEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}
void Session::OnTcpClose(const trace::TcpCloseEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}
void Session::OnTcpNetstat(const trace::TcpNetstatEvent& e) {
  HoldOther(e.cpu, e.ts_ns, CopyTcp(e));
}

void Session::OnUsdt(const trace::UsdtEvent& e) {
  auto r = std::make_unique<UsdtRec>();
  r->e = e;
  r->name.assign(e.name);
  r->path.assign(e.path);
  r->bytes = r->name.size() + r->path.size();
  HoldOther(e.cpu, e.ts_ns, std::move(r));
}

void Session::OnProcess(const trace::ProcessInfo& p) {
  auto r = std::make_unique<ProcessRec>();
  r->e = p;
  r->comm.assign(p.comm);
  r->exe.assign(p.exe);
  r->bytes = r->comm.size() + r->exe.size();
  HoldMetadata(std::move(r));
}

void Session::OnThread(const trace::ThreadInfo& t) {
  auto r = std::make_unique<ThreadRec>();
  r->e = t;
  r->comm.assign(t.comm);
  r->bytes = r->comm.size();
  HoldMetadata(std::move(r));
}

void Session::OnMapping(const trace::MappingInfo& m) {
  auto r = std::make_unique<MappingRec>();
  r->e = m;
  r->path.assign(m.path);
  r->bytes = r->path.size();
  HoldMetadata(std::move(r));
}

void Session::OnStack(const trace::StackInfo& s) {
  auto r = std::make_unique<StackRec>();
  r->id = s.stack_id;
  r->ips.assign(s.ips.begin(), s.ips.end());
  r->bytes = r->ips.size() * sizeof(uint64_t);
  HoldMetadata(std::move(r));
}

void Session::OnSummary(const trace::SummaryInfo& s) {
  auto r = std::make_unique<SummaryRec>();
  r->e = s;
  HoldMetadata(std::move(r));
}

void Session::OnFooter(const trace::Footer& f) {
  have_footer_ = true;
  footer_ = f;
}

void Session::OnWarning(std::string_view msg) {
  for (trace::TraceVisitor* v : warning_) v->OnWarning(msg);
}

}  // namespace faultline::analyzer
