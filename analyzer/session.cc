#include "analyzer/session.h"

#include <algorithm>
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

}  // namespace

Session::Item& Session::Queue::PushBack(uint64_t ts) {
  if (size() == items_.size()) Grow();
  back_ts_ = ts;
  return items_[tail_++ & mask_];
}

Session::Item& Session::Queue::InsertSorted(uint64_t ts) {
  PushBack(back_ts_);  // the back stays the newest
  size_t i = tail_ - 1;
  while (i > head_ && items_[(i - 1) & mask_].fault.ts_ns > ts) {
    items_[i & mask_] = std::move(items_[(i - 1) & mask_]);
    --i;
  }
  Item& slot = items_[i & mask_];
  slot.other.reset();
  return slot;
}

void Session::Queue::Grow() {
  const size_t cap = std::max<size_t>(64, items_.size() * 2);
  std::vector<Item> bigger(cap);
  const size_t n = size();
  for (size_t i = 0; i < n; ++i) bigger[i] = std::move(items_[(head_ + i) & mask_]);
  items_ = std::move(bigger);
  mask_ = cap - 1;
  head_ = 0;
  tail_ = n;
}

Session::Session(SessionOptions options) : options_(options) {
  if (options_.max_pending == 0) options_.max_pending = 1;
  low_water_ = options_.max_pending - options_.max_pending / 8;
  queues_.resize(1);
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
}

Result<void> Session::Run(trace::TraceReader& reader) {
  auto ok = reader.ReadAll(*this);
  Finish();
  return ok;
}

// Queues a record of queue `queue` at time `ts`; nullptr when it arrived
// after the window closed (the caller delivers it at once).
Session::Item* Session::Hold(uint16_t queue, uint64_t ts) {
  if (ts < delivered_ts_) {
    ++stats_.late;
    stats_.max_late_ns = std::max(stats_.max_late_ns, delivered_ts_ - ts);
    return nullptr;
  }
  if (queue >= queues_.size()) queues_.resize(size_t{queue} + 1);
  Queue& q = queues_[queue];
  Item* it;
  if (q.empty() || q.back_ts() <= ts) {
    it = &q.PushBack(ts);
  } else {
    it = &q.InsertSorted(ts);
  }
  it->seq = seq_++;
  // Older than every front: it is its queue's front (the queue was empty,
  // or it was sorted in before everything there).
  if (ts < min_front_) min_front_ = ts;
  ++held_;
  return it;
}

void Session::HoldOther(uint16_t cpu, uint64_t ts, std::unique_ptr<Owned> o) {
  SeenEvent(ts);
  Item* it = Hold(static_cast<uint16_t>(cpu + 1), ts);
  if (it == nullptr) {
    o->Deliver(*this);
    return;
  }
  it->fault.ts_ns = ts;
  held_bytes_ += o->bytes;
  it->other = std::move(o);
  if (OverBound() || newest_ts_ - min_front_ >= options_.window_ns) Release(false);
}

void Session::HoldMetadata(std::unique_ptr<Owned> o) {
  Item* it = Hold(0, newest_ts_);
  if (it == nullptr) {  // cannot happen: newest_ts_ >= delivered_ts_
    o->Deliver(*this);
    return;
  }
  it->fault.ts_ns = newest_ts_;
  held_bytes_ += o->bytes;
  it->other = std::move(o);
  if (OverBound()) Release(false);
}

void Session::OnFault(const trace::FaultEvent& f) {
  SeenEvent(f.ts_ns);
  Item* it = Hold(static_cast<uint16_t>(f.cpu + 1), f.ts_ns);
  if (it == nullptr) {
    DeliverFault(f);
    return;
  }
  it->fault = f;
  if (held_ > options_.max_pending || newest_ts_ - min_front_ >= options_.window_ns) {
    Release(false);
  }
}

void Session::Deliver(Item& it) {
  if (it.other) {
    held_bytes_ -= it.other->bytes;
    it.other->Deliver(*this);
  } else {
    DeliverFault(it.fault);
  }
  if (it.fault.ts_ns > delivered_ts_) delivered_ts_ = it.fault.ts_ns;
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
  while (held_ > 0) {
    size_t best = 0;
    const Item* b = nullptr;
    const Item* second = nullptr;
    for (size_t i = 0; i < queues_.size(); ++i) {
      Queue& q = queues_[i];
      if (q.empty()) continue;
      const Item& f = q.front();
      auto less = [](const Item& x, const Item& y) {
        return x.fault.ts_ns != y.fault.ts_ns ? x.fault.ts_ns < y.fault.ts_ns
                                              : x.seq < y.seq;
      };
      if (b == nullptr || less(f, *b)) {
        second = b;
        b = &f;
        best = i;
      } else if (second == nullptr || less(f, *second)) {
        second = &f;
      }
    }
    if (drain && held_ <= low_water_ && held_bytes_ <= low_bytes) drain = false;
    auto due = [&](uint64_t ts) {
      return all || drain || newest_ts_ - ts >= options_.window_ns;
    };
    if (!due(b->fault.ts_ns)) {
      min_front_ = b->fault.ts_ns;
      return;
    }
    const uint64_t second_ts = second ? second->fault.ts_ns : ~uint64_t{0};
    const uint64_t second_seq = second ? second->seq : ~uint64_t{0};
    Queue& q = queues_[best];
    do {
      Deliver(q.front());
      q.PopFront();
      --held_;
      if (drain && held_ <= low_water_ && held_bytes_ <= low_bytes) drain = false;
    } while (!q.empty() &&
             (q.front().fault.ts_ns < second_ts ||
              (q.front().fault.ts_ns == second_ts && q.front().seq < second_seq)) &&
             due(q.front().fault.ts_ns));
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
