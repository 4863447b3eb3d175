#!/usr/bin/env bash
# A complete region set, with each kind of metadata (none, dump_info.txt, load.cmm,
# kcorefs-regions.json): MP/coreimage is byte-identical to the region files concatenated in
# id order (cmp), has no section headers unless asked (section_names=yes names every region
# for eu-readelf); vmcore, kcore and coreimage pass the header rules and are read by crash
# (OSRELEASE), gdb (linux_banner at its runtime and link-time address in kcore) and drgn.
# Without the header region (a manifest and raw regions) the header is synthesized.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/kmemdump-lib.sh"
requires eu-readelf --version
requires crash --version
requires gdb --version
make_cores kdump
banner=$(mf markers.banner.text)
bvaddr=$(mf markers.banner.vaddr)
blink=$(printf '0x%x' $(( bvaddr - $(mf kernel_offset) )))

for meta in none dump_info load_cmm manifest; do
  set_dir=$TEST_TMP/set-$meta
  make_regions "$set_dir" --metadata $meta --concat "$TEST_TMP/concat-$meta.bin" --info "$TEST_TMP/info.json"
  mp=$TEST_TMP/m-$meta
  mount_kcorefs "$set_dir" "$mp"
  [ -e "$mp/coreimage" ] || fail "$meta: no coreimage in $(ls "$mp")"
  cmp "$mp/coreimage" "$TEST_TMP/concat-$meta.bin" || fail "$meta: coreimage differs from the concatenated regions"
  if eu-readelf -S "$mp/coreimage" | grep -q linux_ba; then fail "$meta: a complete set grew section headers"; fi
  check_readelf "$mp/vmcore" vmcore
  check_readelf "$mp/kcore" kcore
  check_crash_osrelease "$mp/vmcore" "$(mf osrelease)"
  check_crash_osrelease "$mp/coreimage" "$(mf osrelease)"
  check_gdb_read "$mp/kcore" "$bvaddr" "${banner:0:40}"
  check_gdb_read "$mp/kcore" "$blink" "${banner:0:40}"
  check_drgn_kernel "$mp/coreimage" "$(mf osrelease)"
  check_drgn_kernel "$mp/kcore" "$(mf osrelease)"
  check_drgn_read "$mp/coreimage" "$(mf markers.direct.vaddr)" "$(mf markers.direct.text)"
  check_drgn_read "$mp/vmcore" "$(mf markers.direct.paddr)" "$(mf markers.direct.text)" phys
  grep -q "^kmemdump_holes 0$" "$mp/stats" || fail "$meta: stats: $(cat "$mp/stats")"
done

# section_names=yes on the complete set: every region is named.
mp=$TEST_TMP/m-names
mount_kcorefs "$TEST_TMP/set-manifest" "$mp" -o section_names=yes
out=$(eu-readelf -S "$mp/coreimage" 2>&1) || fail "eu-readelf -S: $out"
for name in linux_banner init_uts_ns prb_descs prb_data swapper_pg_dir vmcoreinfo .shstrtab; do
  grep -q " $name " <<<"$out" || fail "section_names=yes: no section $name in: $out"
done
# Only the Ehdr's section fields (e_shoff, e_shentsize, e_shnum, e_shstrndx) differ.
cmp -i 64 -n $(( $(stat -c %s "$TEST_TMP/concat-manifest.bin") - 64 )) "$mp/coreimage" "$TEST_TMP/concat-manifest.bin" ||
  fail "section_names=yes changed bytes past the ELF header before the section headers"
cmp -n 40 "$mp/coreimage" "$TEST_TMP/concat-manifest.bin" || fail "section_names=yes changed the ELF header's first bytes"

# No header region: synthesized from the manifest, VMCOREINFO from its region.
make_regions "$TEST_TMP/set-nohdr" --metadata manifest --no-header
mp=$TEST_TMP/m-nohdr
mount_kcorefs "$TEST_TMP/set-nohdr" "$mp"
check_readelf "$mp/coreimage" kcore
out=$(eu-readelf -S "$mp/coreimage" 2>&1)
grep -q " linux_banner " <<<"$out" || fail "synthesized header: no section names: $out"
check_crash_osrelease "$mp/coreimage" "$(mf osrelease)"
check_drgn_read "$mp/coreimage" "$bvaddr" "${banner:0:40}"
check_gdb_read "$mp/kcore" "$blink" "${banner:0:40}"

# kmemdump:DIR forces the backend; an empty directory is refused naming it.
mkdir -p "$TEST_TMP/empty"
out=$("$KCOREFS" info "kmemdump:$TEST_TMP/empty" 2>&1) && fail "an empty directory was accepted: $out"
grep -q "$TEST_TMP/empty" <<<"$out" || fail "the error does not name the directory: $out"
"$KCOREFS" info "kmemdump:$TEST_TMP/set-none" | grep -q "backend kmemdump" || fail "kmemdump:DIR not forced"
echo ok
