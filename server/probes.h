// USDT probes of faultline-server, provider "faultline" (<sys/sdt.h>).
// Every probe and its arguments is documented in docs/server.md; keep the two
// in step. Argument types are fixed: integers are 64-bit unless noted,
// strings are NUL-terminated char pointers valid only during the probe.
//
//   conn_accepted(u64 conn_id, s32 fd, s32 tid)
//   request_start(u64 conn_id, s32 stream_id, char* method, char* path)
//   request_end(u64 conn_id, s32 stream_id, s32 status, u64 body_bytes,
//               u64 duration_ns)
//   conn_close_decided(u64 conn_id, char* reason)
//   goaway_sent(u64 conn_id, s32 last_stream_id, s32 phase)
//   shutdown_phase(s32 phase, char* name)
//   conn_closed(u64 conn_id, char* how)
#ifndef FAULTLINE_SERVER_PROBES_H_
#define FAULTLINE_SERVER_PROBES_H_

#include <sys/sdt.h>

#define FAULTLINE_PROBE2(name, a, b) DTRACE_PROBE2(faultline, name, a, b)
#define FAULTLINE_PROBE3(name, a, b, c) DTRACE_PROBE3(faultline, name, a, b, c)
#define FAULTLINE_PROBE4(name, a, b, c, d) \
  DTRACE_PROBE4(faultline, name, a, b, c, d)
#define FAULTLINE_PROBE5(name, a, b, c, d, e) \
  DTRACE_PROBE5(faultline, name, a, b, c, d, e)

#endif  // FAULTLINE_SERVER_PROBES_H_
