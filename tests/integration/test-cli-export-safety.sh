#!/usr/bin/env bash
# `kcorefs export` never damages its own source or an existing file: it refuses to write
# onto the source (by any name), refuses to overwrite without --force, and after a failure
# removes only a file it created, by its real name.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
sum=$(sha256sum <"$core")

# Onto the source: directly, through a symlink, through a hard link.
ln -s "$core" "$TEST_TMP/link"
ln "$core" "$TEST_TMP/hard"
for out in "$core" "$TEST_TMP/link" "$TEST_TMP/hard"; do
  if "$KCOREFS" export --force "$core" -o "$out" 2>"$TEST_TMP/err"; then fail "export onto its source ($out) succeeded"; fi
  grep -q "onto the source itself" "$TEST_TMP/err" || fail "message for $out: $(cat "$TEST_TMP/err")"
  [ "$(sha256sum <"$core")" = "$sum" ] || fail "export onto $out changed the source"
done

# An existing file needs --force; with it, the file is replaced.
echo keep >"$TEST_TMP/existing"
if "$KCOREFS" export "$core" -o "$TEST_TMP/existing" 2>"$TEST_TMP/err"; then fail "overwrote without --force"; fi
grep -q -- "--force" "$TEST_TMP/err" || fail "no --force hint: $(cat "$TEST_TMP/err")"
[ "$(cat "$TEST_TMP/existing")" = keep ] || fail "existing file changed without --force"
"$KCOREFS" export --force "$core" -o "$TEST_TMP/existing" || fail "--force export failed"
cmp <("$KCOREFS" export "$core" -o -) "$TEST_TMP/existing" || fail "--force export differs"

# A failed export through a symlink removes the partial target it created, not the link's
# neighbours, and never leaves a partial file.
mkdir -p "$TEST_TMP/small"
mount -t tmpfs -o size=1m tmpfs "$TEST_TMP/small" || fail "cannot mount a small tmpfs"
cleanup_fn "umount '$TEST_TMP/small'"
ln -s "$TEST_TMP/small/target" "$TEST_TMP/outlink"
if "$KCOREFS" export "$core" -o "$TEST_TMP/outlink" 2>"$TEST_TMP/err"; then fail "export to a full tmpfs succeeded"; fi
[ ! -e "$TEST_TMP/small/target" ] || fail "partial target left behind"

# Usage errors say what is wrong.
"$KCOREFS" export "$core" 2>"$TEST_TMP/err"; [ $? -eq 2 ] || fail "export without -o: wrong exit"
grep -q "no output given" "$TEST_TMP/err" || fail "export without -o: $(head -1 "$TEST_TMP/err")"
if "$KCOREFS" export "$core" --view bogus -o - >/dev/null 2>"$TEST_TMP/err"; then fail "bogus view accepted"; fi
grep -q 'no view named "bogus"; views: vmcore, kcore, vmcoreinfo' "$TEST_TMP/err" || fail "bogus view: $(cat "$TEST_TMP/err")"
echo ok
