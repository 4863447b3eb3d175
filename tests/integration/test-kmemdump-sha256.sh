#!/usr/bin/env bash
# kcorefs-regions.json's sha256 is checked before a region file is served: with every file
# intact the coreimage is the concatenation; a file changed in one byte (same size) is a hole
# at its own place (zeros in coreimage, later regions unmoved), the mount's warning names the
# region and both digests, and `-o verify=no` serves the changed byte. In a watched set, the
# file put back while mounted is checked again and served to a new open.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/kmemdump-lib.sh"
make_cores kdump
info=$TEST_TMP/info.json
full=$TEST_TMP/full.bin
set=$TEST_TMP/set
make_regions "$set" --metadata manifest --concat "$full" --info "$info"

mp=$TEST_TMP/m
mount_kcorefs "$set" "$mp"
cmp "$mp/coreimage" "$full" || fail "with every sha256 matching, coreimage is not the concatenation"
grep -q "has sha256\|checked against" "$KCOREFS_LOG" && fail "a warning about sha256 on an intact set: $(cat "$KCOREFS_LOG")"
unmount_kcorefs "$mp" "$KCOREFS_PID"

# One byte of prb_descs' file changed, its size kept.
file=$(ri "$info" prb_descs file)
off=$(ri "$info" prb_descs offset)
len=$(( $(ri "$info" prb_descs size) ))
next=$(ri "$info" prb_infos offset)
cp "$set/$file" "$TEST_TMP/good.bin"
want=$(sha256sum "$TEST_TMP/good.bin" | cut -d' ' -f1)
printf '\x5a' | dd of="$set/$file" bs=1 seek=17 conv=notrunc status=none
cmp -s "$set/$file" "$TEST_TMP/good.bin" && printf '\xa5' | dd of="$set/$file" bs=1 seek=17 conv=notrunc status=none
got=$(sha256sum "$set/$file" | cut -d' ' -f1)
[ "$got" != "$want" ] || fail "the test did not change $file"

mount_kcorefs "$set" "$mp"
grep -q "region prb_descs.*$file).* has sha256 $got, not the $want kcorefs-regions.json records" "$KCOREFS_LOG" ||
  fail "no warning naming the region and both digests: $(cat "$KCOREFS_LOG")"
grep -q "verify=no" "$KCOREFS_LOG" || fail "the warning does not say how to serve it anyway"
grep -q "^kmemdump_holes 1$" "$mp/stats" || fail "stats: $(cat "$mp/stats")"
cmp -n "$len" <(tail -c +$(( off + 1 )) "$mp/coreimage") /dev/zero || fail "the changed region does not read as zeros"
# The header region itself changes (section names are added to a set that is no longer the
# kernel's own image): compare from VMCOREINFO, as test-kmemdump-holes does.
hdr_end=$(ri "$info" vmcoreinfo offset)
cmp -i "$hdr_end" -n $(( off - hdr_end )) "$mp/coreimage" "$full" || fail "bytes between the header and the changed region differ"
size=$(stat -c %s "$full")
cmp -i "$next" -n $(( size - next )) "$mp/coreimage" "$full" || fail "regions after the changed one moved or changed"
"$KCOREFS" info "$set" 2>&1 | grep -q "has sha256 $got" || fail "kcorefs info does not say it: $("$KCOREFS" info "$set" 2>&1)"

# Put back while mounted: a new open sees the region again (its file is checked anew).
cp "$TEST_TMP/good.bin" "$set/$file.tmp" && mv "$set/$file.tmp" "$set/$file"
ok=
for _ in $(seq 1 50); do
  if cmp -s "$mp/coreimage" "$full"; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || fail "the region put back is not served to a new open"
grep -q "^kmemdump_holes 0$" "$mp/stats" || fail "stats after the fix: $(cat "$mp/stats")"
unmount_kcorefs "$mp" "$KCOREFS_PID"

# -o verify=no: the changed byte is served (it is the file's byte).
printf '\x5a' | dd of="$set/$file" bs=1 seek=17 conv=notrunc status=none
cmp -s "$set/$file" "$TEST_TMP/good.bin" && printf '\xa5' | dd of="$set/$file" bs=1 seek=17 conv=notrunc status=none
mount_kcorefs "$set" "$mp" -o verify=no
grep -q "has sha256\|checked against" "$KCOREFS_LOG" && fail "verify=no still checked: $(cat "$KCOREFS_LOG")"
cmp -s -n "$len" <(tail -c +$(( off + 1 )) "$mp/coreimage") "$set/$file" || fail "verify=no does not serve the file's bytes"
echo "ok: intact set served, a changed file is a named hole, put back is served again, verify=no serves it"
