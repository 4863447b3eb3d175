#!/usr/bin/env bash
# Bad region sets: a clear error naming the file, or correct output with a warning; the
# daemon never crashes. Duplicate ids, two regions at one address, overlapping physical
# ranges, a region file larger than declared, a 0-byte file, a garbage header region (with
# and without metadata), manifests with wrong types and broken JSON, dump_info.txt with a
# bad line, encrypted regions, and a 10,000-region set.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/kmemdump-lib.sh"
requires eu-readelf --version
make_cores kdump

# expect_error DIR PATTERN: `kcorefs info` fails and its message matches PATTERN.
expect_error() {
  local out
  out=$(with_timeout 60 "$KCOREFS" info "kmemdump:$1" 2>&1) && fail "$1 was accepted: $out"
  [ $? -lt 128 ] || fail "kcorefs info crashed on $1: $out"
  grep -Eq -- "$2" <<<"$out" || fail "error for $1 does not match '$2': $out"
}
# expect_warning DIR PATTERN: `kcorefs info` succeeds, warns PATTERN, and every view exports.
expect_warning() {
  local out v
  out=$(with_timeout 60 "$KCOREFS" info "kmemdump:$1" 2>&1) || fail "$1 refused: $out"
  grep -Eq -- "$2" <<<"$out" || fail "no warning matching '$2' for $1: $out"
  for v in vmcore coreimage vmcoreinfo; do
    with_timeout 60 "$KCOREFS" export "kmemdump:$1" --view $v -o "$TEST_TMP/x.$v" --force >/dev/null 2>&1 ||
      fail "export --view $v of $1 failed"
  done
}
# edit_manifest DIR PYTHON: runs PYTHON with m = the manifest (written back afterwards).
edit_manifest() {
  "$DRGN_PYTHON" - "$1/kcorefs-regions.json" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(m, open(sys.argv[1], "w"))
PY
}

make_regions "$TEST_TMP/base" --metadata manifest --info "$TEST_TMP/info.json"
fresh() { rm -rf "$TEST_TMP/$1"; cp -a "$TEST_TMP/base" "$TEST_TMP/$1"; echo "$TEST_TMP/$1"; }

d=$(fresh dupid); edit_manifest "$d" 'm["regions"][4]["id"] = m["regions"][3]["id"]'
expect_error "$d" 'regions\[3\].*regions\[4\].*both have id'
d=$(fresh dupfile); cp "$d/md_Kprb5.BIN" "$d/md_Kprbcopy5.BIN"; rm "$d/kcorefs-regions.json"
expect_error "$d" 'md_Kprb.*md_Kprbcopy5.BIN.*both have id 5|both have id 5'
d=$(fresh samepaddr); edit_manifest "$d" 'm["regions"][4]["paddr"] = m["regions"][3]["paddr"]'
expect_error "$d" 'both place a region at physical'
d=$(fresh types); edit_manifest "$d" 'm["regions"][3]["paddr"] = True'
expect_error "$d" 'regions\[3\]: "paddr" is a boolean'
d=$(fresh types2); edit_manifest "$d" 'm["regions"][2]["size"] = "lots"'
expect_error "$d" 'regions\[2\]: "size" is "lots", not a number'
d=$(fresh types3); edit_manifest "$d" 'm["regions"] = {"a": 1}'
expect_error "$d" '"regions" is missing or not an array'
d=$(fresh types4); edit_manifest "$d" 'm["regions"][0]["file"] = "../etc/passwd"'
expect_error "$d" 'not a file name in the set'
d=$(fresh json); head -c 100 "$TEST_TMP/base/kcorefs-regions.json" >"$d/kcorefs-regions.json"
expect_error "$d" 'kcorefs-regions.json: not JSON: byte'
d=$(fresh encr); head -c 32 /dev/urandom >"$d/md_encr_key_aes.BIN"
expect_error "$d" 'md_encr_key_aes.BIN: the device saved its regions encrypted'
d=$(fresh dumpinfo); rm "$d/kcorefs-regions.json"; printf '1 0x1000 notanumber x md_Kx9.BIN\n' >"$d/dump_info.txt"
expect_error "$d" 'dump_info.txt line 1: size "notanumber"'

# Garbage header region: refused without metadata, synthesized with it.
d=$(fresh garbage); head -c 14452 /dev/urandom >"$d/md_KELF1.BIN"
expect_warning "$d" 'md_KELF1.BIN: no ELF magic.*synthesized'
rm "$d/kcorefs-regions.json"
expect_error "$d" 'md_KELF1.BIN: no ELF magic'
d=$(fresh garbage2); "$DRGN_PYTHON" -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[64+8:64+16]=(0xfffffff0).to_bytes(8,'little'); open(p,'wb').write(b)" "$d/md_KELF1.BIN"
rm "$d/kcorefs-regions.json"
expect_error "$d" 'md_KELF1.BIN: PT_NOTE at .* (lies past|overlaps)'

# Overlapping physical ranges: served once, with a warning naming both regions.
d=$(fresh overlap); edit_manifest "$d" '
r = dict(m["regions"][2]); r.update(id=77, name="overlapper", file="md_Kover77.BIN", paddr=hex(int(r["paddr"],16)+4)); r.pop("sha256"); m["regions"].append(r)'
cp "$d/$(ri "$TEST_TMP/info.json" linux_banner file)" "$d/md_Kover77.BIN"
expect_warning "$d" 'region overlapper .* overlaps region linux_banner'

# A region file larger than declared, and a 0-byte one.
# With the manifest's sha256 the longer file is not the file it recorded (a hole); without a
# sha256 the declared bytes are served and the rest is named.
d=$(fresh long); f=$(ri "$TEST_TMP/info.json" prb file); printf 'XXXXXXXXXXXXXXXX' >>"$d/$f"
expect_warning "$d" "region prb .*$f\\) has sha256 [0-9a-f]{64}, not the [0-9a-f]{64} kcorefs-regions.json records"
edit_manifest "$d" 'for r in m["regions"]:
    if r["name"] == "prb": r.pop("sha256")'
expect_warning "$d" "$f holds 24 bytes, more than the 8 bytes region prb takes"
d=$(fresh empty); f=$(ri "$TEST_TMP/info.json" init_uts_ns file); : >"$d/$f"
expect_warning "$d" 'init_uts_ns .* is an empty \(0-byte\) file: served as a hole'

# 10,000 regions (no header region: more than its 201 slots): mounts, every region listed.
make_regions "$TEST_TMP/big" --metadata manifest --no-header --filler 10000
mp=$TEST_TMP/m-big
mount_kcorefs "$TEST_TMP/big" "$mp"
n=$(eu-readelf -l "$mp/coreimage" | grep -c ' LOAD ')
[ "$n" = 10011 ] || fail "10,000-region set: $n PT_LOADs in coreimage, want 10011"
grep -q "^kmemdump_regions 10011$" "$mp/stats" || fail "stats: $(cat "$mp/stats")"
check_drgn_read "$mp/vmcore" "$(mf markers.direct.paddr)" "$(mf markers.direct.text)" phys
kill -0 "$KCOREFS_PID" || fail "the daemon died"
echo ok
