#!/usr/bin/env bash
# Truncated dumps (issue 8, point 2) on mkcore.py's QEMU-shaped core, cut with truncate(1)
# on a reflinked copy:
#  - cut at 1 MiB (the page tables are gone): the mount fails, and the message says first
#    that the file is truncated, with both sizes, and then that the address the derivation
#    needed is in the missing part;
#  - cut inside the last segment, off a page boundary: the mount works; the first warning is
#    the truncation with both sizes; the vmcore and kcore views serve exactly the bytes the
#    file has (compared with the source) and no PT_LOAD covers the missing part, so gdb
#    cannot read there ("Cannot access memory"), rather than reading zeros;
#  - a file cut while mounted: a read past the new end fails with EIO, never zeros.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores qemu

full=$(mf files.qemu)
described=$(python3 - "$full" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
print(max(p[2] + p[5] for p in ph if p[0] in (1, 4)))
PY
)
[ "$described" -gt 0 ] || fail "cannot read the core's program headers"
cut=$TEST_TMP/cut.core

# --- 1. Cut at 1 MiB: refused, and the message starts with the truncation.
cp --reflink=auto "$full" "$cut"
truncate -s 1048576 "$cut"
mp=$TEST_TMP/mp1
mkdir -p "$mp"
with_timeout 20 "$KCOREFS" mount -f "$cut" "$mp" >"$TEST_TMP/out1" 2>&1
rc=$?
msg=$(cat "$TEST_TMP/out1")
note "1 MiB cut: rc $rc: $msg"
if grep -q " $mp " /proc/mounts; then fusermount3 -u "$mp"; fail "1 MiB cut: mounted"; fi
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "1 MiB cut: rc $rc, want a quick failure"
head -1 <<<"$msg" | grep -qF "error: $cut is truncated: headers describe $described bytes, the file has 1048576" ||
  fail "1 MiB cut: the message does not start with the truncation and both sizes: $msg"
grep -qE "physical 0x[0-9a-f]+ is in the part missing from the truncated $cut \(cut at 1048576 of $described bytes\)" <<<"$msg" ||
  fail "1 MiB cut: the derivation error does not point at the missing part: $msg"

# --- 2. Cut inside the last segment, off a page boundary: mounts with what is there.
size=$(stat -c %s "$full")
m=$((size - 3 * 1048576 + 123))
cp --reflink=auto "$full" "$cut"
truncate -s "$m" "$cut"
mp=$TEST_TMP/mp2
mount_kcorefs "$cut" "$mp"
first=$(grep 'warning:' "$KCOREFS_LOG" | head -1)
note "last-segment cut: first warning: $first"
grep -qF "$cut is truncated: headers describe $described bytes, the file has $m" <<<"$first" ||
  fail "the first warning is not the truncation with both sizes: $(cat "$KCOREFS_LOG")"
python3 - "$cut" "$mp/vmcore" "$mp/kcore" "$described" "$(mf page_offset_base)" <<'PY' >"$TEST_TMP/addrs" || fail "the views do not serve exactly the bytes the truncated file has"
import struct, sys
def loads(path):
    f = open(path, "rb"); eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
    f.seek(phoff)
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    return f, [p for p in ph if p[0] == 1]
src, sl = loads(sys.argv[1])
size = src.seek(0, 2)
dm = int(sys.argv[5], 16)
present, missing = [], []  # physical ranges
for p in sl:
    have = max(0, min(p[5], size - p[2]))
    if have: present.append((p[4], p[4] + have, p[2]))
    if have < p[5]: missing.append((p[4] + have, p[4] + p[5]))
assert missing, "the cut left nothing missing"
def check(view, key):
    f, vl = loads(view)
    for lo, hi in missing:
        for p in vl:
            a = p[4] if key == "p" else p[3] - dm
            if p[4] != 2**64 - 1 and a < hi and lo < a + p[6]:
                sys.exit("%s PT_LOAD paddr %#x memsz %#x covers missing [%#x, %#x)" % (view, p[4], p[6], lo, hi))
    # The last 1 MiB before the cut, byte for byte, through the view's own headers.
    lo, hi, off = present[-1]
    lo = max(lo, hi - (1 << 20))
    for p in vl:
        if p[4] == 2**64 - 1 or p[0] != 1: continue
        if p[4] <= lo and hi <= p[4] + p[5]:
            f.seek(p[2] + lo - p[4]); got = f.read(hi - lo)
            src.seek(off + lo - present[-1][0]); want = src.read(hi - lo)
            if got != want: sys.exit("%s: bytes at physical [%#x, %#x) differ from the source" % (view, lo, hi))
            break
    else:
        sys.exit("%s: no PT_LOAD holds physical [%#x, %#x)" % (view, lo, hi))
check(sys.argv[2], "p")
check(sys.argv[3], "v")
lo, hi = missing[-1]
print("%#x %#x" % (dm + present[-1][1] - 8, dm + lo + 0x1000))
PY
read -r good_va bad_va <"$TEST_TMP/addrs"
out=$(with_timeout 60 gdb -nx -batch -c "$mp/kcore" -ex "x/gx $good_va" -ex "x/gx $bad_va" 2>&1)
note "gdb: $out"
grep -qE "^$good_va:[[:space:]]+0x[0-9a-f]+" <<<"$out" || fail "gdb cannot read the present address $good_va: $out"
grep -qF "Cannot access memory at address $bad_va" <<<"$out" ||
  fail "gdb read the missing address $bad_va instead of failing: $out"
unmount_kcorefs "$mp" "$KCOREFS_PID"

# --- 3. Cut while mounted: reads past the new end are EIO, not zeros.
cp --reflink=auto "$full" "$cut"
mp=$TEST_TMP/mp3
mount_kcorefs "$cut" "$mp"
vsize=$(stat -c %s "$mp/vmcore")
truncate -s $((size / 2)) "$cut"
if out=$(with_timeout 30 dd if="$mp/vmcore" of=/dev/null bs=4096 skip=$((vsize / 4096 - 16)) count=8 iflag=direct 2>&1); then
  fail "a read of vmcore past the source's new end succeeded: $out"
fi
grep -q "Input/output error" <<<"$out" || fail "the read failed, but not with EIO: $out"
echo "PASS"
