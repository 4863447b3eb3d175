#!/usr/bin/env bash
# `kcorefs export -o` onto something other than a regular file: a FIFO with no reader is
# refused after a bounded wait (never blocks forever) with a message saying to start the
# reader first; a FIFO whose reader comes later gets the whole view as a stream, equal to
# the regular file's export; /dev/null takes the stream too; a socket is refused at once.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
"$KCOREFS" export "$core" -o "$TEST_TMP/ref" || fail "export to a file failed"

fifo=$TEST_TMP/fifo
mkfifo "$fifo"
start=$SECONDS
with_timeout 30 "$KCOREFS" export "$core" -o "$fifo" >"$TEST_TMP/msg" 2>&1
rc=$?
[ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "export -o FIFO without a reader blocked (killed after 30 s)"
[ $rc -eq 1 ] || fail "export -o FIFO without a reader exited $rc: $(cat "$TEST_TMP/msg")"
grep -qF "$fifo is a FIFO that no reader opened" "$TEST_TMP/msg" || fail "message: $(cat "$TEST_TMP/msg")"
grep -qF "start its reader first" "$TEST_TMP/msg" || fail "no advice: $(cat "$TEST_TMP/msg")"
note "no reader: $((SECONDS - start)) s: $(tail -1 "$TEST_TMP/msg")"
[ -p "$fifo" ] || fail "the FIFO was removed or replaced"

# The reader starts a second after the export: the export waits for it.
(sleep 1; exec cat "$fifo" >"$TEST_TMP/got") &
reader=$!
with_timeout 30 "$KCOREFS" export "$core" -o "$fifo" 2>"$TEST_TMP/msg" || fail "export -o FIFO with a reader: $(cat "$TEST_TMP/msg")"
wait $reader || fail "the FIFO's reader failed"
cmp "$TEST_TMP/got" "$TEST_TMP/ref" || fail "the stream through the FIFO differs from the file export"

# The reader first, then the export: no wait at all.
cat "$fifo" >"$TEST_TMP/got2" &
reader=$!
with_timeout 30 "$KCOREFS" export "$core" -o "$fifo" 2>"$TEST_TMP/msg" || fail "export -o FIFO (reader first): $(cat "$TEST_TMP/msg")"
wait $reader
cmp "$TEST_TMP/got2" "$TEST_TMP/ref" || fail "the stream (reader first) differs from the file export"

with_timeout 30 "$KCOREFS" export "$core" -o /dev/null 2>"$TEST_TMP/msg" || fail "export -o /dev/null: $(cat "$TEST_TMP/msg")"

python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TEST_TMP/sock"
with_timeout 10 "$KCOREFS" export "$core" -o "$TEST_TMP/sock" 2>"$TEST_TMP/msg" && fail "export onto a socket succeeded"
grep -qF "$TEST_TMP/sock is a socket" "$TEST_TMP/msg" || fail "socket: $(cat "$TEST_TMP/msg")"
[ -S "$TEST_TMP/sock" ] || fail "the socket was removed"
echo ok
