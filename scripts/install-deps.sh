#!/bin/bash
# Installs the Debian 12 packages that faultline's build, tests and
# benchmarks need. Idempotent; run as root. docs/dependencies.md says why
# each one is here.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  # build
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev
  libboost-program-options-dev libgtest-dev libgmock-dev googletest
  libnghttp2-dev systemtap-sdt-dev nlohmann-json3-dev
  # tests: real clients, captures, peers
  curl nghttp2-client wrk tshark iproute2 procps strace python3
  # benchmarks: peers to compare against
  bpftrace linux-perf nginx
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  # tshark asks whether non-root users may capture; answer no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
