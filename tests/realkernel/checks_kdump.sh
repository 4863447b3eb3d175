# Real-kernel checks of the kdump backend (sourced by suite.sh): makedumpfile's compressed
# output of g1's ELF dump (through the dump-vmcoreinfo mount's vmcore), mounted by kcorefs
# again and read by the same tools as every other source. Sources:
#   kdump-zlib-d31   makedumpfile -c -d 31 (zlib pages, free/cache/user/zero pages excluded)
#   kdump-lzo-d0     makedumpfile -l -d 0  (lzo pages, every page)
# plus kdump/bytes: random physical pages of both equal QEMU's ELF dump, and every page
# -d 31 left out is absent from every PT_LOAD (never zeros).

KDUMP_SOURCES=(kdump-zlib-d31 kdump-lzo-d0)
KDUMP_CHECKS=(readelf readelf-kcore crash-sys crash-tasks crash-log crash-bt gdb drgn-osrelease
              drgn-tasks makedumpfile-dmesg)
for s in "${KDUMP_SOURCES[@]}"; do for c in "${KDUMP_CHECKS[@]}"; do PLANNED+=("$s/$c"); done; done
PLANNED+=(kdump/write-zlib-d31 kdump/write-lzo-d0 kdump/bytes kdump/gdb-excluded)

kdump_write() {  # kdump_write FLAGS OUT: makedumpfile FLAGS on g1's dump through kcorefs
  local log
  rm -f "$2"
  log=$(with_timeout 600 makedumpfile $1 "$W/mnt/dump-vmcoreinfo/vmcore" "$2" 2>&1) ||
    { echo "$log"; fail "makedumpfile $1 failed"; }
  [ "$(head -c 8 "$2")" = "KDUMP   " ] || fail "makedumpfile $1 wrote no kdump-compressed file"
  echo "makedumpfile $1: $(stat -c %s "$2") bytes"
}

c_kdump_bytes() {  # random pages of each kdump source equal the ELF dump's
  python3 - "$W/g1-elf.core" "$W/mnt/kdump-zlib-d31/vmcore" "$W/mnt/kdump-lzo-d0/vmcore" <<'PY'
import random, struct, sys
def loads(path):
    f = open(path, "rb")
    eh = f.read(64)
    phoff, phnum = struct.unpack_from("<Q", eh, 32)[0], struct.unpack_from("<H", eh, 56)[0]
    f.seek(phoff)
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    return f, sorted({(p[4], p[2], p[5]) for p in ph if p[0] == 1 and p[4] != (1 << 64) - 1 and p[5]})
def find(segs, pa):
    for s in segs:
        if s[0] <= pa < s[0] + s[2]:
            return s
    return None
def page(f, segs, pa):
    s = find(segs, pa)
    if s is None:
        return None
    f.seek(s[1] + pa - s[0])
    return f.read(4096)
of, o = loads(sys.argv[1])
rng = random.Random(6101)
# makedumpfile writes pages up to the kernel's max_pfn (the end of RAM); QEMU's dump also
# holds device memory above it (the BIOS at 0xfffc0000), which is not the kernel's.
_, d0 = loads(sys.argv[3])
ram_end = max(s[0] + s[2] for s in d0)
pages = [pa for pa0, _, size in o for pa in range(pa0, pa0 + size, 4096) if pa < ram_end]
sample = rng.sample(pages, min(3000, len(pages)))
for path, level in ((sys.argv[2], 31), (sys.argv[3], 0)):
    vf, v = loads(path)
    same = absent = 0
    for pa in sample:
        want, got = page(of, o, pa), page(vf, v, pa)
        if got is None:
            if level == 0:
                sys.exit("%s: page %#x is missing" % (path, pa))
            absent += 1
        elif got != want:
            sys.exit("%s: page %#x differs from QEMU's ELF dump" % (path, pa))
        else:
            same += 1
    print("%s: %d sampled pages equal, %d absent" % (path, same, absent))
    if level == 31 and absent == 0:
        sys.exit("-d 31 left out none of %d sampled pages" % len(sample))
PY
}

c_kdump_gdb_excluded() {  # a page -d 31 left out reads as "Cannot access memory" in gdb
  local mp=$W/mnt/kdump-zlib-d31 va out
  va=$(python3 - "$mp/vmcore" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb")
eh = f.read(64)
phoff, phnum = struct.unpack_from("<Q", eh, 32)[0], struct.unpack_from("<H", eh, 56)[0]
f.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
ram = sorted((p[4], p[3], p[5]) for p in ph if p[0] == 1 and p[3] >> 47 and p[3] < 0xffffffff80000000)
# The first gap between two RAM segments: a page the dump left out, at its direct-map address.
for (pa, va, n), (pa2, _, _) in zip(ram, ram[1:]):
    if pa + n < pa2:
        print(hex(va + n))
        break
PY
)
  [ -n "$va" ] || fail "the -d 31 vmcore has no gap between RAM segments"
  out=$(with_timeout 300 gdb -nx -batch -ex "x/gx $va" "$VM_VMLINUX" "$mp/kcore" 2>&1)
  echo "gdb x/gx $va (an excluded page): $out" | tail -2
  grep -q "Cannot access memory at address $va" <<<"$out" || fail "gdb read an excluded page at $va"
}

run_kdump_sources() {
  local s
  check kdump/write-zlib-d31 kdump_write "-c -d 31" "$W/g1-zlib-d31.kdump"
  check kdump/write-lzo-d0 kdump_write "-l -d 0" "$W/g1-lzo-d0.kdump"
  for s in zlib-d31 lzo-d0; do
    # A failed write leaves its source's checks without results: meson reports them failed.
    [ -s "$W/g1-$s.kdump" ] || continue
    mount_kcorefs "$W/g1-$s.kdump" "$W/mnt/kdump-$s"
    new_source "kdump-$s" g1 "$W/mnt/kdump-$s/vmcore" "$W/mnt/kdump-$s/kcore" "$W/g1-elf.vmcoreinfo"
    run_source_checks "kdump-$s" "${KDUMP_CHECKS[@]}"
  done
  check kdump/bytes c_kdump_bytes
  check kdump/gdb-excluded c_kdump_gdb_excluded
  source_times kdump-zlib-d31
}
