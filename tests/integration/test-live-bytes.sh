#!/usr/bin/env bash
# The live backend on `live:PATH`, PATH a /proc/kcore-shaped core (tests/tools/mkcore.py
# kcore: NT_TASKSTRUCT, sparse offsets): the vmcore and kcore views hold the source's bytes
# (by physical address, and the kernel image and vmalloc page by virtual address), and both
# are served direct_io, as /proc/kcore is: a byte changed in the source is seen by the next
# read through a descriptor opened before the change (no page cache), and a shared mmap
# is refused. The same file mounted as a dump file (page cache kept) is the control: there
# the old byte stays, so the check can tell the two apart.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
KCORE_DIR=$TEST_TMP/shm   # make_cores writes kcore.core here: ~100 TiB sparse, so a tmpfs
mount_tmpfs "$KCORE_DIR"
make_cores kcore
src=$(mf files.kcore)
grep -q TASKSTRUCT <(eu-readelf -n "$src") || fail "the source has no NT_TASKSTRUCT note: not /proc/kcore-shaped"

mp=$TEST_TMP/live
mount_kcorefs "live:$src" "$mp"
"$KCOREFS" info "$mp" | grep -q '^backend live$' || fail "not served by the live backend: $("$KCOREFS" info "$mp")"
grep -qx "source $src" "$mp/stats" || fail "stats names another source: $(cat "$mp/stats")"
check_readelf "$mp/vmcore" vmcore
check_readelf "$mp/kcore" kcore

"$DRGN_PYTHON" - "$MANIFEST" "$src" "$mp" <<'PY' || fail "the live views' bytes differ from the source's (above)"
import json, random, struct, sys
m, source, mp = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
h = lambda s: int(s, 16)
NOADDR = (1 << 64) - 1
rng = random.Random(20240612)

class Core:
    def __init__(self, path):
        self.f = open(path, "rb", buffering=0)
        eh = self.f.read(64)
        self.ph = [struct.unpack_from("<IIQQQQQQ", self.f.read(56)) for _ in range(struct.unpack_from("<H", eh, 56)[0])]
        self.loads = [p for p in self.ph if p[0] == 1]
    def at(self, addr, n, phys):
        for p in self.loads:
            base = p[4] if phys else p[3]
            if (not phys or p[4] != NOADDR) and base <= addr < base + p[5]:
                n = min(n, base + p[5] - addr)
                self.f.seek(p[2] + addr - base)
                b = self.f.read(n)
                assert len(b) == n, "short read at %#x in %s" % (addr, self.f.name)
                return b
        return None

s, vm, kc = Core(source), Core(mp + "/vmcore"), Core(mp + "/kcore")
ram = [(h(a), h(b)) for a, b in m["ram"]]
tags = [a for lo, hi in ram for a in range((lo + 0xffff) & ~0xffff, hi, m["tag_interval"])]
addrs = rng.sample(tags, 40) + [rng.randrange(lo, hi) for lo, hi in ram for _ in range(20)]
addrs += [ram[0][0], ram[1][1] - 64, h(m["image"]["paddr"]), h(m["vmcoreinfo_paddr"])]
errs, nonzero = [], 0
for a in addrs:
    want = s.at(a, 4096, True)
    if want is None:
        errs.append("the source has no byte at phys %#x" % a); continue
    nonzero += any(want)
    for name, view in (("vmcore", vm), ("kcore", kc)):
        got = view.at(a, len(want), True)
        if got != want:
            errs.append("%s phys %#x: %r... want %r..." % (name, a, got and got[:24], want[:24]))
if nonzero < 40:
    errs.append("only %d of %d samples were nonzero: the comparison proves little" % (nonzero, len(addrs)))
img = {k: h(v) for k, v in m["image"].items()}
for off in range(0, img["size"], 1 << 20):
    want = s.at(img["vaddr"] + off, 1 << 20, False)
    for name, view, va in (("vmcore image", vm, img["vaddr"]), ("kcore runtime image", kc, img["vaddr"]),
                           ("kcore link-time image", kc, img["link_vaddr"])):
        if view.at(va + off, 1 << 20, False) != want:
            errs.append("%s at image offset %#x differs from the source" % (name, off))
mk = m["markers"]["vmalloc"]
if kc.at(h(mk["vaddr"]), len(mk["text"]), False) != mk["text"].encode():
    errs.append("kcore at the vmalloc marker %s does not read %r" % (mk["vaddr"], mk["text"]))
if errs: sys.exit("\n".join(errs[:30]))
print("%d samples (%d nonzero), the image and the vmalloc page match the source" % (len(addrs), nonzero))
PY

# direct_io. The control: the same source as a dump file, whose pages are cached.
ctl=$TEST_TMP/dumpfile
mount_kcorefs "$src" "$ctl"
"$KCOREFS" info "$ctl" | grep -q '^backend dumpfile$' || fail "the control mount is not the dumpfile backend"
exec 5<"$mp/vmcore" 6<"$mp/kcore" 7<"$ctl/vmcore"
cleanup_fn "exec 5<&- 6<&- 7<&-"   # runs before the unmounts: no open file keeps them busy
"$DRGN_PYTHON" - "$MANIFEST" "$src" "$mp" <<'PY' || fail "live reads are not direct_io (above)"
import errno, json, mmap, os, struct, sys
m, source, mp = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
NOADDR = (1 << 64) - 1

def phdrs(fd):
    eh = os.pread(fd, 64, 0)
    n = struct.unpack_from("<H", eh, 56)[0]
    raw = os.pread(fd, 56 * n, 64)
    return [struct.unpack_from("<IIQQQQQQ", raw, 56 * i) for i in range(n)]

def offset_of(fd, pa):
    for p in phdrs(fd):
        if p[0] == 1 and p[4] != NOADDR and p[4] <= pa < p[4] + p[5]:
            return p[2] + pa - p[4]
    sys.exit("no PT_LOAD holds phys %#x" % pa)

src = os.open(source, os.O_RDWR)
pa = int(m["ram"][1][0], 16) + 0x500000   # a tagged 64 KiB boundary in RAM
pa -= pa % m["tag_interval"]
tag = b"KCPA%012x" % pa
fds = {"live vmcore": 5, "live kcore": 6, "dumpfile vmcore": 7}
offs = {name: offset_of(fd, pa) for name, fd in fds.items()}
src_off = offset_of(src, pa)
errs = []
for name, fd in fds.items():
    # Read the whole page first, as a cached file would bring it into the page cache.
    page = os.pread(fd, 4096, offs[name] - offs[name] % 4096)
    got = os.pread(fd, 16, offs[name])
    if got != tag:
        sys.exit("%s at phys %#x reads %r, want %r" % (name, pa, got, tag))
new = b"KCOREFS-CHANGED!"
os.pwrite(src, new, src_off)
try:
    for name in ("live vmcore", "live kcore"):
        got = os.pread(fds[name], 16, offs[name])
        if got != new:
            errs.append("%s: a read through the descriptor opened before the change returns %r, "
                        "want the source's new %r (served from the page cache?)" % (name, got, new))
        path = {"live vmcore": "vmcore", "live kcore": "kcore"}[name]
        with open(os.path.join(mp, path), "rb", buffering=0) as f:
            f.seek(offs[name])
            if f.read(16) != new:
                errs.append("%s: a new open does not see the changed byte either" % name)
        try:
            mmap.mmap(fds[name], 4096, mmap.MAP_SHARED, mmap.PROT_READ)
            errs.append("%s: a shared mmap succeeded; FUSE refuses it (ENODEV) only on direct_io files" % name)
        except OSError as e:
            if e.errno != errno.ENODEV:
                errs.append("%s: shared mmap failed with %s, want ENODEV (direct_io)" % (name, e))
    # The control: a cached dump-file mount still shows the old bytes through the old
    # descriptor, and maps shared. If it did not, this test could not see a missing direct_io.
    got = os.pread(fds["dumpfile vmcore"], 16, offs["dumpfile vmcore"])
    if got != tag:
        errs.append("control: the dumpfile mount (page cache kept) already shows %r: this test can no "
                    "longer tell direct_io from cached reads" % got)
    mmap.mmap(fds["dumpfile vmcore"], 4096, mmap.MAP_SHARED, mmap.PROT_READ).close()
finally:
    os.pwrite(src, tag, src_off)
if errs: sys.exit("\n".join(errs))
print("direct_io: the changed bytes at phys %#x were read through the old descriptors; "
      "shared mmap refused; the cached control kept the old bytes" % pa)
PY
exec 5<&- 6<&- 7<&-
echo ok
