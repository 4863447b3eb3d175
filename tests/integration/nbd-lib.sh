# shellcheck shell=bash
# Helpers for the test-nbd-*.sh scripts (sourced after functions.sh): servers (nbdkit, the
# fake server), free ports, stats fields, timed reads. Every server started here is
# stopped at exit; every wait is bounded.
requires nbdkit --version

# free_port: a TCP port on 127.0.0.1 nobody listens on now (the kernel's pick).
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nbd_unix_uri SOCKET: the libnbd URI of the default export on a unix socket.
nbd_unix_uri() { echo "nbd+unix:///?socket=$1"; }

# start_nbdkit NAME [nbdkit args...]: `nbdkit -f ARGS` in the background, ready (its
# pid file written: nbdkit writes it once it accepts connections) within 15 s. Sets
# NBDKIT_PID and NBDKIT_LOG; NBDKIT_PIDS[NAME] too, for stop_nbdkit. A prefix command (such
# as `ip netns exec NS`) goes in NBDKIT_PREFIX.
declare -A NBDKIT_PIDS
start_nbdkit() {
  local name=$1 pidfile i
  shift
  pidfile=$TEST_TMP/nbdkit.$name.pid
  NBDKIT_LOG=$TEST_TMP/nbdkit.$name.log
  rm -f "$pidfile"
  # shellcheck disable=SC2086  # NBDKIT_PREFIX is words on purpose
  ${NBDKIT_PREFIX:-} nbdkit -f -P "$pidfile" "$@" >>"$NBDKIT_LOG" 2>&1 </dev/null &
  NBDKIT_PID=$!
  NBDKIT_PIDS[$name]=$NBDKIT_PID
  cleanup_fn "stop_pid $NBDKIT_PID"
  for i in $(seq 1 150); do
    [ -s "$pidfile" ] && return 0
    process_running "$NBDKIT_PID" || { cat "$NBDKIT_LOG" >&2; fail "nbdkit $* exited at start"; }
    sleep 0.1
  done
  cat "$NBDKIT_LOG" >&2
  fail "nbdkit $*: not ready after 15 s"
}

# stop_pid PID [SIGNAL]: stop a server this test started and wait (5 s) until it is gone.
stop_pid() {
  local pid=$1 sig=${2:-TERM} i
  process_running "$pid" || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do process_running "$pid" || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_nbdkit() { stop_pid "${NBDKIT_PIDS[$1]}" "${2:-TERM}"; }

# start_fake_server NAME FILE [fake_nbd_server.py args]: tests/tools/fake_nbd_server.py
# serving FILE, its control file $TEST_TMP/fake.NAME.ctl (mode normal), its request log
# $TEST_TMP/fake.NAME.log. Sets FAKE_PID, FAKE_CTL, FAKE_LOG.
start_fake_server() {
  local name=$1 file=$2 pidfile i
  shift 2
  pidfile=$TEST_TMP/fake.$name.pid
  FAKE_CTL=$TEST_TMP/fake.$name.ctl
  FAKE_LOG=$TEST_TMP/fake.$name.log
  echo normal >"$FAKE_CTL"
  rm -f "$pidfile"
  /usr/bin/python3 "$SRCDIR/tests/tools/fake_nbd_server.py" "$file" --control "$FAKE_CTL" \
    --log "$FAKE_LOG" --pidfile "$pidfile" "$@" >"$TEST_TMP/fake.$name.out" 2>&1 </dev/null &
  FAKE_PID=$!
  cleanup_fn "stop_pid $FAKE_PID"
  for i in $(seq 1 100); do
    [ -s "$pidfile" ] && return 0
    process_running "$FAKE_PID" || { cat "$TEST_TMP/fake.$name.out" >&2; fail "fake_nbd_server.py exited at start"; }
    sleep 0.1
  done
  fail "fake_nbd_server.py: not ready after 10 s"
}

# stat_of MOUNTPOINT KEY: the value of line "KEY VALUE" in MOUNTPOINT/stats (empty if none).
stat_of() { awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$1/stats"; }

# read_page FILE OFFSET [SECONDS]: dd one 4 KiB page at byte OFFSET of FILE into
# $TEST_TMP/page, bounded by SECONDS (default 30). Sets READ_RC (dd's status; 124 = the
# bound stopped it), READ_ERR (dd's stderr) and READ_SECS (wall time).
read_page() {
  local f=$1 off=$2 lim=${3:-30} t0 t1
  t0=$(date +%s.%N)
  READ_RC=0
  timeout --kill-after=5 "$lim" dd if="$f" of="$TEST_TMP/page" bs=4096 count=1 \
    skip="$off" iflag=skip_bytes,direct status=none 2>"$TEST_TMP/dd.err" || READ_RC=$?
  t1=$(date +%s.%N)
  READ_ERR=$(cat "$TEST_TMP/dd.err")
  READ_SECS=$(echo "$t1 - $t0" | bc -l)
}

# expect_eio WHAT MAX_SECONDS: the last read_page failed with EIO within MAX_SECONDS.
expect_eio() {
  [ "$READ_RC" -ne 124 ] && [ "$READ_RC" -ne 137 ] || fail "$1: the read hung (stopped after ${READ_SECS} s)"
  [ "$READ_RC" -ne 0 ] || fail "$1: the read succeeded (want EIO)"
  grep -q "Input/output error" <<<"$READ_ERR" || fail "$1: want EIO, dd says: $READ_ERR"
  [ "$(echo "$READ_SECS < $2" | bc -l)" = 1 ] || fail "$1: EIO after ${READ_SECS} s, over the ${2} s bound"
  note "$1: EIO after $(printf '%.2f' "$READ_SECS") s"
}

# same_page LOCAL_FILE OFFSET WHAT: $TEST_TMP/page holds LOCAL_FILE's 4 KiB at OFFSET.
same_page() {
  cmp -s "$TEST_TMP/page" <(dd if="$1" bs=4096 count=1 skip="$2" iflag=skip_bytes status=none) ||
    fail "$3: the page at offset $2 differs from the local mount's"
}

# mounted MOUNTPOINT: MOUNTPOINT is listed in /proc/mounts.
mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

# data_offsets FILE N: N page-aligned offsets inside FILE's PT_LOAD file ranges whose page is
# not all zeros, spread over the file (a read there proves bytes came through).
data_offsets() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); n = int(sys.argv[2])
eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
cands = []
for t, _, off, _, _, fs, _, _ in ph:
    if t != 1 or fs < 4096: continue
    lo, hi = (off + 4095) & ~4095, (off + fs) & ~4095
    step = max(4096, ((hi - lo) // 64) & ~4095)
    for o in range(lo, hi - 4096 + 1, step):
        f.seek(o)
        if any(f.read(4096)): cands.append(o)
if len(cands) < n: sys.exit("only %d nonzero pages in %s" % (len(cands), sys.argv[1]))
step = len(cands) / n
print(" ".join(str(cands[int(i * step)]) for i in range(n)))
PY
}

# same_core A B WHAT: the core files A and B hold the same bytes: cmp when A is under
# 4 GiB, else (a kcore view: ~100 TiB, mostly holes) the same size, the same bytes before
# the first segment (ELF header, program headers, notes) and in every PT_LOAD and PT_NOTE
# file range (what a reader can reach through the headers).
same_core() {
  local a=$1 b=$2 what=$3 sa sb
  sa=$(stat -c %s "$a") sb=$(stat -c %s "$b")
  [ "$sa" = "$sb" ] || fail "$what: size $sb, the local mount's is $sa"
  if [ "$sa" -lt $((4 << 30)) ]; then
    timeout --kill-after=5 600 cmp "$a" "$b" >&2 || fail "$what differs from the local mount's (or the read hung)"
    return 0
  fi
  timeout --kill-after=5 600 /usr/bin/python3 - "$a" "$b" <<'PY' >&2 || fail "$what differs from the local mount's (above)"
import struct, sys
fa, fb = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
eh = fa.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
fa.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", fa.read(56)) for _ in range(phnum)]
ranges = [(0, min(p[2] for p in ph if p[5]))] + [(p[2], p[5]) for p in ph if p[0] in (1, 4) and p[5]]
total = 0
for off, n in ranges:
    done = 0
    while done < n:
        k = min(1 << 20, n - done)
        fa.seek(off + done); fb.seek(off + done)
        x, y = fa.read(k), fb.read(k)
        if x != y:
            sys.exit("bytes differ in [%#x, %#x)" % (off + done, off + done + k))
        done += k
    total += n
print("%d bytes in %d ranges equal" % (total, len(ranges)))
PY
}
