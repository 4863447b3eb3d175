#!/usr/bin/python3
"""Writes the valid seed inputs of kcorefs' fuzz targets (tests/fuzz/corpus/<target>/).

mkcore.py makes full-size synthetic kernels (128 MiB of RAM at least); a fuzzer wants
inputs of a few KiB. This script builds a tiny kernel with the same ELF helpers: twelve
pages of RAM holding real page tables (4- or 5-level; 4 KiB, 2 MiB or 1 GiB leaves), a
two-page kernel image mapped at _stext, the direct map at page_offset_base and a
page-aligned VMCOREINFO note, and writes it in the shapes the readers meet (QEMU, kdump,
/proc/kcore, extended program-header numbering). RAM is written sparsely: each run of
nonzero bytes becomes one PT_LOAD whose zero tail (p_memsz > p_filesz) reaches the next
run, so a whole core is 1-3 KiB and every byte of it matters to the parser.

The other targets get the pieces: note segments, VMCOREINFO texts (alone and with a note
in the following page for the memory scan), /proc/iomem texts and page-table images.

Regression seeds (inputs that crashed or hung a target) are not written here: they are
kept as found, under corpus/<target>/regress-*.

--stress writes large fuzz_elf_core inputs instead (not for the corpus: a fuzzer with a
small -max_len never makes them), whose cost grew faster than their size before the
fixes docs/fuzzing.md lists:
  notes-SIZE   PT_NOTEs that all name one run of NT_PRSTATUS notes
  merge-SIZE   half kernel-image PT_LOADs, half RAM PT_LOADs
  scan-SIZE    PT_LOADs at distinct physical addresses over the same file bytes, no
               VMCOREINFO note (the scan reads every one)

Usage: make_seeds.py [CORPUS_DIR]   (default: the corpus/ beside this script)
       make_seeds.py --stress OUTDIR [SIZE]   (default SIZE: 1048576)
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mkcore import (EM_X86_64, ET_CORE, NOT_PADDR, NT_PRPSINFO, NT_PRSTATUS,  # noqa: E402
                    NT_TASKSTRUCT, PT_LOAD, PT_NOTE, Seg, ehdr, note, phdr, u64)

PAGE = 4096
START_KERNEL_MAP = 0xFFFFFFFF80000000
STEXT = 0xFFFFFFFF81000000          # no KASLR: _text at its link address
PHYS_BASE = -0x1000000              # so _text is at physical 0
DIRECT_L4 = 0xFFFF888000000000
DIRECT_L5 = 0xFF11000000000000
VMALLOC = 0xFFFFC90000000000
RAM_PAGES = 12
PA_IMAGE, PA_TOP, PA_POOL, PA_VMCOREINFO = 0x0000, 0x2000, 0x3000, 0xB000
IMAGE_PAGES = 2
OSRELEASE = "6.1.0-kcorefs-fuzz"


class Ram:
    def __init__(self, pages):
        self.b = bytearray(pages * PAGE)

    def u64(self, pa):
        return struct.unpack_from("<Q", self.b, pa)[0]

    def put(self, pa, data):
        self.b[pa:pa + len(data)] = data


class Tables:
    """x86_64 page tables in Ram: top at PA_TOP, further tables from PA_POOL."""

    def __init__(self, ram, levels):
        self.ram, self.levels, self.next = ram, levels, PA_POOL

    def map(self, va, pa, leaf_level):
        """Maps va to pa with a leaf at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB)."""
        table = PA_TOP
        for level in range(self.levels, leaf_level, -1):
            slot = table + 8 * ((va >> (12 + 9 * (level - 1))) & 511)
            e = self.ram.u64(slot)
            if not e & 1:
                e = self.next | 0x63
                self.next += PAGE
                assert self.next <= PA_VMCOREINFO, "table pool overflows into VMCOREINFO"
                self.ram.put(slot, u64(e))
            table = e & 0x000FFFFFFFFFF000
        flags = 0x63 | (0x80 if leaf_level > 1 else 0)
        self.ram.put(table + 8 * ((va >> (12 + 9 * (leaf_level - 1))) & 511), u64(pa | flags))


def vmcoreinfo_text(levels=4, extra=()):
    top = PA_TOP + START_KERNEL_MAP - PHYS_BASE
    lines = ["OSRELEASE=%s" % OSRELEASE, "PAGESIZE=4096",
             "SYMBOL(init_uts_ns)=%x" % (STEXT + 0x800),
             "SYMBOL(swapper_pg_dir)=%x" % top, "SYMBOL(_stext)=%x" % STEXT,
             "SYMBOL(init_top_pgt)=%x" % top,
             "NUMBER(pgtable_l5_enabled)=%d" % (1 if levels == 5 else 0),
             "NUMBER(phys_base)=%d" % PHYS_BASE, "KERNELOFFSET=0", "NUMBER(sme_mask)=0"]
    return "\n".join(lines + list(extra)) + "\n"


def kernel(levels=4, huge=False, extra=()):
    """RAM with page tables, image and VMCOREINFO note; returns (ram, vmcoreinfo text)."""
    ram = Ram(RAM_PAGES)
    ram.put(PA_IMAGE, b"Linux version %s (fuzz) #1 SMP\n\0" % OSRELEASE.encode())
    ram.put(PA_IMAGE + PAGE, b"KCOREFS_IMAGE_PAGE_1\0")
    t = Tables(ram, levels)
    direct = DIRECT_L5 if levels == 5 else DIRECT_L4
    if huge:
        t.map(direct, 0, 3)            # 1 GiB direct map
        t.map(STEXT, 0, 2)             # 2 MiB image page (larger than RAM: a warning)
    else:
        for p in range(RAM_PAGES):
            t.map(direct + p * PAGE, p * PAGE, 1)
        for p in range(IMAGE_PAGES):
            t.map(STEXT + p * PAGE, PA_IMAGE + p * PAGE, 1)
    text = vmcoreinfo_text(levels, extra)
    ram.put(PA_VMCOREINFO, note("VMCOREINFO", 0, text.encode()))
    return ram, text


def prstatus(cpu, zero=False):
    d = bytearray(336)
    if not zero:
        struct.pack_into("<I", d, 32, 100 + cpu)
        struct.pack_into("<27Q", d, 112, *[(STEXT + 0x100 + i) for i in range(27)])
    return bytes(d)


def sparse_runs(ram, gap=64):
    """(paddr, data, memsz) covering all of ram: runs of nonzero bytes joined across short
    zero gaps, each reaching up to the next run."""
    b = bytes(ram.b)
    runs = []
    i = 0
    while i < len(b):
        if b[i] == 0:
            i += 1
            continue
        j = i
        end = i
        while j < len(b) and j - end < gap:
            if b[j] != 0:
                end = j + 1
            j += 1
        runs.append([i, end])
        i = end
    out = []
    if not runs or runs[0][0] != 0:
        out.append((0, b"", runs[0][0] if runs else len(b)))
    for k, (a, e) in enumerate(runs):
        nxt = runs[k + 1][0] if k + 1 < len(runs) else len(b)
        out.append((a, b[a:e], nxt - a))
    return out


def write_core(loads, notes, xnum=False):
    """loads: Seg objects whose src is the data bytes; offsets are assigned densely."""
    phnum = 1 + len(loads)
    table = 64 + 56 * phnum
    shoff = 0
    if xnum:
        shoff = table
        table += 64
    notes_off = table
    cursor = notes_off + len(notes)
    data = b""
    for s in loads:
        s.offset = cursor
        data += s.src
        cursor += len(s.src)
    head = ehdr(phnum if not xnum else 0, ET_CORE, 0xFFFF if xnum else None, shoff)
    phs = phdr(Seg(PT_NOTE, 0, 0, len(notes), align=4, offset=notes_off)) + b"".join(phdr(s) for s in loads)
    sh0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0) if xnum else b""
    return head + phs + sh0 + notes + data


def qemu_core(ram, notes, xnum=False):
    loads = [Seg(PT_LOAD, 0, pa, memsz, src=d, filesz=len(d)) for pa, d, memsz in sparse_runs(ram)]
    return write_core(loads, notes, xnum)


def kdump_core(ram, notes):
    image = bytes(ram.b[PA_IMAGE:PA_IMAGE + IMAGE_PAGES * PAGE]).rstrip(b"\0")
    loads = [Seg(PT_LOAD, STEXT, PA_IMAGE, IMAGE_PAGES * PAGE, src=image, filesz=len(image))]
    for pa, d, memsz in sparse_runs(ram):
        loads.append(Seg(PT_LOAD, DIRECT_L4 + pa, pa, memsz, src=d, filesz=len(d)))
    return write_core(loads, notes)


def kcore_core(ram, text):
    notes = (note("CORE", NT_PRSTATUS, prstatus(0, zero=True)) + note("CORE", NT_PRPSINFO, bytes(136)) +
             note("CORE", NT_TASKSTRUCT, b"\x5a" * 64) + note("VMCOREINFO", 0, text.encode()))
    image = bytes(ram.b[PA_IMAGE:PA_IMAGE + IMAGE_PAGES * PAGE]).rstrip(b"\0")
    loads = [Seg(PT_LOAD, 0xFFFFFFFFFF600000, NOT_PADDR, PAGE, src=b"", filesz=0, align=PAGE),
             Seg(PT_LOAD, STEXT, PA_IMAGE, IMAGE_PAGES * PAGE, src=image, filesz=len(image), align=PAGE),
             Seg(PT_LOAD, VMALLOC + 0x5000, NOT_PADDR, PAGE, src=b"KCOREFS_VMALLOC\0", filesz=16, align=PAGE)]
    for pa, d, memsz in sparse_runs(ram):
        loads.append(Seg(PT_LOAD, DIRECT_L4 + pa, pa, memsz, src=d, filesz=len(d), align=PAGE))
    return write_core(loads, notes)


def kdump_notes(text, cpus=2):
    return b"".join(note("CORE", NT_PRSTATUS, prstatus(c)) for c in range(cpus)) + \
        note("VMCOREINFO", 0, text.encode())


IOMEM_QEMU = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000c0000-000c99ff : Video ROM
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdffff : System RAM
  2a000000-2ae02a96 : Kernel code
  2b000000-2b5b5fff : Kernel rodata
  2b600000-2b8bd0ff : Kernel data
  2bf7b000-2c3fffff : Kernel bss
7ffe0000-7fffffff : Reserved
b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
  b0000000-bfffffff : Reserved
fd000000-fdffffff : 0000:00:01.0
fed00000-fed003ff : HPET 0
  fed00000-fed003ff : PNP0103:00
fee00000-fee00fff : Local APIC
fffc0000-ffffffff : Reserved
100000000-27fffffff : System RAM
280000000-a7fffffff : PCI Bus 0000:00
"""

IOMEM_SERVER = """\
00000000-00000fff : Reserved
00001000-0009ffff : System RAM
000a0000-000fffff : Reserved
  000a0000-000bffff : PCI Bus 0000:00
  000f0000-000fffff : System ROM
00100000-5d7fefff : System RAM
5d7ff000-6c8fefff : Reserved
  6b0f5018-6b0f5018 : APEI ERST
6c8ff000-6e7fefff : ACPI Non-volatile Storage
6e7ff000-6f7fefff : ACPI Tables
6f7ff000-6f7fffff : System RAM
6f800000-8fffffff : Reserved
  80000000-8fffffff : PCI ECAM 0000 [bus 00-ff]
90000000-fbffffff : PCI Bus 0000:00
fe000000-fe010fff : Reserved
100000000-207fffffff : System RAM
  16e200000-16f401f47 : Kernel code
2080000000-407fffffff : System RAM
3ffe00000000-3fffffffffff : PCI Bus 0000:80
"""

IOMEM_NOT_ROOT = """\
00000000-00000000 : Reserved
00000000-00000000 : System RAM
00000000-00000000 : Reserved
00000000-00000000 : System RAM
"""


def page_table_input(ram, flags, vaddr, begin, end, sme=0, top=PA_TOP):
    """fuzz_page_table's input: its header over the start of physical page 0."""
    head = struct.pack("<BHQQQQ", flags, top // PAGE, vaddr, begin, end, sme)
    b = bytearray(ram.b[:PA_VMCOREINFO])   # tables and image only
    b[0:len(head)] = head
    return bytes(b).rstrip(b"\0")


def stress_core(kind, size):
    """A fuzz_elf_core input of about `size` bytes (see --stress above)."""
    def core(phs, tail):
        n = len(phs)
        xnum = n >= 0xFFFF
        head = ehdr(n, ET_CORE, 0xFFFF if xnum else None, 64 + 56 * n if xnum else 0)
        sh0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, n, 0, 0) if xnum else b""
        return head + b"".join(phdr(s) for s in phs) + sh0 + tail

    def table_end(n):
        return 64 + 56 * n + (64 if n >= 0xFFFF else 0)

    if kind == "notes":
        region = b"".join(note("CORE", NT_PRSTATUS, prstatus(c)) for c in range(size // 2 // 356))
        region += note("VMCOREINFO", 0, vmcoreinfo_text().encode())
        k = (size - len(region)) // 56
        return core([Seg(PT_NOTE, 0, 0, len(region), align=4, offset=table_end(k)) for _ in range(k)], region)
    if kind == "merge":
        phs = []
        for i in range(size // 56 // 2):
            phs.append(Seg(PT_LOAD, STEXT, (1 << 40) + i * PAGE, PAGE, filesz=0, offset=0))
            phs.append(Seg(PT_LOAD, 0, i * PAGE, PAGE, filesz=0, offset=0))
        return core(phs, b"")
    if kind == "scan":
        region = bytes(size // 2)
        k = (size - len(region)) // 56
        return core([Seg(PT_LOAD, 0, i * 2 * len(region), len(region), offset=table_end(k))
                     for i in range(k)], region)
    raise ValueError(kind)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--stress":
        outdir = sys.argv[2]
        size = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 20
        os.makedirs(outdir, exist_ok=True)
        for kind in ("notes", "merge", "scan"):
            with open(os.path.join(outdir, "%s-%d" % (kind, size)), "wb") as f:
                f.write(stress_core(kind, size))
        return 0
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    seeds = {}

    def seed(target, name, data):
        seeds.setdefault(target, {})[name] = data

    ram4, text4 = kernel(4)
    ram5, text5 = kernel(5)
    ramh, texth = kernel(4, huge=True)
    dm_signed = DIRECT_L4 - (1 << 64)
    ramp, textp = kernel(4, extra=["NUMBER(page_offset_base)=%d" % dm_signed])

    seed("fuzz_elf_core", "qemu-4level", qemu_core(ram4, kdump_notes(text4, 1)))
    seed("fuzz_elf_core", "qemu-5level", qemu_core(ram5, kdump_notes(text5, 1)))
    seed("fuzz_elf_core", "qemu-hugepages", qemu_core(ramh, kdump_notes(texth, 1)))
    seed("fuzz_elf_core", "qemu-no-vmcoreinfo", qemu_core(ram4, note("CORE", NT_PRSTATUS, prstatus(0))))
    seed("fuzz_elf_core", "qemu-xnum", qemu_core(ram4, kdump_notes(text4, 1), xnum=True))
    seed("fuzz_elf_core", "kdump", kdump_core(ram4, kdump_notes(text4)))
    seed("fuzz_elf_core", "kdump-page-offset-base", kdump_core(ramp, kdump_notes(textp)))
    seed("fuzz_elf_core", "kcore", kcore_core(ram4, text4))

    seed("fuzz_notes", "kdump", kdump_notes(text4))
    seed("fuzz_notes", "kcore", note("CORE", NT_PRSTATUS, prstatus(0, zero=True)) +
         note("CORE", NT_PRPSINFO, bytes(136)) + note("CORE", NT_TASKSTRUCT, b"\x5a" * 64) +
         note("VMCOREINFO", 0, text4.encode()))
    seed("fuzz_notes", "padded", note("VMCOREINFO", 0, text4.encode()) + bytes(64))
    seed("fuzz_notes", "qemu", note("CORE", NT_PRSTATUS, prstatus(0)) + note("QEMU", 0, bytes(0x1B8)))

    seed("fuzz_vmcoreinfo", "text-4level", text4.encode())
    seed("fuzz_vmcoreinfo", "text-5level", text5.encode())
    seed("fuzz_vmcoreinfo", "text-unterminated", textp.rstrip("\n").encode())
    # Text, then the kernel's note at the next page: both the parser and the scan succeed.
    scan = bytearray(text4.encode()) + bytes(1)
    scan += bytes(PAGE - len(scan)) + note("VMCOREINFO", 0, text4.encode())
    seed("fuzz_vmcoreinfo", "text-and-note", bytes(scan))

    seed("fuzz_iomem", "qemu", IOMEM_QEMU.encode())
    seed("fuzz_iomem", "server", IOMEM_SERVER.encode())
    seed("fuzz_iomem", "not-root", IOMEM_NOT_ROOT.encode())

    seed("fuzz_page_table", "4level-image", page_table_input(
        ram4, 0, STEXT + 0x1234, START_KERNEL_MAP, START_KERNEL_MAP + (1 << 30)))
    seed("fuzz_page_table", "5level-direct", page_table_input(
        ram5, 1, DIRECT_L5 + 0x5678, DIRECT_L5, 0xFFFFFE0000000000))
    seed("fuzz_page_table", "huge-sme", page_table_input(
        ramh, 2, DIRECT_L4 + 0x123456, 0, (1 << 64) - 1, sme=1 << 47))

    for target, files in seeds.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
