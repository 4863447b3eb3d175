#!/usr/bin/env bash
# A server that goes away, stalls or fails reads under a mounted nbd source:
#   * killed: a read of a page not cached fails with EIO within the read deadline
#     (-o timeout=5), the mount stays (listed, `ls` works, the daemon runs); nbdkit restarted
#     on the same socket: reads succeed again within 15 s, byte-equal, nbd_reconnects >= 1;
#   * stalled (pause filter after the mount): EIO within the deadline, not when the server
#     wakes; resumed: reads work again;
#   * stalled from the start (delay filter, 60 s per read): the mount fails well before 60 s;
#   * every read failing (error filter, 100%): EIO, never zeros; 30% of reads failing:
#     each read either fails with EIO or gives the right bytes.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/nbd-lib.sh"
make_cores qemu
core=$(mf files.qemu)
local_mp=$TEST_TMP/local
mount_kcorefs "$core" "$local_mp"
# 24 pages of the vmcore view holding nonzero bytes, spread over its data.
read -r -a offs <<<"$(data_offsets "$local_mp/vmcore" 24)" || fail "no data offsets"
[ "${#offs[@]}" = 24 ] || fail "data_offsets gave ${#offs[@]} offsets"
deadline=5 slack=2
bound=$((deadline + slack))

# still_up MP PID WHAT: the mount is listed, its directory lists, its daemon runs.
still_up() {
  mounted "$1" || fail "$3: $1 left /proc/mounts"
  with_timeout 10 ls "$1" >/dev/null || fail "$3: ls $1 failed"
  process_running "$2" || fail "$3: the kcorefs daemon exited: $(tail -5 "$KCOREFS_LOG")"
}

# --- 1. nbdkit killed, then restarted on the same socket ---------------------------------
sock=$TEST_TMP/kill.sock
start_nbdkit kill -r -U "$sock" file "$core"
mp=$TEST_TMP/m-kill
mount_kcorefs "$(nbd_unix_uri "$sock")" "$mp" -o timeout=$deadline,cache_size=0
pid=$KCOREFS_PID
read_page "$mp/vmcore" "${offs[0]}"
[ "$READ_RC" = 0 ] || fail "read with the server up: $READ_ERR"
same_page "$local_mp/vmcore" "${offs[0]}" "server up"
stop_nbdkit kill KILL
for i in 1 2 3; do
  read_page "$mp/vmcore" "${offs[$i]}" 30
  expect_eio "server killed, read $i" "$bound"
  still_up "$mp" "$pid" "server killed"
done
rm -f "$sock"
start_nbdkit kill2 -r -U "$sock" file "$core"
t0=$(date +%s)
while :; do
  read_page "$mp/vmcore" "${offs[4]}" 30
  [ "$READ_RC" = 0 ] && break
  [ $(($(date +%s) - t0)) -lt 15 ] || fail "server back for 15 s, reads still fail: $READ_ERR"
  sleep 0.5
done
note "reads work again $(($(date +%s) - t0)) s after the restart"
for i in $(seq 4 11); do
  read_page "$mp/vmcore" "${offs[$i]}"
  [ "$READ_RC" = 0 ] || fail "after the restart, read at ${offs[$i]}: $READ_ERR"
  same_page "$local_mp/vmcore" "${offs[$i]}" "after the restart"
done
r=$(stat_of "$mp" nbd_reconnects)
[[ $r =~ ^[0-9]+$ ]] && [ "$r" -ge 1 ] || fail "nbd_reconnects is '$r' after a restart of the server"
e=$(stat_of "$mp" read_errors)
[[ $e =~ ^[0-9]+$ ]] && [ "$e" -ge 3 ] || fail "read_errors is '$e' after 3 failed reads"
unmount_kcorefs "$mp" "$pid"

# --- 2. a server that stops answering (pause filter) after the mount ---------------------
sock=$TEST_TMP/pause.sock ctl=$TEST_TMP/pause.ctl
start_nbdkit pause -r -U "$sock" --filter=pause file "$core" pause-control="$ctl"
pause_ctl() {  # pause_ctl p|r: send the command, wait (10 s) for the filter's echo
  /usr/bin/python3 - "$ctl" "$1" <<'PY' || fail "pause filter control $1 failed"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
assert s.recv(1) == sys.argv[2].upper().encode()
PY
}
mp=$TEST_TMP/m-pause
mount_kcorefs "$(nbd_unix_uri "$sock")" "$mp" -o timeout=$deadline,cache_size=0
pid=$KCOREFS_PID
read_page "$mp/vmcore" "${offs[12]}"
[ "$READ_RC" = 0 ] || fail "read before the pause: $READ_ERR"
pause_ctl p
for i in 13 14; do
  read_page "$mp/vmcore" "${offs[$i]}" 30
  expect_eio "server paused, read $i" "$bound"
  still_up "$mp" "$pid" "server paused"
done
pause_ctl r
t0=$(date +%s)
while :; do
  read_page "$mp/vmcore" "${offs[15]}" 30
  [ "$READ_RC" = 0 ] && break
  [ $(($(date +%s) - t0)) -lt 15 ] || fail "server resumed for 15 s, reads still fail: $READ_ERR"
  sleep 0.5
done
same_page "$local_mp/vmcore" "${offs[15]}" "after the pause"
unmount_kcorefs "$mp" "$pid"

# --- 3. a server whose reads take 60 s from the start: the mount gives up in time --------
sock=$TEST_TMP/delay.sock
start_nbdkit delay -r -U "$sock" --filter=delay file "$core" delay-read=60
mkdir -p "$TEST_TMP/m-delay"
t0=$(date +%s)
rc=0
timeout --kill-after=5 50 "$KCOREFS" mount -o timeout=$deadline "$(nbd_unix_uri "$sock")" \
  "$TEST_TMP/m-delay" >"$TEST_TMP/delay.out" 2>&1 || rc=$?
secs=$(($(date +%s) - t0))
if [ "$rc" = 0 ]; then
  fusermount3 -u "$TEST_TMP/m-delay"
  fail "kcorefs mounted a server whose every read takes 60 s"
fi
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "kcorefs mount against a stalled server hung (50 s)"
[ "$secs" -lt 40 ] || fail "kcorefs mount against a stalled server took $secs s"
grep -qF "$sock" "$TEST_TMP/delay.out" || fail "the mount error names no server: $(cat "$TEST_TMP/delay.out")"
note "stalled at mount: exit $rc after $secs s: $(head -c 300 "$TEST_TMP/delay.out")"
stop_nbdkit delay

# --- 4. injected read errors (error filter) ----------------------------------------------
sock=$TEST_TMP/err.sock trig=$TEST_TMP/err.trigger
start_nbdkit err100 -r -U "$sock" --filter=error file "$core" \
  error-pread=EIO error-pread-rate=100% error-pread-file="$trig"
mp=$TEST_TMP/m-err100
mount_kcorefs "$(nbd_unix_uri "$sock")" "$mp" -o timeout=$deadline,cache_size=0
pid=$KCOREFS_PID
touch "$trig"
for i in 16 17 18; do
  read_page "$mp/vmcore" "${offs[$i]}" 30
  expect_eio "every server read failing, read $i" "$bound"
done
still_up "$mp" "$pid" "every server read failing"
e=$(stat_of "$mp" nbd_request_errors)
[[ $e =~ ^[0-9]+$ ]] && [ "$e" -ge 3 ] || fail "nbd_request_errors is '$e' after 3 failed reads"
rm -f "$trig"
read_page "$mp/vmcore" "${offs[19]}"
[ "$READ_RC" = 0 ] || fail "errors off again, read fails: $READ_ERR"
same_page "$local_mp/vmcore" "${offs[19]}" "errors off again"
unmount_kcorefs "$mp" "$pid"
stop_nbdkit err100

sock=$TEST_TMP/err30.sock trig=$TEST_TMP/err30.trigger
start_nbdkit err30 -r -U "$sock" --filter=error file "$core" \
  error-pread=EIO error-pread-rate=30% error-pread-file="$trig"
mp=$TEST_TMP/m-err30
mount_kcorefs "$(nbd_unix_uri "$sock")" "$mp" -o timeout=$deadline,cache_size=0
touch "$trig"
# 96 reads: 24 pages, 4 times each; with no cache each goes to the server.
ok=0 bad=0
for round in 1 2 3 4; do
  for o in "${offs[@]}"; do
    read_page "$mp/vmcore" "$o" 30
    if [ "$READ_RC" = 0 ]; then
      same_page "$local_mp/vmcore" "$o" "30% of server reads failing (a read that succeeded)"
      ok=$((ok + 1))
    else
      expect_eio "30% of server reads failing" "$bound"
      bad=$((bad + 1))
    fi
  done
done
note "30% of server reads failing: $ok reads right, $bad EIO, nbd_request_errors $(stat_of "$mp" nbd_request_errors)"
[ "$ok" -ge 10 ] || fail "30% of server reads failing: only $ok of 96 reads succeeded"
e=$(stat_of "$mp" nbd_request_errors)
[[ $e =~ ^[0-9]+$ ]] && [ "$e" -ge 1 ] || fail "nbd_request_errors is '$e': were errors injected? $(tail -3 "$NBDKIT_LOG")"
grep -q "injecting EIO error into pread" "$NBDKIT_LOG" || fail "nbdkit injected no error (its log: $(tail -3 "$NBDKIT_LOG"))"
echo ok
