# Truncated real dumps (issue 8, point 2), sourced by suite.sh: g1's QEMU ELF dump cut at
# 1 MiB, in the middle of its RAM and inside its last segment. Each cut is a sparse copy
# (zero pages stay holes, so a fresh guest's dump costs far less than its size) made,
# checked and removed one at a time.
#   trunc/1mb           refused; the message starts with "SOURCE is truncated: headers
#                       describe N bytes, the file has 1048576" and names the missing part
#   trunc/mid-ram       the same message if refused; if it mounts, the truncation is the
#                       first warning and crash reads the kernel, or (when the boot put
#                       data crash needs at start-up, e.g. the per-CPU areas, above the
#                       cut: physical KASLR decides) fails with read errors that all name
#                       addresses in the missing part, never reading zeros for them
#   trunc/ram-end       cut 512 KiB before the end: into RAM's last 256 KiB (the kernel's
#                       page tables for its image lie lower, about 1 MiB from the top of a
#                       512 MiB guest) and all of the last segment (QEMU's 256 KiB BIOS ROM)
#   trunc/last-segment  cut inside that last segment, 128 KiB before the end
#   Both must mount; the truncation (both sizes) is the first warning; crash sys gives the
#   guest's release; gdb reads linux_banner through kcore; a read of a missing address
#   fails in crash and in gdb (never zeros).

TRUNC_CHECKS=(trunc/1mb trunc/mid-ram trunc/ram-end trunc/last-segment)

# trunc_copy SIZE: a sparse copy of g1's dump cut to SIZE bytes; prints its path.
trunc_copy() {
  local out=$W/trunc.core
  rm -f "$out"
  cp --reflink=auto --sparse=always "$W/g1-elf.core" "$out" || fail "cannot copy the dump"
  truncate -s "$1" "$out" || fail "cannot cut the copy"
  echo "$out"
}

# The bytes g1's dump headers describe: the largest p_offset + p_filesz.
trunc_described() {
  python3 - "$W/g1-elf.core" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
print(max(p[2] + p[5] for p in ph if p[0] in (1, 4)))
PY
}

# trunc_mount FILE SIZE MP: runs the mount; prints "refused" or "mounted".
# Either way the message names the cut with both sizes, first.
trunc_mount() {
  local f=$1 m=$2 mp=$3 n out rc
  n=$(trunc_described)
  mkdir -p "$mp"
  "$KCOREFS" mount "$f" "$mp" >"$W/trunc.out" 2>&1
  rc=$?
  out=$(cat "$W/trunc.out")
  echo "kcorefs mount (cut at $m of $n bytes): rc $rc: $out" >&2
  if [ $rc -ne 0 ]; then
    head -1 <<<"$out" | grep -qF "error: $f is truncated: headers describe $n bytes, the file has $m" ||
      fail "refused, but the message does not start with the truncation and both sizes"
    grep -qE "is in the part missing from the truncated $f \(cut at $m of $n bytes\)|this may be caused by the truncated $f" <<<"$out" ||
      fail "refused, but the error does not point back at the truncation"
    echo refused
    return
  fi
  cleanup_fn "fusermount3 -u '$mp' 2>/dev/null"
  grep 'warning:' <<<"$out" | head -1 | grep -qF "$f is truncated: headers describe $n bytes, the file has $m" ||
    fail "mounted, but the first warning is not the truncation with both sizes"
  echo mounted
}

# trunc_addrs FILE: a physical address the headers describe but the cut file lacks,
# one it has (page-aligned, the last full page before the cut), and the first physical
# address the cut removed.
trunc_addrs() {
  python3 - "$1" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); size = f.seek(0, 2); f.seek(0); eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
for p in ph:
    if p[0] == 1 and p[2] < size < p[2] + p[5]:
        have = size - p[2]
        print("%#x %#x %#x" % (p[4] + have + 0x10000 & ~0xfff, p[4] + have - 0x2000 & ~0xfff,
                               p[4] + have))
        break
PY
}

# trunc_errors_in_cut OUT CUT: every address crash's start-up could not read (its "read
# error: kernel virtual address: X" lines) is a linear-map address ($dm + phys) whose
# page reaches the cut part (phys + 4096 > CUT); prints the first one that is not.
trunc_errors_in_cut() {
  python3 - "$1" "$2" "$dm" <<'PY'
import re, sys
# NUMBER(page_offset_base) is printed signed (%ld): a negative decimal.
out, cut, dm = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0) % (1 << 64)
addrs = re.findall(r"read error: kernel virtual address: ([0-9a-f]+)", out)
bad = [a for a in addrs if not 0 <= int(a, 16) - dm < 1 << 46 or int(a, 16) - dm + 4096 <= cut]
print(bad[0] if bad else ("" if addrs else "none"))
PY
}

trunc_crash_gdb() {  # trunc_crash_gdb MP FILE: what is present reads, what is missing fails
  local mp=$1 f=$2 missing present cut out rel bad
  read -r missing present cut <<<"$(trunc_addrs "$f")"
  [ -n "$missing" ] || fail "no PT_LOAD is cut by the truncation"
  rel=$(fact g1 release)
  out=$(printf 'sys\nrd -p %s\nrd -p %s\nquit\n' "$present" "$missing" |
        with_timeout 600 crash -s "$VM_VMLINUX" "$mp/vmcore" 2>&1)
  echo "$out"
  if grep -Eq "^ +RELEASE: $rel\$" <<<"$out"; then
    grep -Eiq "^ *${present#0x}: " <<<"$out" || fail "crash cannot read the present physical $present"
    grep -Eiq "^ *${missing#0x}: " <<<"$out" && fail "crash read the missing physical $missing (it must fail, not give zeros)"
    grep -Eiq "rd: .*(seek error|read error|not present|invalid)" <<<"$out" ||
      fail "crash gave no error for the missing physical $missing"
  else
    [ "$1" = "$W/mnt/trunc-mid-ram" ] || fail "crash sys on the cut dump: no RELEASE $rel"
    bad=$(trunc_errors_in_cut "$out" "$cut")
    [ -z "$bad" ] || fail "crash sys on the cut dump: no RELEASE $rel, and not (only) for missing addresses: $bad (cut at physical $cut)"
    echo "crash stopped at start-up on data above the cut (physical $cut); every read error names the missing part"
  fi
  out=$(with_timeout 300 gdb -nx -batch -ex 'x/s linux_banner' -ex "x/gx $(python3 -c "print(hex(($dm + $missing) % 2**64))")" \
        "$VM_VMLINUX" "$mp/kcore" 2>&1)
  echo "$out"
  if [ -z "$(kaslr_overlap dump-vmcoreinfo)" ]; then
    grep -q "<linux_banner>:[[:space:]]*\"Linux version $rel " <<<"$out" || fail "gdb cannot read linux_banner from the cut dump"
  fi
  grep -q "Cannot access memory at address" <<<"$out" || fail "gdb read the missing address instead of failing"
}

c_trunc() {  # c_trunc 1mb|mid-ram|last-segment
  local size f m mp=$W/mnt/trunc-$1 how
  size=$(stat -c %s "$W/g1-elf.core")
  case $1 in
    1mb) m=1048576 ;;
    mid-ram) m=$((size / 2 + 12345)) ;;
    ram-end) m=$((size - 524288 + 123)) ;;
    last-segment) m=$((size - 131072 + 123)) ;;
  esac
  f=$(trunc_copy "$m") || exit 1
  how=$(trunc_mount "$f" "$m" "$mp") || exit 1
  echo "cut at $m of $size bytes: $how"
  # Each check runs in a subshell, which does not run functions.sh's exit trap.
  trap "fusermount3 -u '$mp' 2>/dev/null; rm -f '$f'" EXIT
  case $1:$how in
    1mb:mounted) fail "a 1 MiB cut (no page tables) mounted" ;;
    ram-end:refused|last-segment:refused) fail "a cut after the kernel's page tables was refused" ;;
  esac
  if [ "$how" = mounted ]; then
    dm=$(sed -n 's/^NUMBER(page_offset_base)=//p' "$mp/vmcoreinfo")
    trunc_crash_gdb "$mp" "$f"
    fusermount3 -u "$mp"
  fi
  rm -f "$f"
}

run_truncation_checks() {
  local c
  for c in "${TRUNC_CHECKS[@]}"; do check "$c" c_trunc "${c#trunc/}"; done
}
