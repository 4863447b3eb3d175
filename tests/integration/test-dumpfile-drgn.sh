#!/usr/bin/env bash
# drgn takes MP/vmcore (and MP/kcore) as a Linux kernel core for every input, including a
# QEMU dump whose VMCOREINFO is found by a scan, and reads the markers: in the kernel
# image, in the direct map, and in the vmalloc page through its own page-table walk.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires "$DRGN_PYTHON" -c 'import drgn'
make_cores kdump qemu kcore
make_cores --no-vmcoreinfo-note qemu

rel=$(mf osrelease)
for src in kdump qemu-novmci kcore; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  for view in vmcore kcore; do
    check_drgn_kernel "$mp/$view" "$rel"
    for m in banner image_end direct vmalloc; do
      check_drgn_read "$mp/$view" "$(mf markers.$m.vaddr)" "$(mf markers.$m.text)"
    done
  done
  check_drgn_read "$mp/vmcore" "$(mf markers.direct.paddr)" "$(mf markers.direct.text)" phys
  check_drgn_read "$mp/vmcore" "$(mf markers.banner.paddr)" "$(mf markers.banner.text)" phys
done
echo ok
