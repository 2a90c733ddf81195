#!/bin/bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ and runs the tests there (default: the unit tests and the fuzz
# corpus replays; pass ctest arguments to choose others, e.g. `-L privileged`).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFAULTLINE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
cd build-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if (($#)); then
  ctest --output-on-failure --timeout 600 -j2 "$@"
else
  ctest --output-on-failure --timeout 600 -j2 -L unit
fi
