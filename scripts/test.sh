#!/bin/bash
# Builds faultline and runs every test (unit tests anywhere; system tests
# that need root and a BPF-capable kernel skip with a reason otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -eq 0 ]]; then scripts/install-deps.sh; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure --timeout 600 -j2 "$@"
