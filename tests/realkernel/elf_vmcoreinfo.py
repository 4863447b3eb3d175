#!/usr/bin/python3
"""Print the VMCOREINFO note text of an ELF core (any PT_NOTE, any p_align).

eu-readelf 0.188 shows no notes of QEMU's dump-guest-memory files (their PT_NOTE has
p_align 0), so the suite reads the dump's own note with this. Exit 1 when there is none.
"""
import struct
import sys

found = False
with open(sys.argv[1], "rb") as f:
    eh = f.read(64)
    phoff = struct.unpack_from("<Q", eh, 32)[0]
    phnum = struct.unpack_from("<H", eh, 56)[0]
    f.seek(phoff)
    phdrs = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    for p in phdrs:
        if p[0] != 4:  # PT_NOTE
            continue
        f.seek(p[2])
        d = f.read(p[5])
        o = 0
        while o + 12 <= len(d):
            nsz, dsz, _ = struct.unpack_from("<III", d, o)
            name = d[o + 12:o + 12 + nsz]
            do = o + 12 + (nsz + 3) // 4 * 4
            if name == b"VMCOREINFO\0":
                sys.stdout.write(d[do:do + dsz].decode(errors="replace").rstrip("\0"))
                found = True
            o = do + (dsz + 3) // 4 * 4
sys.exit(0 if found else 1)
