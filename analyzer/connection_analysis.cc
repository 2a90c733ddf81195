#include "analyzer/connection_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "analyzer/connection_names.h"
#include "bpf/faultline.h"

namespace faultline::analyzer {

namespace {

// Index into Live::in_state of a closing state, -1 for the others.
int ClosingIndex(uint8_t st) {
  switch (st) {
    case kTcpFinWait1: return 0;
    case kTcpFinWait2: return 1;
    case kTcpClosing: return 2;
    case kTcpCloseWait: return 3;
    case kTcpLastAck: return 4;
    default: return -1;
  }
}

// A state record whose gen is at most this much older than itself opened
// the kernel's entry for it (first sight).
constexpr uint64_t kFirstSightNs = 1000000;

uint64_t FirstOf(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// What a reset we sent says about the close, in words.
std::string SentReason(uint8_t reason, const std::string& local) {
  switch (reason) {
    case FL_RST_ABORT_ON_CLOSE:
      return local == "server" ? "server closed with unread request bytes"
                               : "client closed with unread response bytes";
    case FL_RST_TCP_STATE: return "SO_LINGER 0 abort";
    case FL_RST_ABORT_ON_DATA: return "data after close";
    case FL_RST_TIMEWAIT_SOCKET: return "data after close (timewait)";
    case FL_RST_ABORT_ON_LINGER: return "FIN_WAIT2 linger timeout";
    case FL_RST_ABORT_ON_MEMORY: return "out of socket memory";
    case FL_RST_KEEPALIVE_TIMEOUT: return "keepalive timeout";
    case FL_RST_DISCONNECT_WITH_DATA: return "disconnect with unread data";
    case FL_RST_NO_SOCKET: return "no socket";
    default: return "reset sent (" + ResetReasonName(reason) + ")";
  }
}

// Better = kept first in "list": longer, then older.
bool Better(const ConnectionsModel::Conn& a, const ConnectionsModel::Conn& b) {
  if (a.duration_ns != b.duration_ns) return a.duration_ns > b.duration_ns;
  return a.id < b.id;
}

}  // namespace

size_t ConnectionAnalysis::TupleHash::operator()(const Tuple& t) const {
  uint64_t h = t.family * 0x100000001b3ull ^ (uint64_t{t.sport} << 16 | t.dport);
  for (int i = 0; i < 16; ++i) {
    h = (h ^ t.saddr[i]) * 0x100000001b3ull;
    h = (h ^ t.daddr[i]) * 0x100000001b3ull;
  }
  return static_cast<size_t>(h);
}

ConnectionAnalysis::ConnectionAnalysis(const trace::FileHeader& header,
                                       const Names& names,
                                       ConnectionOptions options)
    : header_(header),
      names_(names),
      options_(options),
      start_ns_(header.meta.start_monotonic_ns) {
  if (options_.list_max == 0) options_.list_max = 1;
}

ConnectionAnalysis::Live* ConnectionAnalysis::Find(uint64_t sk, uint64_t gen) {
  if (gen == 0) {
    auto s = live_by_sk_.find(sk);
    if (s == live_by_sk_.end()) return nullptr;
    gen = s->second;
  }
  auto it = live_.find(Key{sk, gen});
  if (it != live_.end()) return &it->second;
  auto h = held_index_.find(Key{sk, gen});
  if (h != held_index_.end()) return &held_[h->second - held_popped_];
  return nullptr;
}

ConnectionAnalysis::Live* ConnectionAnalysis::FindTuple(const Tuple& t) {
  auto it = by_tuple_.find(t);
  if (it == by_tuple_.end()) return nullptr;
  return Find(it->second.sk, it->second.gen);
}

ConnectionAnalysis::Live& ConnectionAnalysis::Open(uint64_t sk, uint64_t gen,
                                                   uint64_t ts, Role role) {
  const Key key{sk, gen};
  auto it = live_.find(key);
  if (it != live_.end()) return it->second;
  // A live connection on the same sk whose destroy we never saw: the
  // socket was freed and reused, so it has ended.
  if (auto s = live_by_sk_.find(sk); s != live_by_sk_.end() && s->second != gen) {
    auto old = live_.find(Key{sk, s->second});
    if (old != live_.end()) {
      old->second.partial = true;
      old->second.closed = ts;
      held_index_[old->first] = held_popped_ + held_.size();
      held_.push_back(std::move(old->second));
      live_.erase(old);
    }
  }
  Live& c = live_[key];
  c.id = next_id_++;
  c.key = key;
  c.role = role;
  c.opened = ts;
  c.state_since = ts;
  live_by_sk_[sk] = gen;
  return c;
}

void ConnectionAnalysis::SetTuple(Live& c, uint16_t family, const trace::TcpAddr& s,
                                  const trace::TcpAddr& d, uint16_t sport,
                                  uint16_t dport) {
  if (family == 0 || sport == 0 || dport == 0) return;
  Tuple t{family, s, d, sport, dport};
  if (t == c.tuple) return;
  if (c.tuple.family != 0) {
    auto it = by_tuple_.find(c.tuple);
    if (it != by_tuple_.end() && it->second == c.key) by_tuple_.erase(it);
  }
  c.tuple = t;
  by_tuple_[t] = c.key;
}

void ConnectionAnalysis::SetOwner(Live& c, uint32_t pid, uint32_t tid) {
  if (c.pid == 0 && pid != 0) {
    c.pid = pid;
    c.tid = tid;
  }
}

ConnectionAnalysis::Role ConnectionAnalysis::GuessRole(const Tuple& t) const {
  if (listeners_.contains(t.sport)) return kServer;
  if (listeners_.contains(t.dport)) return kClient;
  // Ephemeral ports (32768..60999 by default) are the clients'.
  const bool local_eph = t.sport >= 32768, remote_eph = t.dport >= 32768;
  if (local_eph != remote_eph) return local_eph ? kClient : kServer;
  return t.sport < t.dport ? kServer : kClient;
}

ConnectionAnalysis::ListenerAcc& ConnectionAnalysis::ListenerFor(
    uint16_t family, const trace::TcpAddr& a, uint16_t port) {
  ListenerAcc& l = listeners_[port];
  if (l.family == 0) {
    l.family = family;
    l.addr = a;
  }
  return l;
}

void ConnectionAnalysis::Advance(uint64_t ts) {
  recorded_ = true;
  if (ts > last_ts_) last_ts_ = ts;
  while (!held_.empty() && (held_.front().closed + options_.hold_ns <= last_ts_ ||
                            held_.size() > options_.hold_max)) {
    Live& c = held_.front();
    auto t = by_tuple_.find(c.tuple);
    if (t != by_tuple_.end() && t->second == c.key) by_tuple_.erase(t);
    auto h = held_index_.find(c.key);
    if (h != held_index_.end() && h->second == held_popped_) held_index_.erase(h);
    Finish(std::move(c), false, 0, agg_);
    held_.pop_front();
    ++held_popped_;
  }
}

void ConnectionAnalysis::OnTcpState(const trace::TcpStateEvent& e) {
  Advance(e.ts_ns);
  const uint64_t ts = e.ts_ns;
  if (e.new_state == kTcpListen) {  // CLOSE->LISTEN, or seen listening
    listener_socks_[Key{e.sk, e.gen}] = e.sport;
    ListenerAcc& l = ListenerFor(e.family, e.saddr, e.sport);
    if (l.pid == 0) l.pid = e.pid;
    if (l.socks.size() < 64 &&
        std::find(l.socks.begin(), l.socks.end(), e.sk) == l.socks.end()) {
      l.socks.push_back(e.sk);
    }
    return;
  }
  if (e.type == FL_EV_TCP_SEEN) {
    Live& c = Open(e.sk, e.gen ? e.gen : ts, ts, kUnknown);
    c.open_at_start = true;
    SetTuple(c, e.family, e.saddr, e.daddr, e.sport, e.dport);
    SetOwner(c, e.pid, e.tid);
    c.role = GuessRole(c.tuple);
    c.role_guessed = true;
    c.state = e.new_state;
    c.state_since = ts;
    if (int i = ClosingIndex(c.state); i >= 0) c.entered |= 1u << i;
    if (c.state == kTcpFinWait1 || c.state == kTcpFinWait2 || c.state == kTcpClosing) {
      c.local_fin = ts;
    } else if (c.state == kTcpCloseWait || c.state == kTcpLastAck) {
      c.peer_fin = ts;
    }
    return;
  }
  if (e.old_state == kTcpListen) {
    if (e.new_state == kTcpSynRecv) {
      Live& c = Open(e.sk, e.gen ? e.gen : ts, ts, kServer);
      c.state = kTcpSynRecv;
      SetTuple(c, e.family, e.saddr, e.daddr, e.sport, e.dport);
    } else {
      // The listener closes; its destroy follows. (A listener from before
      // the recording gets its gen here, at its first sight.)
      listener_socks_[Key{e.sk, e.gen}] = e.sport;
    }
    return;
  }
  if (e.old_state == kTcpClose && e.new_state == kTcpSynSent) {
    Live& c = Open(e.sk, e.gen ? e.gen : ts, ts, kClient);
    c.state = kTcpSynSent;
    SetTuple(c, e.family, e.saddr, e.daddr, e.sport, e.dport);
    SetOwner(c, e.pid, e.tid);
    return;
  }
  Live* c = Find(e.sk, e.gen);
  if (c == nullptr) {
    if (listener_socks_.contains(Key{e.sk, e.gen})) return;
    if (e.gen == 0) {
      ++unmatched_;
      return;
    }
    c = &Open(e.sk, e.gen, e.gen, kUnknown);
    c->state = e.old_state;
    c->state_since = e.gen;
    // The kernel puts a socket it first sees in a state change into its
    // map right then (a socket of a target from before the recording):
    // gen is a moment before this record. An older gen: records were lost.
    if (e.ts_ns >= e.gen && e.ts_ns - e.gen < kFirstSightNs) {
      c->open_at_start = true;
      if (c->state == kTcpFinWait1 || c->state == kTcpFinWait2 ||
          c->state == kTcpClosing) {
        c->local_fin = e.gen;
      } else if (c->state == kTcpCloseWait || c->state == kTcpLastAck) {
        c->peer_fin = e.gen;
      }
    } else {
      c->partial = true;
    }
  }
  SetTuple(*c, e.family, e.saddr, e.daddr, e.sport, e.dport);
  if (c->role == kUnknown) {
    c->role = GuessRole(c->tuple);
    c->role_guessed = true;
  }
  SetOwner(*c, e.pid, e.tid);
  if (int i = ClosingIndex(c->state); i >= 0 && c->state_since != 0 && ts >= c->state_since) {
    c->in_state[i] += ts - c->state_since;
  }
  c->state = e.new_state;
  c->state_since = ts;
  if (int i = ClosingIndex(e.new_state); i >= 0) c->entered |= 1u << i;
  switch (e.new_state) {
    case kTcpEstablished:
      if (c->established == 0) c->established = ts;
      if ((e.old_state == kTcpSynRecv || e.old_state == kTcpSynSent) && !c->partial &&
          ts >= c->opened) {
        c->handshake = ts - c->opened;
      }
      if (e.old_state == kTcpSynRecv && (e.backlog != 0 || e.max_backlog != 0)) {
        ListenerAcc& l = ListenerFor(e.family, e.saddr, e.sport);
        l.max_seen = std::max(l.max_seen, e.backlog);
        l.max_ack = std::max(l.max_ack, e.max_backlog);
        if (e.backlog > e.max_backlog) {
          ++l.full;
          c->queue_full = true;
        }
      }
      break;
    case kTcpFinWait1:
      if (c->local_fin == 0) c->local_fin = ts;
      break;
    case kTcpCloseWait:
      if (c->peer_fin == 0) c->peer_fin = ts;
      break;
    case kTcpClosing:  // FIN_WAIT1 -> CLOSING: both FINs crossed
      c->simultaneous = c->peer_fin == 0;
      if (c->peer_fin == 0) c->peer_fin = ts;
      break;
    case kTcpClose:
      // Leaving these for CLOSE is an abort or a received reset (a normal
      // close leaves FIN_WAIT2, CLOSING or LAST_ACK).
      if (e.old_state == kTcpEstablished || e.old_state == kTcpSynSent ||
          e.old_state == kTcpSynRecv || e.old_state == kTcpFinWait1 ||
          e.old_state == kTcpCloseWait) {
        if (c->abort == 0) c->abort = ts;
        if (e.old_state == kTcpSynSent && c->rst_recv != 0) c->refused = true;
      }
      break;
    default:
      break;
  }
}

void ConnectionAnalysis::OnTcpAccept(const trace::TcpAcceptEvent& e) {
  Advance(e.ts_ns);
  Live* c = Find(e.sk, e.gen);
  if (c == nullptr) {
    c = &Open(e.sk, e.gen ? e.gen : e.ts_ns, e.gen ? e.gen : e.ts_ns, kServer);
    c->partial = true;
    c->state = e.state;
  }
  c->role = kServer;
  c->role_guessed = false;
  SetTuple(*c, e.family, e.saddr, e.daddr, e.sport, e.dport);
  if (e.pid != 0) {  // the acceptor owns it
    c->pid = e.pid;
    c->tid = e.tid;
  }
  c->accept_tid = e.tid;
  c->accepted = e.ts_ns;
  c->listener = e.listener;
  if (c->established == 0) c->established = e.established_ns;
  const uint64_t est = e.established_ns ? e.established_ns : c->established;
  if (est != 0 && e.ts_ns >= est) {
    c->accept_wait = e.ts_ns - est;
  } else if (e.state == kTcpSynRecv && c->key.gen != 0 && e.ts_ns >= c->key.gen) {
    c->accept_wait = e.ts_ns - c->key.gen;  // TCP Fast Open: from SYN_RECV
  }
  ListenerAcc& l = ListenerFor(e.family, e.saddr, e.sport);
  if (l.pid == 0) l.pid = e.pid;  // its listen() was before the recording
  ++l.accepted;
  l.max_seen = std::max(l.max_seen, e.backlog + 1);  // before this dequeue
  l.max_ack = std::max(l.max_ack, e.max_backlog);
  if (e.listener != 0 && l.socks.size() < 64 &&
      std::find(l.socks.begin(), l.socks.end(), e.listener) == l.socks.end()) {
    l.socks.push_back(e.listener);
  }
}

void ConnectionAnalysis::OnTcpConnect(const trace::TcpConnectEvent& e) {
  Advance(e.ts_ns);
  Live* c = Find(e.sk, e.gen);
  if (c == nullptr) {
    c = &Open(e.sk, e.gen ? e.gen : e.ts_ns, e.gen ? e.gen : e.ts_ns, kClient);
    c->partial = e.gen == 0 ? false : true;
    c->state = e.state;
  }
  c->role = kClient;
  c->role_guessed = false;
  SetTuple(*c, e.family, e.saddr, e.daddr, e.sport, e.dport);
  if (e.pid != 0) {
    c->pid = e.pid;
    c->tid = e.tid;
  }
  if (e.ret == -111) c->refused = true;  // ECONNREFUSED
}

void ConnectionAnalysis::OnTcpReset(const trace::TcpResetEvent& e) {
  Advance(e.ts_ns);
  const bool received = (e.flags & FL_RST_F_RECEIVED) != 0;
  if (received) {
    ++rst_received_;
  } else {
    ++rst_sent_;
    ++rst_sent_by_reason_[ResetReasonName(e.reason)];
  }
  Live* c = nullptr;
  const bool other_sock = (e.flags & (FL_RST_F_NO_SOCK | FL_RST_F_TIMEWAIT |
                                      FL_RST_F_REQUEST)) != 0;
  if (e.sk != 0 && (e.gen != 0 || !other_sock)) c = Find(e.sk, e.gen);
  if (c == nullptr && e.sport != 0 && e.dport != 0) {
    c = FindTuple(Tuple{e.family, e.saddr, e.daddr, e.sport, e.dport});
  }
  if (c == nullptr) {
    ++rst_unmatched_;
    return;
  }
  if (received) {
    if (c->rst_recv == 0) c->rst_recv = e.ts_ns;
    if (c->state == kTcpSynSent) c->refused = true;
  } else if (c->rst_sent == 0) {
    c->rst_sent = e.ts_ns;
    c->rst_reason = e.reason;
  }
}

void ConnectionAnalysis::OnTcpServe(const trace::TcpServeEvent& e) {
  Advance(e.ts_ns);
  Live* c = Find(e.sk, e.gen);
  if (c == nullptr) {
    if (e.gen == 0) {
      ++unmatched_;
      return;
    }
    c = &Open(e.sk, e.gen, e.gen, kUnknown);
    c->partial = true;
  }
  SetOwner(*c, e.pid, e.tid);
  if (c->cur >= 0) {
    ServingAcc& s = c->serving[c->cur];
    if (e.bytes_in >= c->cur_in) s.bytes_in += e.bytes_in - c->cur_in;
    if (e.bytes_out >= c->cur_out) s.bytes_out += e.bytes_out - c->cur_out;
  }
  c->cur = -1;
  for (size_t i = 0; i < c->serving.size(); ++i) {
    if (c->serving[i].tid == e.tid) c->cur = static_cast<int>(i);
  }
  if (c->cur < 0) {
    if (c->serving.size() < options_.serving_max) {
      c->serving.push_back({e.tid, e.pid, e.ts_ns, 0, 0});
      c->cur = static_cast<int>(c->serving.size() - 1);
    } else {
      ++c->serving_more;
    }
  }
  c->cur_in = e.bytes_in;
  c->cur_out = e.bytes_out;
  c->last_tid = e.tid;
  c->last_pid = e.pid;
  const uint64_t len = e.len > 0 ? static_cast<uint64_t>(e.len) : 0;
  c->bytes_in = std::max(c->bytes_in, e.bytes_in + (e.send ? 0 : len));
  c->bytes_out = std::max(c->bytes_out, e.bytes_out + (e.send ? len : 0));
}

void ConnectionAnalysis::OnTcpClose(const trace::TcpCloseEvent& e) {
  Advance(e.ts_ns);
  const uint64_t ts = e.ts_ns;
  if (listener_socks_.erase(Key{e.sk, e.gen}) > 0) return;
  auto it = live_.end();
  if (e.gen != 0) {
    it = live_.find(Key{e.sk, e.gen});
  } else if (auto s = live_by_sk_.find(e.sk); s != live_by_sk_.end()) {
    it = live_.find(Key{e.sk, s->second});
  }
  if (it == live_.end()) {
    // No remote side: a listener (or a socket that never connected).
    if (e.dport == 0) return;
    if (held_index_.contains(Key{e.sk, e.gen})) return;  // closed already
    // Only its end was seen (records lost): a connection of one record.
    Live& c = Open(e.sk, e.gen ? e.gen : ts, e.gen ? e.gen : ts, kUnknown);
    c.partial = true;
    it = live_.find(c.key);
  }
  Live& c = it->second;
  SetTuple(c, e.family, e.saddr, e.daddr, e.sport, e.dport);
  if (c.role == kUnknown) {
    c.role = GuessRole(c.tuple);
    c.role_guessed = true;
  }
  SetOwner(c, e.pid, e.tid);
  c.bytes_in = std::max(c.bytes_in, e.bytes_in);
  c.bytes_out = std::max(c.bytes_out, e.bytes_out);
  c.retransmits = e.retransmits;
  if (e.last_tid != 0 && e.last_tid != c.last_tid) {
    c.last_tid = e.last_tid;
    const Names::Thread* t = names_.FindThread(e.last_tid);
    c.last_pid = t && t->pid ? t->pid : (e.last_tid == c.tid ? c.pid : 0);
  }
  if (int i = ClosingIndex(c.state); i >= 0 && c.state_since != 0 && ts >= c.state_since) {
    c.in_state[i] += ts - c.state_since;
  }
  c.state_since = 0;
  if (c.cur >= 0) {
    ServingAcc& s = c.serving[c.cur];
    if (c.bytes_in >= c.cur_in) s.bytes_in += c.bytes_in - c.cur_in;
    if (c.bytes_out >= c.cur_out) s.bytes_out += c.bytes_out - c.cur_out;
    c.cur = -1;
  }
  c.closed = ts;
  const Key key = c.key;
  held_index_[key] = held_popped_ + held_.size();
  held_.push_back(std::move(c));
  live_.erase(it);
  if (auto s = live_by_sk_.find(key.sk); s != live_by_sk_.end() && s->second == key.gen) {
    live_by_sk_.erase(s);
  }
}

void ConnectionAnalysis::OnTcpNetstat(const trace::TcpNetstatEvent& e) {
  Advance(e.ts_ns);
  if (!have_netstat_) first_netstat_ = e;
  if (!have_netstat_ || e.ts_ns >= last_netstat_.ts_ns) last_netstat_ = e;
  have_netstat_ = true;
  ++netstat_samples_;
}

void ConnectionAnalysis::OnFooter(const trace::Footer& f) {
  have_footer_ = true;
  end_ns_ = f.end_monotonic_ns;
  if (f.stats_known) {
    uint64_t lost = 0;
    for (const trace::CpuCounts& c : f.per_cpu) lost += c.lost;
    lost_ = lost;
  }
  for (const auto& [name, value] : f.counters) {
    if (name == "tcp_conns_full") conns_full_ = value;
  }
}

void ConnectionAnalysis::AddId(AnomalyAcc& a, uint64_t id) const {
  ++a.total;
  a.ids.push_back(id);
  // Keep the smallest ids (deterministic whatever the finishing order).
  if (a.ids.size() >= 2 * options_.anomaly_ids_max + 64) {
    std::sort(a.ids.begin(), a.ids.end());
    a.ids.resize(options_.anomaly_ids_max);
  }
}

// Turns a connection into its model row and adds it to `agg`. at_end: it
// is still open at end_ns (the trace end).
void ConnectionAnalysis::Finish(Live c, bool at_end, uint64_t end_ns, Agg& agg) const {
  ConnectionsModel::Conn m;
  if (c.role == kUnknown) {
    c.role = GuessRole(c.tuple);
    c.role_guessed = true;
  }
  const bool server = c.role == kServer;
  const std::string local = server ? "server" : "client";
  const std::string peer = server ? "client" : "server";
  const bool closed = c.closed != 0;
  const uint64_t end = closed ? c.closed : std::max(end_ns, c.opened);
  m.id = c.id;
  m.sk = c.key.sk;
  m.gen = c.key.gen;
  m.role = local;
  m.role_guessed = c.role_guessed;
  m.family = c.tuple.family;
  if (c.tuple.family != 0) {
    m.local_addr = FormatTcpAddr(c.tuple.family, c.tuple.saddr);
    m.remote_addr = FormatTcpAddr(c.tuple.family, c.tuple.daddr);
  }
  m.local_port = c.tuple.sport;
  m.remote_port = c.tuple.dport;
  m.pid = c.pid;
  m.comm = c.pid ? names_.ProcessComm(c.pid) : "";
  m.accept_tid = c.accept_tid;
  if (at_end && c.cur >= 0) {  // the bytes known so far
    ServingAcc& s = c.serving[c.cur];
    if (c.bytes_in >= c.cur_in) s.bytes_in += c.bytes_in - c.cur_in;
    if (c.bytes_out >= c.cur_out) s.bytes_out += c.bytes_out - c.cur_out;
  }
  for (const ServingAcc& s : c.serving) {
    m.serving_tids.push_back(s.tid);
    m.serving.push_back({s.tid, s.pid, s.from_ns >= start_ns_ ? s.from_ns - start_ns_ : 0,
                         s.bytes_in, s.bytes_out});
  }
  m.serving_more = c.serving_more;
  m.last_tid = c.last_tid;
  m.opened_ns = c.opened >= start_ns_ ? c.opened - start_ns_ : 0;
  if (c.established != 0) {
    m.established_monotonic_ns = c.established;
    m.established_ns = c.established >= start_ns_ ? c.established - start_ns_ : 0;
  }
  m.handshake_ns = c.handshake;
  m.accept_wait_ns = c.accept_wait;
  m.duration_ns = end >= c.opened ? end - c.opened : 0;

  // Whose FIN or RST came first. An abort (-> CLOSE from a live state) is
  // ours unless a received reset came before it.
  const bool abort_is_peer = c.abort != 0 && c.rst_recv != 0 && c.rst_recv <= c.abort;
  const uint64_t local_first =
      FirstOf(FirstOf(c.local_fin, c.rst_sent), abort_is_peer ? 0 : c.abort);
  const uint64_t peer_first = FirstOf(c.peer_fin, c.rst_recv);
  if (local_first == 0 && peer_first == 0) {
    m.closed_by = closed ? "unknown" : "open";
  } else if (local_first != 0 && (peer_first == 0 || local_first <= peer_first)) {
    m.closed_by = local;
  } else {
    m.closed_by = peer;
  }
  const bool reset = c.rst_sent != 0 || c.rst_recv != 0 || c.abort != 0;
  if (reset) {
    m.close = "rst";
  } else if (!closed) {
    m.close = "open";
  } else {
    m.close = (c.local_fin || c.peer_fin) ? "fin" : "unknown";
  }
  if (c.rst_sent != 0) m.first_reset = ResetReasonName(c.rst_reason);
  if (m.close == "rst") {
    if (c.rst_recv != 0 && m.closed_by == peer &&
        (c.rst_sent == 0 || c.rst_recv <= c.rst_sent)) {
      m.close_reason = c.refused ? "connection refused" : "reset received";
    } else if (c.rst_sent != 0) {
      m.close_reason = SentReason(c.rst_reason, local);
    } else if (c.rst_recv != 0) {
      m.close_reason = "reset received";
    } else if (c.refused) {
      m.close_reason = "connection refused";
    } else {
      m.close_reason = "aborted (no reset record seen)";
    }
  } else if (m.close == "fin") {
    // FIN_WAIT1 -> CLOSING (the FINs crossed) still had ours first.
    m.close_reason = m.closed_by + " closed first";
  } else if (m.close == "open" && m.closed_by != "open") {
    m.close_reason = m.closed_by + " closed first (still open at the end)";
  }
  m.bytes_in = c.bytes_in;
  m.bytes_out = c.bytes_out;
  m.retransmits = c.retransmits;
  m.open_at_start = c.open_at_start;
  m.open_at_end = !closed;
  if (!closed) m.state_at_end = TcpStateName(c.state);
  if (!closed) {
    if (int i = ClosingIndex(c.state); i >= 0 && c.state_since != 0 && end >= c.state_since) {
      c.in_state[i] += end - c.state_since;
    }
  }
  std::optional<uint64_t>* slots[5] = {&m.fin_wait1_ns, &m.fin_wait2_ns, &m.closing_ns,
                                       &m.close_wait_ns, &m.last_ack_ns};
  for (int i = 0; i < 5; ++i) {
    if (c.entered & (1u << i)) *slots[i] = c.in_state[i];
  }
  m.time_wait = closed && m.close == "fin" && c.local_fin != 0;
  m.partial = c.partial;

  // Aggregates.
  ++agg.total;
  ++(server ? agg.servers : agg.clients);
  if (m.closed_by == "server") ++agg.closed_by_server;
  if (m.closed_by == "client") ++agg.closed_by_client;
  if (m.close == "open") ++agg.open;
  if (m.close == "fin") ++agg.fin;
  if (m.close == "rst") ++agg.rst;
  if (m.close == "unknown") ++agg.unknown;
  if (m.open_at_start) ++agg.open_at_start;
  if (m.open_at_end) ++agg.open_at_end;
  if (m.partial) ++agg.partial_conns;
  if (m.accept_wait_ns) agg.accept_wait.Add(*m.accept_wait_ns);
  if (server) {
    // Balance: the thread that did the last I/O (usually the one that
    // wrote the response), else the acceptor / owner.
    const uint32_t tid = c.last_tid ? c.last_tid : (c.accept_tid ? *c.accept_tid : c.tid);
    const uint32_t pid = c.last_tid ? (c.last_pid ? c.last_pid : c.pid) : c.pid;
    if (tid != 0) agg.threads[tid].Served(pid, m.bytes_in, m.bytes_out);
    if (c.accept_tid) {
      TallyAcc& t = agg.threads[*c.accept_tid];
      if (t.pid == 0) t.pid = c.pid;
      ++t.accepted;
    }
    if (pid != 0) agg.processes[pid].Served(pid, m.bytes_in, m.bytes_out);
    if (c.accept_tid && c.pid != 0) {
      TallyAcc& p = agg.processes[c.pid];
      p.pid = c.pid;
      ++p.accepted;
      if (c.listener != 0 && p.listeners.size() < 8 &&
          std::find(p.listeners.begin(), p.listeners.end(), c.listener) ==
              p.listeners.end()) {
        p.listeners.push_back(c.listener);
      }
    }
    if (closed) ++agg.server_conns_closed;
    if (m.time_wait) {
      ++agg.time_wait_server;
      AddId(agg.time_wait, m.id);
    }
  }
  if (m.close_wait_ns &&
      (*m.close_wait_ns > options_.close_wait_ns || (!closed && c.state == kTcpCloseWait))) {
    AddId(agg.close_wait, m.id);
    agg.close_wait.max_ns = std::max(agg.close_wait.max_ns, *m.close_wait_ns);
  }
  if (c.rst_sent != 0) AddId(agg.resets[SentReason(c.rst_reason, local)], m.id);
  if (c.queue_full) AddId(agg.queue_full, m.id);

  if (agg.top.size() < options_.list_max) {
    agg.top.push_back(std::move(m));
    std::push_heap(agg.top.begin(), agg.top.end(), Better);
  } else if (Better(m, agg.top.front())) {
    std::pop_heap(agg.top.begin(), agg.top.end(), Better);
    agg.top.back() = std::move(m);
    std::push_heap(agg.top.begin(), agg.top.end(), Better);
    ++agg.omitted;
  } else {
    ++agg.omitted;
  }
}

ConnectionsModel ConnectionAnalysis::Model() const {
  ConnectionsModel m;
  Agg agg = agg_;
  const uint64_t end = std::max(end_ns_, last_ts_);
  for (const Live& c : held_) Finish(c, false, end, agg);
  // Open at the end: in id order, so that ties come out the same.
  std::vector<const Live*> open;
  for (const auto& [key, c] : live_) open.push_back(&c);
  std::sort(open.begin(), open.end(),
            [](const Live* a, const Live* b) { return a->id < b->id; });
  for (const Live* c : open) Finish(*c, true, end, agg);

  m.recorded = recorded_;
  m.lost_events = lost_;
  m.total = agg.total;
  m.servers = agg.servers;
  m.clients = agg.clients;
  m.closed_by_server = agg.closed_by_server;
  m.closed_by_client = agg.closed_by_client;
  m.open = agg.open;
  m.fin = agg.fin;
  m.rst = agg.rst;
  m.rst_sent = rst_sent_;
  m.rst_received = rst_received_;
  m.rst_sent_by_reason = rst_sent_by_reason_;
  m.rst_unmatched = rst_unmatched_;
  m.open_at_start = agg.open_at_start;
  m.open_at_end = agg.open_at_end;
  m.unmatched_records = unmatched_;
  m.netstat_samples = netstat_samples_;
  if (netstat_samples_ >= 2) {
    auto delta = [](uint64_t a, uint64_t b) { return b >= a ? b - a : 0; };
    m.listen_overflows =
        delta(first_netstat_.listen_overflows, last_netstat_.listen_overflows);
    m.listen_drops = delta(first_netstat_.listen_drops, last_netstat_.listen_drops);
  }
  m.accept_wait_count = agg.accept_wait.count();
  m.accept_wait_p50 = agg.accept_wait.Percentile(0.5);
  m.accept_wait_p99 = agg.accept_wait.Percentile(0.99);
  m.accept_wait_max = agg.accept_wait.max();
  m.time_wait_server = agg.time_wait_server;

  // Lost or missing records: the section is partial.
  if (recorded_) {
    if (!lost_) {
      m.partial_reasons.push_back(have_footer_ ? "lost events unknown (the recorder "
                                                 "could not read the kernel's counters)"
                                               : "lost events unknown (no footer)");
    } else if (*lost_ > 0) {
      m.partial_reasons.push_back(std::to_string(*lost_) +
                                  " events lost while recording");
    }
    if (conns_full_ > 0) {
      m.partial_reasons.push_back(std::to_string(conns_full_) +
                                  " connections not tracked (the kernel's "
                                  "connection map was full)");
    }
    if (agg.partial_conns > 0) {
      m.partial_reasons.push_back(std::to_string(agg.partial_conns) +
                                  " connections whose opening was not seen");
    }
    if (unmatched_ > 0) {
      m.partial_reasons.push_back(std::to_string(unmatched_) +
                                  " records for no known connection");
    }
  }
  m.partial = !m.partial_reasons.empty();

  auto ids = [&](const AnomalyAcc& a, ConnectionsModel::Anomaly& out) {
    out.connections = a.ids;
    std::sort(out.connections.begin(), out.connections.end());
    if (out.connections.size() > options_.anomaly_ids_max) {
      out.connections.resize(options_.anomaly_ids_max);
    }
    out.connections_total = a.total;
  };
  auto ns = [](uint64_t v) {
    char b[32];
    if (v >= 1000000000) {
      std::snprintf(b, sizeof b, "%.2f s", v / 1e9);
    } else if (v >= 1000000) {
      std::snprintf(b, sizeof b, "%.1f ms", v / 1e6);
    } else {
      std::snprintf(b, sizeof b, "%.1f us", v / 1e3);
    }
    return std::string(b);
  };
  if (agg.close_wait.total > 0) {
    ConnectionsModel::Anomaly a;
    a.kind = "close_wait";
    a.detail = std::to_string(agg.close_wait.total) +
               " connection(s) stayed in CLOSE_WAIT longer than " +
               ns(options_.close_wait_ns) + " or were still in it at the end "
               "(longest " + ns(agg.close_wait.max_ns) +
               "): the peer closed and the application did not close its socket";
    ids(agg.close_wait, a);
    m.anomalies.push_back(std::move(a));
  }
  for (const auto& [reason, acc] : agg.resets) {
    ConnectionsModel::Anomaly a;
    a.kind = "reset_sent";
    a.detail = std::to_string(acc.total) + " connection(s) reset by this side: " + reason;
    ids(acc, a);
    m.anomalies.push_back(std::move(a));
  }

  for (const auto& [port, l] : listeners_) {
    ConnectionsModel::Listener r;
    r.family = l.family;
    r.addr = FormatTcpAddr(l.family, l.addr);
    r.port = port;
    r.pid = l.pid;
    r.comm = l.pid ? names_.ProcessComm(l.pid) : "";
    r.sockets = static_cast<uint32_t>(l.socks.size());
    r.accepted = l.accepted;
    r.max_backlog_seen = l.max_seen;
    r.max_ack_backlog = l.max_ack;
    r.queue_full = l.full;
    m.listeners.push_back(std::move(r));
  }
  std::sort(m.listeners.begin(), m.listeners.end(),
            [](const ConnectionsModel::Listener& a, const ConnectionsModel::Listener& b) {
              if (a.queue_full != b.queue_full) return a.queue_full > b.queue_full;
              if (a.accepted != b.accepted) return a.accepted > b.accepted;
              return a.port < b.port;
            });
  uint64_t full = 0;
  for (const auto& l : m.listeners) full += l.queue_full;
  if ((m.listen_overflows && *m.listen_overflows > 0) ||
      (m.listen_drops && *m.listen_drops > 0) || full > 0) {
    ConnectionsModel::Anomaly a;
    a.kind = "listen_overflow";
    std::string d;
    if (m.listen_overflows) {
      d = "/proc/net/netstat ListenOverflows +" + std::to_string(*m.listen_overflows) +
          ", ListenDrops +" + std::to_string(*m.listen_drops) +
          " over the recording (dropped SYNs, retransmissions included; machine-wide)";
      a.figures.emplace_back("listen_overflows", *m.listen_overflows);
      a.figures.emplace_back("listen_drops", *m.listen_drops);
    } else {
      d = "no /proc/net/netstat samples in the trace";
    }
    for (const auto& l : m.listeners) {
      if (l.queue_full == 0 && l.max_backlog_seen <= l.max_ack_backlog) continue;
      d += "; port " + std::to_string(l.port) + ": accept queue reached " +
           std::to_string(l.max_backlog_seen) + " of max " +
           std::to_string(l.max_ack_backlog) + " (" + std::to_string(l.queue_full) +
           " connection(s) established over the max)";
    }
    a.detail = std::move(d);
    ids(agg.queue_full, a);
    m.anomalies.push_back(std::move(a));
  }
  if (agg.time_wait_server >= options_.time_wait_min &&
      agg.time_wait_server * 2 >= agg.server_conns_closed) {
    ConnectionsModel::Anomaly a;
    a.kind = "time_wait_pileup";
    a.detail = std::to_string(agg.time_wait_server) + " of " +
               std::to_string(agg.server_conns_closed) +
               " closed server connection(s) were closed first by the server with "
               "FIN: each leaves a TIME_WAIT socket on the server for 60 s (the kernel "
               "shows no event for it); letting clients close first avoids it";
    ids(agg.time_wait, a);
    m.anomalies.push_back(std::move(a));
  }

  // Tallies and balance.
  auto tally_rows = [&](const std::unordered_map<uint32_t, TallyAcc>& src, bool threads,
                        std::vector<ConnectionsModel::Tally>& out) {
    for (const auto& [id, t] : src) {
      ConnectionsModel::Tally r;
      r.id = id;
      r.pid = threads ? t.pid : id;
      r.comm = threads ? names_.CommOf(t.pid, id) : names_.ProcessComm(id);
      r.connections = t.connections;
      r.accepted = t.accepted;
      r.bytes_in = t.bytes_in;
      r.bytes_out = t.bytes_out;
      out.push_back(std::move(r));
    }
    std::sort(out.begin(), out.end(),
              [](const ConnectionsModel::Tally& a, const ConnectionsModel::Tally& b) {
                if (a.connections != b.connections) return a.connections > b.connections;
                if (a.accepted != b.accepted) return a.accepted > b.accepted;
                return a.id < b.id;
              });
  };
  tally_rows(agg.threads, true, m.threads);
  tally_rows(agg.processes, false, m.processes);

  // Imbalance: among the threads that served connections, and among the
  // serving processes plus their idle siblings (same parent and comm: the
  // other workers of a prefork server).
  auto imbalance = [&](const std::vector<ConnectionsModel::Tally>& rows, uint64_t idle,
                       const char* what) {
    uint64_t sum = 0, n = idle;
    for (const auto& r : rows) {
      if (r.connections == 0) continue;
      sum += r.connections;
      ++n;
    }
    if (n < 2 || rows.empty()) return;
    const ConnectionsModel::Tally& top = rows.front();
    const double mean = static_cast<double>(sum) / static_cast<double>(n);
    const double mx = static_cast<double>(top.connections);
    if (top.connections < options_.imbalance_min || mx <= 1.5 * mean ||
        mx <= mean + 3 * std::sqrt(mean)) {
      return;
    }
    ConnectionsModel::Anomaly a;
    a.kind = "imbalance";
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s %u (%s) served %llu of %llu server connections; the mean over "
                  "%llu %ss is %.1f",
                  what, top.id, top.comm.c_str(), (unsigned long long)top.connections,
                  (unsigned long long)sum, (unsigned long long)n, what, mean);
    a.detail = buf;
    if (std::string(what) == "process") {
      std::set<uint64_t> socks;
      uint64_t acceptors = 0;
      for (const auto& [pid, t] : agg.processes) {
        if (t.accepted == 0) continue;
        ++acceptors;
        socks.insert(t.listeners.begin(), t.listeners.end());
      }
      if (acceptors >= 2 && socks.size() == 1) {
        a.detail += "; all " + std::to_string(acceptors) +
                    " processes accept from one shared listening socket (the "
                    "first to wake takes the connection; SO_REUSEPORT would "
                    "spread them by hash)";
      } else if (socks.size() >= 2) {
        a.detail += "; " + std::to_string(socks.size()) +
                    " listening sockets (SO_REUSEPORT: spread by the 4-tuple's hash)";
      }
    }
    a.figures.emplace_back("connections", top.connections);
    a.figures.emplace_back("total", sum);
    a.figures.emplace_back("workers", n);
    a.connections_total = top.connections;
    m.anomalies.push_back(std::move(a));
  };
  imbalance(m.threads, 0, "thread");
  {
    // Idle sibling workers of the serving processes.
    std::set<uint32_t> serving;
    for (const auto& r : m.processes) {
      if (r.connections > 0) serving.insert(r.id);
    }
    std::set<uint32_t> idle;
    for (uint32_t pid : serving) {
      const Names::Process* p = names_.FindProcess(pid);
      if (p == nullptr || p->ppid == 0) continue;
      for (const auto& [other, q] : names_.processes()) {
        if (serving.contains(other) || q.ppid != p->ppid || q.comm != p->comm) continue;
        idle.insert(other);
      }
    }
    imbalance(m.processes, idle.size(), "process");
  }
  // Largest first (SPEC 6: every list by cost): by connections concerned.
  std::stable_sort(m.anomalies.begin(), m.anomalies.end(),
                   [](const ConnectionsModel::Anomaly& a, const ConnectionsModel::Anomaly& b) {
                     return a.connections_total > b.connections_total;
                   });
  m.threads_total = m.threads.size();
  m.processes_total = m.processes.size();
  if (m.threads.size() > options_.table_max) m.threads.resize(options_.table_max);
  if (m.processes.size() > options_.table_max) m.processes.resize(options_.table_max);

  m.list = std::move(agg.top);
  std::sort(m.list.begin(), m.list.end(), Better);
  m.list_omitted = agg.omitted;
  return m;
}

}  // namespace faultline::analyzer
