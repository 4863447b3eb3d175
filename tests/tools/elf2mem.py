#!/usr/bin/env python3
"""Writes the physical memory of an ELF core as a LiME image or a raw image, for tests.

  elf2mem.py lime CORE OUT     one LiME range (version 1 header) per RAM PT_LOAD
  elf2mem.py raw CORE OUT      byte N = physical address N (sparse: unwritten ranges are holes)
  elf2mem.py avml CORE OUT     AVML's compressed format: blocks of at most 16 MiB (version 2
                               header, a snappy framing-format stream, its length as a u64),
                               all-zero blocks left out; every 7th chunk stored uncompressed and
                               a padding chunk after every 5th, so readers meet every chunk kind
  --avml-block N               bytes per AVML block (default AVML's 16 MiB)
  --max-paddr ADDR             leave out memory at or above ADDR (QEMU dumps hold the BIOS
                               at 0xfffc0000, which a raw image of RAM would not)

RAM PT_LOADs are those with a physical address and no kernel-image alias of another one
(the same paddr twice keeps the first). Shares no code with kcorefs.
"""
import argparse
import ctypes
import ctypes.util
import struct

LIME_MAGIC = 0x4C694D45
AVML_MAGIC = 0x4C4D5641
AVML_BLOCK = 16 << 20
CHUNK = 65536


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def masked_crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class Snappy:
    """libsnappy's C API through ctypes (the library libkdumpfile already brings)."""

    def __init__(self):
        self.lib = ctypes.CDLL(ctypes.util.find_library("snappy") or "libsnappy.so.1")

    def compress(self, data):
        n = ctypes.c_size_t(self.lib.snappy_max_compressed_length(ctypes.c_size_t(len(data))))
        out = ctypes.create_string_buffer(n.value)
        assert self.lib.snappy_compress(data, ctypes.c_size_t(len(data)), out, ctypes.byref(n)) == 0
        return out.raw[:n.value]


def avml_stream(snappy, data, counter):
    """A snappy framing-format stream of `data`."""
    out = [b"\xff\x06\x00\x00sNaPpY"]
    for i in range(0, len(data), CHUNK):
        piece = data[i:i + CHUNK]
        counter[0] += 1
        crc = struct.pack("<I", masked_crc32c(piece))
        if counter[0] % 7 == 0:
            body, kind = crc + piece, 1
        else:
            body, kind = crc + snappy.compress(piece), 0
        out.append(struct.pack("<I", kind | len(body) << 8) + body)
        if counter[0] % 5 == 0:
            out.append(struct.pack("<I", 0xFE | 3 << 8) + b"\0\0\0")
    return b"".join(out)


def write_avml(src, loads, dst, block):
    snappy, counter, blocks, dropped = Snappy(), [0], 0, 0
    for pa, off, n in loads:
        for b in range(0, n, block):
            size = min(block, n - b)
            src.seek(off + b)
            data = src.read(size)
            assert len(data) == size, "short read"
            if data.count(0) == size:
                dropped += 1
                continue
            stream = avml_stream(snappy, data, counter)
            dst.write(struct.pack("<IIQQQ", AVML_MAGIC, 2, pa + b, pa + b + size - 1, 0))
            dst.write(stream)
            dst.write(struct.pack("<Q", len(stream)))
            blocks += 1
    return blocks, dropped


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
    ap.add_argument("format", choices=["lime", "raw", "avml"])
    ap.add_argument("core")
    ap.add_argument("out")
    ap.add_argument("--avml-block", type=lambda s: int(s, 0), default=AVML_BLOCK,
                    help="bytes per AVML block (AVML's own: 16 MiB)")
    ap.add_argument("--max-paddr", type=lambda s: int(s, 0), default=1 << 64)
    a = ap.parse_args()
    loads = [(pa, off, min(n, a.max_paddr - pa)) for pa, off, n in ram_loads(a.core) if pa < a.max_paddr]
    if a.format == "avml":
        with open(a.core, "rb") as src, open(a.out, "wb") as dst:
            blocks, dropped = write_avml(src, loads, dst, a.avml_block)
        print("%s: %d blocks of %d ranges, %d zero blocks left out" % (a.out, blocks, len(loads), dropped))
        return
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
