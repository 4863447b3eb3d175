#!/usr/bin/env python3
"""Writes the physical memory of an ELF core as a LiME image or a raw image, for tests.

  elf2mem.py lime CORE OUT     one LiME range (version 1 header) per RAM PT_LOAD
  elf2mem.py raw CORE OUT      byte N = physical address N (sparse: unwritten ranges are holes)
  --max-paddr ADDR             leave out memory at or above ADDR (QEMU dumps hold the BIOS
                               at 0xfffc0000, which a raw image of RAM would not)

RAM PT_LOADs are those with a physical address and no kernel-image alias of another one
(the same paddr twice keeps the first). Shares no code with kcorefs.
"""
import argparse
import struct

LIME_MAGIC = 0x4C694D45


def ram_loads(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        assert eh[:4] == b"\x7fELF", "not an ELF file"
        phoff = struct.unpack_from("<Q", eh, 32)[0]
        phnum = struct.unpack_from("<H", eh, 56)[0]
        f.seek(phoff)
        phs = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    seen, loads = set(), []
    for p_type, _, off, _, paddr, filesz, _, _ in phs:
        if p_type != 1 or paddr == (1 << 64) - 1 or filesz == 0 or paddr in seen:
            continue
        seen.add(paddr)
        loads.append((paddr, off, filesz))
    loads.sort()
    # An image PT_LOAD inside a RAM one (a kdump vmcore) is dropped: RAM already holds it.
    out = []
    for pa, off, n in loads:
        if out and pa < out[-1][0] + out[-1][2]:
            continue
        out.append((pa, off, n))
    return out


def copy(src, off, n, dst):
    src.seek(off)
    while n:
        chunk = src.read(min(n, 1 << 20))
        assert chunk, "short read"
        dst.write(chunk)
        n -= len(chunk)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("format", choices=["lime", "raw"])
    ap.add_argument("core")
    ap.add_argument("out")
    ap.add_argument("--max-paddr", type=lambda s: int(s, 0), default=1 << 64)
    a = ap.parse_args()
    loads = [(pa, off, min(n, a.max_paddr - pa)) for pa, off, n in ram_loads(a.core) if pa < a.max_paddr]
    with open(a.core, "rb") as src, open(a.out, "wb") as dst:
        for pa, off, n in loads:
            if a.format == "lime":
                dst.write(struct.pack("<IIQQ8s", LIME_MAGIC, 1, pa, pa + n - 1, b"\0" * 8))
            else:
                dst.seek(pa)
            copy(src, off, n, dst)
    print("%s: %d ranges, %d bytes of memory" % (a.out, len(loads), sum(n for _, _, n in loads)))


if __name__ == "__main__":
    main()
