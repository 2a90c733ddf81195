#!/usr/bin/env bash
# Average cost of the building blocks of a fault-pairing BPF program
# (costs.bpf.c), measured with bpf_stats while build/fault-storm runs.
# Each line is "program ns/run"; subtract "empty" (the stats overhead) to get
# the block's own cost. Run as root:  bench/fault-storm/costs/run.sh [BUILD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; sysctl -qw kernel.bpf_stats_enabled=0' EXIT
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$build/vmlinux" \
  -c "$here/costs.bpf.c" -o "$tmp/costs.bpf.o"
cc -O2 "$here/loader.c" -lbpf -o "$tmp/loader"
sysctl -qw kernel.bpf_stats_enabled=1
"$tmp/loader" "$tmp/costs.bpf.o" "$build/fault-storm 512 1 >/dev/null"
