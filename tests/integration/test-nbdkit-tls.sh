#!/usr/bin/env bash
# The agent over TCP as docs/agent.md sets it up: `nbdkit -r --tls=require --tls-psk=FILE
# -i 127.0.0.1 -p PORT kcorefs-plugin source=DUMP view=vmcore`. A client with the right
# PSK (nbdcopy 'nbds://alice@127.0.0.1:PORT/?tls-psk-file=F') copies bytes equal to a
# kcorefs mount's vmcore; a wrong key, an unknown user and plain NBD without TLS are all
# refused, and nbdkit's log says the TLS handshake failed.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires nbdkit --version
requires nbdcopy --version
requires nbdinfo --version
PLUGIN=${NBDKIT_PLUGIN:-$(dirname "$(dirname "$KCOREFS")")/nbdkit/nbdkit-kcorefs-plugin.so}
[ -f "$PLUGIN" ] || fail "no plugin at $PLUGIN"
make_cores qemu
dump=$(mf files.qemu)
mount_kcorefs "$dump" "$TEST_TMP/m"

# The PSK file: "username:hexkey", 32 random bytes; readable by its owner only.
psk=$TEST_TMP/keys.psk
(umask 077; echo "alice:$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$psk")
wrong=$TEST_TMP/wrong.psk
(umask 077; echo "alice:$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$wrong")
stranger=$TEST_TMP/stranger.psk
(umask 077; sed 's/^alice:/mallory:/' "$psk" >"$stranger")

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$TEST_TMP/nbdkit.log
nbdkit -f -r --tls=require --tls-psk="$psk" -i 127.0.0.1 -p "$port" -P "$TEST_TMP/pid" \
  "$PLUGIN" source="$dump" view=vmcore >"$log" 2>&1 &
pid=$!
cleanup_fn "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
for i in $(seq 1 200); do
  [ -s "$TEST_TMP/pid" ] && break
  process_running "$pid" || { cat "$log" >&2; fail "nbdkit exited before serving"; }
  sleep 0.05
done
[ -s "$TEST_TMP/pid" ] || fail "nbdkit not serving after 10 s: $(cat "$log")"

uri="nbds://alice@127.0.0.1:$port/?tls-psk-file=$psk"
info=$(with_timeout 30 nbdinfo --json "$uri") || fail "nbdinfo over TLS failed: $(cat "$log")"
python3 - "$info" "$dump" <<'PY' || fail "TLS export: wrong description or size"
import json, sys
e = json.loads(sys.argv[1])["exports"][0]
want = "kcorefs vmcore of %s (immutable)" % sys.argv[2]
assert e["description"] == want, (e["description"], want)
assert e["is_read_only"], e
PY
with_timeout 300 nbdcopy "$uri" "$TEST_TMP/out" || fail "nbdcopy over TLS-PSK failed: $(tail -5 "$log")"
cmp "$TEST_TMP/out" "$TEST_TMP/m/vmcore" || fail "the bytes over TLS differ from the mount's vmcore"
note "TLS-PSK: $(stat -c %s "$TEST_TMP/out") bytes equal to the mount's vmcore"
rm -f "$TEST_TMP/out"

# kcorefs's nbd backend as the client (once it is in the build): the mount over TLS-PSK
# holds the dump's pages; a wrong key fails the mount with a message naming TLS and the URI.
if "$KCOREFS" backends | grep -q '^  nbd '; then
  mount_kcorefs "$uri" "$TEST_TMP/m-tls"
  "$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" "$dump" "$TEST_TMP/m-tls/vmcore" ||
    fail "kcorefs mount over TLS-PSK: pages differ from the dump's"
  # The consumers on the far side of the agent.
  check_readelf "$TEST_TMP/m-tls/vmcore" vmcore
  check_crash_osrelease "$TEST_TMP/m-tls/vmcore" "$(mf osrelease)"
  check_drgn_kernel "$TEST_TMP/m-tls/vmcore" "$(mf osrelease)"
  check_makedumpfile_dmesg "$TEST_TMP/m-tls/vmcore" "$(mf dmesg_marker)"
  badu="nbds://alice@127.0.0.1:$port/?tls-psk-file=$wrong"
  mkdir -p "$TEST_TMP/m-bad"
  if with_timeout 60 "$KCOREFS" mount -f "$badu" "$TEST_TMP/m-bad" >"$TEST_TMP/bad-mount.out" 2>&1; then
    fusermount3 -u "$TEST_TMP/m-bad" 2>/dev/null
    fail "kcorefs mount with a wrong PSK succeeded"
  fi
  grep -q "TLS" "$TEST_TMP/bad-mount.out" && grep -qF "127.0.0.1:$port" "$TEST_TMP/bad-mount.out" ||
    fail "the wrong-PSK mount's message names neither TLS nor the URI: $(cat "$TEST_TMP/bad-mount.out")"
  note "wrong PSK: $(head -c 300 "$TEST_TMP/bad-mount.out")"
else
  note "this build has no nbd backend: kcorefs mount over TLS not checked here"
fi

# Refused: a wrong key, a user the PSK file does not know, and plain NBD (no TLS at all).
for bad in "nbds://alice@127.0.0.1:$port/?tls-psk-file=$wrong" \
           "nbds://mallory@127.0.0.1:$port/?tls-psk-file=$stranger" \
           "nbd://127.0.0.1:$port/"; do
  if with_timeout 30 nbdcopy "$bad" "$TEST_TMP/bad.out" 2>"$TEST_TMP/bad.err"; then
    fail "nbdcopy $bad succeeded: the server must refuse it"
  fi
  [ ! -s "$TEST_TMP/bad.out" ] || fail "nbdcopy $bad wrote $(stat -c %s "$TEST_TMP/bad.out") bytes"
  note "refused $bad: $(head -c 300 "$TEST_TMP/bad.err")"
  rm -f "$TEST_TMP/bad.out"
done
grep -qi "tls" "$log" || fail "nbdkit's log says nothing of the refused TLS handshakes: $(cat "$log")"
# The server still serves the right client after the refusals.
with_timeout 60 nbdinfo --size "$uri" >/dev/null || fail "the agent stopped serving after the refusals"

# The agent started on TCP without --tls refuses every client (loopback too: any local user
# could connect), naming the fix in its log; allow_plain_tcp=1 lets them in.
source "$SRCDIR/tests/integration/nbd-lib.sh"
for allow in 0 1; do
  p2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start_nbdkit "plain$allow" -r -i 127.0.0.1 -p "$p2" "$PLUGIN" source="$dump" view=vmcore allow_plain_tcp=$allow
  if [ "$allow" = 0 ]; then
    if with_timeout 30 nbdinfo --size "nbd://127.0.0.1:$p2/" >/dev/null 2>"$TEST_TMP/plain.err"; then
      fail "the agent served a plain-text TCP client"
    fi
    grep -q "refusing 127.0.0.1: a TCP client without TLS" "$NBDKIT_LOG" ||
      fail "the agent's log does not say why: $(cat "$NBDKIT_LOG")"
    grep -q "tls=require" "$NBDKIT_LOG" || fail "the agent's log names no fix: $(cat "$NBDKIT_LOG")"
  else
    size=$(with_timeout 30 nbdinfo --size "nbd://127.0.0.1:$p2/") || fail "allow_plain_tcp=1: refused: $(cat "$NBDKIT_LOG")"
    [ "$size" = "$(stat -c %s "$TEST_TMP/m/vmcore")" ] || fail "allow_plain_tcp=1: size $size"
  fi
  stop_pid "$NBDKIT_PID"
done
echo ok
