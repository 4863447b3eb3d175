#!/usr/bin/env bash
# ELF header validation (issue 8, point 8): each corrupt header is refused with a message
# that says what is wrong and where, and two VMCOREINFO notes are reported (both offsets,
# which one is used) instead of the last silently winning. The inputs are mkcore.py's kdump
# core with one field changed, written here.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump
good=$(mf files.kdump)

# variant: python3 edit of the header bytes `b`
mutate() {  # mutate OUT PYTHON-STATEMENTS
  python3 - "$good" "$1" "$2" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read(1 << 20))
exec(sys.argv[3])
out = open(sys.argv[2], "wb"); out.write(b); out.close()
PY
}
refused() {  # refused NAME WORDS...: kcorefs info refuses the file with all WORDS
  local name=$1 f=$TEST_TMP/$1.core w out rc
  shift
  out=$(with_timeout 10 "$KCOREFS" info "$f" 2>&1)
  rc=$?
  note "$name: rc $rc: $out"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$name: rc $rc (want a quick refusal): $out"
  grep -qF "$f" <<<"$out" || fail "$name: the message does not name the file: $out"
  for w in "$@"; do grep -qF -- "$w" <<<"$out" || fail "$name: the message lacks '$w': $out"; done
}

mutate "$TEST_TMP/bigendian.core" 'b[5] = 2'
refused bigendian "big-endian ELF (ELFDATA2MSB" "not supported"
grep -q "ELF type" <<<"$("$KCOREFS" info "$TEST_TMP/bigendian.core" 2>&1)" && fail "bigendian: still reported by its misread e_type"
mutate "$TEST_TMP/eidata.core" 'b[5] = 7'
refused eidata "e_ident[EI_DATA]" "is 7"
mutate "$TEST_TMP/phentsize.core" 'struct.pack_into("<H", b, 54, 32)'
refused phentsize "e_phentsize (at offset 0x36) is 32, not 56"
# e_ehsize is not used; QEMU 7.2's ELF dumps carry 8 there and must still be read.
mutate "$TEST_TMP/ehsize.core" 'struct.pack_into("<H", b, 52, 8)'
"$KCOREFS" info "$TEST_TMP/ehsize.core" >/dev/null || fail "a core with QEMU's e_ehsize 8 is refused"

# Two VMCOREINFO notes: the program header table moves to the end of a copy and gains a
# second PT_NOTE (after the file's data) whose text names another release.
two=$TEST_TMP/two-vmcoreinfo.core
cp --reflink=auto "$good" "$two"
python3 - "$two" <<'PY' >"$TEST_TMP/offsets" || fail "cannot write the two-note core"
import struct, sys
f = open(sys.argv[1], "r+b"); eh = bytearray(f.read(64))
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff); table = f.read(56 * phnum)
ph = [struct.unpack_from("<IIQQQQQQ", table, 56 * i) for i in range(phnum)]
note = [p for p in ph if p[0] == 4][0]
f.seek(note[2]); notes = f.read(note[5])
# The first VMCOREINFO note's offset in the file.
off, first = 0, None
while off + 12 <= len(notes):
    namesz, descsz, typ = struct.unpack_from("<III", notes, off)
    name = notes[off + 12:off + 12 + namesz].rstrip(b"\0")
    if name == b"VMCOREINFO": first = note[2] + off; text = notes[off + 12 + (namesz + 3) // 4 * 4:][:descsz]; break
    off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
text2 = text.replace(b"OSRELEASE=", b"OSRELEASE=second-")
name = b"VMCOREINFO\0\0"
blob = struct.pack("<III", 11, len(text2), 0) + name + text2 + b"\0" * (-len(text2) % 4)
end = f.seek(0, 2)
end += -end % 8
new_phoff = end
new_note = end + 56 * (phnum + 1)
f.seek(new_phoff)
f.write(table + struct.pack("<IIQQQQQQ", 4, 0, new_note, 0, 0, len(blob), 0, 4))
f.write(blob)
struct.pack_into("<Q", eh, 32, new_phoff); struct.pack_into("<H", eh, 56, phnum + 1)
f.seek(0); f.write(eh)
print("%#x %#x" % (first, new_note))
PY
read -r off1 off2 <"$TEST_TMP/offsets"
out=$(with_timeout 30 "$KCOREFS" info "$two" 2>&1) || fail "two VMCOREINFO notes: info failed: $out"
note "two notes: $(grep -i vmcoreinfo <<<"$out")"
grep -qF "two VMCOREINFO notes, at file offsets $off1 and $off2 (different texts); using the first, at $off1" <<<"$out" ||
  fail "no warning naming both notes ($off1, $off2) and the one used: $out"
grep -qE "^release: +$(mf osrelease)\$" <<<"$out" || fail "the first note's release is not the one used: $out"
echo PASS
