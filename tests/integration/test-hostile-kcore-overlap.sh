#!/usr/bin/env bash
# kcore never serves one address's bytes under another (issue 8, point 8). A kcore PT_LOAD's
# file offset is its virtual address minus the direct-map base, so a virtual-only segment
# (p_paddr -1) inside RAM's direct-map addresses claims the same file bytes as that RAM.
# Two crafted cores, written here from mkcore.py's kdump core plus one such segment:
#   inside   a page-aligned virtual-only segment wholly inside RAM's direct map;
#   straddle an unaligned one (vaddr ...800) across the end of a RAM segment.
# Each must mount with a warning naming both segments, and every PT_LOAD of kcore and
# vmcore must serve the source's bytes at its address (the virtual-only segment's bytes are
# a pattern unlike RAM's, so a mix-up shows).
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump
good=$(mf files.kdump)
dm=$(mf page_offset_base)

craft() {  # craft OUT MODE: the kdump core with one more PT_LOAD (p_paddr -1)
  cp --reflink=auto "$good" "$1"
  python3 - "$1" "$2" "$dm" <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b"); eh = bytearray(f.read(64)); dm = int(sys.argv[3], 16)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff); table = f.read(56 * phnum)
ram = [p for p in (struct.unpack_from("<IIQQQQQQ", table, 56 * i) for i in range(phnum))
       if p[0] == 1 and p[3] >= dm and p[3] < 0xffffffff80000000]
r = ram[0]
if sys.argv[2] == "inside":
    vaddr, size = dm + r[4] + 0x100000, 0x3000
else:  # straddles the end of the first RAM segment, at an unaligned address
    vaddr, size = dm + r[4] + r[6] - 0x1800, 0x3000
end = f.seek(0, 2); end += -end % 4096
data = bytes((i * 7 + 0x5a) & 0xff for i in range(size))
new_phoff = end + size + (-(end + size) % 8)
f.seek(end); f.write(data)
f.seek(new_phoff)
f.write(table + struct.pack("<IIQQQQQQ", 1, 7, end, vaddr, 2**64 - 1, size, size, 4096))
struct.pack_into("<Q", eh, 32, new_phoff); struct.pack_into("<H", eh, 56, phnum + 1)
f.seek(0); f.write(eh)
print("%#x" % vaddr)
PY
}

# compare SOURCE VIEW KIND: each PT_LOAD of VIEW holds the source's bytes at its address
# (physical for RAM, virtual for p_paddr -1); prints a count. Samples up to 64 KiB at the
# start, the end and every 16 MiB of each segment.
compare() {
  python3 - "$@" "$dm" <<'PY'
import struct, sys
def loads(path):
    f = open(path, "rb"); eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
    f.seek(phoff)
    return f, [p for p in (struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)) if p[0] == 1]
src, sl = loads(sys.argv[1]); view, vl = loads(sys.argv[2]); kind = sys.argv[3]
NOADDR = 2**64 - 1
def source_bytes(addr, n, virtual):
    for p in sl:
        a = p[3] if virtual else p[4]
        if (p[4] == NOADDR) != virtual: continue
        if a <= addr and addr + n <= a + p[5]:
            src.seek(p[2] + addr - a); return src.read(n)
    return None
n = 0
for p in vl:
    virtual = p[4] == NOADDR
    if p[5] == 0: continue
    if virtual and p[3] >= 0xffffffff80000000: continue  # the image's link-time alias
    base = p[3] if virtual else p[4]
    offs = sorted(set([0, max(0, p[5] - 65536)] + list(range(0, p[5], 16 << 20))))
    for o in offs:
        k = min(65536, p[5] - o)
        want = source_bytes(base + o, k, virtual)
        if want is None:
            if virtual: sys.exit("%s: PT_LOAD at %#x: the source has no virtual-only bytes at %#x" % (kind, p[3], base + o))
            continue  # an image alias or a range the source holds in two pieces
        view.seek(p[2] + o); got = view.read(k)
        if got != want:
            sys.exit("%s: PT_LOAD vaddr %#x paddr %#x: bytes at +%#x differ from the source's" % (kind, p[3], p[4], o))
        n += 1
# No two PT_LOADs claim overlapping file ranges.
r = sorted((p[2], p[2] + p[5], p[3]) for p in vl if p[5])
for a, b in zip(r, r[1:]):
    if b[0] < a[1]: sys.exit("%s: PT_LOADs at vaddr %#x and %#x share file bytes" % (kind, a[2], b[2]))
print(n)
PY
}

for mode in inside straddle; do
  f=$TEST_TMP/$mode.core
  vaddr=$(craft "$f" "$mode") || fail "$mode: cannot write the core"
  mp=$TEST_TMP/mp-$mode
  mount_kcorefs "$f" "$mp"
  note "$mode: virtual-only segment at $vaddr; $(grep warning "$KCOREFS_LOG")"
  grep -qE "warning: kcore: virtual-only segment \[$vaddr, 0x[0-9a-f]+\) overlaps RAM at physical 0x[0-9a-f]+ \[0x[0-9a-f]+, 0x[0-9a-f]+\)" "$KCOREFS_LOG" ||
    fail "$mode: no warning naming both overlapping segments: $(cat "$KCOREFS_LOG")"
  n=$(compare "$f" "$mp/kcore" kcore) || fail "$mode: kcore serves wrong bytes"
  m=$(compare "$f" "$mp/vmcore" vmcore) || fail "$mode: vmcore serves wrong bytes"
  note "$mode: $n kcore and $m vmcore samples equal the source's"
  [ "$n" -gt 2 ] && [ "$m" -gt 2 ] || fail "$mode: too few samples compared ($n, $m)"
  unmount_kcorefs "$mp" "$KCOREFS_PID"
done
echo PASS
