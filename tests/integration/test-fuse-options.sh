#!/usr/bin/env bash
# Mount options: default owner and mode 0400, -o uid=,gid=,mode=, read-only files,
# the stats counters, and `kcorefs info MOUNTPOINT`.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"

mount_kcorefs "$core" "$TEST_TMP/a"
[ "$(stat -c '%a %u %g' "$TEST_TMP/a/vmcore")" = "400 $(id -u) $(id -g)" ] || fail "default mode/owner: $(stat -c '%a %u %g' "$TEST_TMP/a/vmcore")"
if echo x 2>/dev/null >>"$TEST_TMP/a/vmcore"; then fail "vmcore accepted a write"; fi
head -c 4096 "$TEST_TMP/a/vmcore" >/dev/null
grep -q '^source_bytes_read [1-9]' "$TEST_TMP/a/stats" || fail "stats: $(cat "$TEST_TMP/a/stats")"
"$KCOREFS" info "$TEST_TMP/a" | grep -q '^backend dumpfile' || fail "kcorefs info on a mount"

mount_kcorefs "$core" "$TEST_TMP/b" -o uid=1234,gid=4321,mode=0444
[ "$(stat -c '%a %u %g' "$TEST_TMP/b/kcore")" = "444 1234 4321" ] || fail "-o uid,gid,mode: $(stat -c '%a %u %g' "$TEST_TMP/b/kcore")"

if "$KCOREFS" mount -f -o mode=999 "$core" "$TEST_TMP/c" 2>"$TEST_TMP/err"; then fail "bad mode accepted"; fi
grep -q "bad mode" "$TEST_TMP/err" || fail "bad mode message: $(cat "$TEST_TMP/err")"
if "$KCOREFS" mount -f -o readahead=lots "$core" "$TEST_TMP/c" 2>"$TEST_TMP/err"; then fail "bad readahead accepted"; fi
grep -q "bad readahead" "$TEST_TMP/err" || fail "bad readahead message: $(cat "$TEST_TMP/err")"
if "$KCOREFS" mount -f -o frobnicate "$core" "$TEST_TMP/c" 2>"$TEST_TMP/err"; then fail "unknown option accepted"; fi
grep -q "unknown option" "$TEST_TMP/err" || fail "unknown option message"
echo ok
