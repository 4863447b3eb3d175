#!/usr/bin/env python3
"""Damages a kdump-compressed (diskdump) file in one named way, for tests.

  kdump_mangle.py IN OUT CASE
  CASE: bitmap-past-end   bitmap_blocks claims a bitmap reaching past the end of the file
        mapnr-too-big     max_mapnr (and the sub-header's max_mapnr_64) claims 32x the pages
                          the bitmap covers
        desc-past-end     the first page descriptor's data offset is past the end of the file
        truncated         the file cut at 60% of its size
        cut-95            the file cut at 95% of its size
        cut-descriptors   the file cut inside its page descriptors
Prints the damaged field's file offset. Layout facts from makedumpfile's diskdump format
(disk_dump_header, kdump_sub_header version 6); shares no code with kcorefs.
"""
import struct
import sys


def main():
    src, out, case = sys.argv[1:4]
    d = bytearray(open(src, "rb").read())
    assert d[:8] == b"KDUMP   ", "not a kdump-compressed file"
    bs, sub, bitmap_blocks, mapnr = struct.unpack_from("<iiII", d, 428)
    where = None
    if case == "bitmap-past-end":
        where = 436
        struct.pack_into("<I", d, where, len(d) // bs * 8)
    elif case == "mapnr-too-big":
        where = 440
        struct.pack_into("<I", d, where, mapnr * 32)
        struct.pack_into("<Q", d, bs + 96, mapnr * 32)
    elif case == "desc-past-end":
        where = bs * (1 + sub + bitmap_blocks)
        struct.pack_into("<q", d, where, len(d) + (1 << 20))
    elif case in ("truncated", "cut-95"):
        where = len(d) * (6 if case == "truncated" else 95) // (10 if case == "truncated" else 100)
        del d[where:]
    elif case == "cut-descriptors":
        where = bs * (1 + sub + bitmap_blocks) + 1000
        del d[where:]
    else:
        sys.exit("unknown case " + case)
    open(out, "wb").write(d)
    print(where)


if __name__ == "__main__":
    main()
