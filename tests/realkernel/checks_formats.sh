# Real-kernel checks of the lime and raw backends (sourced by suite.sh): g1's memory from
# QEMU's ELF dump written as a LiME image and as a raw physical image by
# tests/tools/elf2mem.py (RAM only: below the end of RAM, not the BIOS QEMU also dumps),
# mounted by kcorefs (VMCOREINFO found by its scan: neither format carries it) and read by
# the same tools as every other source. Sources: lime, raw. formats/bytes: sampled pages of
# both vmcore views equal QEMU's dump.

FORMAT_SOURCES=(lime raw)
FORMAT_CHECKS=(readelf readelf-kcore crash-sys crash-tasks crash-log gdb drgn-osrelease drgn-tasks
               makedumpfile-dmesg)
for s in "${FORMAT_SOURCES[@]}"; do for c in "${FORMAT_CHECKS[@]}"; do PLANNED+=("$s/$c"); done; done
PLANNED+=(formats/write-lime formats/write-raw formats/bytes)

format_ram_end() {  # the end of g1's RAM: makedumpfile's -d 0 output holds exactly that
  python3 - "$W/g1-elf.core" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); eh = f.read(64)
phoff, phnum = struct.unpack_from("<Q", eh, 32)[0], struct.unpack_from("<H", eh, 56)[0]
f.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
# RAM ends below 4 GiB on a 512 MiB guest; QEMU's BIOS copy sits just below 4 GiB.
print(hex(max(p[4] + p[5] for p in ph if p[0] == 1 and p[4] + p[5] <= 0xfff00000)))
PY
}

format_write() {  # format_write lime|raw
  python3 "$HERE/../tools/elf2mem.py" "$1" --max-paddr "$(format_ram_end)" "$W/g1-elf.core" "$W/g1.$1"
}

c_formats_bytes() {
  local s
  for s in lime raw; do
    python3 "$HERE/../tools/compare_phys.py" --sample 3000 --max-paddr "$(format_ram_end)" \
      "$W/g1-elf.core" "$W/mnt/$s/vmcore" || fail "$s: bytes differ"
  done
}

run_format_sources() {
  local s src
  check formats/write-lime format_write lime
  check formats/write-raw format_write raw
  for s in lime raw; do
    [ -s "$W/g1.$s" ] || continue
    src=$W/g1.$s
    [ $s = raw ] && src=raw:$src
    mount_kcorefs "$src" "$W/mnt/$s"
    new_source $s g1 "$W/mnt/$s/vmcore" "$W/mnt/$s/kcore" "$W/mnt/$s/vmcoreinfo"
    run_source_checks $s "${FORMAT_CHECKS[@]}"
  done
  check formats/bytes c_formats_bytes
  source_times lime
}
