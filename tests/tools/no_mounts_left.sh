#!/usr/bin/env bash
# The last meson test: no test left a kcorefs (or any other) mount behind under
# KCOREFS_TEST_ROOT, the directory tests/tools/run_test.sh makes every TEST_TMP in. Mounts
# elsewhere (another checkout's tests, a user's own mounts) are not this run's.
set -u
root=${KCOREFS_TEST_ROOT:?KCOREFS_TEST_ROOT is not set}
root=$(realpath -m "$root")
# /proc/mounts escapes blanks in mount points as \040 and so on; printf %b undoes that.
left=$(while read -r src mp type _; do
         mp=$(printf '%b' "$mp")
         case $mp in "$root"/*) echo "$type $mp ($src)" ;; esac
       done </proc/mounts)
if [ -n "$left" ]; then
  echo "left behind under $root:"
  echo "$left"
  exit 1
fi
echo "no mounts under $root"
if [ -d "$root" ] && [ -n "$(ls -A "$root")" ]; then
  echo "test directories not removed (a test still running, or rm failed):"
  ls -A "$root"
  exit 1
fi
