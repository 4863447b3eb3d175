#!/usr/bin/env bash
# The two read paths give the same bytes: one synthetic kdump core mounted with -o splice
# and with -o nosplice. vmcore compares whole (cmp); kcore (~100 TiB, sparse) on its
# header and every PT_LOAD. Reads at chosen offsets that straddle the header, the zero
# padding after it, PT_LOAD edges and the gaps of kcore (through the page cache and with
# O_DIRECT, which sends the exact offset and size to the daemon) match a model built from
# the source file: header bytes as the other mount serves them, PT_LOAD bytes from the
# source at the same physical address, zeros elsewhere. The stats say which path ran.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump

src=$(mf files.kdump)
mount_kcorefs "$src" "$TEST_TMP/splice" -o splice
mount_kcorefs "$src" "$TEST_TMP/copy" -o nosplice

with_timeout 120 cmp "$TEST_TMP/splice/vmcore" "$TEST_TMP/copy/vmcore" || fail "vmcore differs between -o splice and -o nosplice"

"$DRGN_PYTHON" - "$src" "$TEST_TMP/splice" "$TEST_TMP/copy" <<'PY' || fail "bytes differ (above)"
import hashlib, os, struct, sys
source, mp_splice, mp_copy = sys.argv[1:4]
NOADDR = (1 << 64) - 1

def phdrs(fd):
    eh = os.pread(fd, 64, 0)
    phoff, = struct.unpack_from("<Q", eh, 32)
    phnum, = struct.unpack_from("<H", eh, 56)
    raw = os.pread(fd, 56 * phnum, phoff)
    return phoff + 56 * phnum, [struct.unpack_from("<IIQQQQQQ", raw, 56 * i) for i in range(phnum)]

src_fd = os.open(source, os.O_RDONLY)
reads = 0

def evict_now_and_then():
    # Half the reads find the source out of the page cache: both splicing paths run.
    global reads
    reads += 1
    if reads % 2:
        os.posix_fadvise(src_fd, 0, 0, os.POSIX_FADV_DONTNEED)
_, src_ph = phdrs(src_fd)
src_loads = [p for p in src_ph if p[0] == 1 and p[4] != NOADDR]

def source_phys(paddr, n):
    for p in src_loads:
        if p[4] <= paddr and paddr + n <= p[4] + p[5]:
            return os.pread(src_fd, n, p[2] + paddr - p[4])
    raise AssertionError("physical %#x+%#x is not in one source PT_LOAD" % (paddr, n))

class View:
    """What a file of the mount must read as, from its program headers and the source."""
    def __init__(self, name):
        fd = os.open(os.path.join(mp_copy, name), os.O_RDONLY)
        table_end, ph = phdrs(fd)
        notes = [p for p in ph if p[0] == 4]
        self.header_end = max([table_end] + [p[2] + p[5] for p in notes])
        self.header = os.pread(fd, self.header_end, 0)
        self.size = os.fstat(fd).st_size
        self.loads = sorted((p[2], p[5], p[4]) for p in ph if p[0] == 1 and p[5] and p[4] != NOADDR)
        self.virtual_only = [p for p in ph if p[0] == 1 and p[5] and p[4] == NOADDR]
        os.close(fd)

    def expect(self, off, n):
        n = max(0, min(n, self.size - off))
        out = bytearray(n)
        lo, hi = off, off + n
        a, b = max(lo, 0), min(hi, self.header_end)
        if a < b:
            out[a - lo:b - lo] = self.header[a:b]
        for p_off, p_len, paddr in self.loads:
            a, b = max(lo, p_off), min(hi, p_off + p_len)
            if a < b:
                out[a - lo:b - lo] = source_phys(paddr + a - p_off, b - a)
        return bytes(out)

    def modelled(self, off, n):
        # kcore's link-time alias (p_paddr -1) has no physical address to model.
        return not any(p[2] < off + n and off < p[2] + p[5] for p in self.virtual_only)

errs = []
SIZES = (1, 100, 4095, 4096, 4097, 8192 + 7, 65536 + 1, (1 << 20) - 3, (1 << 20) + 4096 + 5)
for name in ("vmcore", "kcore"):
    v = View(name)
    points = [0, v.header_end, (v.header_end + 4095) // 4096 * 4096, v.size]
    for p_off, p_len, _ in v.loads:
        points += [p_off, p_off + p_len, p_off + p_len // 2]
    offsets = sorted({max(0, p + d) for p in points for d in (-8192 - 3, -4096, -1, 0, 1, 4093)})
    for mp in (mp_splice, mp_copy):
        path = os.path.join(mp, name)
        fds = {"cached": os.open(path, os.O_RDONLY), "O_DIRECT": os.open(path, os.O_RDONLY | os.O_DIRECT)}
        for how, fd in fds.items():
            for off in offsets:
                for n in SIZES:
                    if not v.modelled(off, n):
                        continue
                    evict_now_and_then()
                    got = os.pread(fd, n, off)
                    if got != v.expect(off, n):
                        errs.append("%s %s (%s) pread(%d, %#x) differs" % (os.path.basename(mp), name, how, n, off))
            os.close(fd)
    # Whole regions, the two mounts against each other: header and every PT_LOAD of kcore.
    if name == "kcore":
        fa, fb = (os.open(os.path.join(m, name), os.O_RDONLY) for m in (mp_splice, mp_copy))
        ranges = [(0, v.header_end + 8192)] + [p[:2] for p in v.loads]
        ranges += [(p[2], p[5]) for p in v.virtual_only]
        for off, n in ranges:
            for at in range(off, off + n, 1 << 20):
                k = min(1 << 20, off + n - at)
                if os.pread(fa, k, at) != os.pread(fb, k, at):
                    errs.append("kcore [%#x, +%#x) differs between the mounts" % (at, k))
                    break
if errs:
    sys.exit("\n".join(errs[:30]) + ("\n(%d in all)" % len(errs) if len(errs) > 30 else ""))
print("ok")
PY

# A source cut short under the mounts: reads past the cut fail with EIO on both paths.
cut=$TEST_TMP/cut.core
cp "$src" "$cut"
mount_kcorefs "$cut" "$TEST_TMP/cut-splice" -o splice
mount_kcorefs "$cut" "$TEST_TMP/cut-copy" -o nosplice
"$DRGN_PYTHON" - "$cut" "$TEST_TMP/cut-splice" "$TEST_TMP/cut-copy" <<'PY' || fail "a truncated source (above)"
import errno, os, struct, sys
cut, mps = sys.argv[1], sys.argv[2:]
fd = os.open(os.path.join(mps[0], "vmcore"), os.O_RDONLY)
eh = os.pread(fd, 64, 0)
phoff, = struct.unpack_from("<Q", eh, 32)
phnum, = struct.unpack_from("<H", eh, 56)
loads = [struct.unpack_from("<IIQQQQQQ", os.pread(fd, 56, phoff + 56 * i)) for i in range(phnum)]
last = max((p for p in loads if p[0] == 1 and p[5]), key=lambda p: p[2])
# Opened before the cut: an open after it fails (the dumpfile backend sees the change).
fds = [(mp, flags, os.open(os.path.join(mp, "vmcore"), os.O_RDONLY | flags))
       for mp in mps for flags in (0, os.O_DIRECT)]
os.truncate(cut, os.stat(cut).st_size - (last[5] // 2))
at = last[2] + last[5] - (1 << 20)  # vmcore bytes that came from past the new end
errs = []
for mp, flags, f in fds:
    try:
        got = os.pread(f, 1 << 20, at)
        errs.append("%s flags %#x: read %d bytes past the cut, want EIO" % (mp, flags, len(got)))
    except OSError as e:
        if e.errno != errno.EIO:
            errs.append("%s flags %#x: %s, want EIO" % (mp, flags, e))
    os.close(f)
if errs:
    sys.exit("\n".join(errs))
PY

stat_of() { sed -n "s/^$2 //p" "$1/stats"; }
for mp in cut-splice cut-copy; do
  [ "$(stat_of "$TEST_TMP/$mp" read_errors)" -gt 0 ] || fail "$mp: the failed reads were not counted: $(cat "$TEST_TMP/$mp/stats")"
done
for mp in splice copy; do
  [ "$(stat_of "$TEST_TMP/$mp" read_errors)" = 0 ] || fail "$mp: read errors: $(cat "$TEST_TMP/$mp/stats")"
done
[ "$(stat_of "$TEST_TMP/splice" bytes_spliced)" -gt 0 ] || fail "-o splice spliced nothing: $(cat "$TEST_TMP/splice/stats")"
[ "$(stat_of "$TEST_TMP/copy" bytes_spliced)" = 0 ] || fail "-o nosplice spliced: $(cat "$TEST_TMP/copy/stats")"
echo ok
