# Real-kernel checks of the kdump backend (sourced by suite.sh): makedumpfile's compressed
# output of g1's ELF dump (through the dump-vmcoreinfo mount's vmcore), mounted by kcorefs
# again and read by the same tools as every other source. Sources:
#   kdump-zlib-d31   makedumpfile -c -d 31 (zlib pages, free/cache/user/zero pages excluded)
#   kdump-lzo-d0     makedumpfile -l -d 0  (lzo pages, every page)
#   kdump-qemu-zlib  QEMU's own dump-guest-memory -f kdump-zlib (flattened), rewritten by
#                    `makedumpfile -R` as kcorefs's refusal of the flattened file says
# plus kdump/bytes: random physical pages of both equal QEMU's ELF dump, and every page
# -d 31 left out is absent from every PT_LOAD (never zeros).

KDUMP_SOURCES=(kdump-zlib-d31 kdump-lzo-d0)
KDUMP_CHECKS=(readelf readelf-kcore crash-sys crash-tasks crash-log crash-bt gdb drgn-osrelease
              drgn-tasks makedumpfile-dmesg)
for s in "${KDUMP_SOURCES[@]}"; do for c in "${KDUMP_CHECKS[@]}"; do PLANNED+=("$s/$c"); done; done
KDUMP_QEMU_CHECKS=(readelf crash-sys crash-log gdb drgn-tasks)
for c in "${KDUMP_QEMU_CHECKS[@]}"; do PLANNED+=("kdump-qemu-zlib/$c"); done
PLANNED+=(kdump/write-zlib-d31 kdump/write-lzo-d0 kdump/write-qemu-zlib kdump/bytes kdump/gdb-excluded)

kdump_write() {  # kdump_write FLAGS OUT: makedumpfile FLAGS on g1's dump through kcorefs
  local log
  rm -f "$2"
  log=$(with_timeout 600 makedumpfile $1 "$W/mnt/dump-vmcoreinfo/vmcore" "$2" 2>&1) ||
    { echo "$log"; fail "makedumpfile $1 failed"; }
  [ "$(head -c 8 "$2")" = "KDUMP   " ] || fail "makedumpfile $1 wrote no kdump-compressed file"
  echo "makedumpfile $1: $(stat -c %s "$2") bytes"
}

kdump_unflatten() {  # QEMU's flattened kdump-zlib dump, reassembled by makedumpfile -R
  local out
  out=$("$KCOREFS" info "$W/g1-kdump-zlib.core" 2>&1) && fail "kcorefs took a flattened file: $out"
  grep -q 'makedumpfile -R' <<<"$out" || fail "the refusal does not say makedumpfile -R: $out"
  makedumpfile -R "$W/g1-qemu-zlib.kdump" <"$W/g1-kdump-zlib.core" || fail "makedumpfile -R failed"
}

c_kdump_bytes() {  # sampled pages of each kdump source equal the ELF dump's
  local end
  # makedumpfile writes pages up to the kernel's max_pfn; QEMU's dump also holds device
  # memory above it (the BIOS below 4 GiB), which is not the kernel's.
  end=$(format_ram_end)
  python3 "$HERE/../tools/compare_phys.py" --sample 3000 --max-paddr "$end" --may-lack \
    "$W/g1-elf.core" "$W/mnt/kdump-zlib-d31/vmcore" || fail "-d 31: bytes differ"
  python3 "$HERE/../tools/compare_phys.py" --sample 3000 --max-paddr "$end" \
    "$W/g1-elf.core" "$W/mnt/kdump-lzo-d0/vmcore" || fail "-d 0: bytes differ"
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
  check kdump/write-qemu-zlib kdump_unflatten
  if [ -s "$W/g1-qemu-zlib.kdump" ]; then
    mount_kcorefs "$W/g1-qemu-zlib.kdump" "$W/mnt/kdump-qemu-zlib"
    new_source kdump-qemu-zlib g1 "$W/mnt/kdump-qemu-zlib/vmcore" "$W/mnt/kdump-qemu-zlib/kcore" \
      "$W/g1-elf.vmcoreinfo"
    run_source_checks kdump-qemu-zlib "${KDUMP_QEMU_CHECKS[@]}"
  fi
  check kdump/bytes c_kdump_bytes
  check kdump/gdb-excluded c_kdump_gdb_excluded
  source_times kdump-zlib-d31
}
