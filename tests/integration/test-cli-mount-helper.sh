#!/usr/bin/env bash
# mount(8) and /etc/fstab: kcorefs run as mount.kcorefs / mount.fuse.kcorefs takes mount's
# helper arguments (SOURCE MOUNTPOINT -o OPTIONS), drops mount's and fstab's own words
# (defaults, noauto, nofail, x-systemd.*, rw) and mounts with the rest; the files equal a
# `kcorefs mount` of the same core (kcore: its headers and notes). Then through mount(8) itself: `mount -t fuse.kcorefs`
# and an fstab line (`mount -T FSTAB MOUNTPOINT`), with the helper linked into /sbin for the
# test (mount(8) looks only there) and removed afterwards. Kernel options the helper passes
# on are checked as kcorefs mount checks them (allow_other alone is refused).
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
ref=$TEST_TMP/ref
mount_kcorefs "$core" "$ref"

same_as_ref() {  # same_as_ref MP WHAT: vmcore and vmcoreinfo whole, kcore's headers and notes
  local f
  for f in vmcore vmcoreinfo; do
    cmp -s "$1/$f" "$ref/$f" || fail "$2: $f differs from kcorefs mount's"
  done
  cmp -s -n 65536 "$1/kcore" "$ref/kcore" || fail "$2: kcore's first 64 KiB differ from kcorefs mount's"
}
umount_mp() { fusermount3 -u "$1" || fail "cannot unmount $1"; }

# The helper's argument protocol, called directly.
ln -s "$KCOREFS" "$TEST_TMP/mount.kcorefs"
mp=$TEST_TMP/direct
mkdir -p "$mp"
cleanup_fn "fusermount3 -u '$mp' 2>/dev/null"
"$TEST_TMP/mount.kcorefs" "$core" "$mp" -o rw,defaults,noauto,nofail,x-systemd.automount,mode=0440,gid=0 ||
  fail "mount.kcorefs with fstab words failed"
same_as_ref "$mp" "mount.kcorefs"
[ "$(stat -c %a "$mp/vmcore")" = 440 ] || fail "mount.kcorefs: mode=0440 was not passed on ($(stat -c %a "$mp/vmcore"))"
umount_mp "$mp"
if "$TEST_TMP/mount.kcorefs" "$core" "$mp" -o allow_other 2>"$TEST_TMP/err"; then fail "allow_other alone accepted"; fi
grep -q "allow_other needs default_permissions" "$TEST_TMP/err" || fail "allow_other message: $(cat "$TEST_TMP/err")"
"$TEST_TMP/mount.kcorefs" "$core" "$mp" -f -o ro || fail "mount.kcorefs -f (fake) failed"
! grep -q " $mp fuse" /proc/mounts || fail "mount.kcorefs -f mounted"
if "$TEST_TMP/mount.kcorefs" "$core" "$mp" -o bogus_key=1 2>"$TEST_TMP/err"; then fail "an unknown key was accepted"; fi
grep -q "bogus_key" "$TEST_TMP/err" || fail "unknown key message: $(cat "$TEST_TMP/err")"

# `meson install` puts the helpers in /sbin, pointing at the installed kcorefs.
build=${KCOREFS%/src/cli/kcorefs}
DESTDIR=$TEST_TMP/inst meson install -C "$build" --no-rebuild >"$TEST_TMP/install.log" 2>&1 ||
  { cat "$TEST_TMP/install.log"; fail "meson install failed"; }
for h in mount.kcorefs mount.fuse.kcorefs; do
  t=$(readlink "$TEST_TMP/inst/sbin/$h") || fail "meson install: no /sbin/$h link: $(find "$TEST_TMP/inst" -name 'mount.*')"
  [ "$(basename "$t")" = kcorefs ] && [ -x "$TEST_TMP/inst$t" ] || fail "/sbin/$h points at '$t', not the installed kcorefs"
done

# Through mount(8).
helper=/sbin/mount.fuse.kcorefs
if [ -e "$helper" ] && [ "$(readlink -f "$helper")" != "$(readlink -f "$KCOREFS")" ]; then
  note "$helper is another kcorefs (installed); mount(8) is checked with it"
elif [ ! -e "$helper" ]; then
  ln -s "$(readlink -f "$KCOREFS")" "$helper" || fail "cannot link $helper"
  cleanup_fn "rm -f '$helper'"
fi
mp=$TEST_TMP/viamount
mkdir -p "$mp"
cleanup_fn "fusermount3 -u '$mp' 2>/dev/null"
mount -t fuse.kcorefs "$core" "$mp" -o ro,nosuid,nodev 2>"$TEST_TMP/err" || fail "mount -t fuse.kcorefs: $(cat "$TEST_TMP/err")"
grep -q " $mp fuse.kcorefs " /proc/mounts || fail "mount -t fuse.kcorefs: not in /proc/mounts"
same_as_ref "$mp" "mount -t fuse.kcorefs"
umount "$mp" || fail "umount $mp"

printf '# kcorefs test\n%s %s fuse.kcorefs defaults,noauto,nofail,mode=0400 0 0\n' "$core" "$mp" >"$TEST_TMP/fstab"
mount -T "$TEST_TMP/fstab" "$mp" 2>"$TEST_TMP/err" || fail "mount -T fstab: $(cat "$TEST_TMP/err")"
same_as_ref "$mp" "fstab"
umount "$mp" || fail "umount $mp (fstab)"
echo ok
