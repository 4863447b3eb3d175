#!/usr/bin/env bash
# The daemon ends cleanly, under valgrind's memcheck, however the mount ends while a file
# is still open: a lazy unmount (fusermount3 -uz, umount -l: the session ends when the
# last reference goes, and no RELEASE comes for the open file), and SIGTERM. "Cleanly":
# exit 0, no invalid access, nothing definitely or indirectly lost (the file's handle
# pins a whole view, its snapshot and the dump's ByteSource).
source "$(dirname "$0")/functions.sh"
requires valgrind --version
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"

# run_case NAME HOW: mount under valgrind, hold MP/vmcore (and MP/kcore) open having read
# from them, end the mount by HOW, close the files, and check valgrind's verdict.
run_case() {
  local name=$1 how=$2 mp=$TEST_TMP/mp-$1 log=$TEST_TMP/vg-$1.log pid rc i
  mkdir -p "$mp"
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --error-exitcode=99 --log-file="$log.vg" \
      "$KCOREFS" mount -f "$core" "$mp" >"$log" 2>&1 &
  pid=$!
  cleanup_fn "fusermount3 -uz '$mp' 2>/dev/null; kill -9 $pid 2>/dev/null"
  for i in $(seq 1 600); do [ -e "$mp/vmcore" ] && break; sleep 0.1; done
  [ -e "$mp/vmcore" ] || fail "$name: no mount under valgrind after 60 s: $(cat "$log")"
  exec {fd1}<"$mp/vmcore" {fd2}<"$mp/kcore"
  head -c 65536 <&$fd1 >/dev/null || fail "$name: read vmcore"
  head -c 4096 <&$fd2 >/dev/null || fail "$name: read kcore"
  case $how in
    fusermount-lazy) fusermount3 -uz "$mp" || fail "$name: fusermount3 -uz" ;;
    umount-lazy) umount -l "$mp" || fail "$name: umount -l" ;;
    sigterm) kill -TERM "$pid" ;;
  esac
  sleep 0.5
  grep -q " $mp fuse" /proc/mounts && [ "$how" != sigterm ] && fail "$name: still mounted after a lazy unmount"
  exec {fd1}<&- {fd2}<&-
  for i in $(seq 1 300); do process_running "$pid" || break; sleep 0.1; done
  process_running "$pid" && fail "$name: the daemon did not exit 30 s after the last file closed"
  wait "$pid"
  rc=$?
  [ $rc -ne 99 ] || fail "$name: valgrind found errors: $(cat "$log.vg")"
  [ $rc -eq 0 ] || fail "$name: the daemon exited $rc: $(cat "$log") $(cat "$log.vg")"
  grep -q "unmounting" "$log" || fail "$name: no unmount line: $(cat "$log")"
  note "$name: exit 0, valgrind: $(wc -l <"$log.vg") lines of report"
}

run_case fusermount fusermount-lazy
run_case umount umount-lazy
run_case sigterm sigterm
echo ok
