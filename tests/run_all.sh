#!/usr/bin/env bash
# Runs every test: unit tests (gtest, through meson), integration scripts on synthetic
# cores, and the real-kernel suite. Prints one final line "N passed, N failed".
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

# Scripts: integration first, then the real-kernel suite. Exit 77 (a missing
# prerequisite) counts as a failure: CI installs everything, so a skip is a defect.
for dir in integration realkernel; do
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
