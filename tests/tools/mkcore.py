#!/usr/bin/python3
"""Writes synthetic x86_64 Linux kernel cores for kcorefs' integration tests.

An independent writer (python3 stdlib only): it builds one kernel memory image and
writes it in several ELF core shapes, plus a JSON manifest that says where everything is.

The memory image has
  * a KASLR layout: KERNELOFFSET, a 1 GiB aligned page_offset_base, and a phys_base that
    puts the kernel image inside RAM (negative, as the kernel prints it with %ld when the
    virtual offset exceeds the physical one);
  * real 4-level page tables under init_top_pgt (= swapper_pg_dir, inside the image): the
    direct map of all RAM with 2 MiB pages, the kernel image from _text with 2 MiB pages
    (nothing mapped before _text), one 4 KiB vmalloc page, and a vmemmap of struct pages;
  * marker strings in the image (linux_banner), in a direct-map page and in the vmalloc page;
  * a page-aligned VMCOREINFO note in RAM, as the kernel keeps it (vmcoreinfo_note);
  * what makedumpfile 1.7.2 reads for --dump-dmesg (init_uts_ns and a lockless printk
    ring buffer holding a marker line) and for -d 31 (SPARSEMEM_EXTREME mem_section,
    struct pages in a vmemmap, a free order-10 buddy block whose pages must be excluded);
  * a 16-byte tag "KCPA<12 hex digits>" every 64 KiB of RAM (the physical address), so byte
    comparisons at arbitrary addresses see nonzero data;
  * with --hotplug-blocks B, B hot-added 128 MiB memory blocks from physical 4 GiB, each
    followed by a 128 MiB hole, so each is a RAM range of its own: one more RAM PT_LOAD per
    block (direct-mapped, tagged in its first MiB only), and in the kcore shape one more
    vmemmap PT_LOAD (zeros; mem_section does not cover them: not for makedumpfile).
    /proc/kcore's st_size is PAGE_ALIGN(headers + notes) + the highest segment end (the
    vsyscall page here), so a hotplug changes it only when the program headers grow past a
    page: 36 or more blocks do that here.

Variants (positional; default: all of them):
  kdump        /proc/vmcore shape: one PT_NOTE (CORE NT_PRSTATUS per CPU + VMCOREINFO),
               the kernel-image PT_LOAD first, RAM PT_LOADs at direct-map vaddrs, p_align 0
  qemu         QEMU dump-guest-memory shape: RAM blocks from physical 0 (minus the VGA
               window; see source_ram in the manifest), p_vaddr 0, p_paddr = phys, per-CPU CORE
               NT_PRSTATUS + "QEMU" notes, VMCOREINFO note (none with --no-vmcoreinfo-note;
               then the file is named qemu-novmci.core)
  kcore        /proc/kcore shape: sparse offsets (vaddr - page_offset_base + data offset,
               about 100 TiB), p_align 4096, zeroed PRSTATUS, PRPSINFO, TASKSTRUCT and
               VMCOREINFO notes; vsyscall, text, vmalloc page, RAM and vmemmap PT_LOADs.
               Written under --kcore-dir (a tmpfs: ext4 refuses files past 16 TiB)
  bad          the bad-input set: bad-truncated, bad-poffset-eof, bad-overlap,
               bad-phnum65535, bad-filesz, bad-vmcoreinfo-keys, bad-notelf, bad-etexec
  vmlinux      the kernel's vmlinux (vmlinux.elf): ET_EXEC linked at 0xffffffff81000000,
               a GNU build-id note equal to VMCOREINFO's BUILD-ID, a .symtab (minimal
               symbols: _text, _end, linux_banner, init_uts_ns, prb, printk_rb_static,
               jiffies_64, kcorefs_banner_ptr) and the image's link-time contents (static
               values differ from the runtime ones, so a reader of the file is caught);
               plus vmlinux-other.elf, the same with another build id

--kaslr-offset N moves the image by N (default 0x1e000000); a multiple of 2 MiB smaller
than the 8 MiB image (e.g. 0x400000) makes the link-time and runtime ranges overlap, as
about one real boot in twenty does.

Usage: mkcore.py OUTDIR [--kcore-dir DIR] [--ram-mib N] [--hotplug-blocks B]
                 [--no-vmcoreinfo-note] [--kaslr-offset N] [VARIANT...]
Writes OUTDIR/<variant>.core and OUTDIR/manifest.json (the manifest names every file).
"""

import argparse
import json
import os
import struct
import sys

PAGE = 4096
MB2 = 2 << 20
START_KERNEL_MAP = 0xFFFFFFFF80000000
LINK_TEXT = 0xFFFFFFFF81000000
KERNELOFFSET = 0x1E000000
PAGE_OFFSET_BASE = 0xFFFF9C0000000000
VMALLOC_PAGE = 0xFFFFC90000123000
VMEMMAP_BASE = 0xFFFFEA0000000000
VSYSCALL = 0xFFFFFFFFFF600000
IMAGE_PADDR = 0x3000000          # __pa_symbol(_text)
IMAGE_SIZE = 8 << 20             # _text .. _end, 2 MiB pages
KERNEL_IMAGE_SIZE = 1 << 30
OSRELEASE = "6.1.0-kcorefs-synthetic"
BUILD_ID = "5ca1ab1e0ddba11c0ffee0123456789abcdef012"
OTHER_BUILD_ID = "0badc0de" * 5
JIFFIES = 0x100012345            # jiffies_64 in memory; the vmlinux file holds STATIC_JIFFIES
STATIC_JIFFIES = 0xFFFEDCBA
NR_CPUS = 2
TAG_INTERVAL = 0x10000

ET_EXEC, ET_CORE = 2, 4
EM_X86_64 = 62
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_PRPSINFO, NT_TASKSTRUCT = 1, 3, 4
NOT_PADDR = 0xFFFFFFFFFFFFFFFF

TEXT = LINK_TEXT + KERNELOFFSET                      # runtime _text
PHYS_BASE = IMAGE_PADDR - (TEXT - START_KERNEL_MAP)  # negative here


def set_kaslr_offset(offset):
    """--kaslr-offset: everything derived from KERNELOFFSET follows it."""
    global KERNELOFFSET, TEXT, PHYS_BASE
    KERNELOFFSET = offset
    TEXT = LINK_TEXT + KERNELOFFSET
    PHYS_BASE = IMAGE_PADDR - (TEXT - START_KERNEL_MAP)
# Offsets of kernel-image objects from _text.
OFF_BANNER = 0x200000
OFF_UTS = 0x400000
OFF_PRB_PTR = 0x401000
OFF_PRB = 0x402000
OFF_DESCS = 0x403000
OFF_INFOS = 0x404000
OFF_JIFFIES = 0x406000
OFF_BANNER_PTR = 0x407000        # a pointer to linux_banner, set at runtime
OFF_TOP_PGT = 0x600000
OFF_NOTES = IMAGE_SIZE - 0x2000  # vmlinux's .notes (build id)
OFF_IMAGE_END_MARK = IMAGE_SIZE - 0x1000

# Physical RAM objects.
PA_PGTABLE_POOL = 0x1000000
PA_VMCOREINFO = 0x1100000
PA_DIRECT_MARK = 0x1200000
PA_VMALLOC_BACK = 0x1300000
PA_TEXT_RING = 0x1400000
PA_MEMSEC_ROOT = 0x1500000
PA_MEMSEC_ARRAY = 0x1504000
PA_VMEMMAP = 0x4000000           # 2 MiB aligned
PA_FREE_BLOCK = 0x6000000        # order-10 (4 MiB) free buddy block
PA_USER_PAGE = 0x6400000         # an anonymous page (page.mapping | PAGE_MAPPING_ANON)
PA_CACHE_PAGE = 0x6401000        # a page-cache page (PG_lru, page.mapping an address_space)
PA_HOTPLUG = 0x100000000         # the first --hotplug-blocks block
MEMORY_BLOCK = 128 << 20         # x86_64's memory block (section) size

BANNER = ("Linux version %s (mkcore@kcorefs) (gcc 12) #1 SMP PREEMPT_DYNAMIC "
          "KCOREFS_BANNER_MARKER\n" % OSRELEASE)
DIRECT_MARK = "KCOREFS_DIRECT_MAP_MARKER"
VMALLOC_MARK = "KCOREFS_VMALLOC_MARKER"
IMAGE_END_MARK = "KCOREFS_IMAGE_END_MARKER"
FREE_MARK = "KCOREFS_FREE_PAGE_MARKER"
USER_MARK = "KCOREFS_USER_PAGE_MARKER"
CACHE_MARK = "KCOREFS_CACHE_PAGE_MARKER"
DMESG_LINES = ["Linux version %s" % OSRELEASE,
               "kcorefs: synthetic dmesg KCOREFS_DMESG_MARKER",
               "kcorefs: last line"]

# struct layouts (Linux 6.1, x86_64)
SIZE_PAGE = 64
PG_FLAGS = {"PG_lru": 4, "PG_private": 13, "PG_swapcache": 10, "PG_swapbacked": 19,
            "PG_slab": 9, "PG_hwpoison": 23, "PG_head_mask": 1 << 16,
            "PAGE_BUDDY_MAPCOUNT_VALUE": -129, "PAGE_OFFLINE_MAPCOUNT_VALUE": -257}


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


class Memory:
    """Sparse physical memory: page number -> bytearray."""

    def __init__(self):
        self.pages = {}

    def write(self, pa, data):
        data = bytes(data)
        while data:
            pfn, off = divmod(pa, PAGE)
            n = min(len(data), PAGE - off)
            page = self.pages.setdefault(pfn, bytearray(PAGE))
            page[off:off + n] = data[:n]
            pa += n
            data = data[n:]

    def zero(self, pa, size):
        for pfn in range(pa // PAGE, (pa + size + PAGE - 1) // PAGE):
            self.pages.pop(pfn, None)

    def read(self, pa, n):
        out = bytearray()
        while n > 0:
            pfn, off = divmod(pa, PAGE)
            k = min(n, PAGE - off)
            page = self.pages.get(pfn)
            out += page[off:off + k] if page is not None else bytes(k)
            pa += k
            n -= k
        return bytes(out)

    def u64(self, pa):
        return struct.unpack("<Q", self.read(pa, 8))[0]

    def pages_in(self, start, end):
        """(paddr, bytes) of the stored pages overlapping [start, end), clipped."""
        for pfn in sorted(p for p in self.pages if start < (p + 1) * PAGE and p * PAGE < end):
            a = max(start, pfn * PAGE)
            b = min(end, (pfn + 1) * PAGE)
            yield a, bytes(self.pages[pfn][a - pfn * PAGE:b - pfn * PAGE])


class PageTables:
    """x86_64 4-level page tables written into Memory."""

    TABLE = 0x63        # present, rw, accessed, dirty
    LEAF_2M = 0xE3      # + PS
    LEAF_4K = 0x63

    def __init__(self, mem, top_pa, pool_pa):
        self.mem, self.top, self.next = mem, top_pa, pool_pa
        mem.zero(top_pa, PAGE)

    def _alloc(self):
        pa = self.next
        self.next += PAGE
        self.mem.zero(pa, PAGE)
        return pa

    def _table(self, table_pa, index):
        e = self.mem.u64(table_pa + 8 * index)
        if e & 1:
            return e & 0x000FFFFFFFFFF000
        pa = self._alloc()
        self.mem.write(table_pa + 8 * index, u64(pa | self.TABLE))
        return pa

    def map(self, va, pa, size, page):
        assert va % page == 0 and pa % page == 0 and size % page == 0
        for off in range(0, size, page):
            v = va + off
            pud = self._table(self.top, (v >> 39) & 511)
            pmd = self._table(pud, (v >> 30) & 511)
            if page == MB2:
                self.mem.write(pmd + 8 * ((v >> 21) & 511), u64((pa + off) | self.LEAF_2M))
            else:
                pte = self._table(pmd, (v >> 21) & 511)
                self.mem.write(pte + 8 * ((v >> 12) & 511), u64((pa + off) | self.LEAF_4K))


def note(name, ntype, desc):
    name_b = name.encode() + b"\0"
    out = struct.pack("<III", len(name_b), len(desc), ntype) + name_b
    out += bytes(-len(out) % 4) + desc
    return out + bytes(-len(out) % 4)


class Kernel:
    """The synthetic kernel: memory, layout facts and the VMCOREINFO text."""

    def __init__(self, ram_mib, hotplug_blocks=0):
        assert ram_mib >= 128 and ram_mib % 128 == 0, "RAM must be a multiple of 128 MiB"
        assert ram_mib << 20 <= PA_HOTPLUG, "boot RAM must end below the hot-added blocks (4 GiB)"
        self.ram_size = ram_mib << 20
        self.ram = [(0x1000, 0x9F000), (0x100000, self.ram_size)]
        self.hotplug = [(PA_HOTPLUG + 2 * i * MEMORY_BLOCK, PA_HOTPLUG + (2 * i + 1) * MEMORY_BLOCK)
                        for i in range(hotplug_blocks)]
        self.ram += self.hotplug
        self.mem = Memory()
        self.reserved = []
        self.img_va = lambda off: TEXT + off
        self.img_pa = lambda off: IMAGE_PADDR + off
        self.dm = lambda pa: PAGE_OFFSET_BASE + pa
        self.markers = {}
        self._build()

    def reserve(self, pa, size):
        self.reserved.append((pa, pa + size))

    def _build(self):
        mem = self.mem
        # Reserved regions get no tags (page tables, struct pages, rings, free block).
        self.reserve(IMAGE_PADDR + OFF_UTS, 0x300000)  # uts, prb, descs, infos, pgd
        self.reserve(PA_PGTABLE_POOL, 0x100000)
        self.reserve(PA_VMCOREINFO, PAGE)
        self.reserve(PA_TEXT_RING, 0x10000)
        self.reserve(PA_MEMSEC_ROOT, 0x10000)
        self.reserve(PA_VMEMMAP, self.ram_size // PAGE * SIZE_PAGE)
        self.reserve(PA_FREE_BLOCK, 1024 * PAGE)
        self.reserve(PA_USER_PAGE, 2 * PAGE)
        for start, end in self.ram:
            if (start, end) in self.hotplug:
                end = start + (1 << 20)
            for pa in range((start + TAG_INTERVAL - 1) // TAG_INTERVAL * TAG_INTERVAL, end, TAG_INTERVAL):
                if not any(a <= pa < b for a, b in self.reserved):
                    mem.write(pa, b"KCPA%012x" % pa)
        # Kernel image: a fake instruction stream at _text, linux_banner, an end marker.
        mem.write(self.img_pa(0), bytes([0x0F, 0x01, 0xF8, 0x90, 0xC3]) * 16)
        mem.write(self.img_pa(OFF_BANNER), BANNER.encode() + b"\0")
        mem.write(self.img_pa(OFF_IMAGE_END_MARK), IMAGE_END_MARK.encode() + b"\0")
        self.markers["banner"] = {"vaddr": self.img_va(OFF_BANNER), "paddr": self.img_pa(OFF_BANNER),
                                  "text": BANNER.rstrip("\n")}
        self.markers["image_end"] = {"vaddr": self.img_va(OFF_IMAGE_END_MARK),
                                     "paddr": self.img_pa(OFF_IMAGE_END_MARK), "text": IMAGE_END_MARK}
        self.markers["direct"] = {"vaddr": self.dm(PA_DIRECT_MARK + 0x40), "paddr": PA_DIRECT_MARK + 0x40,
                                  "text": DIRECT_MARK}
        mem.write(PA_DIRECT_MARK + 0x40, DIRECT_MARK.encode() + b"\0")
        self.markers["vmalloc"] = {"vaddr": VMALLOC_PAGE + 0x80, "paddr": PA_VMALLOC_BACK + 0x80,
                                   "text": VMALLOC_MARK}
        mem.write(PA_VMALLOC_BACK + 0x80, VMALLOC_MARK.encode() + b"\0")
        # init_uts_ns: struct uts_namespace { struct kref kref; struct new_utsname name; }
        uts = b"".join(s.encode().ljust(65, b"\0") for s in
                       ("Linux", "kcorefs-synthetic", OSRELEASE, "#1 SMP PREEMPT_DYNAMIC", "x86_64", "(none)"))
        mem.write(self.img_pa(OFF_UTS), struct.pack("<I", 3) + uts)
        self.uts = uts
        mem.write(self.img_pa(OFF_JIFFIES), u64(JIFFIES))
        mem.write(self.img_pa(OFF_BANNER_PTR), u64(self.img_va(OFF_BANNER)))
        # Page tables.
        pt = PageTables(mem, self.img_pa(OFF_TOP_PGT), PA_PGTABLE_POOL)
        pt.map(PAGE_OFFSET_BASE, 0, self.ram_size, MB2)
        for a, b in self.hotplug:
            pt.map(PAGE_OFFSET_BASE + a, a, b - a, MB2)
        pt.map(TEXT, IMAGE_PADDR, IMAGE_SIZE, MB2)
        pt.map(VMALLOC_PAGE, PA_VMALLOC_BACK, PAGE, PAGE)
        vmemmap_size = self.ram_size // PAGE * SIZE_PAGE
        pt.map(VMEMMAP_BASE, PA_VMEMMAP, (vmemmap_size + MB2 - 1) // MB2 * MB2, MB2)
        self.pgtable_pool_end = pt.next
        self._printk()
        self._memmap()
        self.vmcoreinfo = self._vmcoreinfo_text()
        n = note("VMCOREINFO", 0, self.vmcoreinfo.encode())
        assert len(n) <= PAGE
        mem.write(PA_VMCOREINFO, n)

    def _printk(self):
        mem = self.mem
        count_bits, size_bits = 4, 12
        text = bytearray(1 << size_bits)
        lpos = 0
        for i, line in enumerate(DMESG_LINES):
            b = line.encode()
            blk = u64(i) + b
            blk += bytes(-len(blk) % 8)
            text[lpos:lpos + len(blk)] = blk
            desc = u64((2 << 62) | i) + u64(lpos) + u64(lpos + len(blk))   # desc_finalized
            mem.write(self.img_pa(OFF_DESCS) + 24 * i, desc)
            info = u64(i) + u64(1000000 * (i + 1) + 123456000) + struct.pack("<HBBI", len(b), 0, 6, 0)
            mem.write(self.img_pa(OFF_INFOS) + 88 * i, info)
            lpos += len(blk)
        mem.write(PA_TEXT_RING, bytes(text))
        n = len(DMESG_LINES)
        desc_ring = (struct.pack("<I", count_bits) + bytes(4) + u64(self.img_va(OFF_DESCS)) +
                     u64(self.img_va(OFF_INFOS)) + u64(n - 1) + u64(0) + u64(n - 1))
        data_ring = struct.pack("<I", size_bits) + bytes(4) + u64(self.dm(PA_TEXT_RING)) + u64(lpos) + u64(0)
        mem.write(self.img_pa(OFF_PRB), desc_ring + data_ring + u64(0))
        mem.write(self.img_pa(OFF_PRB_PTR), u64(self.img_va(OFF_PRB)))

    def _memmap(self):
        mem = self.mem
        # mem_section (SPARSEMEM_EXTREME): root array -> section array; section_mem_map holds
        # the encoded mem_map (mem_map - section_start_pfn * sizeof(struct page)) | flags.
        sections = self.ram_size >> 27
        mem.zero(PA_MEMSEC_ROOT, 0x10000)
        mem.write(PA_MEMSEC_ROOT, u64(self.dm(PA_MEMSEC_ARRAY)))
        for nr in range(sections):
            mem.write(PA_MEMSEC_ARRAY + 16 * nr, u64(VMEMMAP_BASE | 0xF) + u64(0))
        # struct page: free order-10 buddy block (head: _mapcount = PAGE_BUDDY_MAPCOUNT_VALUE,
        # private = order); every page of it holds FREE_MARK.
        head = PA_VMEMMAP + (PA_FREE_BLOCK // PAGE) * SIZE_PAGE
        mem.write(head + 40, u64(10))
        mem.write(head + 48, struct.pack("<i", PG_FLAGS["PAGE_BUDDY_MAPCOUNT_VALUE"]))
        for i in range(1024):
            mem.write(PA_FREE_BLOCK + i * PAGE, FREE_MARK.encode())
        # A process's anonymous page and a page-cache page (what -o redact=user hides).
        user = PA_VMEMMAP + (PA_USER_PAGE // PAGE) * SIZE_PAGE
        mem.write(user + 24, u64(self.dm(0x1600000) | 1))
        mem.write(PA_USER_PAGE, USER_MARK.encode())
        cache = PA_VMEMMAP + (PA_CACHE_PAGE // PAGE) * SIZE_PAGE
        mem.write(cache, u64(1 << PG_FLAGS["PG_lru"]))
        mem.write(cache + 24, u64(self.dm(0x1601000)))
        mem.write(PA_CACHE_PAGE, CACHE_MARK.encode())
        # A few in-use pages with a refcount, so not every struct page is zero.
        for pfn in range(0x100, 0x200):
            mem.write(PA_VMEMMAP + pfn * SIZE_PAGE + 52, struct.pack("<I", 1))

    def _vmcoreinfo_text(self):
        top = self.img_va(OFF_TOP_PGT)
        lines = [
            "OSRELEASE=%s" % OSRELEASE,
            "BUILD-ID=%s" % BUILD_ID,
            "PAGESIZE=%d" % PAGE,
            "SYMBOL(init_uts_ns)=%x" % self.img_va(OFF_UTS),
            "OFFSET(uts_namespace.name)=4",
            "SYMBOL(node_online_map)=%x" % self.img_va(OFF_UTS + 0x800),
            "SYMBOL(swapper_pg_dir)=%x" % top,
            "SYMBOL(_stext)=%x" % TEXT,
            "SYMBOL(mem_section)=%x" % self.dm(PA_MEMSEC_ROOT),
            "LENGTH(mem_section)=2048",
            "SIZE(mem_section)=16",
            "OFFSET(mem_section.section_mem_map)=0",
            "NUMBER(SECTION_SIZE_BITS)=27",
            "NUMBER(MAX_PHYSMEM_BITS)=46",
            "SIZE(page)=%d" % SIZE_PAGE,
            "SIZE(pglist_data)=171968",
            "SIZE(zone)=1600",
            "SIZE(free_area)=88",
            "SIZE(list_head)=16",
            "SIZE(nodemask_t)=128",
            "OFFSET(page.flags)=0",
            "OFFSET(page._refcount)=52",
            "OFFSET(page.mapping)=24",
            "OFFSET(page.lru)=8",
            "OFFSET(page._mapcount)=48",
            "OFFSET(page.private)=40",
            "OFFSET(page.compound_head)=8",
            "OFFSET(list_head.next)=0",
            "OFFSET(list_head.prev)=8",
            "LENGTH(zone.free_area)=11",
            "SYMBOL(prb)=%x" % self.img_va(OFF_PRB_PTR),
            "SYMBOL(printk_rb_static)=%x" % self.img_va(OFF_PRB),
            "SIZE(printk_ringbuffer)=88",
            "OFFSET(printk_ringbuffer.desc_ring)=0",
            "OFFSET(printk_ringbuffer.text_data_ring)=48",
            "OFFSET(printk_ringbuffer.fail)=80",
            "SIZE(prb_desc_ring)=48",
            "OFFSET(prb_desc_ring.count_bits)=0",
            "OFFSET(prb_desc_ring.descs)=8",
            "OFFSET(prb_desc_ring.infos)=16",
            "OFFSET(prb_desc_ring.head_id)=24",
            "OFFSET(prb_desc_ring.tail_id)=32",
            "SIZE(prb_desc)=24",
            "OFFSET(prb_desc.state_var)=0",
            "OFFSET(prb_desc.text_blk_lpos)=8",
            "SIZE(prb_data_blk_lpos)=16",
            "OFFSET(prb_data_blk_lpos.begin)=0",
            "OFFSET(prb_data_blk_lpos.next)=8",
            "SIZE(printk_info)=88",
            "OFFSET(printk_info.seq)=0",
            "OFFSET(printk_info.ts_nsec)=8",
            "OFFSET(printk_info.text_len)=16",
            "OFFSET(printk_info.caller_id)=20",
            "OFFSET(printk_info.dev_info)=24",
            "SIZE(prb_data_ring)=32",
            "OFFSET(prb_data_ring.size_bits)=0",
            "OFFSET(prb_data_ring.data)=8",
            "SIZE(atomic_long_t)=8",
            "OFFSET(atomic_long_t.counter)=0",
        ]
        lines += ["NUMBER(%s)=%d" % kv for kv in PG_FLAGS.items()]
        lines += [
            "SYMBOL(init_top_pgt)=%x" % top,
            "NUMBER(pgtable_l5_enabled)=0",
            "NUMBER(phys_base)=%d" % PHYS_BASE,
            "KERNELOFFSET=%x" % KERNELOFFSET,
            "NUMBER(KERNEL_IMAGE_SIZE)=%d" % KERNEL_IMAGE_SIZE,
            "NUMBER(sme_mask)=0",
        ]
        return "\n".join(lines) + "\n"

    def prstatus(self, cpu, zero=False):
        """struct elf_prstatus (336 bytes): pr_pid at 32, pr_reg (27 x u64) at 112."""
        d = bytearray(336)
        if zero:
            return bytes(d)
        struct.pack_into("<I", d, 32, 100 + cpu)
        rip = TEXT + 0x1234 + cpu * 0x10
        rsp = self.dm(0x2000000 + cpu * 0x4000 + 0x3F00)
        regs = [0xF15 + cpu, 0xF14, 0xF13, 0xF12, rsp + 0x40, 0xB0, 0x246, 0x10, 0x9, 0x8,
                0xAA, 0xCC, 0xDD, 0x51, 0xD1, NOT_PADDR, rip, 0x10, 0x246, rsp, 0x18,
                0, self.dm(0x2800000 + cpu * 0x40000), 0, 0, 0, 0]
        struct.pack_into("<27Q", d, 112, *regs)
        return bytes(d)

    def qemu_cpustate(self, cpu):
        """A QEMUCPUState-like note body: version, size, GPRs, rip, rflags, segments, crs."""
        regs = struct.unpack_from("<27Q", self.prstatus(cpu), 112)
        body = struct.pack("<II", 1, 0x1B8) + struct.pack("<18Q", *(regs[:16] + regs[16:17] + regs[18:19]))
        seg = struct.pack("<IIIIQ", 0x10, 0xFFFFFFFF, 0xA09B00, 0, 0)
        body += seg * 10
        body += struct.pack("<5Q", 0x80050033, 0, 0, IMAGE_PADDR + OFF_TOP_PGT, 0x3506F0)
        body += u64(0)
        return body + bytes(max(0, 0x1B8 - len(body)))

    def image(self):
        return {"vaddr": TEXT, "paddr": IMAGE_PADDR, "size": IMAGE_SIZE, "link_vaddr": LINK_TEXT}


# ---------------------------------------------------------------------------------------
# ELF writing

class Seg:
    def __init__(self, ptype, vaddr, paddr, memsz, src=None, filesz=None, align=0, offset=None):
        self.ptype, self.vaddr, self.paddr, self.memsz = ptype, vaddr, paddr, memsz
        self.filesz = memsz if filesz is None else filesz
        self.src = src          # physical address of the data, or bytes, or None (zeros)
        self.align, self.offset = align, offset


def ehdr(phnum, etype=ET_CORE, phnum_field=None, shoff=0):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", etype, EM_X86_64, 1, 0, 64, shoff, 0, 64, 56,
                               phnum if phnum_field is None else phnum_field, 64, 0, 0)


def phdr(s):
    return struct.pack("<IIQQQQQQ", s.ptype, 7 if s.ptype == PT_LOAD else 4, s.offset, s.vaddr,
                       s.paddr, s.filesz, s.memsz, s.align)


def dense_layout(loads, notes_len, page_data=True):
    cursor = 64 + 56 * (1 + len(loads)) + notes_len
    for s in loads:
        if page_data:
            cursor = (cursor + PAGE - 1) // PAGE * PAGE
        s.offset = cursor
        cursor += s.filesz


def write_elf(path, k, notes, loads, note_align=4, dense=True, etype=ET_CORE, page_data=True):
    """Writes [Ehdr][PT_NOTE][PT_LOAD...] notes data. dense: offsets assigned back to back,
    page-aligned (kdump) or not (qemu: page_data=False); otherwise offsets are preset."""
    phnum = 1 + len(loads)
    notes_off = 64 + 56 * phnum
    note_seg = Seg(PT_NOTE, 0, 0, len(notes), align=note_align, offset=notes_off)
    if dense:
        dense_layout(loads, len(notes), page_data)
    with open(path, "wb") as f:
        f.write(ehdr(phnum, etype) + phdr(note_seg) + b"".join(phdr(s) for s in loads) + notes)
        end = f.tell()
        for s in loads:
            end = max(end, s.offset + s.filesz)
            if isinstance(s.src, (bytes, bytearray)):
                os.pwrite(f.fileno(), s.src[:s.filesz], s.offset)
            elif s.src is not None:
                for pa, data in k.mem.pages_in(s.src, s.src + s.filesz):
                    os.pwrite(f.fileno(), data, s.offset + (pa - s.src))
        f.truncate(end)
    return {"phnum": phnum, "size": end}


def kdump_notes(k, vmcoreinfo=None):
    n = b"".join(note("CORE", NT_PRSTATUS, k.prstatus(c)) for c in range(NR_CPUS))
    return n + note("VMCOREINFO", 0, (vmcoreinfo or k.vmcoreinfo).encode())


def kdump_loads(k):
    loads = [Seg(PT_LOAD, TEXT, IMAGE_PADDR, IMAGE_SIZE, src=IMAGE_PADDR)]
    for a, b in k.ram:
        loads.append(Seg(PT_LOAD, PAGE_OFFSET_BASE + a, a, b - a, src=a))
    return loads


def write_kdump(path, k, vmcoreinfo=None, etype=ET_CORE):
    return write_elf(path, k, kdump_notes(k, vmcoreinfo), kdump_loads(k), etype=etype)


def write_qemu(path, k, with_vmcoreinfo):
    notes = b""
    for c in range(NR_CPUS):
        notes += note("CORE", NT_PRSTATUS, k.prstatus(c))
    for c in range(NR_CPUS):
        notes += note("QEMU", 0, k.qemu_cpustate(c))
    if with_vmcoreinfo:
        # QEMU's vmcoreinfo device copies the guest's note as it is in guest memory.
        notes += k.mem.read(PA_VMCOREINFO, len(note("VMCOREINFO", 0, k.vmcoreinfo.encode())))
    loads = [Seg(PT_LOAD, 0, a, b - a, src=a) for a, b in qemu_ram(k)]
    return write_elf(path, k, notes, loads, page_data=False)


def qemu_ram(k):
    """QEMU dumps guest RAM blocks minus MMIO (the VGA window), from physical 0."""
    return [(0, 0xA0000), (0xC0000, k.ram_size)] + k.hotplug


def write_kcore(path, k):
    prpsinfo = bytearray(136)
    prpsinfo[40:48] = b"vmlinux\0"
    prpsinfo[56:56 + 30] = b"BOOT_IMAGE=/vmlinuz ro quiet\0\0"
    task = bytearray(b"\x5a" * 64) + bytes(9 * 1024)   # the contents of `current`
    notes = (note("CORE", NT_PRSTATUS, k.prstatus(0, zero=True)) + note("CORE", NT_PRPSINFO, bytes(prpsinfo)) +
             note("CORE", NT_TASKSTRUCT, bytes(task)) + note("VMCOREINFO", 0, k.vmcoreinfo.encode()))
    vmemmap_size = (k.ram_size // PAGE * SIZE_PAGE + MB2 - 1) // MB2 * MB2
    loads = [Seg(PT_LOAD, VSYSCALL, NOT_PADDR, PAGE, src=None, align=PAGE),
             Seg(PT_LOAD, TEXT, IMAGE_PADDR, IMAGE_SIZE, src=IMAGE_PADDR, align=PAGE),
             Seg(PT_LOAD, VMALLOC_PAGE, NOT_PADDR, PAGE, src=PA_VMALLOC_BACK, align=PAGE)]
    for a, b in k.ram:
        loads.append(Seg(PT_LOAD, PAGE_OFFSET_BASE + a, a, b - a, src=a, align=PAGE))
    loads.append(Seg(PT_LOAD, VMEMMAP_BASE, NOT_PADDR, vmemmap_size, src=PA_VMEMMAP, align=PAGE))
    for a, b in k.hotplug:   # each hot-added block's struct pages (zeros), as kcore lists them
        size = ((b - a) // PAGE * SIZE_PAGE + MB2 - 1) // MB2 * MB2
        loads.append(Seg(PT_LOAD, VMEMMAP_BASE + a // PAGE * SIZE_PAGE, NOT_PADDR, size, align=PAGE))
    phnum = 1 + len(loads)
    data = (64 + 56 * phnum + len(notes) + PAGE - 1) // PAGE * PAGE
    for s in loads:
        s.offset = s.vaddr - PAGE_OFFSET_BASE + data
    return write_elf(path, k, notes, loads, note_align=0, dense=False)


VMLINUX_ALIGN = 0x200000
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOTE = 1, 2, 3, 7
SHF_WRITE, SHF_ALLOC, SHF_EXEC = 1, 2, 4
STT_OBJECT, STT_FUNC, STB_GLOBAL = 1, 2, 1
NT_GNU_BUILD_ID = 3


def write_vmlinux(path, k, build_id):
    """An x86_64 vmlinux as the kernel's build links it: ET_EXEC at the link-time address
    with e_entry the physical startup address, one PT_LOAD for the image and a PT_NOTE
    inside it for the build id, sections and a symbol table (no DWARF: gdb gets minimal
    symbols, so tests cast, e.g. p *(unsigned long *)&jiffies_64)."""
    img = bytearray(IMAGE_SIZE)
    img[0:80] = bytes([0x0F, 0x01, 0xF8, 0x90, 0xC3]) * 16
    b = BANNER.encode() + b"\0"
    img[OFF_BANNER:OFF_BANNER + len(b)] = b
    img[OFF_UTS:OFF_UTS + 4 + len(k.uts)] = struct.pack("<I", 1) + k.uts
    img[OFF_JIFFIES:OFF_JIFFIES + 8] = u64(STATIC_JIFFIES)
    # Static data holds link-time pointers (the kernel relocates them as it boots).
    img[OFF_PRB_PTR:OFF_PRB_PTR + 8] = u64(LINK_TEXT + OFF_PRB)
    notes = note("GNU", NT_GNU_BUILD_ID, bytes.fromhex(build_id))
    img[OFF_NOTES:OFF_NOTES + len(notes)] = notes
    syms = [("_text", 0, 0, STT_FUNC, ".text"), ("startup_64", 0, 0, STT_FUNC, ".text"),
            ("linux_banner", OFF_BANNER, len(b), STT_OBJECT, ".data"),
            ("init_uts_ns", OFF_UTS, 4 + len(k.uts), STT_OBJECT, ".data"),
            ("prb", OFF_PRB_PTR, 8, STT_OBJECT, ".data"),
            ("printk_rb_static", OFF_PRB, 88, STT_OBJECT, ".data"),
            ("jiffies_64", OFF_JIFFIES, 8, STT_OBJECT, ".data"),
            ("kcorefs_banner_ptr", OFF_BANNER_PTR, 8, STT_OBJECT, ".data"),
            ("init_top_pgt", OFF_TOP_PGT, PAGE, STT_OBJECT, ".data"),
            ("_end", IMAGE_SIZE, 0, STT_OBJECT, ".data")]
    secs = [("", 0, 0, 0, 0),  # name, type, flags, offset in the image, size
            (".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXEC, 0, OFF_BANNER),
            (".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, OFF_BANNER, OFF_NOTES - OFF_BANNER),
            (".notes", SHT_NOTE, SHF_ALLOC, OFF_NOTES, len(notes))]
    shnames = [s[0] for s in secs] + [".symtab", ".strtab", ".shstrtab"]
    shstr = b"\0".join(n.encode() for n in shnames) + b"\0"
    strtab = b"\0" + b"\0".join(s[0].encode() for s in syms) + b"\0"
    sec_index = {s[0]: i for i, s in enumerate(secs)}
    symtab = bytes(24)
    pos = 1
    for name, off, size, typ, sec in syms:
        symtab += struct.pack("<IBBHQQ", pos, (STB_GLOBAL << 4) | typ, 0, sec_index[sec], LINK_TEXT + off, size)
        pos += len(name) + 1
    load_off = VMLINUX_ALIGN
    tail = load_off + IMAGE_SIZE
    symtab_off, strtab_off = tail, tail + len(symtab)
    shstr_off = strtab_off + len(strtab)
    shoff = (shstr_off + len(shstr) + 7) // 8 * 8
    phdrs = [(PT_LOAD, 7, load_off, LINK_TEXT, LINK_TEXT - START_KERNEL_MAP, IMAGE_SIZE, IMAGE_SIZE, VMLINUX_ALIGN),
             (PT_NOTE, 4, load_off + OFF_NOTES, LINK_TEXT + OFF_NOTES, LINK_TEXT + OFF_NOTES - START_KERNEL_MAP,
              len(notes), len(notes), 4)]
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    shnum = len(shnames)
    eh = ident + struct.pack("<HHIQQQIHHHHHH", ET_EXEC, EM_X86_64, 1, LINK_TEXT - START_KERNEL_MAP, 64, shoff, 0,
                             64, 56, len(phdrs), 64, shnum, shnum - 1)
    name_off = {n: shstr.index(n.encode() + b"\0") if n else 0 for n in shnames}
    sh = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    for name, typ, flags, off, size in secs[1:]:
        sh.append(struct.pack("<IIQQQQIIQQ", name_off[name], typ, flags, LINK_TEXT + off, load_off + off, size,
                              0, 0, 4 if typ == SHT_NOTE else 64, 0))
    strtab_index = len(secs) + 1
    sh.append(struct.pack("<IIQQQQIIQQ", name_off[".symtab"], SHT_SYMTAB, 0, 0, symtab_off, len(symtab),
                          strtab_index, 1, 8, 24))
    sh.append(struct.pack("<IIQQQQIIQQ", name_off[".strtab"], SHT_STRTAB, 0, 0, strtab_off, len(strtab), 0, 0, 1, 0))
    sh.append(struct.pack("<IIQQQQIIQQ", name_off[".shstrtab"], SHT_STRTAB, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0))
    with open(path, "wb") as f:
        f.write(eh + b"".join(struct.pack("<IIQQQQQQ", *p) for p in phdrs))
        f.seek(load_off)
        f.write(img)
        f.write(symtab + strtab + shstr)
        f.seek(shoff)
        f.write(b"".join(sh))


def write_bad(outdir, k):
    files = {}

    def p(name):
        files[name] = os.path.join(outdir, name + ".core")
        return files[name]

    info = {}
    # A kdump cut in the middle of its second RAM segment.
    lay = write_kdump(p("bad-truncated"), k)
    loads = kdump_loads(k)
    dense_layout(loads, len(kdump_notes(k)))   # the offsets write_kdump used
    cut = loads[2].offset + 0x2000000
    os.truncate(files["bad-truncated"], cut)
    info["bad-truncated"] = {"truncated_at": cut, "full_size": lay["size"],
                             "intact_phys_end": loads[2].paddr + (cut - loads[2].offset)}
    # PT_NOTE whose p_offset lies past the end of the file.
    write_kdump(p("bad-poffset-eof"), k)
    with open(files["bad-poffset-eof"], "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        bad = size + 0x100000
        f.seek(64 + 8)
        f.write(u64(bad))
    info["bad-poffset-eof"] = {"offset": bad}
    # Two RAM PT_LOADs that overlap physically.
    loads = kdump_loads(k)
    loads.append(Seg(PT_LOAD, PAGE_OFFSET_BASE + 0x2000000, 0x2000000, 0x100000, src=0x2000000))
    write_elf(p("bad-overlap"), k, kdump_notes(k), loads)
    # e_phnum = 65535 (PN_XNUM) with a garbage section-header offset and garbage after.
    with open(p("bad-phnum65535"), "wb") as f:
        f.write(ehdr(0, phnum_field=0xFFFF, shoff=0x4141414141414141) + bytes(range(256)) * 64)
    # A PT_LOAD with p_filesz near 2^63.
    write_kdump(p("bad-filesz"), k)
    with open(files["bad-filesz"], "r+b") as f:
        off = 64 + 56 * 2 + 32   # phdr[2] (first RAM PT_LOAD) p_filesz, p_memsz
        f.seek(off)
        f.write(u64((1 << 63) - PAGE) + u64((1 << 63) - PAGE))
    info["bad-filesz"] = {"phdr": 2}
    # VMCOREINFO without SYMBOL(init_top_pgt).
    text = "".join(l + "\n" for l in k.vmcoreinfo.splitlines() if not l.startswith("SYMBOL(init_top_pgt)"))
    write_kdump(p("bad-vmcoreinfo-keys"), k, vmcoreinfo=text)
    info["bad-vmcoreinfo-keys"] = {"missing": "SYMBOL(init_top_pgt)"}
    with open(p("bad-notelf"), "wb") as f:
        f.write(b"This is not an ELF core; it is a text file.\n" * 100)
    write_kdump(p("bad-etexec"), k, etype=ET_EXEC)
    return files, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("variants", nargs="*", help="kdump qemu kcore bad vmlinux (default: all)")
    ap.add_argument("--kcore-dir", help="directory for kcore.core (needs a tmpfs); default OUTDIR")
    ap.add_argument("--ram-mib", type=int, default=128)
    ap.add_argument("--hotplug-blocks", type=int, default=0, metavar="B",
                    help="add B hot-added 128 MiB memory blocks, each a RAM range of its own, from 4 GiB")
    ap.add_argument("--kaslr-offset", type=lambda v: int(v, 0), default=KERNELOFFSET, metavar="N",
                    help="KERNELOFFSET (a multiple of 2 MiB; below 0x800000 the image overlaps itself)")
    ap.add_argument("--no-vmcoreinfo-note", action="store_true",
                    help="qemu variant without a VMCOREINFO note (qemu-novmci.core)")
    a = ap.parse_intermixed_args()
    variants = a.variants or ["kdump", "qemu", "kcore", "bad", "vmlinux"]
    for v in variants:
        if v not in ("kdump", "qemu", "kcore", "bad", "vmlinux"):
            ap.error("unknown variant %s" % v)
    if a.kaslr_offset % MB2 or not 0 <= a.kaslr_offset < KERNEL_IMAGE_SIZE - IMAGE_SIZE - (16 << 20):
        ap.error("--kaslr-offset must be a multiple of 2 MiB inside the kernel image map")
    set_kaslr_offset(a.kaslr_offset)
    os.makedirs(a.outdir, exist_ok=True)
    k = Kernel(a.ram_mib, a.hotplug_blocks)
    files, bad_info = {}, {}
    if "kdump" in variants:
        files["kdump"] = os.path.join(a.outdir, "kdump.core")
        write_kdump(files["kdump"], k)
    if "qemu" in variants:
        name = "qemu-novmci" if a.no_vmcoreinfo_note else "qemu"
        files[name] = os.path.join(a.outdir, name + ".core")
        write_qemu(files[name], k, not a.no_vmcoreinfo_note)
    if "kcore" in variants:
        d = a.kcore_dir or a.outdir
        os.makedirs(d, exist_ok=True)
        files["kcore"] = os.path.join(d, "kcore.core")
        write_kcore(files["kcore"], k)
    if "bad" in variants:
        f, bad_info = write_bad(a.outdir, k)
        files.update(f)
    if "vmlinux" in variants:
        files["vmlinux"] = os.path.join(a.outdir, "vmlinux.elf")
        write_vmlinux(files["vmlinux"], k, BUILD_ID)
        files["vmlinux_other"] = os.path.join(a.outdir, "vmlinux-other.elf")
        write_vmlinux(files["vmlinux_other"], k, OTHER_BUILD_ID)
    mpath = os.path.join(a.outdir, "manifest.json")
    if os.path.exists(mpath):   # a second run into the same directory adds its files
        with open(mpath) as f:
            old = json.load(f)
        files = dict(old.get("files", {}), **files)
        bad_info = dict(old.get("bad", {}), **bad_info)
    hx = lambda v: "0x%x" % v
    manifest = {
        "osrelease": OSRELEASE,
        "build_id": BUILD_ID,
        "other_build_id": OTHER_BUILD_ID,
        "image_overlaps": 0 < KERNELOFFSET < IMAGE_SIZE,
        "jiffies_64": JIFFIES,
        "static_jiffies_64": STATIC_JIFFIES,
        "prb_size_bits": 12,
        "kernel_offset": hx(KERNELOFFSET),
        "phys_base": PHYS_BASE,
        "page_offset_base": hx(PAGE_OFFSET_BASE),
        "page_offset_base_ld": PAGE_OFFSET_BASE - (1 << 64),
        "init_top_pgt": hx(TEXT + OFF_TOP_PGT),
        "init_top_pgt_paddr": hx(IMAGE_PADDR + OFF_TOP_PGT),
        "image": {key: hx(v) for key, v in k.image().items()},
        "ram": [[hx(a), hx(b)] for a, b in k.ram],
        # The physical ranges each file holds, where they differ from "ram".
        "source_ram": {name: [[hx(a), hx(b)] for a, b in qemu_ram(k)] for name in files if name.startswith("qemu")},
        "vmalloc_page": hx(VMALLOC_PAGE),
        "vmcoreinfo_paddr": hx(PA_VMCOREINFO),
        "markers": {name: {"vaddr": hx(m["vaddr"]), "paddr": hx(m["paddr"]), "text": m["text"]}
                    for name, m in k.markers.items()},
        "dmesg_marker": "KCOREFS_DMESG_MARKER",
        "free_page_marker": FREE_MARK,
        "free_block": [hx(PA_FREE_BLOCK), hx(PA_FREE_BLOCK + 1024 * PAGE)],
        "user_page_marker": USER_MARK,
        "cache_page_marker": CACHE_MARK,
        "user_pages": [hx(PA_USER_PAGE), hx(PA_CACHE_PAGE + PAGE)],
        "tag_interval": TAG_INTERVAL,
        "nr_cpus": NR_CPUS,
        "prstatus_pids": [100 + c for c in range(NR_CPUS)],
        "files": files,
        "bad": bad_info,
    }
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
