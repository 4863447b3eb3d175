#!/usr/bin/env bash
# kdump backend, damaged files (tests/tools/kdump_mangle.py on makedumpfile -c output): a
# page bitmap reaching past the end and a max_mapnr past what the bitmap covers are refused
# with libkdumpfile's reason; a page descriptor pointing past the end, and a file cut at 95%,
# mount with "is truncated" as the first warning, those pages left out of every PT_LOAD
# (drgn faults there) and every other page equal to the good dump's; a file cut at 60% (the
# kernel image's page tables gone) and one cut inside its descriptors are refused, the
# truncation named first. Never a crash or a hang.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires makedumpfile -v
"$KCOREFS" backends | grep -q '^  kdump ' || { echo "SKIP: built without libkdumpfile" >&2; exit 77; }
make_cores kdump
orig=$(mf files.kdump)
mount_kcorefs "$orig" "$TEST_TMP/m-orig"
good=$TEST_TMP/good.kdump
log=$(with_timeout 120 makedumpfile -c -d 0 "$TEST_TMP/m-orig/vmcore" "$good" 2>&1) || fail "makedumpfile: $log"
mangle() { "$DRGN_PYTHON" "$SRCDIR/tests/tools/kdump_mangle.py" "$good" "$TEST_TMP/$1.kdump" "$1" >/dev/null || fail "kdump_mangle.py $1"; }

# expect_refused CASE PATTERN
expect_refused() {
  local out
  mangle "$1"
  out=$(with_timeout 60 "$KCOREFS" info "$TEST_TMP/$1.kdump" 2>&1) && fail "$1 was accepted: $out"
  [ $? -lt 124 ] || fail "kcorefs info crashed or hung on $1: $out"
  grep -Eq -- "$2" <<<"$out" || fail "$1: the error does not match '$2': $out"
  echo "$1: $out"
}
expect_refused bitmap-past-end "bitmap-past-end.kdump: libkdumpfile cannot read it: .*Cannot read [0-9]+ bytes of page bitmap at [0-9]+"
expect_refused mapnr-too-big "mapnr-too-big.kdump: libkdumpfile cannot read it: .*Invalid diskdump header"
expect_refused truncated "^kcorefs: error: [^ ]*truncated.kdump is truncated: headers describe [0-9]+ bytes, the file has [0-9]+: .*is in the part missing from the truncated"
expect_refused cut-descriptors "cut-descriptors.kdump is truncated: .*no page is left"

# expect_served CASE: mounts, the cut is the first warning, the pages it names are in no
# PT_LOAD, the rest are the good dump's.
expect_served() {
  local out first mp=$TEST_TMP/m-$1
  mangle "$1"
  out=$(with_timeout 60 "$KCOREFS" info "$TEST_TMP/$1.kdump" 2>&1) || fail "$1 refused: $out"
  first=$(grep -m1 '^warning:' <<<"$out")
  grep -q "$1.kdump is truncated: headers describe [0-9]* bytes, the file has [0-9]*" <<<"$first" ||
    fail "$1: the first warning is not the truncation: $out"
  pa=$(sed -n 's/.*dumped pages in [0-9]* runs (the first at physical \(0x[0-9a-f]*\)).*/\1/p' <<<"$out")
  [ -n "$pa" ] || fail "$1: no warning naming the pages left out: $out"
  mount_kcorefs "$TEST_TMP/$1.kdump" "$mp"
  "$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" --may-lack "$TEST_TMP/m-orig/vmcore" "$mp/vmcore" ||
    fail "$1: pages differ from the good dump's"
  out=$("$DRGN_PYTHON" - "$mp/vmcore" "$pa" <<'PY' 2>&1
import sys, drgn
p = drgn.Program(); p.set_core_dump(sys.argv[1])
try:
    p.read(int(sys.argv[2], 16), 8, True); print("read")
except drgn.FaultError:
    print("fault")
PY
)
  [ "$out" = fault ] || fail "$1: the page at $pa past the end was served: $out"
  unmount_kcorefs "$mp" "$KCOREFS_PID"
}
expect_served desc-past-end
expect_served cut-95
echo ok
