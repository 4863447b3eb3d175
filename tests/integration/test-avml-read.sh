#!/usr/bin/env bash
# avml backend: an AVML compressed image written from a synthetic dump's RAM
# (tests/tools/elf2mem.py avml: snappy chunks, stored chunks, padding chunks, zero blocks
# left out) mounts without any option (VMCOREINFO found by the scan); every page of vmcore
# equals the dump's, and the only pages left out are the zero blocks AVML drops; eu-readelf,
# gdb and crash read the views. Damaged images: a cut inside a block mounts with a
# truncation warning naming the block; a chunk with a flipped byte fails with EIO for that
# chunk's pages only (the log names the chunk and its physical address) while the rest reads;
# a bad block magic, a backwards range and a wrong stream length are refused naming offsets.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump
orig=$(mf files.kdump)
img=$TEST_TMP/mem.avml
"$DRGN_PYTHON" "$SRCDIR/tests/tools/elf2mem.py" avml "$orig" "$img" || fail "elf2mem.py failed"

info=$("$KCOREFS" info "$img") || fail "info on an AVML image failed: $info"
grep -q '^format: *AVML compressed memory image' <<<"$info" || fail "info does not name AVML: $info"
grep -q '^vmcoreinfo: *from scan' <<<"$info" || fail "VMCOREINFO was not found by the scan: $info"
mp=$TEST_TMP/m
mount_kcorefs "$img" "$mp"
check_readelf "$mp/vmcore" vmcore
check_readelf "$mp/kcore" kcore
"$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" --may-lack --lack-only-zero "$orig" "$mp/vmcore" ||
  fail "vmcore bytes differ"
check_gdb_read "$mp/kcore" "$(mf markers.banner.vaddr)" "$(mf markers.banner.text)"
check_crash_osrelease "$mp/vmcore" "$(mf osrelease)"
unmount_kcorefs "$mp"

# Blocks of 64 KiB: the zero ones are left out (not present, as AVML writes them), and every
# page that is present still equals the dump's.
small=$TEST_TMP/small.avml
out=$("$DRGN_PYTHON" "$SRCDIR/tests/tools/elf2mem.py" avml "$orig" "$small" --avml-block 65536) || fail "elf2mem.py failed"
grep -Eq ' [1-9][0-9]* zero blocks left out' <<<"$out" || fail "the image has no zero block to leave out: $out"
mount_kcorefs "$small" "$mp"
"$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" --may-lack --lack-only-zero "$orig" "$mp/vmcore" |
  grep -Eq ' [1-9][0-9]* left out$' || fail "64 KiB blocks: vmcore wrong, or no page left out"
unmount_kcorefs "$mp"

# The layout of the image, for the damage below: block offsets, first chunk payloads.
read -r b2 stream1 chunk pa0 <<<"$("$DRGN_PYTHON" - "$img" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
_, _, s, e, _ = struct.unpack_from("<IIQQQ", d, 0)
p = 32 + 10                              # past the stream identifier
while d[p] not in (0, 1):                # the first data chunk
    p += 4 + (struct.unpack_from("<I", d, p)[0] >> 8)
end = 32
while True:                              # the stream's end: its u64 length follows it
    n, = struct.unpack_from("<Q", d, end)
    if end - 32 == n: break
    end += 1
print(end + 8, end, p, hex(s))
PY
)"
size=$(stat -c %s "$img")

# Cut inside the last block: mounts, says truncated, the cut part is in no PT_LOAD.
cut=$TEST_TMP/cut.avml
head -c $(( size - 200000 )) "$img" >"$cut"
out=$("$KCOREFS" info "$cut" 2>&1) || fail "a cut AVML image is refused: $out"
grep -q "is truncated: the AVML block at physical 0x[0-9a-f]* claims" <<<"$out" || fail "no truncation warning: $out"
mount_kcorefs "$cut" "$mp"
"$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" --may-lack "$orig" "$mp/vmcore" ||
  fail "the cut image's vmcore is wrong"
unmount_kcorefs "$mp"

# One byte of the first data chunk's payload flipped: that chunk's pages give EIO.
bad=$TEST_TMP/bad.avml
cp "$img" "$bad"
printf '\xff' | dd of="$bad" bs=1 seek=$(( chunk + 20 )) conv=notrunc status=none
mount_kcorefs "$bad" "$mp"
first=$("$DRGN_PYTHON" - "$mp/vmcore" "$pa0" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff)
for _ in range(phnum):
    t, _, off, _, pa, fs, _, _ = struct.unpack("<IIQQQQQQ", f.read(56))
    if t == 1 and pa == int(sys.argv[2], 0):
        print(off); break
PY
)
[ -n "$first" ] || fail "no PT_LOAD at physical $pa0 (the first block) in the damaged image's vmcore"
dd if="$mp/vmcore" of=/dev/null bs=4096 skip="$first" count=1 iflag=skip_bytes 2>"$TEST_TMP/dd.err" &&
  fail "a corrupt chunk's page read without error"
grep -q "Input/output error" "$TEST_TMP/dd.err" || fail "not EIO: $(cat "$TEST_TMP/dd.err")"
grep -q "chunk at offset .*(physical $pa0, 65536 bytes) \(fails its CRC-32C\|does not decompress\)" "$KCOREFS_LOG" ||
  fail "the log does not name the chunk: $(cat "$KCOREFS_LOG")"
dd if="$mp/vmcore" of=/dev/null bs=4096 skip=$(( first + 2 * 65536 )) count=16 iflag=skip_bytes status=none ||
  fail "the pages after the corrupt chunk do not read"
unmount_kcorefs "$mp"

# Headers: a bad magic in the second block, a backwards range, a wrong stream length.
"$DRGN_PYTHON" - "$img" "$TEST_TMP" "$b2" "$stream1" <<'PY'
import struct, sys
img, tmp, b2, s1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = open(img, "rb").read()
_, _, s, e, _ = struct.unpack_from("<IIQQQ", d, 0)
x = bytearray(d); x[b2:b2 + 4] = b"XXXX"; open(tmp + "/badmagic.avml", "wb").write(x)
x = bytearray(d); struct.pack_into("<QQ", x, 8, e, s); open(tmp + "/backwards.avml", "wb").write(x)
x = bytearray(d); struct.pack_into("<Q", x, s1, 12345); open(tmp + "/badlen.avml", "wb").write(x)
PY
out=$("$KCOREFS" info "avml:$TEST_TMP/badmagic.avml" 2>&1) && fail "a bad magic was accepted"
grep -q "no AVML block header at offset $(printf '0x%x' "$b2")" <<<"$out" || fail "bad magic: $out"
out=$("$KCOREFS" info "$TEST_TMP/backwards.avml" 2>&1) && fail "a backwards range was accepted"
grep -q "AVML block header at offset 0 claims physical .*its end is before its start" <<<"$out" || fail "backwards: $out"
out=$("$KCOREFS" info "$TEST_TMP/badlen.avml" 2>&1) && fail "a wrong stream length was accepted"
grep -q "AVML block at offset 0 (physical $pa0) ends with a stream length of 12345" <<<"$out" || fail "stream length: $out"
echo ok
