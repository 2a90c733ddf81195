#!/usr/bin/env bash
# Collector throughput: how many events/s `faultline record` (default
# settings) drains with zero loss. Real page faults cannot get near the
# SPEC's 3 million events/s on these machines, so the traced command is
# build/collector-rate-producer, which feeds synthetic fault batches into the
# recorder's own ring buffer at a paced rate (see producer.cc and
# producer.bpf.c); the recorder and its writer are the real, unmodified ones.
#
#   sudo bench/collector-rate/run.sh [BUILD_DIR] [SECONDS] [RATE...]
#   (defaults: build 4 1M 2M 3M 4M 6M 8M 10M 12M; rates in events/s, K/M
#   suffixes)
#
# One `faultline record -o T -- collector-rate-producer --rate R --seconds S`
# per rate. The table: the target rate, what the producer sent (and the rate
# it achieved), what faultline's closing line says was recorded and lost,
# "other" = recorded + lost - produced (the producer's own real faults and
# task and TLB events, traced like any command's), trace bytes per recorded
# event, the recorder's CPU time and the producer's. For the first step, and
# for every step with CHECK_ALL=1, `faultline report T --format json` must agree with the
# closing line (events read = recorded, lost = lost, and at least the
# produced faults). The highest rate with zero loss is printed at the end.
set -euo pipefail

build=${1:-build}
seconds=${2:-4}
shift $(( $# >= 2 ? 2 : $# ))
rates=("$@")
[[ ${#rates[@]} -gt 0 ]] || rates=(1M 2M 3M 4M 6M 8M 10M 12M)
faultline="$build/faultline"
producer="$build/collector-rate-producer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[[ $(id -u) == 0 ]] || { echo "run.sh: needs root" >&2; exit 2; }
[[ -x $faultline && -x $producer ]] || {
  echo "run.sh: build $faultline and $producer first" >&2; exit 2; }
command -v jq >/dev/null || { echo "run.sh: needs jq" >&2; exit 2; }

to_num() {  # 3M -> 3000000, 500K -> 500000
  local r=$1
  case $r in
    *M) awk -v x="${r%M}" 'BEGIN { printf "%.0f", x * 1e6 }' ;;
    *K) awk -v x="${r%K}" 'BEGIN { printf "%.0f", x * 1e3 }' ;;
    *) echo "$r" ;;
  esac
}

echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r)"
echo "# load before: $(uptime)"
echo "# $faultline record -o T -- $producer --rate R --seconds $seconds"
printf '%10s %10s %11s %10s %10s %8s %7s %9s %10s %7s %s\n' \
  target produced achieved/s recorded lost other B/event rec_cpu_s prod_cpu_s wall_s report
best=0
checked=0
failed=0
for r in "${rates[@]}"; do
  rate=$(to_num "$r")
  out="$tmp/t.flt"
  rm -f "$out"
  set +e
  "$faultline" record -o "$out" -- "$producer" --rate "$rate" \
    --seconds "$seconds" >"$tmp/prod.txt" 2>"$tmp/rec.txt"
  rc=$?
  set -e
  line=$(grep '^faultline record: .* events recorded' "$tmp/rec.txt" || true)
  pline=$(grep '^collector-rate-producer: ' "$tmp/prod.txt" || true)
  if [[ $rc -ne 0 || -z $line || -z $pline ]]; then
    echo "run.sh: step $r failed (exit $rc):" >&2
    cat "$tmp/rec.txt" "$tmp/prod.txt" >&2
    failed=1
    continue
  fi
  recorded=$(sed -E 's/.* ([0-9]+) events recorded.*/\1/' <<<"$line")
  lost=$(sed -E 's/.* events recorded, ([0-9]+) lost.*/\1/' <<<"$line")
  cpu=$(sed -E 's/.*recorder CPU ([0-9.]+) s.*/\1/' <<<"$line")
  wall=$(sed -E 's/^faultline record: ([0-9.]+) s,.*/\1/' <<<"$line")
  produced=$(sed -E 's/.* produced ([0-9]+) events.*/\1/' <<<"$pline")
  achieved=$(sed -E 's/.* events in [0-9.]+ s \(([0-9]+) events\/s.*/\1/' <<<"$pline")
  pcpu=$(sed -E 's/.*producer CPU ([0-9.]+) s.*/\1/' <<<"$pline")
  bytes=$(stat -c %s "$out")
  other=$(( recorded + lost - produced ))
  bpe=$(awk -v b="$bytes" -v n="$recorded" 'BEGIN { printf "%.2f", n ? b / n : 0 }')
  check=-
  if [[ $checked -eq 0 || ${CHECK_ALL:-0} == 1 ]]; then
    checked=1
    json=$("$faultline" report "$out" --format json)
    ev=$(jq '.trace.events' <<<"$json")
    rl=$(jq '.trace.lost_events' <<<"$json")
    ft=$(jq '.faults.total' <<<"$json")
    if [[ $ev == "$recorded" && $rl == "$lost" && $ft -ge $((produced - lost)) ]]; then
      check="ok(events=$ev,lost=$rl,faults=$ft)"
    else
      check="MISMATCH(events=$ev,lost=$rl,faults=$ft)"
      failed=1
    fi
  fi
  printf '%10s %10s %11s %10s %10s %8s %7s %9s %10s %7s %s\n' \
    "$rate" "$produced" "$achieved" "$recorded" "$lost" "$other" "$bpe" \
    "$cpu" "$pcpu" "$wall" "$check"
  # Zero loss counts only if the producer really reached the rate (>= 98%).
  if [[ $lost -eq 0 ]] &&
     awk -v a="$achieved" -v t="$rate" 'BEGIN { exit !(a >= 0.98 * t) }' &&
     [[ $rate -gt $best ]]; then
    best=$rate
  fi
done
echo "# load after: $(uptime)"
echo "# highest rate with zero loss: $best events/s"
exit $failed
