#!/usr/bin/env bash
# Data bytes: at random physical addresses (and at the 64 KiB tags mkcore.py writes), the
# vmcore and kcore views hold the source's bytes for that physical address; windows across
# PT_LOAD boundaries read as the program headers say; kcore's link-time alias of the kernel
# image reads the same as the runtime image; markers read right by virtual address.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump qemu kcore

for src in kdump qemu kcore; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  "$DRGN_PYTHON" - "$MANIFEST" "$(mf files.$src)" "$mp" "$src" <<'PY' || fail "$src: bytes differ (above)"
import json, random, struct, sys
m, source, mp = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
h = lambda s: int(s, 16)
NOADDR = (1 << 64) - 1
rng = random.Random(20240611)

class Core:
    def __init__(self, path):
        self.f = open(path, "rb")
        eh = self.f.read(64)
        phnum = struct.unpack_from("<H", eh, 56)[0]
        self.ph = [struct.unpack("<IIQQQQQQ", self.f.read(56)) for _ in range(phnum)]
        self.loads = [p for p in self.ph if p[0] == 1]
    def read(self, off, n):
        self.f.seek(off)
        b = self.f.read(n)
        assert len(b) == n, "short read at %#x" % off
        return b
    def seg(self, addr, phys):
        for p in self.loads:
            base = p[4] if phys else p[3]
            if (not phys or p[4] != NOADDR) and base <= addr < base + p[5]:
                return p, base
        return None, None
    def at(self, addr, n, phys):
        p, base = self.seg(addr, phys)
        if p is None: return None
        n = min(n, base + p[5] - addr)
        return self.read(p[2] + addr - base, n)

src, vm, kc = Core(source), Core(mp + "/vmcore"), Core(mp + "/kcore")
errs, nonzero = [], 0
ram = [(h(a), h(b)) for a, b in m["ram"]]
tags = [a for lo, hi in ram for a in range((lo + 0xffff) & ~0xffff, hi, m["tag_interval"])]
addrs = rng.sample(tags, 60) + [rng.randrange(lo, hi) for lo, hi in ram for _ in range(40)]
addrs += [ram[0][0], ram[1][0], ram[1][1] - 64, h(m["image"]["paddr"]), h(m["vmcoreinfo_paddr"])]
for a in addrs:
    want = src.at(a, 4096, True)
    if want is None:
        errs.append("source has no byte at phys %#x" % a); continue
    nonzero += any(want)
    for name, view in (("vmcore", vm), ("kcore", kc)):
        got = view.at(a, len(want), True)
        if got != want:
            errs.append("%s phys %#x: %r... want %r..." % (name, a, got and got[:24], want[:24]))
if nonzero < 60:
    errs.append("only %d of %d samples held nonzero bytes; the test proves little" % (nonzero, len(addrs)))
for t in rng.sample(tags, 20):
    b = src.at(t, 16, True)
    if b not in (b"KCPA%012x" % t, None) and any(b):
        errs.append("tag at %#x reads %r" % (t, b))

# File windows around every vmcore PT_LOAD edge read as the headers say.
data_start = min(p[2] for p in vm.loads if p[5])
for p in vm.loads:
    for edge in (p[2], p[2] + p[5]):
        lo, hi = max(data_start, edge - 8192), edge + 8192
        want = bytearray(hi - lo)
        for q in vm.loads:
            a, b = max(lo, q[2]), min(hi, q[2] + q[5])
            if a < b:
                want[a - lo:b - lo] = src.at(q[4] + a - q[2], b - a, True)
        vm.f.seek(lo); got = vm.f.read(hi - lo)
        got += bytes(hi - lo - len(got)) if lo + len(got) >= vm.f.seek(0, 2) else b""
        if got != bytes(want):
            errs.append("vmcore file window [%#x, %#x) around a PT_LOAD edge differs" % (lo, hi))

# The kernel image: vmcore image segment, kcore runtime and link-time segments, source phys.
img = {k: h(v) for k, v in m["image"].items()}
for off in range(0, img["size"], 1 << 20):
    want = src.at(img["paddr"] + off, 1 << 20, True)
    got = {"vmcore image": vm.at(img["vaddr"] + off, 1 << 20, False),
           "kcore runtime": kc.at(img["vaddr"] + off, 1 << 20, False),
           "kcore link-time": kc.at(img["link_vaddr"] + off, 1 << 20, False)}
    errs += ["%s at image offset %#x differs" % (k, off) for k, v in got.items() if v != want]
for name, mk in m["markers"].items():
    if name == "vmalloc" and sys.argv[4] != "kcore": continue
    got = kc.at(h(mk["vaddr"]), len(mk["text"]), False)
    if got != mk["text"].encode():
        errs.append("kcore at %s (%s marker) reads %r" % (mk["vaddr"], name, got))
if errs: sys.exit("\n".join(errs[:30]))
print("%d samples, %d nonzero" % (len(addrs), nonzero))
PY
done
echo ok
