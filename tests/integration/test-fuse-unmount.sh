#!/usr/bin/env bash
# Clean unmount: SIGTERM and SIGINT to a foreground daemon, fusermount3 -u to a detached
# one; a bad source leaves nothing mounted. A daemon that exited counts as gone even when
# nobody reaps it (a zombie under a container's PID 1: process_running, functions.sh).
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mounted() { grep -q " $1 fuse.kcorefs " /proc/mounts; }
wait_gone() {  # wait_gone PID MOUNTPOINT
  for _ in $(seq 1 100); do
    if ! process_running "$1" && ! mounted "$2"; then return 0; fi
    sleep 0.05
  done
  fail "daemon $1 still running or $2 still mounted"
}

for sig in TERM INT; do
  mp=$TEST_TMP/sig$sig
  mount_kcorefs "$core" "$mp"
  mounted "$mp" || fail "not mounted"
  kill -$sig "$KCOREFS_PID"
  wait_gone "$KCOREFS_PID" "$mp"
  grep -q "unmounting" "$KCOREFS_LOG" || fail "no unmount line after SIG$sig"
done

mp=$TEST_TMP/detached
mkdir -p "$mp"
"$KCOREFS" mount "$core" "$mp" || fail "detached mount failed"
cleanup_fn "fusermount3 -u '$mp' 2>/dev/null"
mounted "$mp" || fail "detached mount not in /proc/mounts"
pid=$(pgrep -f "kcorefs mount $core $mp" | head -1)
[ -n "$pid" ] || fail "no daemon process"
# The detached daemon serves the real vmcore: an ELF file, byte for byte what
# `kcorefs export` writes for the same source.
[ -s "$mp/vmcore" ] || fail "the detached mount has no (or an empty) vmcore"
cmp -n 4 <(printf '\177ELF') "$mp/vmcore" || fail "the detached mount's vmcore does not start with an ELF header"
"$KCOREFS" export "$core" --view vmcore -o "$TEST_TMP/vmcore.export" || fail "kcorefs export failed"
cmp "$TEST_TMP/vmcore.export" "$mp/vmcore" || fail "the detached mount's vmcore differs from kcorefs export's"
fusermount3 -u "$mp"
wait_gone "$pid" "$mp"

mkdir -p "$TEST_TMP/bad"
printf 'not a core' >"$TEST_TMP/notcore"
if "$KCOREFS" mount "$TEST_TMP/notcore" "$TEST_TMP/bad" 2>"$TEST_TMP/err"; then fail "bad source mounted"; fi
mounted "$TEST_TMP/bad" && fail "bad source left a mount"
grep -q "$TEST_TMP/notcore" "$TEST_TMP/err" || fail "message does not name the file: $(cat "$TEST_TMP/err")"
echo ok
