# Helpers for the test-kmemdump-*.sh scripts (sourced after functions.sh and consumers.sh).
# make_regions DIR [mkregions.py args...]: a region set cut from the synthetic core.
make_regions() {
  local dir=$1
  shift
  [ -n "${MANIFEST:-}" ] || make_cores kdump
  rm -rf "$dir"
  "$DRGN_PYTHON" "$SRCDIR/tests/tools/mkregions.py" "$CORES" "$dir" "$@" ||
    fail "tests/tools/mkregions.py $* failed"
}
# ri INFO NAME KEY: a field of region NAME in mkregions.py's --info JSON.
ri() {
  "$DRGN_PYTHON" - "$1" "$2" "$3" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["regions"]:
    if r["name"] == sys.argv[2]:
        print(r[sys.argv[3]]); break
else:
    sys.exit("no region " + sys.argv[2])
PY
}
# phdr FILE N: "offset filesz memsz paddr" of program header N.
phdr() {
  "$DRGN_PYTHON" - "$1" "$2" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32)
    f.seek(phoff + 56 * int(sys.argv[2]))
    t, fl, off, va, pa, fs, ms, al = struct.unpack("<IIQQQQQQ", f.read(56))
print(off, fs, ms, pa)
PY
}
