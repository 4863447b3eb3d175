#!/usr/bin/env bash
# crash classifies MP/vmcore as a kdump and reads OSRELEASE from it (`crash --osrelease`
# takes the KDUMP path only: p_align 0, one PT_NOTE at phdr[0]), for every input shape.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires crash --version
make_cores kdump qemu kcore
make_cores --no-vmcoreinfo-note qemu

for src in kdump qemu qemu-novmci kcore; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  check_crash_osrelease "$mp/vmcore" "$(mf osrelease)"
done
echo ok
