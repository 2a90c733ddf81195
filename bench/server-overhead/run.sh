#!/bin/bash
# What `faultline record` costs a live server: faultline-server's requests/s
# under wrk, untraced, under `faultline record` (streaming) and under
# `faultline record --summary`, side by side. Setups alternate within each
# round; the table shows per setup the median requests/s over rounds and the
# median of each round's ratio to that round's untraced run ("paired"),
# plus the events the recorder lost over all its runs (0 is the only
# acceptable number; it is printed, never hidden).
#
# Workloads: keep-alive small response (`/`), keep-alive with a fresh 64 KiB
# touched per request (`/alloc?kb=64`, 16 faults per request), and a new
# connection per request (`Connection: close`, `/`).
#
#   bench/server-overhead/run.sh [-p PATTERN] [-w WORKERS] [-d SECONDS]
#                                [-c CONNS] [-r ROUNDS] [-l WORKLOADS]
#   (defaults: acceptor-workers, 2 workers, 5 s, 50 connections, 5 rounds,
#    WORKLOADS "keepalive alloc close")
#
# Environment: FAULTLINE_BUILD_DIR (default: build). Needs root and wrk.
set -euo pipefail

pattern=acceptor-workers
workers=2
duration=5
conns=50
rounds=5
workloads="keepalive alloc close"
while getopts "p:w:d:c:r:l:h" opt; do
  case $opt in
    p) pattern=$OPTARG ;;
    w) workers=$OPTARG ;;
    d) duration=$OPTARG ;;
    c) conns=$OPTARG ;;
    r) rounds=$OPTARG ;;
    l) workloads=${OPTARG//,/ } ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FAULTLINE_BUILD_DIR:-$root/build}
server_bin=$build/faultline-server
faultline=$build/faultline
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root" >&2; exit 2; }
command -v wrk >/dev/null || { echo "run.sh: wrk is not installed" >&2; exit 2; }
[[ -x $server_bin && -x $faultline ]] ||
  { echo "run.sh: build $server_bin and $faultline first" >&2; exit 2; }
(( duration > 0 && duration <= 120 )) || { echo "run.sh: -d must be 1..120" >&2; exit 2; }
(( rounds > 0 && rounds <= 50 )) || { echo "run.sh: -r must be 1..50" >&2; exit 2; }

tmp=$(mktemp -d /tmp/faultline-overhead-XXXXXX)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_one SETUP WORKLOAD -> prints requests/s; appends the recorder's lost
# count to $tmp/lost.
run_one() {
  local setup=$1 workload=$2 port path=/ hdr=()
  port=$(free_port)
  local server=("$server_bin" --pattern "$pattern" --port "$port" --workers "$workers")
  case $setup in
    untraced) "${server[@]}" > "$tmp/server.out" 2>&1 & ;;
    faultline) "$faultline" record -o "$tmp/t.flt" -- "${server[@]}" \
                 > "$tmp/server.out" 2> "$tmp/record.err" & ;;
    summary) "$faultline" record --summary -o "$tmp/t.flt" -- "${server[@]}" \
               > "$tmp/server.out" 2> "$tmp/record.err" & ;;
  esac
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.05
  done
  case $workload in
    keepalive) ;;
    alloc) path="/alloc?kb=64" ;;
    close) hdr=(-H "Connection: close") ;;
  esac
  local rps
  rps=$(timeout $((duration + 30)) wrk -t2 -c"$conns" -d"${duration}s" "${hdr[@]}" \
          "http://127.0.0.1:$port$path" | awk '/Requests\/sec/ { print $2 }')
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  if [[ $setup != untraced ]]; then
    local lost
    lost=$(sed -n 's/.*, \([0-9]*\) lost (.*/\1/p' "$tmp/record.err" | tail -1)
    echo "$setup $workload ${lost:-?}" >> "$tmp/lost"
  fi
  echo "${rps:-0}"
}

results=$tmp/results
: > "$results"
: > "$tmp/lost"
echo "# $(date -u '+%F %T') UTC, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) CPUs"
echo "# load before: $(uptime)"
echo "# faultline-server --pattern $pattern --workers $workers; wrk -t2 -c$conns -d${duration}s; $rounds rounds"
for ((r = 1; r <= rounds; r++)); do
  for w in $workloads; do
    for s in untraced faultline summary; do
      echo "$r $w $s $(run_one "$s" "$w")" >> "$results"
    done
  done
done
printf '%-10s %-10s %12s %8s %10s\n' workload setup "req/s median" paired lost
for w in $workloads; do
  for s in untraced faultline summary; do
    med=$(awk -v w="$w" -v s="$s" '$2 == w && $3 == s { print $4 }' "$results" |
          sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    paired=$(awk -v w="$w" -v s="$s" '$2 == w && $3 == "untraced" { u[$1] = $4 }
               $2 == w && $3 == s { v[$1] = $4 }
               END { for (r in v) if (u[r] > 0) print v[r] / u[r] }' "$results" |
             sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    lost=$(awk -v w="$w" -v s="$s" '$1 == s && $2 == w { if ($3 == "?") q = 1; else n += $3 }
             END { print q ? "?" : (s == "untraced" ? "-" : n + 0) }' "$tmp/lost")
    printf '%-10s %-10s %12.0f %8s %10s\n' "$w" "$s" "$med" "$paired" "$lost"
  done
done
echo "# load after: $(uptime)"
