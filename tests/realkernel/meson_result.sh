#!/usr/bin/env bash
# The meson test of one real-kernel check: reports the result realkernel/run
# (meson_run.sh) recorded for it, and prints the check's log when it failed. A check with
# no recorded result fails.
# Usage: meson_result.sh RESULTS_DIR NAME
set -u
results=$1 name=$2
rcf=$results/$name.rc log=$results/$name.log
if [ ! -f "$rcf" ]; then
  if [ ! -f "$results/started" ]; then
    echo "FAIL: no recorded result: realkernel/run has not run in this build directory"
  elif [ ! -f "$results/finished" ]; then
    echo "FAIL: no recorded result: realkernel/run (started $(cat "$results/started")) did not finish"
  else
    echo "FAIL: no recorded result: the suite run of $(cat "$results/started") did not get to this" \
      "check (suite.sh exit status $(cat "$results/finished"); see realkernel/run's log)"
  fi
  exit 1
fi
rc=$(cat "$rcf")
when=$(cat "$results/started" 2>/dev/null || echo '?')
if [ "$rc" = 0 ]; then
  echo "PASS: $name (suite run of $when); last lines of its log:"
  tail -n 10 "$log" 2>/dev/null
  exit 0
fi
echo "FAIL: $name exited $rc (suite run of $when); its log ($log):"
cat "$log" 2>/dev/null
case $rc in
  77) exit 77 ;;   # a skip stays a skip (and CI counts it as a failure)
  *) exit 1 ;;
esac
