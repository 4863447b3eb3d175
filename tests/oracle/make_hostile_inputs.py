#!/usr/bin/python3
"""Writes the hostile-input regressions of issue 8 into the fuzz_elf_core corpus, each made
from the corpus' seed-kdump (a small kdump-shaped core) with one change:

  regress-kcore-virt-inside-ram     a virtual-only PT_LOAD (p_paddr -1) inside RAM's
                                    direct-map addresses (kcore must leave it out, warned)
  regress-kcore-virt-straddles-ram  the same at an unaligned address across a RAM end
  regress-two-vmcoreinfo            a second PT_NOTE with another VMCOREINFO text
  regress-bigendian                 e_ident[EI_DATA] = ELFDATA2MSB
  regress-phentsize                 e_phentsize 32
  regress-truncated-mid-ram         cut inside a RAM segment's data

The replay unit test runs them through ReadElfCore and every view; tests/oracle/oracle.py
compares each view's bytes with the source (tests/integration/test-oracle-corpus.sh).
Usage: make_hostile_inputs.py CORPUS_DIR
"""

import os
import struct
import sys

NOADDR = 2**64 - 1


def phdrs(b):
    phoff, = struct.unpack_from("<Q", b, 32)
    phnum, = struct.unpack_from("<H", b, 56)
    return phoff, [list(struct.unpack_from("<IIQQQQQQ", b, phoff + 56 * i)) for i in range(phnum)]


def with_extra(b, extra_ph, blob):
    """b with the program header table moved to its end, plus one header whose data `blob`
    follows the table (extra_ph's p_offset is filled in)."""
    b = bytearray(b)
    _, ph = phdrs(b)
    b += b"\0" * (-len(b) % 8)
    table_at = len(b)
    data_at = table_at + 56 * (len(ph) + 1)
    extra_ph[2] = data_at
    for p in ph + [extra_ph]:
        b += struct.pack("<IIQQQQQQ", *p)
    b += blob
    struct.pack_into("<Q", b, 32, table_at)
    struct.pack_into("<H", b, 56, len(ph) + 1)
    return bytes(b)


def main():
    out = sys.argv[1]
    seed = open(os.path.join(out, "seed-kdump"), "rb").read()
    _, ph = phdrs(seed)
    ram = [p for p in ph if p[0] == 1 and 0xFFFF800000000000 <= p[3] < 0xFFFFFFFF80000000]
    dm = ram[0][3] - ram[0][4]
    pattern = bytes((i * 7 + 0x5A) & 0xFF for i in range(0x2000))
    files = {}
    files["regress-kcore-virt-inside-ram"] = with_extra(
        seed, [1, 7, 0, dm + 0x1000, NOADDR, 0x800, 0x800, 0x1000], pattern[:0x800])
    last = ram[1]
    files["regress-kcore-virt-straddles-ram"] = with_extra(
        seed, [1, 7, 0, last[3] + last[6] - 0x400 + 0x8, NOADDR, 0x1000, 0x1000, 0x1000], pattern[:0x1000])
    note = [p for p in ph if p[0] == 4][0]
    notes = seed[note[2]:note[2] + note[5]]
    off = 0
    while off + 12 <= len(notes):
        namesz, descsz, typ = struct.unpack_from("<III", notes, off)
        desc = off + 12 + (namesz + 3) // 4 * 4
        if notes[off + 12:off + 12 + namesz].rstrip(b"\0") == b"VMCOREINFO":
            text = notes[desc:desc + descsz].replace(b"OSRELEASE=", b"OSRELEASE=second-")
            break
        off = desc + (descsz + 3) // 4 * 4
    blob = struct.pack("<III", 11, len(text), 0) + b"VMCOREINFO\0\0" + text + b"\0" * (-len(text) % 4)
    files["regress-two-vmcoreinfo"] = with_extra(seed, [4, 0, 0, 0, 0, len(blob), 0, 4], blob)
    b = bytearray(seed); b[5] = 2
    files["regress-bigendian"] = bytes(b)
    b = bytearray(seed); struct.pack_into("<H", b, 54, 32)
    files["regress-phentsize"] = bytes(b)
    files["regress-truncated-mid-ram"] = seed[:ram[-1][2] + ram[-1][5] // 2]
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
