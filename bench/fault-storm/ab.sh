#!/usr/bin/env bash
# A/B of the streaming recorder, and its cost over several rounds in one
# process: build/fault-storm MIB K (K rounds of MIB MiB in one process, as on
# a live server where the collector drains and compresses one round while
# the next one faults) run untraced and under `faultline record` of each
# build given, one of each per round, interleaved. With PIN=1 two more
# setups pin the storm to CPU 0 and, for the traced one, the recorder to
# CPU 1, so that the collector's threads never share the faulting CPU.
#
#   sudo bench/fault-storm/ab.sh ROUNDS MIB K BUILD [BUILD...]
#   e.g. bench/fault-storm/ab.sh 11 512 3 /tmp/old/build build
#
# Prints, per setup and per in-process round index k = 1..K, the median over
# rounds of the cpu ns per fault and of its ratio to the same round's
# untraced run at the same k ("paired"), then the same for the best of the
# K rounds of each process (what `fault-storm MIB K` reports).
set -euo pipefail

rounds=${1:?rounds}; mib=${2:?mib}; k=${3:?k}; shift 3
builds=("$@")
(( ${#builds[@]} > 0 )) || { echo "ab.sh: give at least one build dir" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "ab.sh: needs root" >&2; exit 2; }
storm="${builds[-1]}/fault-storm"
for b in "${builds[@]}"; do
  [[ -x $b/faultline ]] || { echo "ab.sh: no $b/faultline" >&2; exit 2; }
done
[[ -x $storm ]] || { echo "ab.sh: no $storm" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

setups=(untraced)
for i in "${!builds[@]}"; do setups+=("rec$i"); done
if [[ ${PIN:-0} == 1 ]]; then setups+=(untraced-pin "rec$((${#builds[@]} - 1))-pin"); fi

run_one() {  # setup -> lines "k cpu_ns" on stdout
  local s=$1 out="$tmp/out" i
  case $s in
    untraced) "$storm" "$mib" "$k" > "$out" ;;
    untraced-pin) taskset -c 0 "$storm" "$mib" "$k" > "$out" ;;
    rec*-pin) i=${s#rec}; i=${i%-pin}
      taskset -c 1 "${builds[$i]}/faultline" record -o "$tmp/t.flt" -- \
        taskset -c 0 "$storm" "$mib" "$k" > "$out" 2> "$tmp/$s.err" ;;
    rec*) i=${s#rec}
      "${builds[$i]}/faultline" record -o "$tmp/t.flt" -- \
        "$storm" "$mib" "$k" > "$out" 2> "$tmp/$s.err" ;;
  esac
  sed -n 's/^round=\([0-9]*\) .*cpu_ns_per_fault=\([0-9.]*\).*/\1 \2/p' "$out"
}

res="$tmp/res"  # setup round k cpu
for ((r = 1; r <= rounds; r++)); do
  for s in "${setups[@]}"; do
    run_one "$s" | while read -r kk cpu; do echo "$s $r $kk $cpu"; done >> "$res"
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
  if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR/2] + v[NR/2+1]) / 2 }'; }
base_of() { [[ $1 == *-pin ]] && echo untraced-pin || echo untraced; }

echo "fault-storm $mib MiB x $k rounds per process, $rounds interleaved runs"
for i in "${!builds[@]}"; do echo "  rec$i = ${builds[$i]}/faultline record"; done
printf '%-14s' setup
for ((kk = 1; kk <= k; kk++)); do printf ' %17s' "k=$kk ns (paired)"; done
printf ' %17s\n' "best-of-K (paired)"
for s in "${setups[@]}"; do
  b=$(base_of "$s")
  printf '%-14s' "$s"
  for ((kk = 1; kk <= k; kk++)); do
    ns=$(awk -v s="$s" -v k="$kk" '$1 == s && $3 == k { print $4 }' "$res" | median)
    pr=$(awk -v s="$s" -v b="$b" -v k="$kk" '$3 == k && $1 == b { u[$2] = $4 }
      $3 == k && $1 == s { v[$2] = $4 } END { for (r in v) if (u[r] > 0) print v[r] / u[r] }' "$res" | median)
    printf ' %8.1f (%6s)' "$ns" "$pr"
  done
  ns=$(awk -v s="$s" '$1 == s { if (!($2 in m) || $4 < m[$2]) m[$2] = $4 } END { for (r in m) print m[r] }' "$res" | median)
  pr=$(awk -v s="$s" -v b="$b" '$1 == b { if (!($2 in u) || $4 < u[$2]) u[$2] = $4 }
    $1 == s { if (!($2 in v) || $4 < v[$2]) v[$2] = $4 }
    END { for (r in v) if (u[r] > 0) print v[r] / u[r] }' "$res" | median)
  printf ' %8.1f (%6s)\n' "$ns" "$pr"
done
for s in "${setups[@]}"; do
  [[ -f $tmp/$s.err ]] && echo "last $s: $(tail -1 "$tmp/$s.err")"
done
exit 0
