#!/usr/bin/python3
"""Writes synthetic kmemdump/meminspect region sets for kcorefs' integration tests.

Reads a synthetic kernel core made by mkcore.py (OUTDIR/kdump.core and its manifest.json)
and cuts from its memory the regions the kmemdump series registers -- VMCOREINFO,
linux_banner, init_uts_ns, the printk ring buffer (prb, the ring and what it points to),
the top page table, mem_section -- plus marker regions, then writes them as a QDL-style
directory: md_K<name8><id>.BIN per region, region 1 the coreimage ELF header laid out as
the kernel's init_elfheader()/update_elfheader() write it (Ehdr, 201 program header slots,
CORE/NT_PRSTATUS, CORE/NT_PRPSINFO and the VMCOREINFO note header), region 2 the
VMCOREINFO text padded to 4 bytes, every file ALIGN(size, 4) bytes as Qualcomm's minidump
driver saves it.

Usage: mkregions.py CORE_DIR OUT_DIR [--metadata none|dump_info|load_cmm|manifest|all]
         [--no-header] [--drop NAME]... [--filler N [--filler-size BYTES]] [--concat FILE] [--minidump-elf FILE
         [--skip NAME]] [--encrypted] [--info FILE]
--concat writes the region files concatenated in id order (what users `cat`), --info a JSON
description of the set (per region: id, name, file, paddr, vaddr, size, offset in the
coreimage) for the tests.
"""

import argparse
import hashlib
import json
import os
import struct
import sys

START_KERNEL_MAP = 0xFFFFFFFF80000000
MAX_NUM_ENTRIES = 201           # MEMINSPECT_ID_MAX: program header slots in region 1
PRSTATUS_SIZE = 336             # x86_64 struct elf_prstatus
PRPSINFO_SIZE = 136             # x86_64 struct elf_prpsinfo
EM_X86_64 = 62
PT_LOAD, PT_NOTE = 1, 4
PF_RW = 6


def align4(n):
    return (n + 3) & ~3


def read_core(path):
    """The PT_LOADs of an ELF core: (paddr, offset, filesz)."""
    with open(path, "rb") as f:
        data = f.read(64)
        phoff, = struct.unpack_from("<Q", data, 32)
        phnum, = struct.unpack_from("<H", data, 56)
        f.seek(phoff)
        table = f.read(56 * phnum)
    loads = []
    for i in range(phnum):
        ptype, flags, off, vaddr, paddr, filesz, memsz, align = struct.unpack_from("<IIQQQQQQ", table, 56 * i)
        if ptype == PT_LOAD and paddr != 0xFFFFFFFFFFFFFFFF:
            loads.append((paddr, off, filesz))
    return loads


class Memory:
    def __init__(self, path):
        self.f = open(path, "rb")
        self.loads = read_core(path)

    def read(self, pa, n):
        for paddr, off, filesz in self.loads:
            if paddr <= pa and pa + n <= paddr + filesz:
                self.f.seek(off + pa - paddr)
                return self.f.read(n)
        raise SystemExit("mkregions: physical 0x%x (+%d) is not in the core" % (pa, n))


def note(name, ntype, desc, descsz=None):
    n = name.encode() + b"\0"
    descsz = len(desc) if descsz is None else descsz
    out = struct.pack("<III", len(n), descsz, ntype) + n + bytes(-len(n) % 4)
    return out + desc + bytes(-len(desc) % 4)


def elf_header_region(regions, vmcoreinfo_size, slots=MAX_NUM_ENTRIES):
    """Region 1 as kmemdump_coreimage.c lays it out."""
    vsz = align4(vmcoreinfo_size)
    elfh_size = align4(64 + PRSTATUS_SIZE + PRPSINFO_SIZE + 11 + vsz + 56 * slots)
    prpsinfo = bytearray(PRPSINFO_SIZE)
    prpsinfo[1] = ord("R")
    prpsinfo[40:40 + 7] = b"vmlinux"
    args = b"console=ttyS0 kcorefs-synthetic"
    prpsinfo[56:56 + len(args)] = args
    notes = (note("CORE", 1, bytes(PRSTATUS_SIZE)) + note("CORE", 3, bytes(prpsinfo)) +
             note("VMCOREINFO", 0, b"", descsz=vsz))
    note_len = len(notes) + vsz
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    eh = ident + struct.pack("<HHIQQQIHHHHHH", 4, EM_X86_64, 1, 0, 64, 0, 0, 64, 56,
                             1 + len(regions), 0, 0, 0)
    out = bytearray(elfh_size)
    out[0:64] = eh
    out[64:64 + 56] = struct.pack("<IIQQQQQQ", PT_NOTE, 0, elfh_size, 0, 0, note_len, 0, 0)
    offset = elfh_size + note_len
    for i, r in enumerate(regions):
        size = align4(r["size"])
        out[64 + 56 * (i + 1):64 + 56 * (i + 2)] = struct.pack(
            "<IIQQQQQQ", PT_LOAD, PF_RW, offset, r["vaddr"], r["paddr"], size, size, 0)
        offset += size
    return bytes(out) + notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("core_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--metadata", default="none", choices=["none", "dump_info", "load_cmm", "manifest", "all"])
    ap.add_argument("--no-header", action="store_true", help="leave out md_KELF1.BIN (needs metadata)")
    ap.add_argument("--drop", action="append", default=[], metavar="NAME", help="leave out this region's file")
    ap.add_argument("--filler", type=int, default=0, metavar="N", help="N more regions of RAM")
    ap.add_argument("--filler-size", type=int, default=64, metavar="BYTES",
                    help="size of each --filler region (default 64; above 4096 they are laid "
                         "out back to back from 64 MiB)")
    ap.add_argument("--slots", type=int, default=MAX_NUM_ENTRIES)
    ap.add_argument("--concat", help="also write the files concatenated in id order")
    ap.add_argument("--minidump-elf", help="also write a QDL-assembled minidump.elf")
    ap.add_argument("--skip", action="append", default=[], metavar="NAME",
                    help="leave this region out of --minidump-elf without padding (QDL's bug)")
    ap.add_argument("--encrypted", action="store_true", help="add md_encr_key_aes.BIN")
    ap.add_argument("--info", help="write a JSON description of the set")
    a = ap.parse_args()

    with open(os.path.join(a.core_dir, "manifest.json")) as f:
        cm = json.load(f)
    mem = Memory(cm["files"]["kdump"])
    dm = int(cm["page_offset_base"], 16)
    phys_base = cm["phys_base"]
    vmci_pa = int(cm["vmcoreinfo_paddr"], 16)
    namesz, descsz, _ = struct.unpack("<III", mem.read(vmci_pa, 12))
    vmcoreinfo = mem.read(vmci_pa + 12 + align4(namesz), descsz)
    syms = {}
    for line in vmcoreinfo.decode().splitlines():
        if line.startswith("SYMBOL("):
            k, v = line[7:].split(")=")
            syms[k] = int(v, 16)

    def pa_of(va):
        return va - START_KERNEL_MAP + phys_base if va >= START_KERNEL_MAP else va - dm

    prb_static = syms["printk_rb_static"]
    descs_va, infos_va = struct.unpack("<QQ", mem.read(pa_of(prb_static) + 8, 16))
    size_bits, = struct.unpack("<I", mem.read(pa_of(prb_static) + 48, 4))
    data_va, = struct.unpack("<Q", mem.read(pa_of(prb_static) + 56, 8))
    banner = cm["markers"]["banner"]
    regions = [
        ("linux_banner", int(banner["vaddr"], 16), len(banner["text"]) + 2),
        ("init_uts_ns", syms["init_uts_ns"], 4 + 65 * 6),
        ("prb", syms["prb"], 8),
        ("printk_rb_static", prb_static, 88),
        ("prb_descs", descs_va, 16 * 24),
        ("prb_infos", infos_va, 16 * 88),
        ("prb_data", data_va, 1 << size_bits),
        ("swapper_pg_dir", syms["init_top_pgt"], 4096),
        ("mem_section", syms["mem_section"], 16),
        ("direct_marker", int(cm["markers"]["direct"]["vaddr"], 16), 64),
        ("image_end", int(cm["markers"]["image_end"]["vaddr"], 16), 30),
    ]
    for i in range(a.filler):
        if a.filler_size <= 0x1000:
            pa = 0x4800000 + i * 0x1000
        else:
            pa = 0x4000000 + i * align4(a.filler_size)
        regions.append(("fill%d" % i, dm + pa, a.filler_size))

    os.makedirs(a.out_dir, exist_ok=True)
    vmci_region = vmcoreinfo + bytes(align4(len(vmcoreinfo)) - len(vmcoreinfo))
    set_regions = []
    for i, (name, va, size) in enumerate(regions):
        set_regions.append({"id": 3 + i, "name": name, "vaddr": va, "paddr": pa_of(va), "size": size})
    header = elf_header_region(set_regions, len(vmcoreinfo), a.slots)
    files = [{"id": 1, "name": "ELF", "bytes": header, "paddr": 0, "vaddr": 0, "size": len(header),
              "role": "elf_header"},
             {"id": 2, "name": "vmcoreinfo", "bytes": vmci_region, "paddr": vmci_pa + 12 + align4(namesz),
              "vaddr": 0, "size": len(vmcoreinfo), "role": "vmcoreinfo"}]
    for r in set_regions:
        r = dict(r, bytes=mem.read(r["paddr"], align4(r["size"])), role="load")
        files.append(r)
    offset = 0
    for f in files:
        f["file"] = "md_K%.8s%d.BIN" % (f["name"], f["id"])
        f["offset"] = offset
        offset += len(f["bytes"])
    for f in files:
        if f["name"] in a.drop or (a.no_header and f["id"] == 1):
            continue
        with open(os.path.join(a.out_dir, f["file"]), "wb") as out:
            out.write(f["bytes"])
    if a.encrypted:
        with open(os.path.join(a.out_dir, "md_encr_key_aes.BIN"), "wb") as out:
            out.write(os.urandom(32))
    listed = [f for f in files if not (a.no_header and f["id"] == 1)]
    if a.metadata in ("dump_info", "all"):
        with open(os.path.join(a.out_dir, "dump_info.txt"), "w") as out:
            for f in listed:
                out.write("1 0x%016x\t%16d\t%-16s\t%-16s\n" % (f["paddr"], align4(f["size"]), f["name"][:8], f["file"]))
    if a.metadata in ("load_cmm", "all"):
        with open(os.path.join(a.out_dir, "load.cmm"), "w") as out:
            for f in listed:
                out.write("d.load.binary %s 0x%x /noclear\n" % (f["file"], f["paddr"]))
    if a.metadata in ("manifest", "all"):
        m = {"format": "kcorefs-regions", "version": 1, "machine": "x86_64",
             "kernel": {"osrelease": cm["osrelease"]},
             "source": {"tool": "mkregions.py"},
             "regions": [{"file": f["file"], "name": f["name"], "id": f["id"],
                          "paddr": "0x%x" % f["paddr"], "vaddr": "0x%x" % f["vaddr"],
                          "size": f["size"], "role": f["role"],
                          "sha256": hashlib.sha256(f["bytes"]).hexdigest()} for f in listed]}
        with open(os.path.join(a.out_dir, "kcorefs-regions.json"), "w") as out:
            json.dump(m, out, indent=1)
    if a.concat:
        with open(a.concat, "wb") as out:
            for f in files:
                out.write(f["bytes"])
    if a.minidump_elf:
        with open(a.minidump_elf, "wb") as out:
            for f in files:
                if f["name"] not in a.skip:
                    out.write(f["bytes"])
    if a.info:
        with open(a.info, "w") as out:
            json.dump({"regions": [{k: v for k, v in f.items() if k != "bytes"} for f in files],
                       "vmcoreinfo": vmcoreinfo.decode(), "page_offset_base": dm,
                       "kernel_offset": int(cm["kernel_offset"], 16)}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
