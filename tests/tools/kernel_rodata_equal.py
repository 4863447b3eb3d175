#!/usr/bin/env python3
"""The running kernel's read-only data through a kcore view, against a dump of the same boot.

    kernel_rodata_equal.py KCORE DUMP VMLINUX [--threads N]

KCORE is a kcore view of a running kernel (a kcorefs mount's kcore), DUMP an ELF dump of
the same boot (QEMU's dump-guest-memory), VMLINUX its kernel image. The kernel's
[__start_rodata, __end_rodata) never changes after boot, so every byte of it read through
KCORE must equal the dump's, however the reads are made: one sequential pass, then N
threads reading random ranges (4 KiB to 128 KiB) at once, which is how crash, drgn and the
page cache reach a mount. A wrong byte (another offset's page, zeros) fails with the
addresses. Standard library only; shares no code with kcorefs.
"""
import os
import random
import struct
import subprocess
import sys
import threading


def loads(path):
    """(vaddr, paddr, offset, filesz) of every PT_LOAD of a little-endian ELF64 core."""
    with open(path, "rb") as f:
        eh = f.read(64)
        if eh[:4] != b"\x7fELF" or eh[4] != 2 or eh[5] != 1:
            sys.exit("%s: not a little-endian ELF64 file" % path)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, p_paddr, p_filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 1:
            out.append((p_vaddr, p_paddr, p_offset, p_filesz))
    return out


def symbols(vmlinux, names):
    got = {}
    for line in subprocess.run(["nm", vmlinux], check=True, capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            got[parts[2]] = int(parts[0], 16)
    missing = [n for n in names if n not in got]
    if missing:
        sys.exit("%s: no symbol %s" % (vmlinux, ", ".join(missing)))
    return got


def main():
    args = sys.argv[1:]
    threads = 6
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    kcore, dump, vmlinux = args
    sym = symbols(vmlinux, ["_text", "__start_rodata", "__end_rodata"])
    # The kcore view's kernel image: the PT_LOAD in the kernel-image range with a physical
    # address (the view's alias at the link address has none).
    image = [l for l in loads(kcore) if l[0] >= 0xffffffff80000000 and l[1] not in (0, 2**64 - 1)]
    if not image:
        sys.exit("%s: no PT_LOAD of the kernel image with a physical address" % kcore)
    vaddr, paddr, offset, filesz = image[0]
    slide = vaddr - sym["_text"]
    start = sym["__start_rodata"] + slide
    length = sym["__end_rodata"] - sym["__start_rodata"]
    if start + length > vaddr + filesz:
        sys.exit("%s: the kernel image PT_LOAD (%#x, %#x bytes) does not hold rodata at %#x"
                 % (kcore, vaddr, filesz, start))
    kcore_off = offset + (start - vaddr)
    phys = paddr + (start - vaddr)
    ref = None
    for dv, dp, do, dsz in loads(dump):
        if dp <= phys and phys + length <= dp + dsz:
            with open(dump, "rb") as f:
                f.seek(do + phys - dp)
                ref = f.read(length)
            break
    if ref is None or len(ref) != length:
        sys.exit("%s: physical %#x..%#x is not in one PT_LOAD" % (dump, phys, phys + length))
    print("rodata: %#x..%#x (%d KiB), physical %#x, kcore offset %#x"
          % (start, start + length, length >> 10, phys, kcore_off))
    fd = os.open(kcore, os.O_RDONLY)
    bad = {}
    lock = threading.Lock()

    def check(pos, data):
        for p in range(0, len(data), 4096):
            if data[p:p + 4096] != ref[pos + p:pos + p + 4096]:
                with lock:
                    bad.setdefault(pos + p, data[p:p + 4096])

    for pos in range(0, length, 1 << 20):
        check(pos, os.pread(fd, min(1 << 20, length - pos), kcore_off + pos))
    sequential_bad = len(bad)

    def worker(seed):
        r = random.Random(seed)
        for _ in range(400):
            pos = r.randrange(0, length // 4096) * 4096
            n = min(r.choice([4096, 16384, 65536, 131072]), length - pos)
            check(pos, os.pread(fd, n, kcore_off + pos))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("sequential pass: %d pages differ; %d threads x 400 random reads: %d pages differ in all"
          % (sequential_bad, threads, len(bad)))
    for pos in sorted(bad)[:5]:
        got = bad[pos]
        where = ref.find(got) if got != bytes(4096) else -1
        print("  %#x: %s (the dump has %s)%s" % (
            start + pos, got[:16].hex(), ref[pos:pos + 16].hex(),
            " = zeros" if got == bytes(4096) else
            " = the bytes of %#x" % (start + where) if where >= 0 else ""))
    if bad:
        sys.exit("FAIL: %d rodata pages read through %s differ from %s" % (len(bad), kcore, dump))


if __name__ == "__main__":
    main()
