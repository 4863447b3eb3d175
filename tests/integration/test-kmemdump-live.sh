#!/usr/bin/env bash
# A region set directory is watched (inotify): removing a region file while mounted gives a
# new epoch whose coreimage has that region as a hole (and a later mtime), while a handle
# opened before keeps reading the old epoch's bytes; putting the file back gives another
# epoch in which a new open sees the region again. A region added to the manifest (not in
# the header) makes the coreimage longer for later opens.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/kmemdump-lib.sh"
make_cores kdump
info=$TEST_TMP/info.json
make_regions "$TEST_TMP/set" --metadata manifest --concat "$TEST_TMP/full.bin" --info "$info"
mp=$TEST_TMP/m
mount_kcorefs "$TEST_TMP/set" "$mp"
cmp "$mp/coreimage" "$TEST_TMP/full.bin" || fail "epoch 1 coreimage differs from the concatenation"
m1=$(stat -c %Y "$mp/coreimage")
file=$(ri "$info" prb_infos file)
off=$(ri "$info" prb_infos offset)
len=$(ri "$info" prb_infos size)
exec 3<"$mp/coreimage"
mv "$TEST_TMP/set/$file" "$TEST_TMP/$file"
sleep 1.2   # past the attribute timeout
for i in $(seq 1 50); do grep -q "^kmemdump_holes 1$" "$mp/stats" && break; ls "$mp" >/dev/null; sleep 0.1; done
grep -q "^kmemdump_holes 1$" "$mp/stats" || fail "removing $file gave no new epoch: $(cat "$mp/stats")"
cmp -n "$len" <(tail -c +$(( off + 1 )) "$mp/coreimage") /dev/zero || fail "a new open still sees the removed region"
m2=$(stat -c %Y "$mp/coreimage")
[ "$m2" -ge "$m1" ] || fail "mtime went back: $m1 -> $m2"
grep -q "prb_infos.*is missing" "$KCOREFS_LOG" || fail "no warning naming the removed region: $(cat "$KCOREFS_LOG")"
cmp <(cat <&3) "$TEST_TMP/full.bin" || fail "the handle opened before the change does not keep its epoch"
exec 3<&-
mv "$TEST_TMP/$file" "$TEST_TMP/set/$file"
sleep 1.2
for i in $(seq 1 50); do grep -q "^kmemdump_holes 0$" "$mp/stats" && break; ls "$mp" >/dev/null; sleep 0.1; done
grep -q "^kmemdump_holes 0$" "$mp/stats" || fail "putting $file back gave no new epoch: $(cat "$mp/stats")"
cmp "$mp/coreimage" "$TEST_TMP/full.bin" || fail "after $file came back, a new open does not see it"

# A region the header does not list, added through the manifest: the file grows.
size1=$(stat -c %s "$mp/coreimage")
"$DRGN_PYTHON" - "$TEST_TMP/set" <<'PY'
import json, os, sys
d = sys.argv[1]
with open(os.path.join(d, "md_Kextra99.BIN"), "wb") as f:
    f.write(b"KCOREFS_EXTRA_REGION" + bytes(12))
m = json.load(open(os.path.join(d, "kcorefs-regions.json")))
m["regions"].append({"file": "md_Kextra99.BIN", "name": "extra", "id": 99, "paddr": "0x1210000", "size": 32})
tmp = os.path.join(d, ".manifest.tmp")
json.dump(m, open(tmp, "w"))
os.rename(tmp, os.path.join(d, "kcorefs-regions.json"))
PY
sleep 1.2
for i in $(seq 1 50); do [ "$(stat -c %s "$mp/coreimage")" != "$size1" ] && break; sleep 0.1; done
size2=$(stat -c %s "$mp/coreimage")
[ "$size2" -gt "$size1" ] || fail "the added region did not grow the coreimage ($size1 -> $size2)"
grep -qa KCOREFS_EXTRA_REGION "$mp/coreimage" || fail "the added region's bytes are not served"
check_drgn_read "$mp/vmcore" 0x1210000 KCOREFS_EXTRA_REGION phys
echo ok
