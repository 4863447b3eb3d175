# Consumer checks: what crash, drgn, gdb, makedumpfile, eu-readelf and binutils readelf
# need of a kernel core (research/core_consumers.md §7, §8). Sourced by the integration
# tests (synthetic cores) and the real-kernel suite (a guest's mount), after
# tests/integration/functions.sh. Each check fails loudly with `fail` and shows what it saw.
#
#   check_readelf FILE [vmcore|kcore]     both readelfs accept it; header rules
#   check_crash_osrelease VMCORE EXPECTED
#   check_drgn_kernel CORE [OSRELEASE]    drgn: IS_LINUX_KERNEL (and UTS_RELEASE)
#   check_drgn_read CORE ADDR EXPECTED [phys]   drgn reads EXPECTED (a string) at ADDR
#   check_gdb_read KCORE VADDR EXPECTED   gdb x/s at VADDR shows EXPECTED
#   check_makedumpfile_dmesg VMCORE MARKER
#   check_makedumpfile_d31 VMCORE OUTFILE [PRESENT_STRING [ABSENT_STRING]]

: "${DRGN_PYTHON:=/usr/bin/python3}"   # python3-drgn is a Debian package, not a pyenv one
: "${CHECK_TIMEOUT:=60}"
declare -F fail >/dev/null || fail() { echo "FAIL: $*" >&2; exit 1; }
declare -F with_timeout >/dev/null || with_timeout() { local t=$1; shift; timeout --kill-after=5 "$t" "$@"; }
_check_tmp() { mktemp "${TEST_TMP:-/tmp}/check.XXXXXX"; }

# check_readelf FILE [vmcore|kcore]: eu-readelf and binutils readelf parse the program
# headers and notes without complaint; e_phoff 64; exactly one PT_NOTE, phdr[0], p_align 4
# (kcore: 0 or 4); a VMCOREINFO note (namesz 11, type 0, text ending in \n); no PT_LOAD at
# p_offset 0; the file covers every segment; vmcore: every PT_LOAD p_align 0, no
# NT_TASKSTRUCT/QEMU/SNAP notes, the first PT_LOAD is the kernel image.
check_readelf() {
  local f=$1 kind=${2:-vmcore} out
  out=$(_check_tmp)
  with_timeout "$CHECK_TIMEOUT" eu-readelf -l -n "$f" >"$out" 2>&1 || { cat "$out" >&2; fail "eu-readelf -l -n $f failed"; }
  grep -q VMCOREINFO "$out" || { cat "$out" >&2; fail "eu-readelf shows no VMCOREINFO note in $f"; }
  if grep -Eq '^eu-readelf:|garbage data' "$out"; then cat "$out" >&2; fail "eu-readelf complains about $f"; fi
  with_timeout "$CHECK_TIMEOUT" readelf -W -l -n "$f" >"$out" 2>&1 || { cat "$out" >&2; fail "readelf -l -n $f failed"; }
  if grep -Eq '^readelf: (Warning|Error)|Corrupt' "$out"; then cat "$out" >&2; fail "binutils readelf complains about $f"; fi
  "$DRGN_PYTHON" - "$f" "$kind" >"$out" 2>&1 <<'EOF' || { cat "$out" >&2; fail "ELF header rules broken in $f ($kind)"; }
import os, struct, sys
path, kind = sys.argv[1], sys.argv[2]
errs = []
with open(path, "rb") as f:
    eh = f.read(64)
    if eh[:4] != b"\x7fELF" or eh[4] != 2 or eh[5] != 1:
        sys.exit("not a little-endian ELF64 file")
    etype, mach, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack_from("<HHIQQQIHHH", eh, 16)
    if etype != 4: errs.append("e_type %d is not ET_CORE" % etype)
    if phoff != 64: errs.append("e_phoff %d is not 64" % phoff)
    if phnum < 2 or phnum == 0xFFFF: errs.append("e_phnum %d" % phnum)
    f.seek(phoff)
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    size = os.fstat(f.fileno()).st_size
    notes = [i for i, p in enumerate(ph) if p[0] == 4]
    if notes != [0]: errs.append("PT_NOTE at phdr indexes %s, want exactly [0]" % notes)
    allowed = (4,) if kind == "vmcore" else (0, 4)
    if ph[0][7] not in allowed: errs.append("PT_NOTE p_align %d (want %s)" % (ph[0][7], allowed))
    loads = [p for p in ph if p[0] == 1]
    if not loads: errs.append("no PT_LOAD")
    first_data = min([p[2] for p in loads if p[5]] or [size])
    if ph[0][2] == 0 or ph[0][2] + ph[0][5] > first_data:
        errs.append("notes [%#x,+%#x) do not lie before the first PT_LOAD data %#x" % (ph[0][2], ph[0][5], first_data))
    for i, p in enumerate(ph):
        if p[0] != 1: continue
        if p[2] == 0: errs.append("PT_LOAD[%d] at p_offset 0" % i)
        if p[2] + p[5] > size: errs.append("PT_LOAD[%d] ends at %#x past st_size %#x" % (i, p[2] + p[5], size))
        if p[5] > p[6]: errs.append("PT_LOAD[%d] p_filesz > p_memsz" % i)
        if kind == "vmcore" and p[7] != 0: errs.append("PT_LOAD[%d] p_align %d (vmcore wants 0)" % (i, p[7]))
        if p[4] == 0xFFFFFFFFFFFFFFFF and p[5] != p[6]: errs.append("PT_LOAD[%d] p_paddr -1 with filesz != memsz" % i)
    if kind == "vmcore" and loads and loads[0][3] < 0xFFFFFFFF80000000:
        errs.append("first PT_LOAD vaddr %#x is not the kernel image" % loads[0][3])
    f.seek(ph[0][2]); data = f.read(ph[0][5])
off, names, vmci = 0, [], None
while off + 12 <= len(data):
    namesz, descsz, ntype = struct.unpack_from("<III", data, off)
    if namesz == 0 and descsz == 0: break
    name = data[off + 12:off + 12 + namesz]
    desc_off = off + 12 + (namesz + 3) // 4 * 4
    desc = data[desc_off:desc_off + descsz]
    names.append((name.rstrip(b"\0").decode(errors="replace"), ntype))
    if name == b"VMCOREINFO\0" and ntype == 0: vmci = desc
    off = desc_off + (descsz + 3) // 4 * 4
if vmci is None: errs.append("no VMCOREINFO note (namesz 11, type 0); notes: %s" % names)
elif not vmci.rstrip(b"\0").endswith(b"\n") or not vmci.startswith(b"OSRELEASE="):
    errs.append("VMCOREINFO text must start with OSRELEASE= and end in a newline")
if kind == "vmcore":
    bad = [n for n in names if n[0] in ("QEMU", "SNAP") or (n[0] == "CORE" and n[1] == 4)]
    if bad: errs.append("notes a vmcore must not carry: %s" % bad)
print("phdrs:", len(ph), "notes:", names)
if errs:
    print("\n".join(errs)); sys.exit(1)
EOF
  rm -f "$out"
}

# check_crash_osrelease VMCORE EXPECTED: crash classifies the file as a kdump (p_align 0)
# and reads OSRELEASE from its VMCOREINFO.
check_crash_osrelease() {
  local got
  got=$(with_timeout "$CHECK_TIMEOUT" crash --osrelease "$1" 2>&1) || fail "crash --osrelease $1 failed: $got"
  [ "$got" = "$2" ] || fail "crash --osrelease $1 printed '$got', expected '$2'"
}

# check_drgn_kernel CORE [OSRELEASE]: drgn takes CORE as a Linux kernel core.
check_drgn_kernel() {
  local got
  got=$(with_timeout "$CHECK_TIMEOUT" "$DRGN_PYTHON" - "$1" <<'EOF' 2>&1
import sys, drgn
p = drgn.Program()
p.set_core_dump(sys.argv[1])
print(bool(p.flags & drgn.ProgramFlags.IS_LINUX_KERNEL), p["UTS_RELEASE"].string_().decode())
EOF
) || fail "drgn cannot open $1: $got"
  case $got in
    "True ${2:-}"*) ;;
    *) fail "drgn on $1: '$got' (want IS_LINUX_KERNEL${2:+ and release $2})" ;;
  esac
}

# check_drgn_read CORE ADDR EXPECTED [phys]: drgn reads the string EXPECTED at ADDR
# (virtual through its segments and page-table walk, or physical with "phys").
check_drgn_read() {
  local got
  got=$(with_timeout "$CHECK_TIMEOUT" "$DRGN_PYTHON" - "$1" "$2" "$3" "${4:-}" <<'EOF' 2>&1
import sys, drgn
p = drgn.Program()
p.set_core_dump(sys.argv[1])
want = sys.argv[3].encode()
got = p.read(int(sys.argv[2], 0), len(want), sys.argv[4] == "phys")
print("ok" if got == want else "read %r" % got)
EOF
) || fail "drgn read of $2 in $1 failed: $got"
  [ "$got" = ok ] || fail "drgn at $2${4:+ ($4)} in $1: $got, want '$3'"
}

# check_gdb_read KCORE VADDR EXPECTED: gdb (no vmlinux) reads the string at VADDR.
check_gdb_read() {
  local got
  got=$(with_timeout "$CHECK_TIMEOUT" gdb -nx -batch -ex "core-file $1" -ex "x/s $2" 2>&1) ||
    fail "gdb on $1 failed: $got"
  grep -qF -- "\"$3" <<<"$got" || fail "gdb x/s $2 in $1 did not show '$3':
$got"
}

# check_makedumpfile_dmesg VMCORE MARKER: makedumpfile --dump-dmesg finds MARKER in the log.
check_makedumpfile_dmesg() {
  local out
  out=$(_check_tmp)
  rm -f "$out"
  local log
  log=$(with_timeout "$CHECK_TIMEOUT" makedumpfile --dump-dmesg "$1" "$out" 2>&1) ||
    fail "makedumpfile --dump-dmesg $1 failed: $log"
  grep -qF -- "$2" "$out" || fail "makedumpfile --dump-dmesg $1: no '$2' in the log: $(head -c 2000 "$out") $log"
  rm -f "$out"
}

# check_makedumpfile_d31 VMCORE OUTFILE [PRESENT [ABSENT]]: makedumpfile -d 31 writes a
# non-empty kdump-compressed file (uncompressed pages); PRESENT must be in it and ABSENT
# (a string only free pages hold) must not.
check_makedumpfile_d31() {
  local log
  rm -f "$2"
  log=$(with_timeout "$CHECK_TIMEOUT" makedumpfile -d 31 "$1" "$2" 2>&1) || fail "makedumpfile -d 31 $1 failed: $log"
  [ -s "$2" ] || fail "makedumpfile -d 31 $1 wrote nothing: $log"
  [ "$(head -c 8 "$2")" = "KDUMP   " ] || fail "makedumpfile -d 31 output $2 has no KDUMP signature"
  if [ -n "${3:-}" ] && ! grep -qaF -- "$3" "$2"; then fail "makedumpfile -d 31 $1: '$3' missing from $2"; fi
  if [ -n "${4:-}" ] && grep -qaF -- "$4" "$2"; then fail "makedumpfile -d 31 $1: '$4' (free pages) not excluded"; fi
  return 0
}

# --- Synthetic cores (integration tests) -------------------------------------------------
# make_cores [mkcore.py args...]: writes tests/tools/mkcore.py's cores into $CORES and the
# kcore-shaped one (a ~100 TiB sparse file) into a tmpfs directory $KCORE_DIR; sets
# MANIFEST. Call it in the test's own shell (it registers a cleanup).
make_cores() {
  if [ -z "${CORES:-}" ]; then
    CORES=$TEST_TMP/cores
    cleanup_fn "rm -rf '$CORES'"   # multi-GiB sparse files: gone before the test ends
  fi
  MANIFEST=$CORES/manifest.json
  if [ -z "${KCORE_DIR:-}" ]; then
    KCORE_DIR=$(mktemp -d /dev/shm/kcorefs-test.XXXXXX) || fail "cannot make a tmpfs directory"
    cleanup_fn "rm -rf '$KCORE_DIR'"
  fi
  "$DRGN_PYTHON" "$SRCDIR/tests/tools/mkcore.py" "$CORES" --kcore-dir "$KCORE_DIR" "$@" ||
    fail "tests/tools/mkcore.py $* failed"
}

# mf KEY.PATH: a value from the manifest (list indexes are numbers: ram.0.1).
mf() {
  "$DRGN_PYTHON" - "$MANIFEST" "$1" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)
PY
}
