#!/bin/bash
# The main job from a fresh clone: installs what is needed (as root), builds,
# and runs `faultline demo` (every server pattern under load, recorded, shut
# down under load, compared). Extra arguments go to `faultline demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "scripts/demo.sh: run as root (faultline loads BPF programs)" >&2
  exit 2
fi
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target faultline faultline-server faultline-load
exec build/faultline demo --out faultline-demo "$@"
