// The "connections" section (SPEC sections 3 and 6): every TCP connection's
// life from the FL_EV_TCP_* records (bpf/faultline.h, "TCP connections"),
// who owned and served it, how and why it ended, plus the summary, the
// listeners' queues and the anomalies. docs/report.md, "connections", says
// what every field means.
//
// ConnectionAnalysis is the visitor (Session, kWantTcp | kWantFooter); it
// reads Names for comms and sibling processes. Memory is bounded by the
// live connections, not by the trace: a connection is kept from its
// opening record to its close record (tcp_destroy_sock), then for
// `hold_ns` more (a reset can follow the destroy, e.g. TCP_ABORT_ON_DATA),
// then finished: its figures go into the aggregates (counts, accept-wait
// histogram, per-thread and per-process tallies, anomaly lists, each
// bounded) and the connection itself into a top-`list_max` list (longest
// first). Model() finishes a copy of what is still held or open.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyzer/names.h"
#include "common/histogram.h"
#include "trace/reader.h"

namespace faultline::analyzer {

struct ConnectionOptions {
  // A CLOSE_WAIT longer than this (or still in CLOSE_WAIT at the end) is
  // an anomaly: the application never closed its side.
  uint64_t close_wait_ns = 1000000000;
  size_t list_max = 1000;      // connections in "list" (the rest counted)
  size_t anomaly_ids_max = 100;  // ids per anomaly (the rest counted)
  size_t serving_max = 16;     // serving threads kept per connection
  size_t table_max = 100;      // rows of "threads" / "processes"
  // How long a destroyed connection waits for late resets.
  uint64_t hold_ns = 1000000000;
  size_t hold_max = 65536;
  // Server-side TIME_WAIT pile-up: at least this many server connections
  // closed first by the server with FIN, and at least half of them.
  uint64_t time_wait_min = 100;
  // Imbalance: the busiest thread/process has at least this many
  // connections, more than 1.5x the mean and more than mean + 3 sqrt(mean).
  uint64_t imbalance_min = 20;
};

struct ConnectionsModel {
  struct Serving {
    uint32_t tid = 0, pid = 0;
    uint64_t from_ns = 0;  // first I/O of this thread on it, since trace start
    uint64_t bytes_in = 0, bytes_out = 0;
  };
  struct Conn {
    uint64_t id = 0;  // 1, 2, ... in order of first sight (anomalies name it)
    uint64_t sk = 0, gen = 0;
    std::string role;  // "server", "client" (by how it opened; guessed for
                       // connections open at the start: role_guessed)
    bool role_guessed = false;
    uint16_t family = 0;
    std::string local_addr, remote_addr;
    uint16_t local_port = 0, remote_port = 0;
    uint32_t pid = 0;  // owner: acceptor or connector (0: never known)
    std::string comm;
    std::optional<uint32_t> accept_tid;
    std::vector<uint32_t> serving_tids;  // in order of first I/O
    std::vector<Serving> serving;
    uint32_t serving_more = 0;  // threads past serving_max, not listed
    uint32_t last_tid = 0;      // the thread of the last I/O
    // Times relative to the trace start; *_monotonic: CLOCK_MONOTONIC.
    uint64_t opened_ns = 0;  // SYN_RECV / SYN_SENT / first sight
    std::optional<uint64_t> established_ns, established_monotonic_ns;
    std::optional<uint64_t> handshake_ns, accept_wait_ns;
    uint64_t duration_ns = 0;  // opened -> destroy (or the trace end)
    std::string closed_by;     // "server" | "client" | "open" | "unknown"
    std::string close;         // "fin" | "rst" | "open" | "unknown"
    std::string close_reason;
    std::string first_reset;   // kernel reason name of the first reset sent
    uint64_t bytes_in = 0, bytes_out = 0;
    uint32_t retransmits = 0;
    bool open_at_start = false, open_at_end = false;
    std::string state_at_end;  // open at the end: its state
    // Time spent in each closing state (nullopt: never in it).
    std::optional<uint64_t> fin_wait1_ns, fin_wait2_ns, closing_ns,
        close_wait_ns, last_ack_ns;
    bool time_wait = false;  // this side enters TIME_WAIT (the kernel shows
                             // no event for it: not timed)
    bool partial = false;    // its opening record was not seen
  };
  struct Anomaly {
    std::string kind, detail;
    std::vector<uint64_t> connections;  // ids
    uint64_t connections_total = 0;
    // Figures of this anomaly (JSON: extra keys), e.g. listen_overflows.
    std::vector<std::pair<std::string, uint64_t>> figures;
  };
  struct Listener {
    uint16_t family = 0;
    std::string addr;
    uint16_t port = 0;
    uint32_t pid = 0;  // the process that listened (if that was before the
                       // recording: the first that accepted; 0: neither)
    std::string comm;
    uint32_t sockets = 0;  // distinct listening socks (SO_REUSEPORT: > 1)
    uint64_t accepted = 0;
    uint32_t max_backlog_seen = 0;  // the most queued children seen
    uint32_t max_ack_backlog = 0;   // the listen() backlog (sk_max_ack_backlog)
    uint64_t queue_full = 0;  // ESTABLISHED children that found the queue
                              // over its max (the next SYN is dropped)
  };
  struct Tally {
    uint32_t id = 0;  // tid or pid
    uint32_t pid = 0;
    std::string comm;
    uint64_t connections = 0;  // connections it served last (else owned)
    uint64_t accepted = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
  };

  bool recorded = false;  // the trace has TCP records
  std::optional<uint64_t> lost_events;  // the trace's; nullopt: unknown
  bool partial = false;
  std::vector<std::string> partial_reasons;

  uint64_t total = 0, servers = 0, clients = 0;
  uint64_t closed_by_server = 0, closed_by_client = 0, open = 0;
  uint64_t fin = 0, rst = 0;
  uint64_t rst_sent = 0, rst_received = 0;  // reset records
  std::map<std::string, uint64_t> rst_sent_by_reason;
  uint64_t rst_unmatched = 0;  // resets for no tracked connection
  uint64_t open_at_start = 0, open_at_end = 0;
  std::optional<uint64_t> listen_overflows, listen_drops;
  uint64_t netstat_samples = 0;
  uint64_t accept_wait_count = 0, accept_wait_p50 = 0, accept_wait_p99 = 0,
           accept_wait_max = 0;
  uint64_t time_wait_server = 0;  // server sockets that enter TIME_WAIT
  uint64_t unmatched_records = 0;  // records for no known connection
  std::vector<Anomaly> anomalies;
  std::vector<Listener> listeners;
  std::vector<Tally> threads, processes;  // most connections first
  uint64_t threads_total = 0, processes_total = 0;
  std::vector<Conn> list;  // longest duration first, at most list_max
  uint64_t list_omitted = 0;
};

class ConnectionAnalysis : public trace::TraceVisitor {
 public:
  ConnectionAnalysis(const trace::FileHeader& header, const Names& names,
                     ConnectionOptions options = {});

  void OnTcpState(const trace::TcpStateEvent& e) override;
  void OnTcpAccept(const trace::TcpAcceptEvent& e) override;
  void OnTcpConnect(const trace::TcpConnectEvent& e) override;
  void OnTcpReset(const trace::TcpResetEvent& e) override;
  void OnTcpServe(const trace::TcpServeEvent& e) override;
  void OnTcpClose(const trace::TcpCloseEvent& e) override;
  void OnTcpNetstat(const trace::TcpNetstatEvent& e) override;
  void OnFooter(const trace::Footer& f) override;

  ConnectionsModel Model() const;

  size_t live() const { return live_.size(); }
  size_t held() const { return held_.size(); }

 private:
  enum Role : uint8_t { kUnknown, kServer, kClient };
  struct Tuple {
    uint16_t family = 0;
    trace::TcpAddr saddr{}, daddr{};
    uint16_t sport = 0, dport = 0;
    bool operator==(const Tuple&) const = default;
  };
  struct TupleHash {
    size_t operator()(const Tuple& t) const;
  };
  struct Key {
    uint64_t sk = 0, gen = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.sk * 0x9e3779b97f4a7c15ull ^ k.gen);
    }
  };
  struct ServingAcc {
    uint32_t tid = 0, pid = 0;
    uint64_t from_ns = 0, bytes_in = 0, bytes_out = 0;
  };
  // A connection while it lives (and is held after its destroy).
  struct Live {
    uint64_t id = 0;
    Key key;
    Role role = kUnknown;
    bool role_guessed = false;
    Tuple tuple;
    uint32_t pid = 0, tid = 0;  // owner
    std::optional<uint32_t> accept_tid;
    uint64_t opened = 0, established = 0, accepted = 0;
    std::optional<uint64_t> handshake, accept_wait;
    uint8_t state = 0;
    uint64_t state_since = 0;
    // Closing-state times, by state (FIN_WAIT1, FIN_WAIT2, CLOSING,
    // CLOSE_WAIT, LAST_ACK), and which were entered.
    uint64_t in_state[5] = {};
    uint8_t entered = 0;
    // When each ending came first (0: not seen).
    uint64_t local_fin = 0, peer_fin = 0, abort = 0, rst_sent = 0,
             rst_recv = 0, closed = 0;
    uint8_t rst_reason = 0;  // of the first reset sent
    bool simultaneous = false, refused = false;
    uint64_t bytes_in = 0, bytes_out = 0;
    uint32_t retransmits = 0;
    std::vector<ServingAcc> serving;
    uint32_t serving_more = 0;
    int cur = -1;  // index into serving of the thread serving now
    uint64_t cur_in = 0, cur_out = 0;  // totals when it started
    uint32_t last_tid = 0, last_pid = 0;
    bool open_at_start = false, partial = false;
    bool queue_full = false;  // established while the accept queue was full
    uint64_t listener = 0;    // the listening sock it was accepted from
  };
  struct ListenerAcc {
    uint16_t family = 0;
    trace::TcpAddr addr{};
    uint32_t pid = 0;
    std::vector<uint64_t> socks;  // listening sk addresses seen (bounded)
    uint64_t accepted = 0;
    uint32_t max_seen = 0, max_ack = 0;
    uint64_t full = 0;
  };
  struct TallyAcc {
    uint32_t pid = 0;
    uint64_t connections = 0, accepted = 0, bytes_in = 0, bytes_out = 0;
    std::vector<uint64_t> listeners;  // processes: listening socks accepted from
    // One connection served, by this thread or process (`pid`).
    void Served(uint32_t owner, uint64_t in, uint64_t out) {
      pid = owner;
      ++connections;
      bytes_in += in;
      bytes_out += out;
    }
  };
  struct AnomalyAcc {
    std::vector<uint64_t> ids;
    uint64_t total = 0;
    uint64_t max_ns = 0;  // CLOSE_WAIT: the longest
  };
  // Everything a finished connection adds to; copied by Model().
  struct Agg {
    uint64_t total = 0, servers = 0, clients = 0;
    uint64_t closed_by_server = 0, closed_by_client = 0, open = 0;
    uint64_t fin = 0, rst = 0, unknown = 0;
    uint64_t open_at_start = 0, open_at_end = 0;
    uint64_t partial_conns = 0;
    uint64_t time_wait_server = 0, server_fin_first = 0, server_conns_closed = 0;
    LogLinearHistogram<64, 4> accept_wait;
    std::unordered_map<uint32_t, TallyAcc> threads, processes;
    AnomalyAcc close_wait;
    std::map<std::string, AnomalyAcc> resets;  // by close_reason
    AnomalyAcc queue_full, time_wait;
    // The longest connections: a min-heap on duration of at most list_max.
    std::vector<ConnectionsModel::Conn> top;
    uint64_t omitted = 0;
  };

  Live* Find(uint64_t sk, uint64_t gen);
  Live* FindTuple(const Tuple& t);
  Live& Open(uint64_t sk, uint64_t gen, uint64_t ts, Role role);
  void SetTuple(Live& c, uint16_t family, const trace::TcpAddr& s,
                const trace::TcpAddr& d, uint16_t sport, uint16_t dport);
  void SetOwner(Live& c, uint32_t pid, uint32_t tid);
  Role GuessRole(const Tuple& t) const;
  ListenerAcc& ListenerFor(uint16_t family, const trace::TcpAddr& a, uint16_t port);
  void Advance(uint64_t ts);
  void Finish(Live c, bool at_end, uint64_t end_ns, Agg& agg) const;
  void AddId(AnomalyAcc& a, uint64_t id) const;

  trace::FileHeader header_;
  const Names& names_;
  ConnectionOptions options_;
  uint64_t start_ns_;
  uint64_t last_ts_ = 0, end_ns_ = 0;
  uint64_t next_id_ = 1;
  bool recorded_ = false;

  std::unordered_map<Key, Live, KeyHash> live_;
  // Destroyed, waiting hold_ns for late resets: oldest first.
  std::deque<Live> held_;
  uint64_t held_popped_ = 0;  // held_[i] has absolute index held_popped_ + i
  std::unordered_map<Key, uint64_t, KeyHash> held_index_;
  // The newest connection (live or held) of each 4-tuple, for records
  // without a gen (timewait resets).
  std::unordered_map<Tuple, Key, TupleHash> by_tuple_;
  std::unordered_map<uint64_t, uint64_t> live_by_sk_;  // sk -> gen
  std::unordered_map<Key, uint16_t, KeyHash> listener_socks_;  // -> port
  std::map<uint16_t, ListenerAcc> listeners_;  // by local port
  Agg agg_;

  uint64_t rst_sent_ = 0, rst_received_ = 0, rst_unmatched_ = 0;
  std::map<std::string, uint64_t> rst_sent_by_reason_;
  uint64_t unmatched_ = 0;
  bool have_netstat_ = false;
  uint64_t netstat_samples_ = 0;
  trace::TcpNetstatEvent first_netstat_, last_netstat_;
  bool have_footer_ = false;
  std::optional<uint64_t> lost_;
  uint64_t conns_full_ = 0;
};

}  // namespace faultline::analyzer
