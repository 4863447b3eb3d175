#!/usr/bin/env bash
# gdb when KASLR moved the kernel image by less than its size (about one boot in twenty):
# the link-time and runtime ranges overlap, so kcore cannot map the image at both. With
# --vmlinux the mount serves MNT/vmlinux as ET_DYN and kcore carries NT_AUXV; real gdb on
# `gdb MNT/vmlinux MNT/kcore` must then read a static variable (jiffies_64), a pointer walk
# from static data (prb -> text_data_ring.size_bits) and a runtime pointer into the overlap
# window right. `kcorefs info --json MNT` gives that command and the warning; the command it
# gives without a vmlinux view (symbol-file -o) works too; a vmlinux with another build id
# is refused; and without overlap MNT/vmlinux is the file byte for byte.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
requires gdb --version
make_cores --kaslr-offset 0x400000 kdump vmlinux
core=$(mf files.kdump)
vmlinux=$(mf files.vmlinux)
[ "$(mf image_overlaps)" = True ] || fail "mkcore did not make an overlapping image"

# gdb_reads CMD...: runs gdb with the value checks appended; prints its output.
gdb_reads() {
  with_timeout 120 "$@" -nx -batch -ex 'p/x *(unsigned long *)&jiffies_64' \
    -ex 'p *(unsigned int *)(*(unsigned long *)&prb + 48)' \
    -ex 'x/s *(char **)&kcorefs_banner_ptr' -ex 'x/s &linux_banner' 2>&1
}
check_reads() {  # check_reads OUTPUT WHAT
  local out=$1 banner
  banner=$(mf markers.banner.text)
  echo "$out" | grep -qx "\$1 = $(printf '0x%x' "$(mf jiffies_64)")" ||
    { echo "$out" >&2; fail "$2: jiffies_64 is not the runtime value $(mf jiffies_64)"; }
  echo "$out" | grep -qx "\$2 = $(mf prb_size_bits)" ||
    { echo "$out" >&2; fail "$2: prb->text_data_ring.size_bits is not $(mf prb_size_bits)"; }
  [ "$(echo "$out" | grep -cF ":	\"${banner:0:40}")" = 2 ] ||
    { echo "$out" >&2; fail "$2: linux_banner (through the runtime pointer, and by symbol) is not the banner"; }
}
json() {  # json FILE PYTHON-EXPR (d is the parsed document): prints the value
  /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# A vmlinux of another build is refused, by mount and by info, naming both build ids.
mkdir -p "$TEST_TMP/bad"
if "$KCOREFS" mount -f --vmlinux "$(mf files.vmlinux_other)" "$core" "$TEST_TMP/bad" 2>"$TEST_TMP/err"; then
  fail "mount accepted a vmlinux with another build id"
fi
grep -q "not this kernel's vmlinux: its build id is $(mf other_build_id), VMCOREINFO's BUILD-ID is $(mf build_id)" "$TEST_TMP/err" ||
  fail "mismatch message: $(cat "$TEST_TMP/err")"
if "$KCOREFS" info -O "vmlinux=$(mf files.vmlinux_other)" "$core" >/dev/null 2>"$TEST_TMP/err"; then
  fail "info accepted -O vmlinux= with another build id"
fi
grep -q "not this kernel's vmlinux" "$TEST_TMP/err" || fail "info mismatch message: $(cat "$TEST_TMP/err")"

# A VMCOREINFO without BUILD-ID: an explicit --vmlinux is used, and that is said.
grep -v '^BUILD-ID=' <(python3 "$SRCDIR/tests/realkernel/elf_vmcoreinfo.py" "$core") >"$TEST_TMP/nobid.vmcoreinfo" ||
  fail "cannot read the core's VMCOREINFO"
"$KCOREFS" info --json --vmcoreinfo "$TEST_TMP/nobid.vmcoreinfo" --vmlinux "$vmlinux" "$core" >"$TEST_TMP/nobid.json" ||
  fail "info with a VMCOREINFO without BUILD-ID failed"
[ "$(json "$TEST_TMP/nobid.json" '(d["build_id"], d["vmlinux"] is not None, any("has no BUILD-ID" in w for w in d["warnings"]))')" = "(None, True, True)" ] ||
  fail "no-BUILD-ID case: $(cat "$TEST_TMP/nobid.json")"

# The overlap case with the vmlinux view.
mp=$TEST_TMP/mp
mount_kcorefs "$core" "$mp" -o "vmlinux=$vmlinux"
mpa=$(cd "$mp" && pwd -P)
grep -qF "use: gdb $mpa/vmlinux $mpa/kcore" "$KCOREFS_LOG" || fail "the mount does not print the gdb command: $(cat "$KCOREFS_LOG")"
grep -q "per-CPU" "$KCOREFS_LOG" || fail "the mount does not give the per-CPU caveat"
[ "$(od -An -tx1 -j16 -N2 "$mp/vmlinux" | tr -d ' ')" = 0300 ] || fail "MNT/vmlinux is not ET_DYN"
cmp -s -i 18 "$mp/vmlinux" "$vmlinux" || fail "MNT/vmlinux differs from the file past e_type"
[ "$(stat -c %s "$mp/vmlinux")" = "$(stat -c %s "$vmlinux")" ] || fail "MNT/vmlinux size"
eu-readelf -n "$mp/kcore" | grep -A1 ' AUXV' | grep -q "ENTRY: $(printf '0x%x' $((0x1000000 + 0x400000)))" ||
  fail "kcore has no NT_AUXV with AT_ENTRY = e_entry + KERNELOFFSET: $(eu-readelf -n "$mp/kcore" | head -20)"
check_readelf "$mp/kcore" kcore
out=$(gdb_reads gdb "$mp/vmlinux" "$mp/kcore")
echo "$out"
check_reads "$out" "gdb MNT/vmlinux MNT/kcore"
# What the user's own vmlinux would give: the bug this fixes (the value is not the runtime one).
out=$(gdb_reads gdb "$vmlinux" "$mp/kcore")
if echo "$out" | grep -qx "\$1 = $(printf '0x%x' "$(mf jiffies_64)")"; then
  fail "gdb ET_EXEC vmlinux + kcore read jiffies_64 right: the overlap case is not exercised"
fi

"$KCOREFS" info --json "$mp" >"$TEST_TMP/mnt.json" || fail "info --json MNT failed"
cmd=$(json "$TEST_TMP/mnt.json" 'd["gdb"]["command"]') || fail "info --json MNT: $(cat "$TEST_TMP/mnt.json")"
[ "$cmd" = "gdb $mpa/vmlinux $mpa/kcore" ] || fail "info --json MNT gdb command: $cmd"
[ "$(json "$TEST_TMP/mnt.json" 'any("overlaps its runtime range" in w and d["gdb"]["command"] in w for w in d["warnings"])')" = True ] ||
  fail "info --json MNT warnings: $(json "$TEST_TMP/mnt.json" 'd["warnings"]')"
[ "$(json "$TEST_TMP/mnt.json" '(d["kaslr_offset"], d["kaslr_offset_hex"], isinstance(d["reads"], int), d["gdb"]["kcore_image"])')" = "(4194304, '0x400000', True, 'relocate')" ] ||
  fail "info --json MNT fields: $(cat "$TEST_TMP/mnt.json")"
read -ra argv <<<"$cmd"
out=$(gdb_reads "${argv[@]}")
check_reads "$out" "info's command '$cmd'"
"$KCOREFS" info "$mp" | grep -qx "gdb: *gdb $mpa/vmlinux $mpa/kcore" || fail "info MNT (text) gdb line"

# Without a vmlinux view: the symbol-file -o command info gives, run as given.
mp2=$TEST_TMP/mp2
mount_kcorefs "$core" "$mp2" --vmlinux ''
[ ! -e "$mp2/vmlinux" ] || fail "a vmlinux view without --vmlinux"
"$KCOREFS" info --json "$mp2" >"$TEST_TMP/mnt2.json" || fail "info --json MNT2 failed"
cmd=$(json "$TEST_TMP/mnt2.json" 'd["gdb"]["command"]')
mp2a=$(cd "$mp2" && pwd -P)
[ "$cmd" = "gdb -c $mp2a/kcore -ex 'symbol-file -o 0x400000 vmlinux'" ] || fail "info --json without vmlinux view: $cmd"
eval "out=\$(gdb_reads ${cmd/vmlinux\'/$vmlinux\'})"
check_reads "$out" "info's command '$cmd'"
"$KCOREFS" info --json "$core" >"$TEST_TMP/src.json" || fail "info --json SOURCE failed"
[ "$(json "$TEST_TMP/src.json" 'any("overlaps its runtime range" in w for w in d["warnings"])')" = True ] ||
  fail "info --json SOURCE has no overlap warning: $(json "$TEST_TMP/src.json" 'd["warnings"]')"

# No overlap: MNT/vmlinux is the file itself, kcore has no NT_AUXV, and gdb reads right.
CORES=$TEST_TMP/cores-far
make_cores kdump vmlinux
[ "$(mf image_overlaps)" = False ] || fail "the default offset overlaps"
mp3=$TEST_TMP/mp3
mount_kcorefs "$(mf files.kdump)" "$mp3" --vmlinux "$(mf files.vmlinux)"
cmp "$mp3/vmlinux" "$(mf files.vmlinux)" || fail "MNT/vmlinux is not byte-identical without overlap"
if eu-readelf -n "$mp3/kcore" | grep -q ' AUXV'; then fail "NT_AUXV without overlap"; fi
out=$(gdb_reads gdb "$mp3/vmlinux" "$mp3/kcore")
check_reads "$out" "gdb MNT/vmlinux MNT/kcore (no overlap)"
"$KCOREFS" info --json "$mp3" >"$TEST_TMP/mnt3.json" || fail "info --json MNT3"
mp3a=$(cd "$mp3" && pwd -P)
[ "$(json "$TEST_TMP/mnt3.json" 'd["gdb"]["command"]')" = "gdb $mp3a/vmlinux $mp3a/kcore" ] || fail "no-overlap command"
[ "$(json "$TEST_TMP/mnt3.json" 'any("overlap" in w for w in d["warnings"])')" = False ] || fail "overlap warning without overlap"

# Paths that are not UTF-8 still give JSON that parses (the bytes become U+FFFD).
odd=$TEST_TMP/$'core-\xff\xfe'
ln -s "$core" "$odd"
"$KCOREFS" info --json --vmlinux '' "$odd" >"$TEST_TMP/odd.json" || fail "info --json on a non-UTF-8 path"
[ "$(json "$TEST_TMP/odd.json" 'd["source"].endswith("core-\ufffd\ufffd")')" = True ] || fail "non-UTF-8 source: $(cat "$TEST_TMP/odd.json")"
echo ok
