#!/usr/bin/env bash
# `kcorefs info [--json] MOUNTPOINT` gives the mount's counters (JSON that parses, counters
# as numbers); `info SOURCE` names the format and the views, and phys_base in both forms.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mount_kcorefs "$core" "$TEST_TMP/mp"
head -c 4096 "$TEST_TMP/mp/vmcore" >/dev/null
"$KCOREFS" info --json "$TEST_TMP/mp" >"$TEST_TMP/stats.json" || fail "info --json MOUNTPOINT failed"
/usr/bin/python3 - "$TEST_TMP/stats.json" "$core" <<'PY' || fail "stats json: $(cat "$TEST_TMP/stats.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["backend"] == "dumpfile" and d["source"] == sys.argv[2], d
assert isinstance(d["reads"], int) and d["reads"] >= 1, d
assert isinstance(d["bytes_served"], int) and d["bytes_served"] >= 4096, d
assert d["read_errors"] == 0, d
PY
"$KCOREFS" info "$core" >"$TEST_TMP/info.txt" || fail "info failed"
grep -q '^views: *vmcore, kcore, vmcoreinfo$' "$TEST_TMP/info.txt" || fail "views line: $(cat "$TEST_TMP/info.txt")"
grep -q '^format: *ELF core$' "$TEST_TMP/info.txt" || fail "format line"
grep -qE '^phys_base: *-?0x[0-9a-f]+ \(0x[0-9a-f]+\)$' "$TEST_TMP/info.txt" || fail "phys_base line: $(grep phys_base "$TEST_TMP/info.txt")"
echo ok
