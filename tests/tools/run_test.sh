#!/usr/bin/env bash
# How meson runs one test script: a fresh TEST_TMP for it, a time limit it can clean up
# after, and TEST_TMP removed afterwards without descending into a mount it left behind.
#
# Usage: run_test.sh --timeout SECONDS SCRIPT [ARGS...]
# Environment (tests/meson.build sets it): KCOREFS, SRCDIR, KCOREFS_TEST_ROOT (where the
# TEST_TMP directories go; tests/tools/no_mounts_left.sh looks for mounts under it).
# Exit status: the script's (77 is a skip to meson, which tests/tools/test_summary.py counts
# as a failure); 124 when the time limit stopped it.
set -u
limit=
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) limit=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ -z "$limit" ] || [ $# -lt 1 ]; then
  echo "usage: $0 --timeout SECONDS SCRIPT [ARGS...]" >&2
  exit 99
fi
root=${KCOREFS_TEST_ROOT:-/tmp}
mkdir -p "$root" || exit 99
tmp=$(mktemp -d "$root/$(basename "$1" .sh).XXXXXX") || exit 99
export TEST_TMP=$tmp
exec 2>&1   # one stream: meson's log keeps messages and failures in order

# The script runs under timeout(1) in a process group of its own: at the limit the whole
# group gets SIGTERM (the script's exit trap unmounts, kcorefs daemons unmount on SIGTERM),
# then SIGKILL 10 s later. meson's own timeout is a backstop set above this one; if meson
# stops this wrapper first, the signal is passed on to the group.
timeout --kill-after=10 "$limit" bash "$@" </dev/null &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || break   # wait returned for a signal, not the exit
done
[ $rc -eq 124 ] && echo "run_test.sh: $1 stopped after its ${limit} s limit"

# --one-file-system: a mount left behind stays (and is reported by no_mounts_left.sh)
# instead of its source being deleted through it.
if ! rm -rf --one-file-system "$tmp" 2>/dev/null; then
  echo "run_test.sh: could not remove all of $tmp (something is still mounted under it?)"
fi
exit $rc
