#!/usr/bin/env bash
# raw backend: a raw physical image (byte N = physical N; tests/tools/elf2mem.py) given as
# raw:FILE mounts, VMCOREINFO found by the scan; every page of vmcore equals the dump's;
# gdb reads kcore. -o phys_start moves the image: with the image shifted the kernel is not
# found where its page tables say, and kcorefs says so instead of serving it. A raw file is
# never taken without raw: (any file could be raw memory), and bad phys_start values are
# refused by name.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump
orig=$(mf files.kdump)
img=$TEST_TMP/mem.raw
"$DRGN_PYTHON" "$SRCDIR/tests/tools/elf2mem.py" raw "$orig" "$img" || fail "elf2mem.py failed"

out=$("$KCOREFS" info "$img" 2>&1) && fail "a raw image was taken without raw:"
grep -q "unknown format" <<<"$out" || fail "unexpected message for a raw file without raw: : $out"
info=$("$KCOREFS" info "raw:$img") || fail "info raw:FILE failed"
grep -q '^format: *raw physical image at 0' <<<"$info" || fail "info does not name raw: $info"
mp=$TEST_TMP/m
mount_kcorefs "raw:$img" "$mp"
check_readelf "$mp/vmcore" vmcore
"$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" "$orig" "$mp/vmcore" || fail "vmcore bytes differ"
check_gdb_read "$mp/kcore" "$(mf markers.banner.vaddr)" "$(mf markers.banner.text)"
unmount_kcorefs "$mp"

# The same bytes at another physical base: kcorefs must not serve a kernel it cannot place.
"$KCOREFS" info -O phys_start=0x100000000 "raw:$img" >"$TEST_TMP/shifted" 2>&1 &&
  fail "an image shifted by 4 GiB was served: $(cat "$TEST_TMP/shifted")"
echo "shifted: $(tail -1 "$TEST_TMP/shifted")"
for bad in phys_start=0xZZ phys_start=-1 phys_start=0xffffffffffffffff; do
  out=$("$KCOREFS" info -O "$bad" "raw:$img" 2>&1) && fail "-O $bad was accepted"
  grep -q 'phys_start' <<<"$out" || fail "-O $bad: the message does not name phys_start: $out"
done
: >"$TEST_TMP/empty"
out=$("$KCOREFS" info "raw:$TEST_TMP/empty" 2>&1) && fail "an empty raw image was accepted"
grep -q 'is empty' <<<"$out" || fail "empty raw image: $out"
echo ok
