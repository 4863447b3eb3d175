#!/usr/bin/env bash
# Who may read a mount. `-o allow_other` alone is refused (without default_permissions FUSE
# checks no permission) and nothing is mounted. With allow_other,default_permissions,
# gid=G,mode=0440 a user in group G reads the same bytes as root, a user outside it gets
# EACCES, and nobody (root included) can write, truncate, chmod or create there. A user
# other than root asking for allow_other without user_allow_other in /etc/fuse.conf is warned.
source "$(dirname "$0")/functions.sh"
requires command -v setpriv
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
chmod 711 "$TEST_TMP"   # other users may pass through to the mount point, not list
mounts() { grep -c ' fuse.kcorefs ' /proc/mounts; }

mp=$TEST_TMP/mnt
mkdir -p "$mp"
n=$(mounts)
if "$KCOREFS" mount -o allow_other "$core" "$mp" 2>"$TEST_TMP/err"; then
  fail "allow_other without default_permissions was accepted"
fi
grep -q "allow_other needs default_permissions" "$TEST_TMP/err" || fail "message: $(cat "$TEST_TMP/err")"
grep -q "allow_other,default_permissions" "$TEST_TMP/err" || fail "message names no fix: $(cat "$TEST_TMP/err")"
[ "$(mounts)" = "$n" ] || fail "something was mounted"

G=4242   # a group of the readers below only
mount_kcorefs "$core" "$mp" -o allow_other,default_permissions,gid=$G,mode=0440
chmod 755 "$mp"
as() { local uid=$1 gid=$2; shift 2; setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }
as 65534 "$G" cat "$mp/vmcore" >"$TEST_TMP/member.out" 2>"$TEST_TMP/member.err" ||
  fail "a member of group $G cannot read: $(cat "$TEST_TMP/member.err")"
cmp -s "$TEST_TMP/member.out" "$mp/vmcore" || fail "the group member read other bytes than root"
if as 65534 65534 cat "$mp/vmcore" >/dev/null 2>"$TEST_TMP/other.err"; then
  fail "a user outside group $G read the mount"
fi
grep -q "Permission denied" "$TEST_TMP/other.err" || fail "outsider's error: $(cat "$TEST_TMP/other.err")"
for who in "0 0" "65534 $G"; do
  # shellcheck disable=SC2086
  if as $who sh -c "echo x >>'$mp/vmcore'" 2>/dev/null; then fail "uid/gid $who appended to vmcore"; fi
  # shellcheck disable=SC2086
  if as $who truncate -s 0 "$mp/vmcore" 2>/dev/null; then fail "uid/gid $who truncated vmcore"; fi
  # shellcheck disable=SC2086
  if as $who chmod 0666 "$mp/vmcore" 2>/dev/null; then fail "uid/gid $who chmodded vmcore"; fi
  # shellcheck disable=SC2086
  if as $who touch "$mp/new" 2>/dev/null; then fail "uid/gid $who created a file"; fi
done
[ "$(stat -c %a "$mp/vmcore")" = 440 ] && [ ! -e "$mp/new" ] || fail "the mount changed: $(ls -l "$mp")"
unmount_kcorefs "$mp" "$KCOREFS_PID"

# A user other than root: warned when fuse.conf does not allow allow_other.
if grep -qx '[[:space:]]*user_allow_other[[:space:]]*' /etc/fuse.conf 2>/dev/null; then
  note "this machine's /etc/fuse.conf has user_allow_other: the warning is not checked"
else
  ump=$TEST_TMP/umnt
  mkdir -p "$ump"
  chown 65534:65534 "$ump"
  cp "$core" "$TEST_TMP/ucore" && chown 65534 "$TEST_TMP/ucore"
  as 65534 65534 timeout --kill-after=5 30 "$KCOREFS" mount -o allow_other,default_permissions \
    "$TEST_TMP/ucore" "$ump" >"$TEST_TMP/user.out" 2>&1
  grep -q "no user_allow_other line" "$TEST_TMP/user.out" || fail "no fuse.conf warning: $(cat "$TEST_TMP/user.out")"
  fusermount3 -u "$ump" 2>/dev/null || true
fi
echo ok
