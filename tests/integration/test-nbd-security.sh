#!/usr/bin/env bash
# The nbd backend's security rules:
#   (a) plain nbd:// TCP to a non-loopback address is refused before any packet is sent,
#       unless -o insecure (checked inside a network namespace this test makes: a veth pair
#       with private addresses, a listener that logs every connection, the namespace's TCP
#       counters; never an outside address);
#   (b) TLS-PSK (nbdkit --tls=require --tls-psk): nbds:// with the key in the URI or in
#       -o tls_psk_file/tls_username mounts byte-equal views; a wrong key, an unknown user
#       and plain nbd:// against a TLS-only server fail with a message naming TLS and the URI;
#   (c) a unix socket's permissions decide who connects: a 0600 root socket refuses the
#       nobody user (kcorefs info and mount, nbdinfo), a 0666 one lets it connect.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/nbd-lib.sh"
requires ip -V
requires nsenter --version
make_cores qemu
core=$(mf files.qemu)
local_mp=$TEST_TMP/local
mount_kcorefs "$core" "$local_mp"

# --- (a) plain TCP to a non-loopback address ------------------------------------------
ns=kcorefs-t$$
ip netns add "$ns" || fail "cannot create network namespace $ns"
# At exit: whatever this test left running in its namespace (only this test starts
# processes there), then the namespace.
cleanup_fn "for p in \$(ip netns pids '$ns'); do kill \$p; done; ip netns del '$ns'"
x=$(($$ % 200 + 20))
srv_ip=10.251.$x.2
ip -n "$ns" link set lo up
ip -n "$ns" link add kt0 type veth peer name kt1 || fail "cannot create a veth pair in $ns"
ip -n "$ns" addr add "10.251.$x.1/24" dev kt0
ip -n "$ns" addr add "$srv_ip/24" dev kt1
ip -n "$ns" link set kt0 up
ip -n "$ns" link set kt1 up
ns_run=(nsenter --net="/run/netns/$ns")
in_ns() { "${ns_run[@]}" "$@"; }
# A kcorefs that runs in the namespace's network but the test's mount namespace (nsenter
# execs it: the pid is kcorefs'), for mount_kcorefs.
cat >"$TEST_TMP/kcorefs-in-ns" <<EOF
#!/bin/sh
exec nsenter --net=/run/netns/$ns "$KCOREFS" "\$@"
EOF
chmod +x "$TEST_TMP/kcorefs-in-ns"
tcp_opens() { in_ns cat /proc/net/snmp | awk '$1 == "Tcp:" && $2 ~ /^[0-9]+$/ { print $6 }'; }

lport=$((20000 + $$ % 20000))
llog=$TEST_TMP/listener.log
: >"$llog"
# nsenter execs python: $! is the listener itself (a function in the background would be a
# subshell, and stopping it would leave the listener, holding the test's output, behind).
"${ns_run[@]}" /usr/bin/python3 - "$srv_ip" "$lport" "$llog" "$TEST_TMP/listener.ready" <<'PY' >/dev/null 2>&1 &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
open(sys.argv[4], "w").close()
while True:
    c, peer = s.accept()
    with open(sys.argv[3], "a") as f:
        f.write("connection from %s:%d\n" % peer)
    c.close()
PY
lpid=$!
cleanup_fn "stop_pid $lpid"
for i in $(seq 1 100); do [ -e "$TEST_TMP/listener.ready" ] && break; sleep 0.1; done
[ -e "$TEST_TMP/listener.ready" ] || fail "the listener in $ns did not start"

mkdir -p "$TEST_TMP/m-plain"
before=$(tcp_opens)
for cmd in mount info; do
  rc=0
  if [ $cmd = mount ]; then
    with_timeout 30 "${ns_run[@]}" "$KCOREFS" mount "nbd://$srv_ip:$lport/" "$TEST_TMP/m-plain" >"$TEST_TMP/plain.out" 2>&1 || rc=$?
  else
    with_timeout 30 "${ns_run[@]}" "$KCOREFS" info "nbd://$srv_ip:$lport/" >"$TEST_TMP/plain.out" 2>&1 || rc=$?
  fi
  msg=$(cat "$TEST_TMP/plain.out")
  [ "$rc" = 1 ] || fail "kcorefs $cmd nbd://$srv_ip:$lport/: exit $rc, want 1: $msg"
  grep -qF "refusing plain-text NBD to $srv_ip" <<<"$msg" || fail "kcorefs $cmd: message lacks 'refusing plain-text NBD to $srv_ip': $msg"
  grep -qF "nbds://" <<<"$msg" || fail "kcorefs $cmd: the refusal does not name nbds://: $msg"
  grep -qF "insecure" <<<"$msg" || fail "kcorefs $cmd: the refusal does not name -o insecure: $msg"
  note "refused ($cmd): $msg"
done
# A name is refused as it stands (it is not resolved first: only "localhost" is loopback).
rc=0
with_timeout 30 "${ns_run[@]}" "$KCOREFS" info "nbd://kcorefs-test.invalid:$lport/" >"$TEST_TMP/plain.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qF "refusing plain-text NBD to kcorefs-test.invalid" "$TEST_TMP/plain.out" ||
  fail "kcorefs info nbd://kcorefs-test.invalid/: exit $rc: $(cat "$TEST_TMP/plain.out")"
! mounted "$TEST_TMP/m-plain" || fail "a refused plain-text mount is mounted"
sleep 0.5
[ ! -s "$llog" ] || fail "kcorefs connected although it refused: $(cat "$llog")"
after=$(tcp_opens)
[ "$after" = "$before" ] || fail "TCP active opens in $ns went from $before to $after during the refusals"

# With -o insecure it connects (the listener is no NBD server: the mount then fails).
rc=0
with_timeout 60 "${ns_run[@]}" "$KCOREFS" mount -o insecure,connect_timeout=5 "nbd://$srv_ip:$lport/" \
  "$TEST_TMP/m-plain" >"$TEST_TMP/insecure.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || { fusermount3 -u "$TEST_TMP/m-plain"; fail "mounted a listener that speaks no NBD"; }
grep -q "connection from 10.251.$x." "$llog" || fail "-o insecure: the listener saw no connection ($(cat "$TEST_TMP/insecure.out"))"
grep -qF "nbd://$srv_ip:$lport/" "$TEST_TMP/insecure.out" || fail "-o insecure, no NBD server: the error names no URI: $(cat "$TEST_TMP/insecure.out")"
[ "$(tcp_opens)" -gt "$after" ] || fail "-o insecure: no TCP active open counted"
# ... and against real nbdkit in the namespace the mount works and is byte-equal.
nport=$((lport + 1))
NBDKIT_PREFIX="nsenter --net=/run/netns/$ns" start_nbdkit ns -r -i "$srv_ip" -p "$nport" file "$core"
KCOREFS_REAL=$KCOREFS
KCOREFS=$TEST_TMP/kcorefs-in-ns mount_kcorefs "nbd://$srv_ip:$nport/" "$TEST_TMP/m-insecure" -o insecure
KCOREFS=$KCOREFS_REAL
same_core "$local_mp/vmcore" "$TEST_TMP/m-insecure/vmcore" "-o insecure over the namespace: vmcore"
same_core "$local_mp/vmcoreinfo" "$TEST_TMP/m-insecure/vmcoreinfo" "-o insecure over the namespace: vmcoreinfo"
unmount_kcorefs "$TEST_TMP/m-insecure" "$KCOREFS_PID"

# --- (b) TLS with a pre-shared key ----------------------------------------------------
psk=$TEST_TMP/keys.psk bad=$TEST_TMP/wrong.psk
( umask 077
  /usr/bin/python3 -c 'import os; print("alice:" + os.urandom(32).hex())' >"$psk"
  /usr/bin/python3 -c 'import os; print("alice:" + os.urandom(32).hex())' >"$bad" )
port=$(free_port)
start_nbdkit tls --tls=require --tls-psk="$psk" -i 127.0.0.1 -p "$port" -r file "$core"
n=0
for cfg in "nbds://alice@127.0.0.1:$port/?tls-psk-file=$psk|" \
  "nbds://127.0.0.1:$port/|tls_psk_file=$psk,tls_username=alice"; do
  uri=${cfg%%|*} opts=${cfg#*|}
  n=$((n + 1))
  mount_kcorefs "$uri" "$TEST_TMP/m-tls$n" ${opts:+-o "$opts"}
  for v in vmcore vmcoreinfo; do
    same_core "$local_mp/$v" "$TEST_TMP/m-tls$n/$v" "TLS-PSK $uri${opts:+ -o $opts}: $v"
  done
  b=$(stat_of "$TEST_TMP/m-tls$n" nbd_bytes)
  [[ $b =~ ^[0-9]+$ ]] && [ "$b" -gt 0 ] || fail "TLS-PSK: nbd_bytes is '$b'"
  unmount_kcorefs "$TEST_TMP/m-tls$n" "$KCOREFS_PID"
done
# must_fail NAME URI [mount options]: kcorefs mount exits non-zero within 30 s, mounts
# nothing, and its message names TLS and the URI (without the query: a key file is no secret,
# but the message may print the URI either way).
must_fail() {
  local name=$1 uri=$2 mp=$TEST_TMP/m-$1 rc=0
  shift 2
  mkdir -p "$mp"
  with_timeout 30 "$KCOREFS" mount "$@" "$uri" "$mp" >"$TEST_TMP/$name.out" 2>&1 || rc=$?
  local msg
  msg=$(cat "$TEST_TMP/$name.out")
  [ "$rc" != 0 ] || { fusermount3 -u "$mp"; fail "$name: kcorefs mounted $uri"; }
  [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "$name: kcorefs mount $uri hung"
  ! mounted "$mp" || fail "$name: left a mount"
  grep -qF "TLS" <<<"$msg" || fail "$name: the message does not name TLS: $msg"
  grep -qF "${uri%%\?*}" <<<"$msg" || fail "$name: the message does not name the URI ${uri%%\?*}: $msg"
  note "$name: $msg"
}
must_fail wrong-key "nbds://alice@127.0.0.1:$port/?tls-psk-file=$bad"
must_fail wrong-key-opt "nbds://127.0.0.1:$port/" -o "tls_psk_file=$bad,tls_username=alice"
must_fail unknown-user "nbds://bob@127.0.0.1:$port/?tls-psk-file=$psk"
must_fail plain-to-tls "nbd://127.0.0.1:$port/"

# --- (c) unix socket permissions ------------------------------------------------------
# Unprivileged FUSE mounts do not work here (/dev/fuse is root's, 0600, and libfuse opens it
# directly), so the nobody user's kcorefs is checked where it opens the source: `info`, and
# `mount`, which opens the source before it mounts (a connected source gets as far as the
# /dev/fuse error). nbdinfo is the stock client's view of the same socket.
pub=$(mktemp -d /tmp/kcorefs-nbd-perm.XXXXXX)
cleanup_fn "rm -rf '$pub'"
chmod 0755 "$pub"
cp "$KCOREFS" "$pub/kcorefs"   # the build tree may not be reachable by nobody
chmod 0755 "$pub/kcorefs"
mkdir -m 0777 "$pub/mp"
psock=$pub/nbd.sock
start_nbdkit perm -r -U "$psock" file "$core"
chown root:root "$psock"
as_nobody() { with_timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
puri=$(nbd_unix_uri "$psock")
chmod 0600 "$psock"
rc=0; as_nobody "$pub/kcorefs" info "$puri" >"$TEST_TMP/perm.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "nobody read a 0600 root socket with kcorefs info"
grep -qi "permission denied" "$TEST_TMP/perm.out" || fail "kcorefs info as nobody, 0600 socket: no permission message: $(cat "$TEST_TMP/perm.out")"
grep -qF "$psock" "$TEST_TMP/perm.out" || fail "kcorefs info as nobody: the message names no socket: $(cat "$TEST_TMP/perm.out")"
note "0600 socket, nobody, info: $(cat "$TEST_TMP/perm.out")"
rc=0; as_nobody "$pub/kcorefs" mount "$puri" "$pub/mp" >"$TEST_TMP/perm-mount.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || { fusermount3 -u "$pub/mp"; fail "nobody mounted a 0600 root socket"; }
grep -qi "permission denied" "$TEST_TMP/perm-mount.out" && grep -qF "$psock" "$TEST_TMP/perm-mount.out" ||
  fail "kcorefs mount as nobody, 0600 socket: no permission message naming the socket: $(cat "$TEST_TMP/perm-mount.out")"
grep -q "/dev/fuse" "$TEST_TMP/perm-mount.out" && fail "kcorefs mount as nobody got to FUSE through a 0600 socket"
rc=0; as_nobody nbdinfo --size "$puri" >"$TEST_TMP/perm-nbdinfo.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "nobody connected to a 0600 root socket with nbdinfo"
grep -qi "permission denied" "$TEST_TMP/perm-nbdinfo.out" || fail "nbdinfo as nobody: $(cat "$TEST_TMP/perm-nbdinfo.out")"
# The control: the same socket at 0666 lets nobody in (so the refusal above was the mode).
chmod 0666 "$psock"
as_nobody "$pub/kcorefs" info "$puri" >"$TEST_TMP/perm-open.out" 2>&1 ||
  fail "kcorefs info as nobody, 0666 socket: $(cat "$TEST_TMP/perm-open.out")"
grep -qE "\(backend nbd[,)]" "$TEST_TMP/perm-open.out" || fail "kcorefs info as nobody, 0666 socket: $(head -3 "$TEST_TMP/perm-open.out")"
[ "$(as_nobody nbdinfo --size "$puri")" = "$(stat -c %s "$core")" ] || fail "nbdinfo as nobody, 0666 socket: wrong size"
echo ok
