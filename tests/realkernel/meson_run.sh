#!/usr/bin/env bash
# The meson test realkernel/run: runs suite.sh once (one pair of guest boots, one set of
# dumps) and records each check's exit status and log in RESULTS_DIR, where the meson test
# of that check (meson_result.sh) reads it.
#
# Usage (tests/realkernel/meson.build, through tests/tools/run_test.sh):
#   meson_run.sh RESULTS_DIR CHECK...
# CHECK... are the check names that have a meson test. This test fails when the suite could
# not run to its end (killed, crashed: exit status other than 0 or 1) or reported a check
# no meson test is listed for (that result would be counted nowhere). A failing check fails
# its own test, not this one.
#
# RESULTS_DIR holds, per check NAME (e.g. live/gdb): NAME.rc (the exit status) and
# NAME.log; plus started, finished (the suite's exit status), suite.log (its output).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
results=${1:?usage: meson_run.sh RESULTS_DIR CHECK...}
shift
declare -A listed=()
for c in "$@"; do listed[$c]=1; done

# A check test never reports a result from an earlier run as this run's.
rm -rf "$results"
mkdir -p "$results" || exit 99
date -u '+%Y-%m-%d %H:%M:%S UTC' >"$results/started"

unlisted=()
recorded=0
# The suite writes "NAME RC LOGFILE" per check on fd 3, and "#note TEXT" summary lines.
# The logs are in its work directory under TEST_TMP: KEEP_TMP=1 keeps them there after it
# exits, for this loop may read the last lines after that (run_test.sh removes TEST_TMP).
while read -r name rc logf; do
  case $name in
    "#note") echo "# $rc $logf" ;;
    suite-exit) suite_rc=$rc ;;
    *)
      [ -n "${listed[$name]:-}" ] || unlisted+=("$name")
      mkdir -p "$results/$(dirname "$name")"
      if [ -f "$logf" ]; then cp "$logf" "$results/$name.log"
      else echo "(the suite named no readable log: '$logf')" >"$results/$name.log"; fi
      echo "$rc" >"$results/$name.rc"
      recorded=$((recorded + 1))
      echo "recorded: $name exit $rc" ;;
  esac
done < <(KEEP_TMP=1 bash "$HERE/suite.sh" --results-fd 3 3>&1 >"$results/suite.log" 2>&1 </dev/null
         echo "suite-exit $?")
echo "${suite_rc:-?}" >"$results/finished"

echo "---- suite.sh output ($results/suite.log) ----"
cat "$results/suite.log"
echo "---- end of suite.sh output ----"
missing=()
for c in "$@"; do [ -f "$results/$c.rc" ] || missing+=("$c"); done
echo "$recorded results recorded; suite.sh exit status ${suite_rc:-?}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "no result for (each fails its own test): ${missing[*]}"
fi
bad=0
if [ ${#unlisted[@]} -gt 0 ]; then
  echo "FAIL: the suite reported checks with no meson test (add them to tests/realkernel/meson.build): ${unlisted[*]}"
  bad=1
fi
case ${suite_rc:-x} in
  0|1) ;;
  *) echo "FAIL: suite.sh did not run to its end (exit status ${suite_rc:-?})"; bad=1 ;;
esac
exit $bad
