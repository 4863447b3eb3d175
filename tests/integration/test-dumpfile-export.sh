#!/usr/bin/env bash
# `kcorefs export`: the vmcore view exported to a file equals the mounted MP/vmcore byte for
# byte (kdump and QEMU inputs); the kcore view exports as a sparse file (du far below its
# ~100 TiB size) whose header and every PT_LOAD's data equal the mounted MP/kcore; the
# vmcoreinfo view equals MP/vmcoreinfo.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
KCORE_DIR=$TEST_TMP/kcore-out   # not /dev/shm (make_cores' default): 64 MB in a container
make_cores kdump qemu

for src in kdump qemu; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  out=$TEST_TMP/$src.vmcore
  with_timeout 60 "$KCOREFS" export "$(mf files.$src)" --view vmcore -o "$out" || fail "$src: export --view vmcore failed"
  cmp "$out" "$mp/vmcore" || fail "$src: exported vmcore differs from the mounted one"
  check_readelf "$out" vmcore
  rm -f "$out"
  with_timeout 30 "$KCOREFS" export "$(mf files.$src)" --view vmcoreinfo -o "$out" || fail "$src: export --view vmcoreinfo failed"
  cmp "$out" "$mp/vmcoreinfo" || fail "$src: exported vmcoreinfo differs"
done

# kcore: a ~100 TiB sparse file (~150 MB of data), so it goes where such a file fits.
sparse_dir "$KCORE_DIR" "$(stat -c %s "$TEST_TMP/m-kdump/kcore")"
out=$SPARSE_DIR/kdump.kcore
with_timeout 60 "$KCOREFS" export "$(mf files.kdump)" --view kcore -o "$out" || fail "export --view kcore failed"
size=$(stat -c %s "$out")
used=$(( $(stat -c %b "$out") * $(stat -c %B "$out") ))
[ "$size" = "$(stat -c %s "$TEST_TMP/m-kdump/kcore")" ] || fail "exported kcore is $size bytes, the mount's $(stat -c %s "$TEST_TMP/m-kdump/kcore")"
[ "$size" -gt $((1 << 40)) ] || fail "exported kcore is only $size bytes; not the /proc/kcore layout"
[ "$used" -lt $((1 << 30)) ] || fail "exported kcore is not sparse: $used bytes allocated of $size"
note "kcore: $size bytes, $used allocated"
check_readelf "$out" kcore
"$DRGN_PYTHON" - "$out" "$TEST_TMP/m-kdump/kcore" <<'PY' || fail "exported kcore differs from the mounted one"
import struct, sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
head = a.read(65536)
if head != b.read(65536): sys.exit("headers differ")
phnum = struct.unpack_from("<H", head, 56)[0]
for i in range(phnum):
    p = struct.unpack_from("<IIQQQQQQ", head, 64 + 56 * i)
    for off in range(0, p[5], 1 << 22):
        n = min(1 << 22, p[5] - off)
        a.seek(p[2] + off); b.seek(p[2] + off)
        if a.read(n) != b.read(n): sys.exit("phdr %d at file offset %#x differs" % (i, p[2] + off))
PY
rm -f "$out"
echo ok
