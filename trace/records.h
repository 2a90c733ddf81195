// The layout of every version-2 record type, written once and used by both
// the writer (raw BPF struct -> bytes) and the reader (bytes -> decoded
// event struct). docs/trace-format.md, "Version 2", shows the result byte by
// byte; "Adding a record type" is the recipe.
//
// Most record types are a RecordDesc: a constexpr list of Fields, each
// naming an encoding and the member of the raw struct and of the decoded
// struct it maps. EncodeBody() and DecodeBody() walk that list (templates:
// the compiler unrolls them). Records whose raw struct starts with struct
// fl_hdr (the events) begin with the header's time (delta vs the previous
// record of the same type in the block) and cpu; the decoded struct gets
// `ts_ns`, `cpu` and, when it has one, `type`.
//
// Four record types are coded by hand, each as an Encode/Decode pair next to
// each other below: the fault run (the hot path: one record of many
// delta-encoded faults, each with a presence mask), the opaque record (a raw
// type the writer did not know), stacks and summary entries (arrays).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpf/faultline.h"
#include "trace/events.h"
#include "trace/format.h"

namespace faultline::trace {

// How one field is written.
enum class Enc : uint8_t {
  kVarint,   // unsigned LEB128
  kSvarint,  // zigzag, then LEB128 (signed fields)
  kDelta,    // svarint of (value - this field's value in the previous record
             // of the same type in this block; 0 at the block start)
  kU8,       // one byte
  kBytes,    // varint length + bytes. Raw side: char[N] (up to the first NUL,
             // at most N) or std::string_view; decoded side: string_view.
             // The reader refuses more than N (or max_len) bytes.
             // Raw side __u8[N] (binary, e.g. an address): the N bytes
             // without their trailing zeros; decoded side
             // std::array<uint8_t, N>, zero-filled after the bytes read.
};

// One field: its name (faultline script, docs), its encoding, and where it
// lives in the raw struct and in the decoded struct.
template <class Raw, class RawT, class Ev, class EvT>
struct Field {
  using RawType = RawT;
  const char* name;
  Enc enc;
  RawT Raw::*raw;
  EvT Ev::*ev;
  size_t max_len = kMaxStringBytes;  // kBytes with a string_view raw side
};
template <class Raw, class RawT, class Ev, class EvT>
Field(const char*, Enc, RawT Raw::*, EvT Ev::*) -> Field<Raw, RawT, Ev, EvT>;

// A record type: the raw struct it encodes, the struct it decodes to, its
// name, the shortest raw record the writer accepts (a char[] at the end may
// be cut short by the ring buffer's record size), and its fields in order.
template <class RawT, class EvT, class... F>
struct RecordDesc {
  using Raw = RawT;
  using Event = EvT;
  static constexpr size_t kFields = sizeof...(F);
  const char* name;
  size_t min_size;
  std::tuple<F...> fields;
  // Fields [required, kFields) were appended after the type first shipped:
  // a body that ends before one of them (an older writer's) decodes, the
  // missing fields keep the decoded struct's defaults.
  size_t required = kFields;
};
template <class Raw, class Ev, class... F>
constexpr RecordDesc<Raw, Ev, F...> MakeRecord(const char* name, size_t min_size,
                                               F... f) {
  return {name, min_size, std::tuple<F...>(f...)};
}
// `d` with only its first `required` fields required (see above): how a
// field is appended to a record type without a version bump.
template <class D>
constexpr D WithRequiredFields(D d, size_t required) {
  d.required = required;
  return d;
}

template <class Raw>
concept HasRecordHeader = requires(const Raw& r) {
  { r.hdr } -> std::convertible_to<const fl_hdr&>;
};

// The field names of a record type, in order (without the header's ts/cpu).
template <class D>
constexpr std::array<const char*, D::kFields> FieldNames(const D& d) {
  return std::apply([](const auto&... f) {
    return std::array<const char*, D::kFields>{f.name...};
  }, d.fields);
}

// ---- The descriptors ---------------------------------------------------------

// Events block, FL_EV_MMAP/MUNMAP/MREMAP/BRK/MPROTECT (struct fl_mmap).
inline constexpr auto kMmapRecord = MakeRecord<fl_mmap, MmapEvent>(
    "mmap", offsetof(fl_mmap, path),
    Field{"pid", Enc::kDelta, &fl_mmap::pid, &MmapEvent::pid},
    Field{"tid", Enc::kDelta, &fl_mmap::tid, &MmapEvent::tid},
    Field{"start", Enc::kVarint, &fl_mmap::start, &MmapEvent::start},
    Field{"len", Enc::kVarint, &fl_mmap::len, &MmapEvent::len},
    Field{"pgoff", Enc::kVarint, &fl_mmap::pgoff, &MmapEvent::pgoff},
    Field{"aux", Enc::kVarint, &fl_mmap::aux, &MmapEvent::aux},
    Field{"prot", Enc::kVarint, &fl_mmap::prot, &MmapEvent::prot},
    Field{"flags", Enc::kVarint, &fl_mmap::flags, &MmapEvent::flags},
    Field{"fd", Enc::kSvarint, &fl_mmap::fd, &MmapEvent::fd},
    Field{"path", Enc::kBytes, &fl_mmap::path, &MmapEvent::path});

// Events block, FL_EV_FORK/EXEC/EXIT (struct fl_task).
inline constexpr auto kTaskRecord = MakeRecord<fl_task, TaskEvent>(
    "task", offsetof(fl_task, path),
    Field{"pid", Enc::kDelta, &fl_task::pid, &TaskEvent::pid},
    Field{"tid", Enc::kDelta, &fl_task::tid, &TaskEvent::tid},
    Field{"parent_pid", Enc::kDelta, &fl_task::parent_pid, &TaskEvent::parent_pid},
    Field{"parent_tid", Enc::kDelta, &fl_task::parent_tid, &TaskEvent::parent_tid},
    Field{"exit_code", Enc::kSvarint, &fl_task::exit_code, &TaskEvent::exit_code},
    Field{"is_thread", Enc::kVarint, &fl_task::is_thread, &TaskEvent::is_thread},
    Field{"comm", Enc::kBytes, &fl_task::comm, &TaskEvent::comm},
    Field{"path", Enc::kBytes, &fl_task::path, &TaskEvent::path});

// Events block, FL_EV_TLB_FLUSH (struct fl_tlb).
inline constexpr auto kTlbRecord = MakeRecord<fl_tlb, TlbEvent>(
    "tlb", sizeof(fl_tlb),
    Field{"pid", Enc::kDelta, &fl_tlb::pid, &TlbEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tlb::tid, &TlbEvent::tid},
    Field{"reason", Enc::kSvarint, &fl_tlb::reason, &TlbEvent::reason},
    Field{"pages", Enc::kVarint, &fl_tlb::pages, &TlbEvent::pages});

// Events block, TCP (bpf/faultline.h, "TCP connections"). FL_EV_TCP_STATE
// and FL_EV_TCP_SEEN (struct fl_tcp_state).
inline constexpr auto kTcpStateRecord = MakeRecord<fl_tcp_state, TcpStateEvent>(
    "tcp_state", sizeof(fl_tcp_state),
    Field{"sk", Enc::kDelta, &fl_tcp_state::sk, &TcpStateEvent::sk},
    Field{"gen", Enc::kDelta, &fl_tcp_state::gen, &TcpStateEvent::gen},
    Field{"saddr", Enc::kBytes, &fl_tcp_state::saddr, &TcpStateEvent::saddr},
    Field{"daddr", Enc::kBytes, &fl_tcp_state::daddr, &TcpStateEvent::daddr},
    Field{"sport", Enc::kVarint, &fl_tcp_state::sport, &TcpStateEvent::sport},
    Field{"dport", Enc::kVarint, &fl_tcp_state::dport, &TcpStateEvent::dport},
    Field{"family", Enc::kVarint, &fl_tcp_state::family, &TcpStateEvent::family},
    Field{"old_state", Enc::kU8, &fl_tcp_state::old_state, &TcpStateEvent::old_state},
    Field{"new_state", Enc::kU8, &fl_tcp_state::new_state, &TcpStateEvent::new_state},
    Field{"pid", Enc::kDelta, &fl_tcp_state::pid, &TcpStateEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tcp_state::tid, &TcpStateEvent::tid},
    Field{"cur_pid", Enc::kDelta, &fl_tcp_state::cur_pid, &TcpStateEvent::cur_pid},
    Field{"cur_tid", Enc::kDelta, &fl_tcp_state::cur_tid, &TcpStateEvent::cur_tid},
    Field{"backlog", Enc::kVarint, &fl_tcp_state::backlog, &TcpStateEvent::backlog},
    Field{"max_backlog", Enc::kVarint, &fl_tcp_state::max_backlog,
          &TcpStateEvent::max_backlog});

// Events block, FL_EV_TCP_ACCEPT (struct fl_tcp_accept).
inline constexpr auto kTcpAcceptRecord = MakeRecord<fl_tcp_accept, TcpAcceptEvent>(
    "tcp_accept", sizeof(fl_tcp_accept),
    Field{"sk", Enc::kDelta, &fl_tcp_accept::sk, &TcpAcceptEvent::sk},
    Field{"gen", Enc::kDelta, &fl_tcp_accept::gen, &TcpAcceptEvent::gen},
    Field{"listener", Enc::kDelta, &fl_tcp_accept::listener, &TcpAcceptEvent::listener},
    Field{"established_ns", Enc::kDelta, &fl_tcp_accept::established_ns,
          &TcpAcceptEvent::established_ns},
    Field{"saddr", Enc::kBytes, &fl_tcp_accept::saddr, &TcpAcceptEvent::saddr},
    Field{"daddr", Enc::kBytes, &fl_tcp_accept::daddr, &TcpAcceptEvent::daddr},
    Field{"pid", Enc::kDelta, &fl_tcp_accept::pid, &TcpAcceptEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tcp_accept::tid, &TcpAcceptEvent::tid},
    Field{"backlog", Enc::kVarint, &fl_tcp_accept::backlog, &TcpAcceptEvent::backlog},
    Field{"max_backlog", Enc::kVarint, &fl_tcp_accept::max_backlog,
          &TcpAcceptEvent::max_backlog},
    Field{"fd", Enc::kSvarint, &fl_tcp_accept::fd, &TcpAcceptEvent::fd},
    Field{"sport", Enc::kVarint, &fl_tcp_accept::sport, &TcpAcceptEvent::sport},
    Field{"dport", Enc::kVarint, &fl_tcp_accept::dport, &TcpAcceptEvent::dport},
    Field{"family", Enc::kVarint, &fl_tcp_accept::family, &TcpAcceptEvent::family},
    Field{"state", Enc::kU8, &fl_tcp_accept::state, &TcpAcceptEvent::state});

// Events block, FL_EV_TCP_CONNECT (struct fl_tcp_connect).
inline constexpr auto kTcpConnectRecord = MakeRecord<fl_tcp_connect, TcpConnectEvent>(
    "tcp_connect", sizeof(fl_tcp_connect),
    Field{"sk", Enc::kDelta, &fl_tcp_connect::sk, &TcpConnectEvent::sk},
    Field{"gen", Enc::kDelta, &fl_tcp_connect::gen, &TcpConnectEvent::gen},
    Field{"saddr", Enc::kBytes, &fl_tcp_connect::saddr, &TcpConnectEvent::saddr},
    Field{"daddr", Enc::kBytes, &fl_tcp_connect::daddr, &TcpConnectEvent::daddr},
    Field{"pid", Enc::kDelta, &fl_tcp_connect::pid, &TcpConnectEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tcp_connect::tid, &TcpConnectEvent::tid},
    Field{"fd", Enc::kSvarint, &fl_tcp_connect::fd, &TcpConnectEvent::fd},
    Field{"ret", Enc::kSvarint, &fl_tcp_connect::ret, &TcpConnectEvent::ret},
    Field{"sport", Enc::kVarint, &fl_tcp_connect::sport, &TcpConnectEvent::sport},
    Field{"dport", Enc::kVarint, &fl_tcp_connect::dport, &TcpConnectEvent::dport},
    Field{"family", Enc::kVarint, &fl_tcp_connect::family, &TcpConnectEvent::family},
    Field{"state", Enc::kU8, &fl_tcp_connect::state, &TcpConnectEvent::state});

// Events block, FL_EV_TCP_RESET (struct fl_tcp_reset).
inline constexpr auto kTcpResetRecord = MakeRecord<fl_tcp_reset, TcpResetEvent>(
    "tcp_reset", sizeof(fl_tcp_reset),
    Field{"sk", Enc::kDelta, &fl_tcp_reset::sk, &TcpResetEvent::sk},
    Field{"gen", Enc::kDelta, &fl_tcp_reset::gen, &TcpResetEvent::gen},
    Field{"saddr", Enc::kBytes, &fl_tcp_reset::saddr, &TcpResetEvent::saddr},
    Field{"daddr", Enc::kBytes, &fl_tcp_reset::daddr, &TcpResetEvent::daddr},
    Field{"pid", Enc::kDelta, &fl_tcp_reset::pid, &TcpResetEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tcp_reset::tid, &TcpResetEvent::tid},
    Field{"cur_pid", Enc::kDelta, &fl_tcp_reset::cur_pid, &TcpResetEvent::cur_pid},
    Field{"cur_tid", Enc::kDelta, &fl_tcp_reset::cur_tid, &TcpResetEvent::cur_tid},
    Field{"sport", Enc::kVarint, &fl_tcp_reset::sport, &TcpResetEvent::sport},
    Field{"dport", Enc::kVarint, &fl_tcp_reset::dport, &TcpResetEvent::dport},
    Field{"family", Enc::kVarint, &fl_tcp_reset::family, &TcpResetEvent::family},
    Field{"kernel_reason", Enc::kVarint, &fl_tcp_reset::kernel_reason,
          &TcpResetEvent::kernel_reason},
    Field{"state", Enc::kU8, &fl_tcp_reset::state, &TcpResetEvent::state},
    Field{"reason", Enc::kU8, &fl_tcp_reset::reason, &TcpResetEvent::reason},
    Field{"flags", Enc::kU8, &fl_tcp_reset::flags, &TcpResetEvent::flags});

// Events block, FL_EV_TCP_SERVE (struct fl_tcp_serve).
inline constexpr auto kTcpServeRecord = MakeRecord<fl_tcp_serve, TcpServeEvent>(
    "tcp_serve", sizeof(fl_tcp_serve),
    Field{"sk", Enc::kDelta, &fl_tcp_serve::sk, &TcpServeEvent::sk},
    Field{"gen", Enc::kDelta, &fl_tcp_serve::gen, &TcpServeEvent::gen},
    Field{"bytes_in", Enc::kVarint, &fl_tcp_serve::bytes_in, &TcpServeEvent::bytes_in},
    Field{"bytes_out", Enc::kVarint, &fl_tcp_serve::bytes_out, &TcpServeEvent::bytes_out},
    Field{"pid", Enc::kDelta, &fl_tcp_serve::pid, &TcpServeEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tcp_serve::tid, &TcpServeEvent::tid},
    Field{"prev_tid", Enc::kDelta, &fl_tcp_serve::prev_tid, &TcpServeEvent::prev_tid},
    Field{"len", Enc::kSvarint, &fl_tcp_serve::len, &TcpServeEvent::len},
    Field{"send", Enc::kU8, &fl_tcp_serve::send, &TcpServeEvent::send});

// Events block, FL_EV_TCP_CLOSE (struct fl_tcp_close).
inline constexpr auto kTcpCloseRecord = MakeRecord<fl_tcp_close, TcpCloseEvent>(
    "tcp_close", sizeof(fl_tcp_close),
    Field{"sk", Enc::kDelta, &fl_tcp_close::sk, &TcpCloseEvent::sk},
    Field{"gen", Enc::kDelta, &fl_tcp_close::gen, &TcpCloseEvent::gen},
    Field{"bytes_in", Enc::kVarint, &fl_tcp_close::bytes_in, &TcpCloseEvent::bytes_in},
    Field{"bytes_out", Enc::kVarint, &fl_tcp_close::bytes_out, &TcpCloseEvent::bytes_out},
    Field{"saddr", Enc::kBytes, &fl_tcp_close::saddr, &TcpCloseEvent::saddr},
    Field{"daddr", Enc::kBytes, &fl_tcp_close::daddr, &TcpCloseEvent::daddr},
    Field{"pid", Enc::kDelta, &fl_tcp_close::pid, &TcpCloseEvent::pid},
    Field{"tid", Enc::kDelta, &fl_tcp_close::tid, &TcpCloseEvent::tid},
    Field{"last_tid", Enc::kDelta, &fl_tcp_close::last_tid, &TcpCloseEvent::last_tid},
    Field{"retransmits", Enc::kVarint, &fl_tcp_close::retransmits,
          &TcpCloseEvent::retransmits},
    Field{"sport", Enc::kVarint, &fl_tcp_close::sport, &TcpCloseEvent::sport},
    Field{"dport", Enc::kVarint, &fl_tcp_close::dport, &TcpCloseEvent::dport},
    Field{"family", Enc::kVarint, &fl_tcp_close::family, &TcpCloseEvent::family},
    Field{"state", Enc::kU8, &fl_tcp_close::state, &TcpCloseEvent::state});

// Events block, FL_EV_TCP_NETSTAT (struct fl_tcp_netstat; the collector
// writes it).
inline constexpr auto kTcpNetstatRecord = MakeRecord<fl_tcp_netstat, TcpNetstatEvent>(
    "tcp_netstat", sizeof(fl_tcp_netstat),
    Field{"listen_overflows", Enc::kDelta, &fl_tcp_netstat::listen_overflows,
          &TcpNetstatEvent::listen_overflows},
    Field{"listen_drops", Enc::kDelta, &fl_tcp_netstat::listen_drops,
          &TcpNetstatEvent::listen_drops},
    Field{"abort_on_data", Enc::kDelta, &fl_tcp_netstat::abort_on_data,
          &TcpNetstatEvent::abort_on_data},
    Field{"abort_on_close", Enc::kDelta, &fl_tcp_netstat::abort_on_close,
          &TcpNetstatEvent::abort_on_close},
    Field{"abort_on_linger", Enc::kDelta, &fl_tcp_netstat::abort_on_linger,
          &TcpNetstatEvent::abort_on_linger},
    Field{"abort_on_timeout", Enc::kDelta, &fl_tcp_netstat::abort_on_timeout,
          &TcpNetstatEvent::abort_on_timeout},
    Field{"phase", Enc::kVarint, &fl_tcp_netstat::phase, &TcpNetstatEvent::phase});

// Metadata block. The writer fills the decoded struct and encodes that.
inline constexpr auto kProcessRecord = MakeRecord<ProcessInfo, ProcessInfo>(
    "process", 0,
    Field{"pid", Enc::kVarint, &ProcessInfo::pid, &ProcessInfo::pid},
    Field{"ppid", Enc::kVarint, &ProcessInfo::ppid, &ProcessInfo::ppid},
    Field{"comm", Enc::kBytes, &ProcessInfo::comm, &ProcessInfo::comm},
    Field{"exe", Enc::kBytes, &ProcessInfo::exe, &ProcessInfo::exe});
inline constexpr auto kThreadRecord = MakeRecord<ThreadInfo, ThreadInfo>(
    "thread", 0,
    Field{"pid", Enc::kVarint, &ThreadInfo::pid, &ThreadInfo::pid},
    Field{"tid", Enc::kVarint, &ThreadInfo::tid, &ThreadInfo::tid},
    Field{"comm", Enc::kBytes, &ThreadInfo::comm, &ThreadInfo::comm});
inline constexpr auto kMappingRecord = MakeRecord<MappingInfo, MappingInfo>(
    "mapping", 0,
    Field{"pid", Enc::kVarint, &MappingInfo::pid, &MappingInfo::pid},
    Field{"start", Enc::kDelta, &MappingInfo::start, &MappingInfo::start},
    Field{"end", Enc::kDelta, &MappingInfo::end, &MappingInfo::end},
    Field{"pgoff", Enc::kVarint, &MappingInfo::pgoff, &MappingInfo::pgoff},
    Field{"prot", Enc::kVarint, &MappingInfo::prot, &MappingInfo::prot},
    Field{"ts_ns", Enc::kDelta, &MappingInfo::ts_ns, &MappingInfo::ts_ns},
    Field{"path", Enc::kBytes, &MappingInfo::path, &MappingInfo::path});

// Events block, FL_EV_USDT (struct fl_usdt; variable length: the ring
// gets the record up to path's NUL).
inline constexpr auto kUsdtRecord = MakeRecord<fl_usdt, UsdtEvent>(
    "usdt", offsetof(fl_usdt, path),
    Field{"probe", Enc::kVarint, &fl_usdt::probe, &UsdtEvent::probe},
    Field{"conn_id", Enc::kDelta, &fl_usdt::conn_id, &UsdtEvent::conn_id},
    Field{"pid", Enc::kDelta, &fl_usdt::pid, &UsdtEvent::pid},
    Field{"tid", Enc::kDelta, &fl_usdt::tid, &UsdtEvent::tid},
    Field{"stream_id", Enc::kSvarint, &fl_usdt::stream_id, &UsdtEvent::stream_id},
    Field{"value", Enc::kSvarint, &fl_usdt::value, &UsdtEvent::value},
    Field{"arg_tid", Enc::kSvarint, &fl_usdt::arg_tid, &UsdtEvent::arg_tid},
    Field{"body_bytes", Enc::kVarint, &fl_usdt::body_bytes, &UsdtEvent::body_bytes},
    Field{"duration_ns", Enc::kVarint, &fl_usdt::duration_ns, &UsdtEvent::duration_ns},
    Field{"name", Enc::kBytes, &fl_usdt::name, &UsdtEvent::name},
    Field{"path", Enc::kBytes, &fl_usdt::path, &UsdtEvent::path});

// Calls fn(descriptor) for the descriptor of events-block record `type`
// (the raw record's fl_hdr.type); false for a type without one (the fault
// run and opaque records are coded by hand). The writer and the reader both
// dispatch through here: a new event record type is one more case.
template <class Fn>
inline bool WithEventRecord(uint32_t type, Fn&& fn) {
  switch (type) {
    case FL_EV_MMAP:
    case FL_EV_MUNMAP:
    case FL_EV_MREMAP:
    case FL_EV_BRK:
    case FL_EV_MPROTECT:
      fn(kMmapRecord);
      return true;
    case FL_EV_FORK:
    case FL_EV_EXEC:
    case FL_EV_EXIT:
      fn(kTaskRecord);
      return true;
    case FL_EV_TLB_FLUSH:
      fn(kTlbRecord);
      return true;
    case FL_EV_TCP_STATE:
    case FL_EV_TCP_SEEN:
      fn(kTcpStateRecord);
      return true;
    case FL_EV_TCP_ACCEPT:
      fn(kTcpAcceptRecord);
      return true;
    case FL_EV_TCP_CONNECT:
      fn(kTcpConnectRecord);
      return true;
    case FL_EV_TCP_RESET:
      fn(kTcpResetRecord);
      return true;
    case FL_EV_TCP_SERVE:
      fn(kTcpServeRecord);
      return true;
    case FL_EV_TCP_CLOSE:
      fn(kTcpCloseRecord);
      return true;
    case FL_EV_TCP_NETSTAT:
      fn(kTcpNetstatRecord);
      return true;
    case FL_EV_USDT:
      fn(kUsdtRecord);
      return true;
    default:
      return false;
  }
}

// The field names of event record `type` (fl_hdr.type) in order, header
// first ("ts_ns", "cpu"); empty for a type without a descriptor (faults,
// opaque, unknown). For tools that print records generically.
inline std::vector<std::string_view> EventFieldNames(uint32_t type) {
  std::vector<std::string_view> names;
  WithEventRecord(type, [&](const auto& d) {
    names = {"ts_ns", "cpu"};
    for (const char* n : FieldNames(d)) names.push_back(n);
  });
  return names;
}

// ---- Generic encode / decode ---------------------------------------------------

namespace records_internal {

template <class T>
constexpr uint64_t ToU64(T v) {
  if constexpr (std::is_signed_v<T>) {
    return static_cast<uint64_t>(static_cast<int64_t>(v));
  } else {
    return static_cast<uint64_t>(v);
  }
}
// Whether `u` (as ToU64 makes it) is a value of T.
template <class T>
constexpr bool Fits(uint64_t u) {
  if constexpr (std::is_signed_v<T>) {
    auto s = static_cast<int64_t>(u);
    return s >= std::numeric_limits<T>::min() && s <= std::numeric_limits<T>::max();
  } else {
    return u <= std::numeric_limits<T>::max();
  }
}

// __u8[N] on the raw side: binary bytes (Enc::kBytes, trailing zeros cut).
template <class T>
inline constexpr bool kIsBinary =
    std::is_array_v<T> && std::is_same_v<std::remove_extent_t<T>, uint8_t>;
template <class T>
struct IsByteArray : std::false_type {};
template <size_t N>
struct IsByteArray<std::array<uint8_t, N>> : std::true_type {};

template <class T>
inline constexpr bool kIsBytes =
    std::is_array_v<T> || std::is_same_v<T, std::string_view>;

template <class F, class Raw>
inline void PutField(const F& f, const Raw& r, uint64_t& prev, std::string& out) {
  const auto& v = r.*(f.raw);
  using T = std::remove_cvref_t<decltype(v)>;
  if constexpr (kIsBinary<T>) {
    size_t n = std::extent_v<T>;
    while (n > 0 && v[n - 1] == 0) --n;
    PutBytes(out, std::string_view(reinterpret_cast<const char*>(v), n));
  } else if constexpr (std::is_array_v<T>) {
    constexpr size_t kN = std::extent_v<T>;
    PutBytes(out, std::string_view(v, strnlen(v, kN)));
  } else if constexpr (std::is_same_v<T, std::string_view>) {
    PutBytes(out, v.substr(0, f.max_len));
  } else {
    const uint64_t u = ToU64(v);
    switch (f.enc) {
      case Enc::kVarint: PutVarint(out, u); break;
      case Enc::kSvarint: PutSigned(out, static_cast<int64_t>(u)); break;
      case Enc::kDelta:
        PutSigned(out, static_cast<int64_t>(u - prev));
        prev = u;
        break;
      case Enc::kU8: out.push_back(static_cast<char>(u)); break;
      case Enc::kBytes: break;  // not an integer encoding
    }
  }
}

// False when the bytes do not decode or the value does not fit the field.
template <class F, class Ev>
inline bool GetField(const F& f, ByteCursor& c, uint64_t& prev, Ev& e) {
  auto& dst = e.*(f.ev);
  using T = std::remove_cvref_t<decltype(dst)>;
  using RawT = std::remove_cvref_t<decltype(std::declval<typename F::RawType>())>;
  if constexpr (IsByteArray<T>::value) {
    const std::string_view b = c.Bytes(std::tuple_size_v<T>);
    if (!c.ok()) return false;
    dst = {};
    std::memcpy(dst.data(), b.data(), b.size());
    return true;
  } else if constexpr (std::is_same_v<T, std::string_view>) {
    size_t max = f.max_len;
    if constexpr (std::is_array_v<RawT>) max = std::extent_v<RawT>;
    dst = c.Bytes(max);
    return c.ok();
  } else {
    uint64_t u = 0;
    switch (f.enc) {
      case Enc::kVarint: u = c.Varint(); break;
      case Enc::kSvarint: u = static_cast<uint64_t>(c.Signed()); break;
      case Enc::kDelta:
        u = prev + static_cast<uint64_t>(c.Signed());
        prev = u;
        break;
      case Enc::kU8: u = c.Byte(); break;
      case Enc::kBytes: return false;
    }
    if (!c.ok() || !Fits<T>(u)) return false;
    dst = static_cast<T>(u);
    return true;
  }
}

}  // namespace records_internal

// Appends the body of one record of descriptor `d` from raw `r`; `state`
// holds kMaxDeltaFields delta slots of this record type (slot 0: the
// header's time).
template <class D>
inline void EncodeBody(const D& d, const typename D::Raw& r, uint64_t* state,
                       std::string& out) {
  static_assert(D::kFields + 1 <= kMaxDeltaFields);
  if constexpr (HasRecordHeader<typename D::Raw>) {
    PutSigned(out, static_cast<int64_t>(r.hdr.ts_ns - state[0]));
    state[0] = r.hdr.ts_ns;
    PutVarint(out, r.hdr.cpu);
  }
  [&]<size_t... I>(std::index_sequence<I...>) {
    (records_internal::PutField(std::get<I>(d.fields), r, state[I + 1], out), ...);
  }(std::make_index_sequence<D::kFields>{});
}

// Decodes one body into `e` (string_views point into the cursor's bytes).
// Bytes after the last known field are left in `c` (a newer writer's
// appended fields): the caller ignores them.
template <class D>
inline bool DecodeBody(const D& d, ByteCursor& c, uint64_t* state,
                       typename D::Event& e) {
  if constexpr (HasRecordHeader<typename D::Raw>) {
    state[0] += static_cast<uint64_t>(c.Signed());
    e.ts_ns = state[0];
    uint64_t cpu = c.Varint();
    if (!c.ok() || cpu > 0xffff) return false;
    e.cpu = static_cast<uint16_t>(cpu);
  }
  bool ended = false;  // the body ended before an appended field
  return [&]<size_t... I>(std::index_sequence<I...>) {
    return ([&] {
      if (ended) return true;
      if (I >= d.required && c.done()) return ended = true;
      return records_internal::GetField(std::get<I>(d.fields), c, state[I + 1], e);
    }() && ...);
  }(std::make_index_sequence<D::kFields>{});
}

// ---- Hand-coded records ----------------------------------------------------------

// Fault (one entry of a fault run; also version 1's fault record). The
// writer's delta state; the reader keeps the previous FaultEvent instead.
struct FaultDeltas {
  uint64_t ts = 0, addr = 0, ip = 0;
  uint32_t pid = 0, tid = 0;
  uint16_t code = 0;
  uint8_t outcome = 0, flags = 0;
  uint16_t cpu = 0;
  int32_t stack = 0;
};
// Tag, ts 10, address 10, latency 5, pid 5 + tid 10, ip 10, code 3 + 2,
// cpu 3, stack 5: at most 64 bytes.
inline constexpr size_t kMaxFaultBytes = 64;

// Writes one fault at `p` (room for kMaxFaultBytes); returns the end.
inline char* EncodeFault(char* p, const fl_fault_slim& f, uint16_t cpu,
                         FaultDeltas& s) {
  uint8_t mask = 0;
  if (f.pid != s.pid || f.tid != s.tid) mask |= kFaultHasTask;
  if (f.ip != s.ip) mask |= kFaultHasIp;
  if (f.error_code != s.code || f.outcome != s.outcome || f.flags != s.flags)
    mask |= kFaultHasCode;
  if (cpu != s.cpu) mask |= kFaultHasCpu;
  if (f.stack_id != s.stack) mask |= kFaultHasStack;
  *p++ = static_cast<char>(kTagFaultBase | mask);
  p = PutSigned(p, static_cast<int64_t>(f.ts_ns - s.ts));
  p = PutSigned(p, static_cast<int64_t>(f.address - s.addr));
  p = PutVarint(p, f.latency_ns);
  if (mask & kFaultHasTask) {
    p = PutVarint(p, f.pid);
    p = PutSigned(p, int64_t{f.tid} - int64_t{f.pid});
  }
  if (mask & kFaultHasIp) p = PutSigned(p, static_cast<int64_t>(f.ip - s.ip));
  if (mask & kFaultHasCode) {
    p = PutVarint(p, f.error_code);
    *p++ = static_cast<char>(f.outcome);
    *p++ = static_cast<char>(f.flags);
  }
  if (mask & kFaultHasCpu) p = PutVarint(p, cpu);
  if (mask & kFaultHasStack) p = PutSigned(p, f.stack_id);
  s.ts = f.ts_ns;
  s.addr = f.address;
  s.ip = f.ip;
  s.pid = f.pid;
  s.tid = f.tid;
  s.code = f.error_code;
  s.outcome = f.outcome;
  s.flags = f.flags;
  s.cpu = cpu;
  s.stack = f.stack_id;
  return p;
}

// Decodes the fault whose tag byte (kTagFaultBase | mask) was just read into
// `f`, which holds the previous fault of the block (absent fields repeat
// it); `ts` is the time the ts delta is relative to. Check c.ok() after.
// Always inlined: the reader's hot loop (cursor and time stay in registers).
[[gnu::always_inline]] inline void DecodeFault(ByteCursor& c, uint8_t tag,
                                              uint64_t& ts, FaultEvent& f) {
  ts += static_cast<uint64_t>(c.Signed());
  f.ts_ns = ts;
  f.address += static_cast<uint64_t>(c.Signed());
  f.latency_ns = c.U32();
  if (tag & kFaultHasTask) {
    // tid - pid deltas are added as unsigned (mod 2^64, then 2^32): a
    // hostile delta near INT64_MAX must not overflow int64_t.
    f.pid = c.U32();
    f.tid = static_cast<uint32_t>(f.pid + static_cast<uint64_t>(c.Signed()));
  }
  if (tag & kFaultHasIp) f.ip += static_cast<uint64_t>(c.Signed());
  if (tag & kFaultHasCode) {
    f.error_code = static_cast<uint16_t>(c.Varint());
    f.outcome = c.Byte();
    f.flags = c.Byte();
  }
  if (tag & kFaultHasCpu) f.cpu = static_cast<uint16_t>(c.Varint());
  if (tag & kFaultHasStack) f.stack_id = static_cast<int32_t>(c.Signed());
}

// Opaque (record type kRecOpaque): a raw record of a type the writer did
// not know. ts delta vs the previous opaque record, cpu, the raw type, the
// bytes after fl_hdr (at most kMaxStringBytes).
inline void EncodeOpaque(const fl_hdr& h, std::string_view body, uint64_t* state,
                         std::string& out) {
  PutSigned(out, static_cast<int64_t>(h.ts_ns - state[0]));
  state[0] = h.ts_ns;
  PutVarint(out, h.cpu);
  PutVarint(out, h.type);
  PutBytes(out, body.substr(0, kMaxStringBytes));
}
inline bool DecodeOpaque(ByteCursor& c, uint64_t* state, OpaqueEvent& o) {
  state[0] += static_cast<uint64_t>(c.Signed());
  o.ts_ns = state[0];
  uint64_t cpu = c.Varint(), type = c.Varint();
  o.body = c.Bytes();
  if (!c.ok() || cpu > 0xffff || type > 0xffff) return false;
  o.cpu = static_cast<uint16_t>(cpu);
  o.type = static_cast<uint16_t>(type);
  return true;
}

// Stack (metadata MetaTag::kStack): svarint stack_id, varint depth (at most
// kMaxStackDepth), depth x svarint ip delta (from 0, then from the previous
// ip), innermost first.
inline void EncodeStack(int32_t stack_id, const uint64_t* ips, size_t depth,
                        std::string& out) {
  PutSigned(out, stack_id);
  PutVarint(out, depth);
  uint64_t prev = 0;
  for (size_t k = 0; k < depth; ++k) {
    PutSigned(out, static_cast<int64_t>(ips[k] - prev));
    prev = ips[k];
  }
}
inline bool DecodeStack(ByteCursor& c, std::vector<uint64_t>& ips, StackInfo& s) {
  uint64_t id = c.Varint();
  uint64_t depth = c.Varint();
  if (!c.ok() || depth > kMaxStackDepth) return false;
  int64_t sid = UnZigZag(id);
  if (sid < INT32_MIN || sid > INT32_MAX) return false;
  s.stack_id = static_cast<int32_t>(sid);
  ips.resize(depth);
  uint64_t ip = 0;
  for (uint64_t k = 0; k < depth; ++k) {
    ip += static_cast<uint64_t>(c.Signed());
    ips[k] = ip;
  }
  if (!c.ok()) return false;
  s.ips = ips;
  return true;
}

// Summary (metadata MetaTag::kSummary): varint pid, kind, count, total_ns,
// max_ns, nbuckets (at most 64), nbuckets x varint. Buckets past
// FL_HIST_BUCKETS (a newer writer) fold into the last one.
inline void EncodeSummary(const fl_summary_key& key, const fl_summary_val& val,
                          std::string& out) {
  PutVarint(out, key.pid);
  PutVarint(out, key.kind);
  PutVarint(out, val.count);
  PutVarint(out, val.total_ns);
  PutVarint(out, val.max_ns);
  PutVarint(out, FL_HIST_BUCKETS);
  for (uint64_t h : val.hist) PutVarint(out, h);
}
inline bool DecodeSummary(ByteCursor& c, SummaryInfo& i) {
  i.key.pid = c.U32();
  i.key.kind = c.U32();
  i.val.count = c.Varint();
  i.val.total_ns = c.Varint();
  i.val.max_ns = c.Varint();
  uint64_t buckets = c.Varint();
  if (!c.ok() || buckets > 64) return false;
  for (uint64_t k = 0; k < buckets; ++k) {
    uint64_t h = c.Varint();
    i.val.hist[k < FL_HIST_BUCKETS ? k : FL_HIST_BUCKETS - 1] += h;
  }
  return c.ok();
}

}  // namespace faultline::trace
