#!/usr/bin/env bash
# contrib/demo.sh's small commands: `help` prints the help text (the header comment, no
# shell code) and exits 0; an unknown command says so and exits 2; `stats` shows the
# mount's counters while a demo mount is up, and when nothing runs (never started, or
# after `stop`, host or guest mode) says so in one line and exits 1 — never a Python
# traceback. (The demo itself is README command 1; it installs and boots, so it is not
# run here.)
source "$(dirname "$0")/functions.sh"
demo=$SRCDIR/contrib/demo.sh

bash "$demo" help >"$TEST_TMP/help" 2>&1 || fail "demo.sh help exited $?"
grep -q "contrib/demo.sh stats" "$TEST_TMP/help" || fail "help lacks the commands: $(cat "$TEST_TMP/help")"
grep -q "KCOREFS_DEMO_DIR" "$TEST_TMP/help" || fail "help lacks the environment"
grep -qE '^ *(set -|SRCDIR=|DEMO=|#|if |case )' "$TEST_TMP/help" && fail "help prints shell code: $(cat "$TEST_TMP/help")"

bash "$demo" bogus >"$TEST_TMP/out" 2>&1
[ $? -eq 2 ] || fail "demo.sh bogus did not exit 2"
grep -q "unknown command 'bogus'" "$TEST_TMP/out" || fail "demo.sh bogus: $(cat "$TEST_TMP/out")"

# stats_says_not_running DEMO_DIR WHAT
stats_says_not_running() {
  KCOREFS_DEMO_DIR=$1 bash "$demo" stats >"$TEST_TMP/out" 2>&1
  local rc=$?
  [ $rc -eq 1 ] || fail "$2: demo.sh stats exited $rc: $(cat "$TEST_TMP/out")"
  grep -q "Traceback\|Error:" "$TEST_TMP/out" && fail "$2: demo.sh stats printed an error trace: $(cat "$TEST_TMP/out")"
  grep -q "the demo is not running" "$TEST_TMP/out" || fail "$2: demo.sh stats: $(cat "$TEST_TMP/out")"
  [ "$(wc -l <"$TEST_TMP/out")" -eq 1 ] || fail "$2: more than one line: $(cat "$TEST_TMP/out")"
}

stats_says_not_running "$TEST_TMP/never" "never started"

# Guest mode after `stop`: the guest's files are left, its qemu is gone.
d=$TEST_TMP/guest-demo
mkdir -p "$d/guest"
echo guest >"$d/mode"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/guest/ctl.sock"
KCOREFS_DEMO_DIR=$d bash "$demo" stop >/dev/null 2>&1 || fail "demo.sh stop (guest mode, nothing running) failed"
stats_says_not_running "$d" "guest mode after stop"
# A stale pid file naming a process that is not the demo's qemu.
sleep 60 & other=$!
cleanup_fn "kill $other 2>/dev/null"
echo $other >"$d/guest/qemu.pid"
stats_says_not_running "$d" "guest mode, stale pid file"

# Host mode: stats while mounted, then after stop.
d=$TEST_TMP/host-demo
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mount_kcorefs "$core" "$d/mnt"
echo host >"$d/mode"
echo "$d/mnt" >"$d/mountpoint"
KCOREFS_DEMO_DIR=$d bash "$demo" stats >"$TEST_TMP/out" 2>&1 || fail "demo.sh stats (mounted): $(cat "$TEST_TMP/out")"
grep -q "^source $core\$" "$TEST_TMP/out" || fail "demo.sh stats does not show the mount's stats: $(cat "$TEST_TMP/out")"
KCOREFS_DEMO_DIR=$d bash "$demo" stop >/dev/null 2>&1 || fail "demo.sh stop (host mode) failed"
grep -q " $d/mnt " /proc/mounts && fail "demo.sh stop left the host mount"
stats_says_not_running "$d" "host mode after stop"
echo ok
