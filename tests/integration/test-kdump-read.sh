#!/usr/bin/env bash
# kdump backend: makedumpfile's compressed (diskdump) output of a kcorefs vmcore, mounted
# again. Every page of the vmcore view equals the original dump's page at that physical
# address; with -d 31 an excluded (free) page is in no PT_LOAD, never zeros; eu-readelf and
# gdb read the views; a corrupt zlib page fails that read with EIO and the log names the
# page, while the other pages still read right.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires makedumpfile -v
"$KCOREFS" backends | grep -q '^  kdump ' || { echo "SKIP: built without libkdumpfile" >&2; exit 77; }
make_cores kdump
orig=$(mf files.kdump)
mount_kcorefs "$orig" "$TEST_TMP/m-orig"

for d in "c 0" "l 31" "c 31"; do
  set -- $d
  out=$TEST_TMP/d$2$1.kdump
  log=$(with_timeout 120 makedumpfile -$1 -d $2 "$TEST_TMP/m-orig/vmcore" "$out" 2>&1) ||
    fail "makedumpfile -$1 -d $2 failed: $log"
  mp=$TEST_TMP/m-d$2$1
  mount_kcorefs "$out" "$mp"
  info=$("$KCOREFS" info "$out") || fail "info $out failed"
  grep -q "^format: .*KDUMP" <<<"$info" || fail "info does not name the kdump format: $info"
  comp=zlib; [ "$1" = l ] && comp=lzo
  grep -Eq "^format: .*: $comp compression, dump level $2, [0-9]+ of [0-9]+ pages dumped" <<<"$info" ||
    fail "info does not give the compression ($comp), dump level ($2) and page counts: $info"
  check_readelf "$mp/vmcore" vmcore
  check_readelf "$mp/kcore" kcore
  if [ "$2" = 0 ]; then
    "$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" "$orig" "$mp/vmcore" || fail "-$1 -d $2: bytes differ"
  else
    "$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" --may-lack --absent-marker "$(mf free_page_marker)" \
      "$orig" "$mp/vmcore" || fail "-$1 -d $2: bytes differ, or the free pages were served"
  fi
  check_gdb_read "$mp/kcore" "$(mf markers.banner.vaddr)" "$(mf markers.banner.text)"
done

# A corrupt compressed page: EIO for the reads that touch it, the right bytes elsewhere.
bad=$TEST_TMP/bad.kdump
cp "$TEST_TMP/d0c.kdump" "$bad"
size=$(stat -c %s "$bad")
"$DRGN_PYTHON" - "$bad" "$size" <<'PY'
import sys
f = open(sys.argv[1], "r+b")
f.seek(int(sys.argv[2]) * 3 // 4)
f.write(b"\xa5" * 8192)
PY
mount_kcorefs "$bad" "$TEST_TMP/m-bad"
if dd if="$TEST_TMP/m-bad/vmcore" of=/dev/null bs=1M 2>"$TEST_TMP/dd.err"; then
  fail "reading a vmcore with a corrupt compressed page succeeded"
fi
grep -q 'Input/output error' "$TEST_TMP/dd.err" || fail "the corrupt page did not give EIO: $(cat "$TEST_TMP/dd.err")"
grep -Eq 'physical 0x[0-9a-f]+' "$KCOREFS_LOG" || fail "the log does not name the corrupt page: $(tail -5 "$KCOREFS_LOG")"
grep -E 'physical 0x[0-9a-f]+' "$KCOREFS_LOG" | head -2
# Everything read before the bad page is the good dump's bytes.
good_bytes=$(sed -n 's/^\([0-9]*\) bytes .* copied.*/\1/p' "$TEST_TMP/dd.err")
[ "${good_bytes:-0}" -gt 0 ] || fail "dd read nothing before the bad page: $(cat "$TEST_TMP/dd.err")"
cmp -n "$good_bytes" "$TEST_TMP/m-bad/vmcore" "$TEST_TMP/m-d0c/vmcore" ||
  fail "the bytes before the corrupt page differ from the good dump's"
echo "first $good_bytes bytes equal; then EIO"
echo ok
