#!/usr/bin/env bash
# The unprivileged mode (docs/sidecar.md): `kcorefs premount` (root) mounts /dev/fuse and
# hands the descriptor over a unix socket (SCM_RIGHTS) to `kcorefs mount --fuse-fd-socket`
# run as nobody with no capabilities at all, in a mount namespace where /dev/fuse is
# /dev/null (it could not open the device itself). The files equal `kcorefs export`'s
# views; the server's CapEff is 0; the socket is 0600 and nobody's. A premount nobody takes
# unmounts after --wait. Killing the server: reads fail with ENOTCONN at once (no hang).
source "$(dirname "$0")/functions.sh"
requires command -v setpriv
requires command -v unshare
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
chmod 711 "$TEST_TMP"; chmod 644 "$core"
mp=$TEST_TMP/mnt sock=$TEST_TMP/fuse.sock
mkdir -p "$mp"
cleanup_fn "umount -l '$mp' 2>/dev/null"

# Nobody connects: the premount gives up and leaves nothing mounted.
if "$KCOREFS" premount --wait 1 -o uid=65534,gid=65534 "$mp" "$sock" 2>"$TEST_TMP/pre0.log"; then
  fail "premount with no server succeeded"
fi
grep -q "no server connected" "$TEST_TMP/pre0.log" || fail "premount timeout message: $(cat "$TEST_TMP/pre0.log")"
! grep -q " $mp fuse" /proc/mounts || fail "premount left $mp mounted"
if "$KCOREFS" premount -o allow_other "$mp" "$sock" 2>"$TEST_TMP/pre1.log"; then fail "premount allow_other alone accepted"; fi

"$KCOREFS" premount --wait 30 -o uid=65534,gid=65534,allow_other,default_permissions "$mp" "$sock" \
  >"$TEST_TMP/pre.log" 2>&1 &
pre=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no socket: $(cat "$TEST_TMP/pre.log")"
[ "$(stat -c '%a %u' "$sock")" = "600 65534" ] || fail "socket is $(stat -c '%a %u' "$sock"), want 600 65534"
unshare -m sh -c "mount --bind /dev/null /dev/fuse && exec setpriv --reuid=65534 --regid=65534 \
  --clear-groups --inh-caps=-all --bounding-set=-all '$KCOREFS' mount -f --fuse-fd-socket '$sock' '$core'" \
  >"$TEST_TMP/srv.log" 2>&1 &
srv=$!
cleanup_fn "kill $srv 2>/dev/null"
for _ in $(seq 1 200); do [ -e "$mp/vmcore" ] && break; sleep 0.05; done
[ -e "$mp/vmcore" ] || fail "no vmcore: $(cat "$TEST_TMP/pre.log" "$TEST_TMP/srv.log")"
wait "$pre" || fail "premount failed: $(cat "$TEST_TMP/pre.log")"
grep -q "serving .* at /dev/fd/" "$TEST_TMP/srv.log" || fail "server log: $(cat "$TEST_TMP/srv.log")"
server=$(pgrep -u 65534 -f -- "--fuse-fd-socket $sock" | head -1)
[ -n "$server" ] || fail "no server process as nobody"
[ "$(awk '/^CapEff/ {print $2}' "/proc/$server/status")" = 0000000000000000 ] ||
  fail "the server has capabilities: $(grep Cap "/proc/$server/status")"
for v in vmcore vmcoreinfo; do
  "$KCOREFS" export "$core" --view "$v" -o "$TEST_TMP/$v.ref" 2>/dev/null || fail "export $v"
  cmp -s "$mp/$v" "$TEST_TMP/$v.ref" || fail "$v through the passed descriptor differs from export's"
done
[ "$(stat -c %U "$mp/vmcore")" = nobody ] || fail "files owned by $(stat -c %U "$mp/vmcore")"
if echo x >>"$mp/vmcore" 2>/dev/null; then fail "root appended to vmcore"; fi

kill "$srv"
for _ in $(seq 1 100); do process_running "$srv" || break; sleep 0.05; done
t0=$(date +%s%N)
if with_timeout 5 cat "$mp/vmcore" >/dev/null 2>"$TEST_TMP/dead.err"; then fail "read after the server died succeeded"; fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "Transport endpoint is not connected" "$TEST_TMP/dead.err" || fail "dead mount error: $(cat "$TEST_TMP/dead.err")"
[ "$ms" -lt 5000 ] || fail "the read took $ms ms to fail"
umount -l "$mp" || fail "umount $mp"
echo ok
