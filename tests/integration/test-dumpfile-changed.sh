#!/usr/bin/env bash
# A dump modified while mounted is never served as a mix of old and new bytes: within a
# second of the change, reads of a file opened before it fail with EIO (spliced and copied
# reads alike), new opens fail with EIO, the log says which file changed, how (size,
# mtime) and to remount, and `stats` says source_changed 1. A remount serves the new bytes.
# Both an in-place write (mtime) and a truncation (size) are caught.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
cp "$core" "$TEST_TMP/pristine"

# check_change HOW: mount a fresh copy, open vmcore, change the dump (HOW: write|truncate)
# at a page no read has touched, then read there.
check_change() {
  local how=$1 mp=$TEST_TMP/mp-$1
  cp "$TEST_TMP/pristine" "$core"
  mount_kcorefs "$core" "$mp"
  sleep 0.1  # a later mtime than the copy's, whatever the file system's granularity
  python3 - "$how" "$core" "$mp/vmcore" <<'PY' || fail "$how: the changed dump was served"
import errno, os, struct, sys, time
how, src, view = sys.argv[1:]
def loads(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
        f.seek(phoff)
        ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    return [p for p in ph if p[0] == 1 and p[5] > 0]
# The last RAM page of the source's last PT_LOAD, and where the vmcore view has it.
s = max(loads(src), key=lambda p: p[2])
paddr = s[4] + (s[5] - 1) // 4096 * 4096
src_off = s[2] + paddr - s[4]
v = next(p for p in loads(view) if p[4] <= paddr < p[4] + p[5])
view_off = v[2] + paddr - v[4]
fd = os.open(view, os.O_RDONLY)          # opened before the change: pins the old header
new = b"CHANGED!" * 512
if how == "write":
    with open(src, "r+b") as f: f.seek(src_off); f.write(new)
else:
    os.truncate(src, src_off)
time.sleep(1.2)                           # past the once-a-second re-check
for size in (1 << 20, 4096):              # spliced (>= 64 KiB), then copied
    try:
        got = os.pread(fd, size, view_off)
    except OSError as e:
        if e.errno != errno.EIO: sys.exit("%s: read of %d: %s, want EIO" % (how, size, e))
        continue
    sys.exit("%s: read of %d bytes at %#x after the change returned %s bytes (%s)" %
             (how, size, view_off, len(got), "new ones" if got[:8] == new[:8] else "old ones"))
os.close(fd)
try:
    open(view, "rb").read(64)
    sys.exit("%s: a new open after the change succeeded" % how)
except OSError as e:
    if e.errno != errno.EIO: sys.exit("%s: a new open: %s, want EIO" % (how, e))
PY
  grep -q "^source_changed 1$" "$mp/stats" || fail "$how: stats: $(cat "$mp/stats")"
  local want="$core changed while mounted ("
  grep -qF "$want" "$KCOREFS_LOG" || fail "$how: no '$want' in the log: $(cat "$KCOREFS_LOG")"
  grep -qF "remount to see the new contents" "$KCOREFS_LOG" || fail "$how: the log does not say to remount"
  case $how in
    write) grep -q "changed while mounted (mtime " "$KCOREFS_LOG" || fail "write: the log does not name the mtime" ;;
    truncate) grep -q "changed while mounted (size [0-9]* -> [0-9]* bytes, mtime" "$KCOREFS_LOG" ||
                fail "truncate: the log does not name the size" ;;
  esac
  note "$how: $(grep -F "$want" "$KCOREFS_LOG" | head -1)"
  unmount_kcorefs "$mp" "$KCOREFS_PID"
}

check_change write
# The remount sees what is there now (the changed page is the source's bytes).
mp=$TEST_TMP/remount
mount_kcorefs "$core" "$mp"
"$KCOREFS" export "$core" -o "$TEST_TMP/now.vmcore" || fail "export of the changed dump failed"
cmp "$TEST_TMP/now.vmcore" "$mp/vmcore" || fail "the remount does not serve the dump as it is now"
grep -qF "CHANGED!" "$mp/vmcore" || fail "the remount does not serve the new bytes"
grep -q "^source_changed 0$" "$mp/stats" || fail "remount: stats: $(cat "$mp/stats")"
unmount_kcorefs "$mp" "$KCOREFS_PID"

check_change truncate
echo ok
