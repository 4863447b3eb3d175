#!/usr/bin/env bash
# README command 2: install what is needed, build, and run every test. The last line is
# "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash contrib/install-deps.sh || { echo "cannot install the dependencies"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -d build ]; then meson setup build >/dev/null || { echo "0 passed, 1 failed"; exit 1; }; fi
ninja -C build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
exec bash tests/run_all.sh "$top/build"
