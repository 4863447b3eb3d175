#!/usr/bin/env bash
# `kcorefs info --json` reports the layout of the test kernel (tests/testing/core_builder.h
# TestKernel): KASLR 0x1e000000, direct map 0xffff9c0000000000, image at _text.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
"$KCOREFS" info --json "$core" >"$TEST_TMP/info.json" || fail "info failed"
/usr/bin/python3 - "$TEST_TMP/info.json" <<'PY' || fail "info --json: $(cat "$TEST_TMP/info.json")"
import json, sys
d = json.load(open(sys.argv[1]))
want = {"arch": "x86_64", "release": "6.1.0-test-amd64", "kaslr_offset": 0x1e000000, "kaslr_offset_hex": "0x1e000000",
        "direct_map_base": 0xffff9c0000000000, "direct_map_base_hex": "0xffff9c0000000000", "direct_map_origin": "source PT_LOADs",
        "backend": "dumpfile", "live": False}
for k, v in want.items():
    assert d[k] == v, (k, d[k], v)
assert d["image"]["vaddr_hex"] == "0xffffffff9f000000" and d["image"]["vaddr"] == 0xffffffff9f000000, d["image"]
assert d["image"]["link_vaddr_hex"] == "0xffffffff81000000", d["image"]
assert d["gdb"]["command"] == "gdb vmlinux MNT/kcore", d["gdb"]
assert d["segments"] == [{"paddr": 0x1000000, "paddr_hex": "0x1000000", "size": 0x400000, "size_hex": "0x400000", "data_size": 0x400000, "data_size_hex": "0x400000"}], d["segments"]
assert d["warnings"] == [], d["warnings"]
PY
"$KCOREFS" info "$core" | grep -q '^release: *6.1.0-test-amd64$' || fail "text output"
# Export to a pipe equals the mounted file byte for byte.
mount_kcorefs "$core" "$TEST_TMP/mp"
"$KCOREFS" export "$core" --view vmcore -o - | cmp - "$TEST_TMP/mp/vmcore" || fail "export to stdout differs from the mount"
"$KCOREFS" export "$core" --view vmcoreinfo -o "$TEST_TMP/vi" && cmp "$TEST_TMP/vi" "$TEST_TMP/mp/vmcoreinfo" || fail "vmcoreinfo export"
if "$KCOREFS" export "$core" --view nosuch -o "$TEST_TMP/x" 2>/dev/null; then fail "bad view accepted"; fi
# A failed export names the cause and never removes what is not a regular file.
if "$KCOREFS" export "$core" --view vmcore -o /dev/full 2>"$TEST_TMP/err"; then fail "export to /dev/full succeeded"; fi
grep -q "export to /dev/full failed" "$TEST_TMP/err" || fail "export failure message: $(cat "$TEST_TMP/err")"
[ -c /dev/full ] || fail "export removed /dev/full"
# ...and removes its partial output file (a 1 MiB tmpfs cannot hold the 6 MiB vmcore).
mkdir -p "$TEST_TMP/small"
mount -t tmpfs -o size=1m tmpfs "$TEST_TMP/small" || fail "cannot mount a small tmpfs"
cleanup_fn "umount '$TEST_TMP/small'"
if "$KCOREFS" export "$core" --view vmcore -o "$TEST_TMP/small/v" 2>"$TEST_TMP/err"; then fail "export to a full tmpfs succeeded"; fi
grep -q "No space left" "$TEST_TMP/err" || fail "ENOSPC message: $(cat "$TEST_TMP/err")"
[ ! -e "$TEST_TMP/small/v" ] || fail "partial export left behind"
echo ok
