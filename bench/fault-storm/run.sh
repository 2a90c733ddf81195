#!/usr/bin/env bash
# Fault storm: ns per page fault of build/fault-storm run untraced, under
# `faultline record`, `faultline record --summary`, bpftrace doing the same
# entry/completion pairing, `perf trace -F min`, and "floor": empty BPF
# programs on the attach points --summary uses (floor/floor.bpf.c), the
# least any design that pairs a fault's entry with its completion can cost
# on this kernel. Runs are interleaved
# (one of each setup per round), and the best and the median of ROUNDS are
# printed per setup, so a noisy machine (other builds) hurts every setup
# alike; compare the ratios. "paired" is the median over rounds of each
# round's cpu ratio to that round's untraced run, the steadiest of the
# columns on a VM whose speed drifts. "cpu" is the faulting thread's CPU time, "wall"
# the elapsed time (which also counts waiting for a CPU on a busy machine).
#
#   sudo bench/fault-storm/run.sh [BUILD_DIR] [ROUNDS] [MIB]
#   (defaults: build 11 512; SETUPS="untraced floor faultline summary
#   summary-all bpftrace perf" picks setups; "summary" is --summary as it
#   comes (latency of 1 fault in 16), "summary-all" times every fault
#   (--latency-sample 1); SUMMARY_FLAGS adds flags to "summary")
#
# Also prints, for the streaming run, the collector's events and trace bytes
# per event (from its closing summary line and the file size).
set -euo pipefail

build=${1:-build}
rounds=${2:-11}
mib=${3:-512}
setups=${SETUPS:-"untraced floor faultline summary summary-all bpftrace perf"}
summary_flags=${SUMMARY_FLAGS:-}
here=$(cd "$(dirname "$0")" && pwd)
storm="$build/fault-storm"
faultline="$build/faultline"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[[ $(id -u) == 0 ]] || { echo "run.sh: needs root" >&2; exit 2; }
[[ -x $storm && -x $faultline ]] || {
  echo "run.sh: build $storm and $faultline first" >&2; exit 2; }
mountpoint -q /sys/kernel/tracing ||
  mount -t tracefs tracefs /sys/kernel/tracing

if [[ " $setups " == *" floor "* ]]; then
  clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$build/vmlinux" \
    -c "$here/floor/floor.bpf.c" -o "$tmp/floor.bpf.o"
  cc -O2 "$here/costs/loader.c" -lbpf -o "$tmp/loader"
fi

# bpftrace 0.17 cannot share one action between the two software probes
# that read a map, hence two copies.
cat > "$tmp/pair.bt" <<'BT'
tracepoint:exceptions:page_fault_user,
tracepoint:exceptions:page_fault_kernel
/pid == cpid/
{ @start[tid] = nsecs; }
software:minor-faults:1
/@start[tid]/
{ @minor = hist(nsecs - @start[tid]); delete(@start[tid]); }
software:major-faults:1
/@start[tid]/
{ @major = hist(nsecs - @start[tid]); delete(@start[tid]); }
BT
run_one() {  # setup -> prints best_ns_per_fault of one fault-storm run
  local out="$tmp/out" rc=0
  case $1 in
    untraced) "$storm" "$mib" 1 > "$out" ;;
    faultline) "$faultline" record -o "$tmp/s.flt" -- "$storm" "$mib" 1 \
                 > "$out" 2> "$tmp/faultline.err" ;;
    floor) "$tmp/loader" "$tmp/floor.bpf.o" "$storm $mib 1" > "$out" ;;
    # shellcheck disable=SC2086
    summary) "$faultline" record --summary $summary_flags -o "$tmp/m.flt" -- \
               "$storm" "$mib" 1 > "$out" 2> "$tmp/summary.err" ;;
    summary-all) "$faultline" record --summary --latency-sample 1 \
                   -o "$tmp/m1.flt" -- "$storm" "$mib" 1 > "$out" \
                   2> "$tmp/summary-all.err" ;;
    bpftrace) bpftrace -c "$storm $mib 1" "$tmp/pair.bt" > "$out" 2>&1 ;;
    perf) perf trace --no-syscalls -F min -o /dev/null -- \
            "$storm" "$mib" 1 > "$out" 2>&1 ;;
  esac
  # "<cpu ns/fault> <wall ns/fault>"
  local cpu wall
  cpu=$(sed -n 's/.*best_cpu_ns_per_fault=\([0-9.]*\).*/\1/p' "$out" | head -1)
  wall=$(sed -n 's/.*best_ns_per_fault=\([0-9.]*\).*/\1/p' "$out" | head -1)
  echo "$cpu $wall"
}

declare -A best_cpu best_wall
results="$tmp/results"
for ((r = 1; r <= rounds; r++)); do
  for s in $setups; do
    read -r cpu wall < <(run_one "$s")
    [[ -n ${cpu:-} && -n ${wall:-} ]] ||
      { echo "run.sh: $s produced no result" >&2; exit 1; }
    echo "$s $cpu $wall $r" >> "$results"
  done
done

# Per setup: the median over rounds of (this setup's cpu ns / the untraced
# run's in the same round). Pairing by round cancels the slow drift of a
# VM's speed, which best and median per setup do not.
paired() {  # setup -> median of per-round cpu ratios to untraced
  awk -v s="$1" '$1 == "untraced" { u[$4] = $2 } $1 == s { v[$4] = $2 }
    END { for (r in v) if (u[r] > 0) print v[r] / u[r] }' "$results" |
    sort -g | awk '{ v[NR] = $1 } END {
      if (NR == 0) print "-";
      else if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2];
      else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Per setup: best and median of the per-run values (CPU and wall).
agg() {  # setup column(2=cpu,3=wall) best|median
  awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$results" | sort -g |
    awk -v w="$3" '{ v[NR] = $1 } END {
      if (w == "best") print v[1];
      else if (NR % 2) print v[(NR + 1) / 2];
      else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "fault-storm ${mib} MiB, $rounds interleaved rounds; ns per fault (ratio to untraced)"
printf '%-11s %18s %18s %18s %18s %8s\n' setup "cpu best" "cpu median" "wall best" "wall median" "paired"
for s in $setups; do
  line=$(printf '%-11s' "$s")
  for col in "2 best" "2 median" "3 best" "3 median"; do
    read -r c w <<< "$col"
    v=$(agg "$s" "$c" "$w")
    b=$(agg untraced "$c" "$w" 2>/dev/null || true)
    line+=$(printf ' %10s (%5s)' "$v" "$(ratio "$v" "${b:-0}")")
  done
  line+=$(printf ' %8s' "$(paired "$s")")
  echo "$line"
done
if [[ -f $tmp/faultline.err ]]; then
  echo
  echo "last streaming run: $(tail -1 "$tmp/faultline.err")"
  events=$(sed -n 's/.* \([0-9]*\) events recorded.*/\1/p' "$tmp/faultline.err")
  bytes=$(stat -c %s "$tmp/s.flt")
  [[ -n $events && $events -gt 0 ]] &&
    awk -v b="$bytes" -v e="$events" \
      'BEGIN { printf "trace bytes per event: %.2f (%d bytes, %d events)\n", b / e, b, e }'
fi
