#!/usr/bin/env bash
# Runs every test: unit tests (gtest, through meson), fuzz corpus replays, integration
# scripts on synthetic cores, and the real-kernel suite. Prints one final line
# "N passed, N failed".
# Usage: tests/run_all.sh [BUILD_DIR]   (default: build)
set -u
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRCDIR/build}
export SRCDIR KCOREFS="$BUILD/src/cli/kcorefs"
passed=0
failed=0
mounts_before=$(grep ' fuse.kcorefs ' /proc/mounts | sort)
failures=()

record() {  # record NAME RC
  case $2 in
    0) passed=$((passed + 1)); echo "PASS: $1" ;;
    *) failed=$((failed + 1)); failures+=("$1"); echo "FAIL: $1 (exit $2)" ;;
  esac
}

# Unit tests: one result per gtest case, read from the JUnit XML gtest writes.
for t in "$BUILD"/tests/unit/*_test; do
  [ -x "$t" ] || continue
  xml=$(mktemp)
  timeout 600 "$t" --gtest_output="xml:$xml" >"$xml.log" 2>&1
  rc=$?
  if [ -s "$xml" ]; then
    while IFS=$'\t' read -r name status; do
      if [ "$status" = ok ]; then record "unit/$(basename "$t")/$name" 0
      else record "unit/$(basename "$t")/$name" 1; fi
    done < <(python3 "$SRCDIR/tests/tools/junit_cases.py" "$xml")
  fi
  if [ $rc -ne 0 ]; then record "unit/$(basename "$t") (binary)" $rc; tail -40 "$xml.log"; fi
  rm -f "$xml" "$xml.log"
done

# Fuzz corpus replays (tests/fuzz/meson.build): each target's corpus through its parser.
for t in "$BUILD"/tests/fuzz/*_replay; do
  [ -x "$t" ] || continue
  name=$(basename "$t" _replay)
  log=$(mktemp)
  timeout 300 "$t" "$SRCDIR/tests/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  record "fuzz-replay/$name" $rc
  if [ $rc -ne 0 ]; then tail -20 "$log"; fi
  rm -f "$log"
done

# Integration scripts. Exit 77 (a missing prerequisite) counts as a failure: CI installs
# everything, so a skip is a defect.
for dir in integration; do
  for t in "$SRCDIR"/tests/$dir/test-*.sh; do
    [ -f "$t" ] || continue
    log=$(mktemp)
    tmp=$(mktemp -d /tmp/kcorefs-test.XXXXXX)
    TEST_TMP=$tmp timeout --kill-after=10 1200 bash "$t" >"$log" 2>&1
    rc=$?
    # --one-file-system: never descend into a mount a failed test left behind.
    rm -rf --one-file-system "$tmp" 2>/dev/null
    record "$dir/$(basename "$t" .sh)" $rc
    if [ $rc -ne 0 ]; then sed 's/^/    /' "$log" | tail -60; fi
    rm -f "$log"
  done
done

# The real-kernel suite (tests/realkernel/suite.sh): it sets up Debian's kernel in a QEMU
# guest and its dumps once, then reports each check on fd 3 as "NAME RC LOG" (and summary
# lines as "#note TEXT"); each check is recorded here as its own test. The suite itself is
# recorded as realkernel/driver: it fails if it was killed or could not start.
# KCOREFS_SKIP_REALKERNEL=1 leaves it out (local iterations only; CI always runs it).
if [ -f "$SRCDIR/tests/realkernel/suite.sh" ] && [ -z "${KCOREFS_SKIP_REALKERNEL:-}" ]; then
  rk_tmp=$(mktemp -d /tmp/kcorefs-realkernel.XXXXXX)
  rk_log=$rk_tmp/suite.log
  rk_notes=()
  while read -r name rc logf; do
    case $name in
      "#note") rk_notes+=("$rc $logf") ;;
      suite-exit)
        # The suite exits 1 when a check failed (recorded above); 0 or 1 is a clean run.
        case $rc in 0|1) record "realkernel/driver" 0 ;;
          *) record "realkernel/driver" "$rc"; sed 's/^/    /' "$rk_log" | tail -60 ;; esac ;;
      *)
        record "realkernel/$name" "$rc"
        if [ "$rc" != 0 ] && [ -f "$logf" ]; then sed 's/^/    /' "$logf" | tail -40; fi ;;
    esac
  done < <(TEST_TMP=$rk_tmp timeout --kill-after=30 1500 bash "$SRCDIR/tests/realkernel/suite.sh" \
             --results-fd 3 3>&1 >"$rk_log" 2>&1 </dev/null; echo "suite-exit $? $rk_log")
  if [ ${#rk_notes[@]} -gt 0 ]; then printf '# %s\n' "${rk_notes[@]}"; fi
  rm -rf --one-file-system "$rk_tmp" 2>/dev/null
fi

# No test may leave a mount behind.
left=$(comm -13 <(echo "$mounts_before") <(grep ' fuse.kcorefs ' /proc/mounts | sort))
if [ -n "$left" ]; then
  record "no-mounts-left-behind" 1
  echo "$left"
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "Failed tests:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
