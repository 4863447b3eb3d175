#!/usr/bin/env bash
# contrib/systemd's agent units, checked and run: `systemd-analyze verify` accepts them, and
# the service's own ExecStart, under systemd-socket-activate on the socket unit's
# ListenStream (moved into the test's directory), serves what
# kcorefs mounts: the plugin from this build, the unit's source=live replaced by a dump (no
# /proc/kcore here), every other word as written. The kcore view through the activated agent
# equals a local mount's; a TCP client is refused by the same command line.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/integration/nbd-lib.sh"
requires command -v systemd-analyze
requires command -v systemd-socket-activate
requires nbdkit --version
units=$SRCDIR/contrib/systemd
PLUGIN=$(dirname "$(dirname "$KCOREFS")")/nbdkit/nbdkit-kcorefs-plugin.so
[ -f "$PLUGIN" ] || fail "no plugin at $PLUGIN"
systemd-analyze verify "$units/kcorefs-agent.socket" "$units/kcorefs-agent.service" \
  >"$TEST_TMP/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$TEST_TMP/verify.log")"

key() { sed -n "s/^$2=//p" "$units/$1" | head -1; }   # key UNIT KEY
listen=$(key kcorefs-agent.socket ListenStream)
mode=$(key kcorefs-agent.socket SocketMode)
exec_start=$(key kcorefs-agent.service ExecStart)
[ "$listen" = /run/kcorefs/kcore.sock ] || fail "ListenStream is '$listen'"
[[ $exec_start == *" kcorefs source=live view=kcore"* ]] || fail "ExecStart is '$exec_start'"

core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mount_kcorefs "$core" "$TEST_TMP/local"
sock=$TEST_TMP/kcore.sock
# The unit's words, with this build's plugin and the dump for the live kernel.
read -r -a cmd <<<"${exec_start/ kcorefs / $PLUGIN }"
cmd=("${cmd[@]/source=live/source=$core}")
(exec systemd-socket-activate -l "$sock" "${cmd[@]}") >"$TEST_TMP/agent.log" 2>&1 &
agent=$!
cleanup_fn "stop_pid $agent"
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no socket: $(cat "$TEST_TMP/agent.log")"
chmod "$mode" "$sock"   # what systemd's SocketMode= does (systemd-socket-activate has no such option)
mount_kcorefs "nbd+unix:///?socket=$sock" "$TEST_TMP/remote" -o connections=1
cmp -s -n 65536 "$TEST_TMP/remote/kcore" "$TEST_TMP/local/kcore" || fail "kcore headers differ"
for v in vmcore vmcoreinfo; do
  cmp -s "$TEST_TMP/remote/$v" "$TEST_TMP/local/$v" || fail "$v through the activated agent differs"
done
grep -q "nbd+unix" "$TEST_TMP/remote/stats" || fail "stats: $(cat "$TEST_TMP/remote/stats")"
unmount_kcorefs "$TEST_TMP/remote" "$KCOREFS_PID"

# The same command on a TCP socket: the plugin refuses the client (no TLS).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
systemd-socket-activate -l "127.0.0.1:$port" "${cmd[@]}" >"$TEST_TMP/tcp.log" 2>&1 &
tcp=$!
cleanup_fn "stop_pid $tcp"
sleep 0.5
if with_timeout 30 nbdinfo --size "nbd://127.0.0.1:$port/" >/dev/null 2>&1; then
  fail "the unit's command served plain TCP"
fi
for _ in $(seq 1 50); do grep -q "a TCP client without TLS" "$TEST_TMP/tcp.log" && break; sleep 0.1; done
grep -q "a TCP client without TLS" "$TEST_TMP/tcp.log" || fail "tcp refusal not logged: $(cat "$TEST_TMP/tcp.log")"
echo ok
