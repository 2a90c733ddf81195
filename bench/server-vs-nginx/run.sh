#!/bin/bash
# faultline-server (every pattern) against nginx with the same worker count,
# on loopback: wrk (HTTP/1.1 keep-alive, small response) and h2load (h2c,
# prior knowledge). Targets are alternated within each round so that drift
# (thermal, noisy neighbours) hits all of them alike; the table shows the
# median over rounds and the ratio to nginx.
#
#   bench/server-vs-nginx/run.sh [-w WORKERS] [-d SECONDS] [-c CONNS]
#                                [-r ROUNDS] [-p PATTERNS] [-m STREAMS]
#
# Environment: FAULTLINE_BUILD_DIR (default: build) holds faultline-server.
# Every run is bounded: -d seconds each, wrapped in `timeout`.
set -euo pipefail

workers=2
duration=5
conns=50
rounds=3
streams=10
patterns=""  # default: every pattern, as `faultline-server --list-patterns` says
while getopts "w:d:c:r:p:m:h" opt; do
  case $opt in
    w) workers=$OPTARG ;;
    d) duration=$OPTARG ;;
    c) conns=$OPTARG ;;
    r) rounds=$OPTARG ;;
    p) patterns=${OPTARG//,/ } ;;
    m) streams=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FAULTLINE_BUILD_DIR:-$root/build}
server_bin=$build/faultline-server
for tool in wrk h2load nginx; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done
[[ -x $server_bin ]] || { echo "run.sh: $server_bin is not built" >&2; exit 2; }
[[ -n $patterns ]] || patterns=$("$server_bin" --list-patterns | tr '\n' ' ')
(( duration > 0 && duration <= 120 )) || { echo "run.sh: -d must be 1..120" >&2; exit 2; }
(( rounds > 0 && rounds <= 20 )) || { echo "run.sh: -r must be 1..20" >&2; exit 2; }

tmp=$(mktemp -d /tmp/faultline-bench-XXXXXX)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts a target; sets server_pid, h1_port, h2_port.
start_target() {
  local target=$1
  if [[ $target == nginx ]]; then
    h1_port=$(free_port)
    h2_port=$(free_port)
    # Same body as faultline-server's "/"; h2c needs its own port (nginx
    # 1.22: "listen ... http2" without ssl speaks only prior-knowledge h2c).
    cat > "$tmp/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
master_process on;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  default_type text/plain;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$h1_port;
    listen 127.0.0.1:$h2_port http2;
    location / { return 200 "hello from faultline-server\n"; }
  }
}
CONF
    nginx -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/nginx.err" &
    server_pid=$!
    for _ in $(seq 50); do
      curl -s -o /dev/null "http://127.0.0.1:$h1_port/" && return 0
      sleep 0.1
    done
    echo "run.sh: nginx did not start: $(cat "$tmp/nginx.err" "$tmp/nginx-error.log" 2>/dev/null)" >&2
    exit 1
  else
    "$server_bin" --pattern "$target" --port 0 --workers "$workers" \
        --drain-timeout 2 2>"$tmp/server.err" &
    server_pid=$!
    for _ in $(seq 50); do
      if grep -q 'listening on 127.0.0.1:' "$tmp/server.err"; then
        h1_port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/server.err" | head -1 | cut -d: -f2)
        h2_port=$h1_port
        return 0
      fi
      sleep 0.1
    done
    echo "run.sh: faultline-server --pattern $target did not start: $(cat "$tmp/server.err")" >&2
    exit 1
  fi
}

stop_target() {
  kill -TERM "$server_pid" 2>/dev/null || true
  # nginx: TERM is a fast shutdown; faultline-server drains within 2 s.
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Prints requests/s, or "fail".
run_wrk() {
  local out
  out=$(timeout $((duration + 30)) wrk -t 1 -c "$conns" -d "${duration}s" \
        "http://127.0.0.1:$h1_port/" 2>&1) || { echo fail; return; }
  if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
    echo "$out" >> "$tmp/errors.log"; echo fail; return
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

run_h2load() {
  local out
  out=$(timeout $((duration + 30)) h2load -c "$conns" -m "$streams" \
        -D "$duration" "http://127.0.0.1:$h2_port/" 2>&1) || { echo fail; return; }
  # "finished in 5.00s, 123456.78 req/s, ..." and "... 0 failed, 0 errored"
  if ! grep -qE ' 0 failed, 0 errored, 0 timeout' <<<"$out"; then
    echo "$out" >> "$tmp/errors.log"; echo fail; return
  fi
  awk '/^finished in/ {print $4}' <<<"$out"
}

targets=(nginx $patterns)
declare -A wrk_rps h2_rps
echo "# $(date -u +%FT%TZ) workers=$workers duration=${duration}s conns=$conns rounds=$rounds h2-streams=$streams nproc=$(nproc)" >&2
for round in $(seq "$rounds"); do
  # Rotate the order each round.
  order=("${targets[@]:$(( (round - 1) % ${#targets[@]} ))}" "${targets[@]:0:$(( (round - 1) % ${#targets[@]} ))}")
  for t in "${order[@]}"; do
    start_target "$t"
    w=$(run_wrk)
    h=$(run_h2load)
    stop_target
    wrk_rps[$t]+="$w "
    h2_rps[$t]+="$h "
    echo "round $round $t: wrk $w req/s, h2load $h req/s" >&2
  done
done

median() {
  tr ' ' '\n' <<<"$1" | grep -v '^$' | grep -v fail | sort -g |
    awk '{a[NR]=$1} END { if (NR == 0) print "fail"; else if (NR % 2) printf "%.0f\n", a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2 }'
}
ratio() {
  if [[ $1 == fail || $2 == fail ]]; then echo "-"; else awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; fi
}

nginx_w=$(median "${wrk_rps[nginx]}")
nginx_h=$(median "${h2_rps[nginx]}")
printf '| %-16s | %12s | %8s | %14s | %8s |\n' target "wrk req/s" "vs nginx" "h2load req/s" "vs nginx"
printf '|%s|%s|%s|%s|%s|\n' "------------------" "--------------" "----------" "----------------" "----------"
for t in "${targets[@]}"; do
  w=$(median "${wrk_rps[$t]}")
  h=$(median "${h2_rps[$t]}")
  printf '| %-16s | %12s | %8s | %14s | %8s |\n' "$t" "$w" "$(ratio "$w" "$nginx_w")" "$h" "$(ratio "$h" "$nginx_h")"
done
if [[ -s $tmp/errors.log ]]; then
  echo "some runs failed (marked fail; excluded from medians):" >&2
  head -40 "$tmp/errors.log" >&2
fi
