#!/usr/bin/env bash
# The nbd backend on a live export: stock `nbdkit -r file` serving a /proc/kcore-shaped core
# (NT_TASKSTRUCT, tests/tools/mkcore.py kcore), as `nbdkit -r file /proc/kcore` on a target
# does. The mount must take it as live (info, stats), serve it direct_io, and never serve a
# cached byte older than cache_ttl: a byte changed in the source is seen through a
# descriptor opened before the change once cache_ttl has passed. The same export forced
# immutable (-o live=no) is the control: there the cached old byte stays.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
KCORE_DIR=$TEST_TMP/shm
mount_tmpfs "$KCORE_DIR"
make_cores kcore
src=$(mf files.kcore)
sock=$TEST_TMP/kcore.sock
nbdkit -r -U "$sock" -P "$TEST_TMP/nbdkit.pid" file "$src" || fail "nbdkit did not start"
cleanup_fn "kill \$(cat '$TEST_TMP/nbdkit.pid') 2>/dev/null"
uri="nbd+unix:///?socket=$sock"

live=$TEST_TMP/live fixed=$TEST_TMP/fixed
mount_kcorefs "$uri" "$live" -o cache_ttl=0.3,request_timeout=2,timeout=5
mount_kcorefs "$uri" "$fixed" -o live=no
"$KCOREFS" info "$live" | grep -q '^backend nbd' || fail "not the nbd backend: $("$KCOREFS" info "$live")"
grep -qx 'nbd_live 1' "$live/stats" || fail "the /proc/kcore-shaped export is not live: $(cat "$live/stats")"
grep -qx 'nbd_live 0' "$fixed/stats" || fail "-o live=no did not make it immutable"
check_readelf "$live/vmcore" vmcore
check_readelf "$live/kcore" kcore

python3 - "$src" "$live/vmcore" "$fixed/vmcore" <<'PY' || fail "freshness check failed (above)"
import os, struct, sys, time
src, live, fixed = sys.argv[1:]
NOADDR = (1 << 64) - 1
def loads(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        n, = struct.unpack_from("<H", eh, 56)
        f.seek(phoff)
        ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(n)]
    return [p for p in ph if p[0] == 1 and p[4] != NOADDR and p[5] >= 8192]
# The largest RAM segment, a page well below the kernel image (whose physical pages the
# kcore shape also maps a second time, at other file offsets).
s = max(loads(src), key=lambda p: p[5])
pa = s[4] + 0x10000
v = next(p for p in loads(live) if p[4] <= pa < p[4] + p[5])
src_off = s[2] + (pa - s[4])
view_off = v[2] + (pa - v[4])
lf = os.open(live, os.O_RDONLY); ff = os.open(fixed, os.O_RDONLY)
old = os.pread(lf, 16, view_off)
assert old == os.pread(ff, 16, view_off), "live and fixed mounts disagree"
with open(src, "r+b") as f:
    f.seek(src_off); f.write(bytes(b ^ 0xff for b in old))
time.sleep(0.5)  # past cache_ttl
new_live = os.pread(lf, 16, view_off)
new_fixed = os.pread(ff, 16, view_off)
print("old %s live %s fixed %s" % (old.hex(), new_live.hex(), new_fixed.hex()))
assert new_live == bytes(b ^ 0xff for b in old), "the live mount served a byte older than cache_ttl"
assert new_fixed == old, "control: the immutable mount should still serve its cached byte"
PY
# A stalled server (SIGSTOP): a fresh open of a live view asks the server for the layout;
# it must fail within request_timeout (2 s here, plus slack), not hang; after SIGCONT it
# works again.
pid=$(cat "$TEST_TMP/nbdkit.pid")
kill -STOP "$pid"
t0=$(date +%s.%N)
if timeout 60 head -c 64 "$live/vmcore" >/dev/null 2>"$TEST_TMP/stalled-open.err"; then
  kill -CONT "$pid"; fail "an open during the stall succeeded: was the server stopped?"
fi
t1=$(date +%s.%N)
kill -CONT "$pid"
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print('open during the stall failed after %.1f s: %s' % (t, open(sys.argv[3]).read().strip())); sys.exit(0 if t < 9 else 1)" \
  "$t0" "$t1" "$TEST_TMP/stalled-open.err" || fail "an open during the stall took too long (request_timeout=2)"
ok=
for i in $(seq 1 30); do
  if head -c 64 "$live/vmcore" | cmp -s - <(head -c 64 "$fixed/vmcore"); then ok=1; break; fi
  sleep 0.5
done
[ -n "$ok" ] || fail "the live view did not come back after the server resumed"
echo ok
