#!/usr/bin/env bash
# A server that breaks the NBD protocol (tests/tools/fake_nbd_server.py, serving a real
# core's bytes, mounted in its normal mode and then flipped): a reply with garbage magic,
# a reply with another request's cookie, a short reply and a close, no reply at all, an
# error reply. Each gives EIO for the read (within the read deadline), the daemon keeps
# running and the mount stays, its log names the server and the offset, and once the server
# behaves again reads give the right bytes. A server that claims more bytes than it has: the
# bytes it has are right, the rest is EIO, never zeros. Garbage instead of the handshake:
# the mount fails with a message naming the server.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/nbd-lib.sh"
make_cores qemu
core=$(mf files.qemu)
local_mp=$TEST_TMP/local
mount_kcorefs "$core" "$local_mp"
read -r -a offs <<<"$(data_offsets "$local_mp/vmcore" 16)" || fail "no data offsets"
deadline=5
bound=$((deadline + 2))

sock=$TEST_TMP/fake.sock
start_fake_server main "$core" --unix "$sock"
uri=$(nbd_unix_uri "$sock") main_ctl=$FAKE_CTL
mp=$TEST_TMP/m
mount_kcorefs "$uri" "$mp" -o timeout=$deadline,request_timeout=3,cache_size=0
pid=$KCOREFS_PID log=$KCOREFS_LOG
read_page "$mp/vmcore" "${offs[0]}"
[ "$READ_RC" = 0 ] || fail "normal mode: $READ_ERR"
same_page "$local_mp/vmcore" "${offs[0]}" "normal mode"

i=1
for mode in bad-magic wrong-handle short-close no-answer error-reply; do
  fake_mark=$(wc -l <"$FAKE_LOG") log_mark=$(wc -c <"$log")
  echo "$mode" >"$FAKE_CTL"
  off=${offs[$i]}
  read_page "$mp/vmcore" "$off" 30
  expect_eio "$mode" "$bound"
  mounted "$mp" || fail "$mode: the mount left /proc/mounts"
  process_running "$pid" || fail "$mode: the kcorefs daemon died: $(tail -c 2000 "$log")"
  with_timeout 10 ls "$mp" >/dev/null || fail "$mode: ls $mp failed"
  # The offsets the server was asked for in this mode; the log must name the server and one
  # of them (or the view offset the reader asked for), in decimal or hex.
  asked=$(tail -n +"$((fake_mark + 1))" "$FAKE_LOG" | awk -v m="$mode" '$1 == "read" && $5 == m { print $3 }' | sort -u)
  [ -n "$asked" ] || fail "$mode: the server saw no read (its log: $(tail -5 "$FAKE_LOG"))"
  new_log=$(tail -c +"$((log_mark + 1))" "$log" | grep -F "$sock")
  [ -n "$new_log" ] || fail "$mode: the daemon's log names no server: $(tail -c +"$((log_mark + 1))" "$log")"
  named=
  for o in $asked "$off"; do
    named=$(grep -wiE -- "$o|$(printf '0x%x' "$o")" <<<"$new_log" | head -1)
    [ -z "$named" ] || break
  done
  [ -n "$named" ] || fail "$mode: no line of the daemon's log names the server and one of the offsets asked ($(echo $asked)) or $off: $new_log"
  note "$mode: logged: $named"
  echo normal >"$FAKE_CTL"
  t0=$(date +%s)
  while :; do
    read_page "$mp/vmcore" "${offs[$((i + 1))]}" 30
    [ "$READ_RC" = 0 ] && break
    [ $(($(date +%s) - t0)) -lt 15 ] || fail "after $mode, the server behaves for 15 s and reads still fail: $READ_ERR"
    sleep 0.5
  done
  same_page "$local_mp/vmcore" "${offs[$((i + 1))]}" "normal again after $mode"
  i=$((i + 2))
done
e=$(stat_of "$mp" nbd_request_errors)
[[ $e =~ ^[0-9]+$ ]] && [ "$e" -ge 5 ] || fail "nbd_request_errors is '$e' after 5 bad replies"
unmount_kcorefs "$mp" "$pid"

# --- an export size bigger than the data behind it -------------------------------------
# The first 60% of the core, claimed as the whole: the server answers reads past its data
# with NBD_EIO. Every 256 KiB read of the vmcore view fails with EIO or gives the right
# bytes (a short read: the right bytes before the first that failed).
size=$(stat -c %s "$core")
cut=$((size * 6 / 10 / 4096 * 4096))
head -c "$cut" "$core" >"$TEST_TMP/short.core"
sock2=$TEST_TMP/short.sock
start_fake_server short "$TEST_TMP/short.core" --unix "$sock2" --size "$size" --past-end error
mp=$TEST_TMP/m-short
mount_kcorefs "$(nbd_unix_uri "$sock2")" "$mp" -o timeout=$deadline,cache_size=0
with_timeout 600 /usr/bin/python3 - "$local_mp/vmcore" "$mp/vmcore" <<'PY' || fail "short export: (above)"
import errno, os, sys
a, b = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
size, blk, ok, eio, short = os.fstat(a).st_size, 256 << 10, 0, 0, 0
nonzero_ok = 0
off = 0
while off < size:
    want = os.pread(a, blk, off)
    try:
        got = os.pread(b, blk, off)
    except OSError as e:
        if e.errno != errno.EIO:
            sys.exit("offset %#x: %s, want EIO" % (off, e))
        eio += 1
        off += blk
        continue
    if not got:
        sys.exit("offset %#x: end of file at a point inside the view (size %d)" % (off, size))
    # A short read (the bytes before the first that failed) is a prefix of the right bytes.
    if got != want[:len(got)]:
        sys.exit("offset %#x: wrong bytes (%s) where the server has none" %
                 (off, "zeros" if not any(got) else "other bytes"))
    short += len(got) < len(want)
    ok += 1
    nonzero_ok += any(got)
    off += len(got)
print("short export: %d reads right (%d nonzero, %d short), %d EIO" % (ok, nonzero_ok, short, eio))
if eio == 0:
    sys.exit("no block failed, yet the server has 40% of the core missing")
if nonzero_ok == 0:
    sys.exit("no nonzero block read right: the test proves nothing")
PY
process_running "$KCOREFS_PID" || fail "short export: the daemon died"
unmount_kcorefs "$mp" "$KCOREFS_PID"

# --- garbage instead of the handshake ------------------------------------------------
echo hs-garbage >"$main_ctl"
mkdir -p "$TEST_TMP/m-hs"
t0=$(date +%s) rc=0
timeout --kill-after=5 40 "$KCOREFS" mount "$uri" "$TEST_TMP/m-hs" >"$TEST_TMP/hs.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || { fusermount3 -u "$TEST_TMP/m-hs"; fail "kcorefs mounted a server that sends garbage"; }
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "kcorefs mount hung on a garbage handshake"
grep -qF "$sock" "$TEST_TMP/hs.out" || fail "garbage handshake: the message names no server: $(cat "$TEST_TMP/hs.out")"
note "garbage handshake: exit $rc after $(($(date +%s) - t0)) s: $(head -c 300 "$TEST_TMP/hs.out")"
! mounted "$TEST_TMP/m-hs" || fail "garbage handshake left a mount"
echo ok
