#!/usr/bin/env bash
# A QEMU dump without a VMCOREINFO note: kcorefs finds the kernel's page-aligned note by
# scanning physical memory, serves its text verbatim plus a derived
# NUMBER(page_offset_base) (printed as the kernel prints NUMBER(): %ld, so negative), and
# puts the same text in the vmcore's VMCOREINFO note.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores --no-vmcoreinfo-note qemu
src=$(mf files.qemu-novmci)
mp=$TEST_TMP/m
mount_kcorefs "$src" "$mp"

vi=$mp/vmcoreinfo
grep -qx "OSRELEASE=$(mf osrelease)" "$vi" || fail "vmcoreinfo lacks OSRELEASE: $(head -3 "$vi")"
want=$(mf page_offset_base_ld)
[ "${want:0:1}" = - ] || fail "manifest page_offset_base_ld $want is not negative"
got=$(grep '^NUMBER(page_offset_base)=' "$vi") || fail "no NUMBER(page_offset_base) in $(cat "$vi")"
[ "$got" = "NUMBER(page_offset_base)=$want" ] || fail "$got, want NUMBER(page_offset_base)=$want"
[ "$(grep -c '^NUMBER(page_offset_base)=' "$vi")" = 1 ] || fail "NUMBER(page_offset_base) appears twice"

# The kernel's own text is passed through unchanged: the served text starts with the note
# mkcore.py put in RAM, byte for byte.
"$DRGN_PYTHON" - "$MANIFEST" "$src" "$vi" "$mp/vmcore" <<'PY' || fail "served VMCOREINFO differs from the kernel's"
import json, struct, sys
m = json.load(open(sys.argv[1]))
pa = int(m["vmcoreinfo_paddr"], 16)
def notes_and_loads(path):
    f = open(path, "rb")
    eh = f.read(64)
    phnum = struct.unpack_from("<H", eh, 56)[0]
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    return f, ph
f, ph = notes_and_loads(sys.argv[2])
seg = next(p for p in ph if p[0] == 1 and p[4] <= pa < p[4] + p[5])
f.seek(seg[2] + pa - seg[4])
namesz, descsz, ntype = struct.unpack("<III", f.read(12))
assert (namesz, ntype) == (11, 0) and f.read(12) == b"VMCOREINFO\0\0", "no note at the manifest's address"
kernel = f.read(descsz)
served = open(sys.argv[3], "rb").read()
if not served.startswith(kernel):
    sys.exit("served text does not start with the kernel's %d bytes" % len(kernel))
extra = served[len(kernel):].decode()
if extra != "NUMBER(page_offset_base)=%d\n" % m["page_offset_base_ld"]:
    sys.exit("unexpected additions: %r" % extra)
# The vmcore's VMCOREINFO note carries the same text.
f, ph = notes_and_loads(sys.argv[4])
f.seek(ph[0][2]); data = f.read(ph[0][5]); off = 0
while off + 12 <= len(data):
    namesz, descsz, ntype = struct.unpack_from("<III", data, off)
    d = off + 12 + (namesz + 3) // 4 * 4
    if data[off + 12:off + 12 + namesz] == b"VMCOREINFO\0":
        if data[d:d + descsz].rstrip(b"\0") != served:
            sys.exit("vmcore VMCOREINFO note differs from MP/vmcoreinfo")
        break
    off = d + (descsz + 3) // 4 * 4
else:
    sys.exit("vmcore has no VMCOREINFO note")
PY
"$KCOREFS" info --json "$src" | grep -q "\"vmcoreinfo_origin\":\"scan of physical memory, note at $(mf vmcoreinfo_paddr)\"" ||
  fail "kcorefs info does not report the scan: $("$KCOREFS" info --json "$src")"
echo ok
