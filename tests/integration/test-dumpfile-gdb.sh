#!/usr/bin/env bash
# gdb (no vmlinux) reads the markers through MP/kcore: linux_banner at its runtime address
# and at its link-time address (the image's second mapping), the image's last page, the
# direct map, and the vmalloc page when the source has a segment for it.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires gdb --version
make_cores kdump kcore

link_addr() {  # the link-time address of a runtime kernel-image address
  printf '0x%x\n' $(( $1 - $(mf kernel_offset) ))
}
for src in kdump kcore; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  banner=$(mf markers.banner.text)
  check_gdb_read "$mp/kcore" "$(mf markers.banner.vaddr)" "${banner:0:40}"
  check_gdb_read "$mp/kcore" "$(link_addr "$(mf markers.banner.vaddr)")" "${banner:0:40}"
  check_gdb_read "$mp/kcore" "$(link_addr "$(mf markers.image_end.vaddr)")" "$(mf markers.image_end.text)"
  check_gdb_read "$mp/kcore" "$(mf markers.direct.vaddr)" "$(mf markers.direct.text)"
  if [ $src = kcore ]; then
    check_gdb_read "$mp/kcore" "$(mf markers.vmalloc.vaddr)" "$(mf markers.vmalloc.text)"
  fi
done
echo ok
