#!/usr/bin/env bash
# The tests pass in a default container (podman's defaults: /dev/shm is a 64 MB tmpfs and
# PID 1 is the command itself, which reaps no orphan, so a detached daemon that exits
# stays a zombie). Both are reproduced here without a container runtime: a new mount and
# PID namespace whose PID 1 is a Python process that only waits for its own child, and a
# 64 MB tmpfs over /dev/shm; then the two tests that once failed there for the
# environment, not the code, run inside: test-fuse-unmount (the detached daemon's exit)
# and test-dumpfile-export (a ~150 MB sparse kcore export).
source "$(dirname "$0")/functions.sh"
requires unshare --version
here=$(cd "$(dirname "$0")" && pwd)

for t in test-fuse-unmount test-dumpfile-export; do
  inner=$TEST_TMP/$t
  mkdir -p "$inner"
  # PID 1 (python) runs bash, which mounts the small /dev/shm and runs the test. The
  # mount namespace is private: nothing mounted inside is seen (or left) outside.
  with_timeout 600 unshare --mount --propagation private --pid --fork --mount-proc \
    env TEST_TMP="$inner" KCOREFS="$KCOREFS" SRCDIR="$SRCDIR" \
    python3 -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))' \
    bash -c '
      mount -t tmpfs -o size=64m,mode=1777 shm /dev/shm || exit 3
      # What the test must see: PID 1 reaps nothing (this is its only child) and a small shm.
      [ "$(cat /proc/1/comm)" = python3 ] || { echo "PID 1 is $(cat /proc/1/comm)" >&2; exit 3; }
      df -k /dev/shm | awk "NR == 2 && \$2 > 65536 { exit 1 }" || { echo "/dev/shm is not 64 MB" >&2; exit 3; }
      exec bash "$1"' _ "$here/$t.sh" >"$TEST_TMP/$t.log" 2>&1
  rc=$?
  rm -rf --one-file-system "$inner"
  [ $rc -ne 3 ] || fail "$t: the container-like environment could not be made: $(cat "$TEST_TMP/$t.log")"
  [ $rc -eq 0 ] || fail "$t failed in a container-like environment (rc $rc): $(tail -20 "$TEST_TMP/$t.log")"
  note "$t: passes with PID 1 not reaping and a 64 MB /dev/shm"
done
echo ok
