#!/usr/bin/python3
"""Independent byte oracle for kcorefs' views (python3 stdlib only; shares no code with src/).

For every input it is given that `kcorefs mount` accepts, it mounts the input and checks
each PT_LOAD of the vmcore and kcore views byte by byte against a model of the source built
from the source ELF's own program headers:

  physical address P   the bytes of a source PT_LOAD with p_paddr != -1 covering P (file
                       data up to p_filesz, cut at the end of the file; zeros from p_filesz to
                       p_memsz);
  virtual address V    (a view PT_LOAD with p_paddr = -1) the bytes of a source PT_LOAD
                       whose p_vaddr range covers V; for the kernel image's link-time alias,
                       the image at V + KERNELOFFSET (from the source's own VMCOREINFO note,
                       by p_vaddr or, for sources without vaddrs, by physical address
                       V + KERNELOFFSET - __START_KERNEL_map + phys_base).

Where source segments overlap, a view byte run must equal one of the candidates. A view byte
that no source segment models is an error: kcorefs must never serve bytes it does not
have. Reads that fail (EIO) are counted, not errors: failing is allowed, wrong bytes are
not. Large zero ranges are sampled (their first and last MiB); every byte the source file
holds is compared.

Usage: oracle.py KCOREFS WORKDIR INPUT... ; exits 1 on any mismatch, prints a summary.
"""

import os
import struct
import subprocess
import sys
import time

NOADDR = 2**64 - 1
START_KERNEL_MAP = 0xFFFFFFFF80000000
SAMPLE = 1 << 20          # bytes compared at each end of a zero-backed run
STEP_MAX = 1 << 20        # bytes compared per read


def parse_elf(data_or_file):
    """Returns (phdrs, notes_blobs) of a little-endian ELF64 file object."""
    f = data_or_file
    f.seek(0)
    eh = f.read(64)
    if len(eh) < 64 or eh[:4] != b"\x7fELF":
        raise ValueError("not ELF")
    phoff, = struct.unpack_from("<Q", eh, 32)
    phnum, = struct.unpack_from("<H", eh, 56)
    if phnum == 0xFFFF:
        shoff, = struct.unpack_from("<Q", eh, 40)
        f.seek(shoff + 44)
        phnum, = struct.unpack("<I", f.read(4))
    f.seek(phoff)
    raw = f.read(56 * phnum)
    return [struct.unpack_from("<IIQQQQQQ", raw, 56 * i) for i in range(len(raw) // 56)]


def source_vmcoreinfo(f, phdrs, size):
    """KERNELOFFSET and phys_base from the source's first VMCOREINFO note, or (None, None)."""
    for p in phdrs:
        if p[0] != 4 or p[2] + p[5] > size:
            continue
        f.seek(p[2])
        blob = f.read(p[5])
        off = 0
        while off + 12 <= len(blob):
            namesz, descsz, typ = struct.unpack_from("<III", blob, off)
            name = blob[off + 12:off + 12 + namesz].rstrip(b"\0")
            desc_off = off + 12 + (namesz + 3) // 4 * 4
            if name == b"VMCOREINFO":
                kv = {}
                text = blob[desc_off:desc_off + descsz].split(b"\0")[0]  # the kernel's text ends at NUL
                for line in text.decode("latin-1").split("\n"):
                    k, _, v = line.partition("=")
                    kv[k] = v
                try:
                    return int(kv["KERNELOFFSET"], 16), int(kv["NUMBER(phys_base)"])
                except (KeyError, ValueError):
                    return None, None
            nxt = desc_off + (descsz + 3) // 4 * 4
            if nxt <= off:
                break
            off = nxt
    return None, None


class Source:
    def __init__(self, path):
        self.f = open(path, "rb")
        self.size = os.fstat(self.f.fileno()).st_size
        self.phdrs = [p for p in parse_elf(self.f) if p[0] == 1]
        self.kaslr, self.phys_base = source_vmcoreinfo(self.f, parse_elf(self.f), self.size)

    def _pieces(self, addr, by_vaddr, phys_only=False):
        """Source segments covering addr: (segment start address, phdr)."""
        out = []
        for p in self.phdrs:
            if by_vaddr:
                start = p[3]
                if start == 0 and p[4] != NOADDR:
                    continue  # QEMU RAM: vaddr 0 says nothing
            else:
                if p[4] == NOADDR:
                    continue
                start = p[4]
            if start <= addr < start + p[6]:
                out.append((start, p))
        return out

    def _bytes(self, start, p, addr, n):
        """n bytes at addr of segment p (which starts at `start`), or None where absent."""
        rel = addr - start
        data = max(0, min(p[5], self.size - p[2])) if p[2] < self.size else 0
        if rel >= p[5]:
            return b"\0" * n  # p_filesz .. p_memsz: zeros by ELF's rule
        if rel + n > data:
            return None       # past the end of the file: absent
        self.f.seek(p[2] + rel)
        return self.f.read(n)

    def _next_edge(self, addr, by_vaddr):
        edges = []
        for p in self.phdrs:
            start = p[3] if by_vaddr else p[4]
            if start == NOADDR:
                continue
            data = max(0, min(p[5], self.size - p[2])) if p[2] < self.size else 0
            for e in (start, start + data, start + p[5], start + p[6]):
                if e > addr:
                    edges.append(e)
        return min(edges) if edges else None

    def candidates(self, addr, n, virtual):
        """(list of candidate byte strings for [addr, addr+n), n actually covered)."""
        lookups = []
        if virtual:
            lookups.append((addr, True))
            if self.kaslr is not None and addr >= START_KERNEL_MAP:
                lookups.append((addr + self.kaslr, True))
                lookups.append(((addr + self.kaslr - START_KERNEL_MAP + self.phys_base) % 2**64, False))
        else:
            lookups.append((addr, False))
        cands = []
        for a, by_vaddr in lookups:
            segs = self._pieces(a, by_vaddr)
            if not segs:
                continue
            edge = self._next_edge(a, by_vaddr)
            m = n if edge is None else min(n, edge - a)
            for start, p in segs:
                m = min(m, start + p[6] - a)
            if m <= 0:
                continue
            for start, p in segs:
                b = self._bytes(start, p, a, m)
                if b is not None:
                    cands.append((m, b))
        if not cands:
            return [], 0
        m = min(c[0] for c in cands)
        return [c[1][:m] for c in cands], m


def check_view(src, path, kind, stats):
    errors = []
    try:
        vf = open(path, "rb")
        vph = parse_elf(vf)
    except OSError as e:
        stats["eio"] += 1
        return ["%s: cannot read its header: %s" % (kind, e)] if e.errno != 5 else []
    for p in vph:
        if p[0] != 1 or p[5] == 0:
            continue
        virtual = p[4] == NOADDR
        base = p[3] if virtual else p[4]
        pos = 0
        while pos < p[5]:
            n = min(STEP_MAX, p[5] - pos)
            cands, m = src.candidates(base + pos, n, virtual)
            if m == 0:
                errors.append("%s: PT_LOAD vaddr %#x paddr %#x serves +%#x (address %#x) that the source does not hold"
                              % (kind, p[3], p[4], pos, base + pos))
                break
            try:
                vf.seek(p[2] + pos)
                got = vf.read(m)
            except OSError as e:
                if e.errno != 5:
                    raise
                stats["eio"] += 1
                pos += m
                continue
            stats["bytes"] += len(got)
            if got not in cands:
                errors.append("%s: PT_LOAD vaddr %#x paddr %#x: bytes at +%#x (address %#x, %d bytes) differ from the source's"
                              % (kind, p[3], p[4], pos, base + pos, m))
                break
            pos += m
            # A run of zeros (no file data): jump to its last SAMPLE bytes.
            if all(c.count(0) == len(c) for c in cands) and p[5] - pos > 2 * SAMPLE:
                skip_to = p[5] - SAMPLE
                # Only skip over addresses the source also keeps as zeros.
                nxt = src._next_edge(base + pos, virtual and True)
                if nxt is not None:
                    skip_to = min(skip_to, max(pos, nxt - base))
                pos = max(pos, skip_to)
    return errors


def mount(kcorefs, src, mp, log):
    os.makedirs(mp, exist_ok=True)
    proc = subprocess.Popen([kcorefs, "mount", "-f", src, mp], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if os.path.exists(os.path.join(mp, "vmcore")):
            return proc
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise RuntimeError("%s: no mount after 10 s" % src)


def unmount(proc, mp):
    subprocess.run(["fusermount3", "-u", mp], stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    kcorefs, work, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
    stats = {"inputs": 0, "mounted": 0, "bytes": 0, "eio": 0}
    failures = []
    t0 = time.time()
    for i, path in enumerate(inputs):
        stats["inputs"] += 1
        mp = os.path.join(work, "mp")
        with open(os.path.join(work, "kcorefs.log"), "w") as log:
            proc = mount(kcorefs, path, mp, log)
        if proc is None:
            continue
        stats["mounted"] += 1
        try:
            src = Source(path)
            for kind in ("vmcore", "kcore"):
                for e in check_view(src, os.path.join(mp, kind), kind, stats):
                    failures.append("%s: %s" % (path, e))
        finally:
            unmount(proc, mp)
    print("oracle: %d inputs, %d mounted, %d bytes compared, %d EIO reads, %d mismatches, %.1f s"
          % (stats["inputs"], stats["mounted"], stats["bytes"], stats["eio"], len(failures), time.time() - t0))
    for f in failures:
        print("MISMATCH: " + f)
    return 1 if failures or stats["mounted"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
