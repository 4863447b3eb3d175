#!/usr/bin/env bash
# lime backend: a LiME image written from a synthetic dump's RAM (tests/tools/elf2mem.py)
# mounts without any option (VMCOREINFO found by the scan); every page of vmcore equals the
# dump's; eu-readelf, gdb and crash read the views. Damaged images: a cut inside a range
# mounts with a truncation warning and the cut part absent; a bad magic and a range whose
# end is before its start are refused naming the header's offset.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump
orig=$(mf files.kdump)
img=$TEST_TMP/mem.lime
"$DRGN_PYTHON" "$SRCDIR/tests/tools/elf2mem.py" lime "$orig" "$img" || fail "elf2mem.py failed"

info=$("$KCOREFS" info "$img") || fail "info on a LiME image failed"
grep -q '^format: *LiME memory image' <<<"$info" || fail "info does not name LiME: $info"
grep -q '^vmcoreinfo: *from scan' <<<"$info" || fail "VMCOREINFO was not found by the scan: $info"
mp=$TEST_TMP/m
mount_kcorefs "$img" "$mp"
check_readelf "$mp/vmcore" vmcore
check_readelf "$mp/kcore" kcore
"$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" "$orig" "$mp/vmcore" || fail "vmcore bytes differ"
check_gdb_read "$mp/kcore" "$(mf markers.banner.vaddr)" "$(mf markers.banner.text)"
check_crash_osrelease "$mp/vmcore" "$(mf osrelease)"
unmount_kcorefs "$mp"

# Cut 1 MiB into the last range: mounts, says truncated, the cut part is in no PT_LOAD.
size=$(stat -c %s "$img")
cut=$TEST_TMP/cut.lime
head -c $((size - 8 * 1024 * 1024)) "$img" >"$cut"
info=$("$KCOREFS" info "$cut" 2>&1) || fail "a cut LiME image is refused: $info"
grep -q "is truncated: the LiME range at physical" <<<"$info" || fail "no truncation warning: $info"
mount_kcorefs "$cut" "$mp"
"$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" --may-lack "$orig" "$mp/vmcore" ||
  fail "the cut image's vmcore is wrong"
unmount_kcorefs "$mp"

# A second header with a bad magic; a range whose end is before its start.
"$DRGN_PYTHON" - "$img" "$TEST_TMP" <<'PY'
import struct, sys
img, tmp = sys.argv[1], sys.argv[2]
data = open(img, "rb").read()
magic, ver, s, e = struct.unpack_from("<IIQQ", data, 0)
second = 32 + (e - s + 1)
bad = bytearray(data); bad[second:second + 4] = b"XXXX"
open(tmp + "/badmagic.lime", "wb").write(bad)
back = bytearray(data); struct.pack_into("<QQ", back, 8, e, s)
open(tmp + "/backwards.lime", "wb").write(back)
PY
second=$(printf '0x%x' $((32 + $(od -An -t u8 -j 16 -N 8 "$img") - $(od -An -t u8 -j 8 -N 8 "$img") + 1)))
out=$("$KCOREFS" info "lime:$TEST_TMP/badmagic.lime" 2>&1) && fail "a bad magic was accepted"
grep -q "no LiME range header at offset $second" <<<"$out" || fail "bad magic: $out"
out=$("$KCOREFS" info "$TEST_TMP/backwards.lime" 2>&1) && fail "a backwards range was accepted"
grep -q "LiME range header at offset 0 claims physical .*its end is before its start" <<<"$out" ||
  fail "backwards range: $out"
echo ok
