#!/usr/bin/env python3
"""Compares physical pages of a kcorefs view with the ELF core they came from.

  compare_phys.py ORIG VIEW [--may-lack] [--lack-only-zero] [--absent-marker S] [--sample N]
                  [--max-paddr A]

ORIG: an ELF core (the model: its own RAM PT_LOADs, read with plain file reads). VIEW: a
vmcore view. For each page of ORIG (or N sampled ones): the page the view holds at that
physical address must equal ORIG's. --may-lack: the view may leave a page out (a filtered
dump) but then it must be in no PT_LOAD; without it every page must be present. A page the
view holds must not contain --absent-marker. --lack-only-zero (with --may-lack): a page the
view leaves out must be all zeros in ORIG (a format that drops zero blocks, as AVML does). Shares no code with kcorefs.
"""
import argparse
import bisect
import random
import struct
import sys

NOADDR = (1 << 64) - 1


def loads(path):
    f = open(path, "rb")
    eh = f.read(64)
    phoff, phnum = struct.unpack_from("<Q", eh, 32)[0], struct.unpack_from("<H", eh, 56)[0]
    f.seek(phoff)
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    segs = sorted({(p[4], p[2], p[5]) for p in ph if p[0] == 1 and p[4] != NOADDR and p[5]})
    return f, segs


def page(f, segs, starts, pa):
    i = bisect.bisect_right(starts, pa) - 1
    for s in segs[max(i - 1, 0):i + 2]:  # an image PT_LOAD may overlap a RAM one
        if s[0] <= pa < s[0] + s[2]:
            f.seek(s[1] + pa - s[0])
            return f.read(4096)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("orig")
    ap.add_argument("view")
    ap.add_argument("--may-lack", action="store_true")
    ap.add_argument("--lack-only-zero", action="store_true")
    ap.add_argument("--absent-marker", default="")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--max-paddr", type=lambda s: int(s, 0), default=NOADDR)
    a = ap.parse_args()
    of, o = loads(a.orig)
    vf, v = loads(a.view)
    ostarts, vstarts = [s[0] for s in o], [s[0] for s in v]
    pages = [pa for pa0, _, n in o for pa in range(pa0, pa0 + n - 4095, 4096) if pa < a.max_paddr]
    if a.sample:
        pages = random.Random(6101).sample(pages, min(a.sample, len(pages)))
    marker = a.absent_marker.encode()
    same = lacking = 0
    for pa in pages:
        want, got = page(of, o, ostarts, pa), page(vf, v, vstarts, pa)
        if got is None:
            if not a.may_lack:
                sys.exit("%s: page %#x is missing" % (a.view, pa))
            if a.lack_only_zero and want.count(0) != len(want):
                sys.exit("%s: page %#x is missing, and %s has data there" % (a.view, pa, a.orig))
            lacking += 1
        elif got != want:
            sys.exit("%s: page %#x differs from %s" % (a.view, pa, a.orig))
        elif marker and marker in got:
            sys.exit("%s: page %#x holds %r, which should have been left out" % (a.view, pa, a.absent_marker))
        else:
            same += 1
    print("%s: %d pages equal to %s, %d left out" % (a.view, same, a.orig, lacking))
    if a.may_lack and not a.lack_only_zero and lacking == 0:
        sys.exit("%s: no page was left out" % a.view)


if __name__ == "__main__":
    main()
