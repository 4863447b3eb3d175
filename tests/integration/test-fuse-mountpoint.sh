#!/usr/bin/env bash
# Mount points are checked before the source is opened: a regular file, a point that
# already holds a mount, a non-empty directory (unless -o nonempty) and a missing one are
# refused with a message saying what to do, and nothing is mounted. SIGTERM and SIGINT of a
# foreground mount are clean unmounts (exit 0).
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mounts() { grep -c ' fuse.kcorefs ' /proc/mounts; }
before=$(mounts)

refused() {  # refused WHAT EXPECTED-TEXT MOUNTPOINT [options]
  local what=$1 want=$2 mp=$3
  shift 3
  local n; n=$(mounts)
  if "$KCOREFS" mount "$@" "$core" "$mp" 2>"$TEST_TMP/err"; then fail "$what: mount succeeded"; fi
  grep -q -- "$want" "$TEST_TMP/err" || fail "$what: message: $(cat "$TEST_TMP/err")"
  [ "$(mounts)" = "$n" ] || fail "$what: something was mounted"
}

touch "$TEST_TMP/file"
refused "regular file" "is not a directory" "$TEST_TMP/file"
refused "missing" "create it with mkdir" "$TEST_TMP/nonexistent"
mkdir -p "$TEST_TMP/full"; touch "$TEST_TMP/full/x"
refused "non-empty" "is not empty (it holds x)" "$TEST_TMP/full"

mount_kcorefs "$core" "$TEST_TMP/once"
refused "mounted twice" "already mounted at" "$TEST_TMP/once"
[ "$(mounts)" = "$((before + 1))" ] || fail "a second mount appeared"

# -o nonempty allows it; the files hide the directory's contents.
mount_kcorefs "$core" "$TEST_TMP/full" -o nonempty
[ -e "$TEST_TMP/full/vmcore" ] && [ ! -e "$TEST_TMP/full/x" ] || fail "-o nonempty mount"

for sig in TERM INT; do
  mp=$TEST_TMP/sig$sig
  mkdir -p "$mp"
  "$KCOREFS" mount -f "$core" "$mp" 2>"$TEST_TMP/sig.log" &
  pid=$!
  for _ in $(seq 1 100); do [ -e "$mp/vmcore" ] && break; sleep 0.05; done
  [ -e "$mp/vmcore" ] || fail "SIG$sig: no mount"
  kill -$sig $pid
  wait $pid
  rc=$?
  [ $rc -eq 0 ] || fail "SIG$sig: exit $rc (an unmount by signal is not a failure)"
done
echo ok
