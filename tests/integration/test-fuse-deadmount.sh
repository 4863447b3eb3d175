#!/usr/bin/env bash
# A mount whose daemon was killed (SIGKILL) stays mounted with nobody serving it (every
# access is ENOTCONN). Mounting there again is refused with the exact command that
# clears it, and after running that command the same mount works. The dead mount given
# as a SOURCE says the same.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mp=$TEST_TMP/mp
mount_kcorefs "$core" "$mp"
kill -9 "$KCOREFS_PID"
wait "$KCOREFS_PID" 2>/dev/null
grep -q " $mp fuse.kcorefs " /proc/mounts || fail "the killed daemon's mount is gone (nothing to test)"
stat "$mp" >/dev/null 2>"$TEST_TMP/stat.err" && fail "stat of the dead mount point succeeded"
grep -q "Transport endpoint is not connected" "$TEST_TMP/stat.err" || fail "stat: $(cat "$TEST_TMP/stat.err")"

with_timeout 10 "$KCOREFS" mount "$core" "$mp" >"$TEST_TMP/msg" 2>&1 && fail "mount over a dead mount succeeded"
msg=$(cat "$TEST_TMP/msg")
note "$msg"
grep -qF "is a dead FUSE mount" <<<"$msg" || fail "the message does not say the mount is dead: $msg"
# The command, exactly as the user would paste it.
cmd=$(sed -n 's/.*run `\([^`]*\)`.*/\1/p' <<<"$msg")
[ "$cmd" = "fusermount3 -u $mp" ] || fail "the message does not say to run 'fusermount3 -u $mp': $msg"
grep -q "empty directory\|/dev/fuse" <<<"$msg" && fail "the message points elsewhere: $msg"

with_timeout 10 "$KCOREFS" export "$mp" -o "$TEST_TMP/out" >"$TEST_TMP/msg" 2>&1 && fail "export of a dead mount succeeded"
grep -qF "fusermount3 -u $mp" "$TEST_TMP/msg" || fail "export of the dead mount: $(cat "$TEST_TMP/msg")"

$cmd || fail "'$cmd' failed"
mount_kcorefs "$core" "$mp"
cmp -n 4 <(printf '\177ELF') "$mp/vmcore" || fail "the remount does not serve the vmcore"
echo ok
