#!/usr/bin/env bash
# README command 2: install what is needed, build, and run every meson test suite (unit,
# integration, realkernel, cleanup). The last line is "N passed, N failed", counted from
# meson's own log by tests/tools/test_summary.py.
# KCOREFS_SKIP_REALKERNEL=1 leaves the realkernel suite out, for local iterations only
# (.ci/run clears it: CI always runs the suite).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
broken() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }
bash contrib/install-deps.sh || broken "cannot install the dependencies"
if [ ! -f build/meson-private/coredata.dat ]; then
  meson setup build || broken "meson setup failed"
fi
ninja -C build -j "$(nproc)" || broken "build failed"
args=() left_out=()
if [ -n "${KCOREFS_SKIP_REALKERNEL:-}" ]; then
  echo "KCOREFS_SKIP_REALKERNEL is set: the realkernel suite is left out"
  args+=(--no-suite realkernel)
  left_out+=(--left-out realkernel)
fi
meson test -C build "${args[@]}"
exec python3 tests/tools/test_summary.py build "${left_out[@]}"
