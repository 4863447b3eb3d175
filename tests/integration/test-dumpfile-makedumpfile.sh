#!/usr/bin/env bash
# makedumpfile on MP/vmcore: --dump-dmesg prints the ring buffer's marker line (symbols
# read through KASLR'd page tables); -d 31 writes a filtered dump that keeps the kernel
# image and drops the free buddy block. For a kdump and for a QEMU dump without a
# VMCOREINFO note (found by scanning RAM).
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires makedumpfile -v
make_cores kdump
make_cores --no-vmcoreinfo-note qemu

for src in kdump qemu-novmci; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  check_makedumpfile_dmesg "$mp/vmcore" "$(mf dmesg_marker)"
  check_makedumpfile_d31 "$mp/vmcore" "$TEST_TMP/d31-$src" "$(mf markers.banner.text)" "$(mf free_page_marker)"
  # The same on the source file itself proves the markers are meaningful here.
  [ $src = kdump ] && check_makedumpfile_d31 "$(mf files.kdump)" "$TEST_TMP/d31-direct" "$(mf markers.banner.text)" "$(mf free_page_marker)"
  rm -f "$TEST_TMP"/d31-*
done
echo ok
