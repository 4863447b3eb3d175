#!/usr/bin/env bash
# Real-kernel end-to-end suite: Debian's current kernel in a throwaway QEMU guest
# (contrib/vm/), checked through kcorefs with crash, gdb, drgn, makedumpfile and eu-readelf.
#
# Sources checked (each check is its own recorded test, named SOURCE/CHECK):
#   dump-vmcoreinfo    kcorefs on QEMU's ELF dump of a guest with -device vmcoreinfo
#   dump-novmcoreinfo  kcorefs on QEMU's ELF dump of a guest without it (VMCOREINFO found
#                      by kcorefs's scan of physical memory)
#   live               the guest's /proc/kcore served by stock `nbdkit -r file /proc/kcore`
#                      on a virtio-serial port, mounted here by kcorefs's nbd backend
#                      (`kcorefs mount nbd+unix:///?socket=... MNT`; checks_nbd.sh)
#   live-guest         kcorefs inside the guest on its /proc/kcore (the live backend); its
#                      vmcore and kcore views served to the host by stock nbdkit on two
#                      other ports and read here through nbdfuse -C 1 (a subset of checks)
#
# Usage: tests/realkernel/suite.sh [--results-fd N] [--only REGEX]
#   --results-fd N   also write "NAME RC LOGFILE" per check to fd N (meson_run.sh records
#                    each for its own meson test) and "#note TEXT" for the summary lines
#   --only REGEX     run only the checks whose name matches (setup always runs)
# Environment: KCOREFS (the binary), KCOREFS_CACHE (downloads, default
# /var/cache/kcorefs-tests), KCOREFS_RESULTS (summary file, default
# BUILD/realkernel-results.txt), TEST_TMP (scratch; removed at exit unless KEEP_TMP=1).
# Exit status: 0 when every check passed, 1 otherwise.
set -u
SUITE_START=$SECONDS
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/functions.sh"
source "$HERE/../checks/consumers.sh"
source "$HERE/../../contrib/vm/vm.sh"
source "$HERE/checks_kmemdump.sh"   # kmemdump region sets (issue 10)
source "$HERE/checks_kaslr.sh"
source "$HERE/checks_truncation.sh"
source "$HERE/checks_redact.sh"     # -o redact=user (issue 11)
: "${CHECK_TIMEOUT:=300}"   # for the consumer checks shared with the integration tests

RESULTS_FD=
ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    --results-fd) RESULTS_FD=$2; shift ;;
    --only) ONLY=$2; shift ;;
    *) echo "usage: $0 [--results-fd N] [--only REGEX]" >&2; exit 2 ;;
  esac
  shift
done

BUILD_DIR=${KCOREFS%/src/cli/kcorefs}
: "${KCOREFS_RESULTS:=$BUILD_DIR/realkernel-results.txt}"
W=$TEST_TMP/rk
LOGS=$W/logs
mkdir -p "$W" "$LOGS"
[ -n "${KEEP_TMP:-}" ] || cleanup_fn "rm -rf --one-file-system '$W' 2>/dev/null"
cleanup_fn "vm_stop_all"
n_pass=0
n_fail=0
SUMMARY=()

emit() {  # emit NAME RC LOG
  if [ "$2" -eq 0 ]; then n_pass=$((n_pass + 1)); echo "PASS: realkernel/$1"
  else n_fail=$((n_fail + 1)); echo "FAIL: realkernel/$1 (log: $3)"; sed 's/^/    /' "$3" | tail -40; fi
  [ -n "$RESULTS_FD" ] && echo "$1 $2 $3" >&"$RESULTS_FD"
}
summary() {  # a line for the closing summary (also in $KCOREFS_RESULTS)
  SUMMARY+=("$*")
  echo "# $*"
  [ -n "$RESULTS_FD" ] && echo "#note $*" >&"$RESULTS_FD"
}

# check NAME FUNCTION ARGS...: runs FUNCTION in a subshell, its output to a log of its own.
check() {
  local name=$1 rc log
  shift
  if [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
  log=$LOGS/${name//\//_}.log
  ( set -o pipefail; "$@" ) >"$log" 2>&1 </dev/null
  rc=$?
  emit "$name" "$rc" "$log"
}

# setup_step NAME FUNCTION ARGS...: like check, but the suite cannot go on without it: a
# failure records every check that could not run as failed too, and stops.
PLANNED=()
setup_step() {
  local name=$1 rc log
  shift
  log=$LOGS/setup_${name}.log
  ( set -o pipefail; "$@" ) >"$log" 2>&1 </dev/null
  rc=$?
  emit "setup/$name" "$rc" "$log"
  if [ "$rc" -ne 0 ]; then
    local c
    for c in "${PLANNED[@]}"; do
      echo "not run: setup step $name failed (see $log)" >"$LOGS/notrun.log"
      emit "$c" 1 "$LOGS/notrun.log"
    done
    finish
  fi
}

finish() {
  local wall=$((SECONDS - SUITE_START))
  summary "real-kernel suite wall time: ${wall} s"
  {
    echo "kcorefs real-kernel suite, $(date -u '+%Y-%m-%d %H:%M UTC'), kernel ${VM_ABI:-?} ${VM_VERSION:-?}"
    printf '%s\n' "${SUMMARY[@]}"
    echo "$n_pass passed, $n_fail failed"
  } >"$KCOREFS_RESULTS" 2>/dev/null && echo "# summary written to $KCOREFS_RESULTS"
  echo "$n_pass passed, $n_fail failed"
  [ "$n_fail" -eq 0 ]
  exit
}

# ---------------------------------------------------------------------------------------
# Guests. Two are booted: g1 with -device vmcoreinfo (live checks, ELF and kdump-zlib dumps)
# and g2 without it (ELF dump without VMCOREINFO). vm.sh keeps one guest in its globals;
# these wrappers switch between them.

declare -A G_DIR G_PID
use_guest() { VM_DIR=${G_DIR[$1]}; VM_PID=${G_PID[$1]}; }
stop_guest() {  # stop_guest NAME: once only (a reaped pid may be reused)
  [ -n "${G_PID[$1]:-}" ] || return 0
  use_guest "$1"
  vm_stop
  G_PID[$1]=
}
vm_stop_all() {
  local g
  for g in "${!G_DIR[@]}"; do stop_guest "$g"; done
}

MARK_BASE="kcorefs-rk-$(date +%s)-$RANDOM"

prepare_fixture() {  # kernel, vmlinux, modules (cached) and the initramfs
  vm_fixture
  echo "kernel: $VM_ABI $VM_VERSION, vmlinux $VM_VMLINUX"
  vm_initramfs "$W/initramfs.cpio" "$KCOREFS"
}

start_guest() {  # start_guest NAME [vm_start options]: in the suite's own shell
  local g=$1
  shift
  vm_start "$W/$g" --initrd "$W/initramfs.cpio" --marker "$MARK_BASE-$g" "$@"
  G_DIR[$g]=$VM_DIR
  G_PID[$g]=$VM_PID
}

wait_guest() {  # wait_guest NAME: waits, then records what the guest says about itself
  local g=$1 f
  use_guest "$g"
  vm_wait_ready
  echo "guest $g ready after $VM_BOOT_SECONDS s (since the wait began)"
  f=$W/$g.facts
  vm_ctl 'echo release=$(uname -r)
          echo kernel_code=0x$(sed -n "s/^ *\([0-9a-f]*\)-.* : Kernel code$/\1/p" /proc/iomem)
          echo text=0x$(sed -n "s/^\([0-9a-f]*\) T _text$/\1/p" /proc/kallsyms)
          echo memtotal_kb=$(sed -n "s/^MemTotal: *\([0-9]*\) kB/\1/p" /proc/meminfo)' >"$f" ||
    vm_fail "query guest $g" "the control port did not answer"
  cat "$f"
  grep -q '^release=[0-9]' "$f" && grep -q '^text=0xf' "$f" && grep -q '^kernel_code=0x[0-9a-f]' "$f" ||
    vm_fail "query guest $g" "incomplete facts: $(cat "$f")"
}

fact() {  # fact GUEST KEY
  sed -n "s/^$2=//p" "$W/$1.facts"
}
# phys_base from the guest's own view: __pa(_text) - (_text - __START_KERNEL_map), as the
# signed decimal VMCOREINFO prints.
guest_phys_base() {
  python3 -c "import sys; print($(fact "$1" kernel_code) - ($(fact "$1" text) - 0xffffffff80000000))"
}

dump_guest() {  # dump_guest NAME FORMAT OUT
  use_guest "$1"
  vm_dump "$2" "$3"
}

# ---------------------------------------------------------------------------------------
# Tool sessions. Each source S has a directory $W/S with: vmcore, kcore (paths to the
# files), guest (the guest it came from), marker. Sessions are run once and cached as
# files there; the checks read them.

CRASH_A='sys
ps
log
bt -a'
CRASH_B='list -o task_struct.tasks -s task_struct.comm -h init_task
p jiffies_64'

run_crash() {  # run_crash VMCORE OUT COMMANDS: crash session, wall time in OUT.time
  local t0=$SECONDS rc
  printf '%s\nquit\n' "$3" | with_timeout 600 crash -s "$VM_VMLINUX" "$1" >"$2" 2>&1
  rc=$?
  echo $((SECONDS - t0)) >"$2.time"
  return $rc
}

crash_session() {  # crash_session SRC a|b: the session's output file (runs it once)
  local s=$W/$1 out
  out=$s/crash-$2.out
  if [ ! -f "$out.done" ]; then
    if [ "$2" = a ]; then run_crash "$(cat "$s/vmcore")" "$out" "$CRASH_A"
    else run_crash "$(cat "$s/vmcore")" "$out" "$CRASH_B"; fi
    echo $? >"$out.done"
    # A running kernel changes while crash reads its task table at startup (a task freed
    # between the read of a pointer and of what it points to): one more try, said in the log.
    if is_live "$1" && [ "$(cat "$out.done")" != 0 ]; then
      mv "$out" "$out.try1"
      echo "NOTE: crash exited with status $(cat "$out.done") on the running kernel (try 1:" \
           "$(grep -E '^crash: ' "$out.try1" | head -2 | tr '\n' ' ')); tried once more" >"$out.note"
      if [ "$2" = a ]; then run_crash "$(cat "$s/vmcore")" "$out" "$CRASH_A"
      else run_crash "$(cat "$s/vmcore")" "$out" "$CRASH_B"; fi
      echo $? >"$out.done"
    fi
  fi
  [ -f "$out.note" ] && cat "$out.note" >&2
  cat "$out" >&2
  [ "$(cat "$out.done")" = 0 ] || fail "crash exited with status $(cat "$out.done") (wall $(cat "$out.time") s)"
  # On the live source crash reads a running kernel it takes for a dump: the runqueue and
  # per-CPU current_task, read microseconds apart, name different tasks (the reader itself is
  # kcorefs on one of the CPUs). crash reports that and goes on; it is not a read error.
  grep -E '^crash: ' "$out" | grep -v 'crash: .* (no such|cannot find the)' |
    { if is_live "$1"; then grep -v 'inconsistent active task indications'; else cat; fi; } >&2 &&
    fail "crash reported errors (above)"
  echo "$out"
}

# ---------------------------------------------------------------------------------------
# Checks

# eu_readelf_view FILE KIND: the shared header checks, then eu-readelf's own view of one
# PT_NOTE holding VMCOREINFO. Sets `out` to eu-readelf's output for the caller's checks.
eu_readelf_view() {
  check_readelf "$1" "$2"
  out=$(eu-readelf -l -n "$1")
  echo "$out" | head -30
  [ "$(echo "$out" | grep -c '^  NOTE ')" = 1 ] || fail "eu-readelf: not exactly one PT_NOTE"
  echo "$out" | grep -q '^  VMCOREINFO ' || fail "eu-readelf: no VMCOREINFO note"
}

c_readelf() {  # vmcore: one PT_NOTE with VMCOREINFO, every PT_LOAD p_align 0
  local s=$W/$1 out
  eu_readelf_view "$(cat "$s/vmcore")" vmcore
  echo "$out" | grep -q "OSRELEASE=$(fact "$(cat "$s/guest")" release)\$" || fail "VMCOREINFO OSRELEASE is not the guest's release"
  echo "$out" | awk '$1 == "LOAD" && $NF != "0x0" { bad = 1; print "bad align: " $0 } END { exit bad }' ||
    fail "a vmcore PT_LOAD has p_align != 0"
}

c_readelf_kcore() {  # kcore: one PT_NOTE with VMCOREINFO, kernel image at its link-time address too
  local s=$W/$1 out
  eu_readelf_view "$(cat "$s/kcore")" kcore
  if [ -z "$(kaslr_overlap "$1")" ]; then
    echo "$out" | awk '$1 == "LOAD" && $3 ~ /^0xffffffff81/ { ok = 1 } END { exit !ok }' ||
      fail "no PT_LOAD at the kernel's link-time address 0xffffffff81000000"
  fi
}

c_crash_sys() {
  local out rel
  out=$(crash_session "$1" a) || exit 1
  rel=$(fact "$(cat "$W/$1/guest")" release)
  grep -Eq "^ +RELEASE: $rel\$" "$out" || fail "crash sys: RELEASE is not the guest's $rel"
  grep -Eq "^ +VERSION: .*Debian" "$out" || fail "crash sys: no VERSION line"
  echo "crash sys RELEASE $rel; session wall time $(cat "$out.time") s"
}

c_crash_tasks() {
  local out t
  out=$(crash_session "$1" b) || exit 1
  # A running kernel's task list changes under the walk (a kworker exits between the read
  # of its neighbour's next pointer and its own): one more walk, said in the log.
  if is_live "$1" && grep -q 'list: invalid list entry' "$out"; then
    echo "NOTE: the task list changed under crash's walk on the running kernel; walking it once more"
    mv "$out" "$out.walk1"
    rm -f "$out.done"
    out=$(crash_session "$1" b) || exit 1
  fi
  for t in init kthreadd kcorefs; do
    grep -q "comm = \"$t\\\\000" "$out" || fail "the task list (list -o task_struct.tasks ...) has no '$t'"
  done
  echo "tasks: $(grep -c 'comm = ' "$out")"
}

c_crash_log() {
  local out mark
  out=$(crash_session "$1" a) || exit 1
  mark=$(cat "$W/$1/marker")
  grep -q "kcorefs-realkernel-marker $mark\$" "$out" && return 0
  # Say where the line went: crash's log (its size and end) against the guest's own dmesg.
  echo "crash log: $(grep -c '^\[ *[0-9.]*\] ' "$out") lines, the last ones:"
  grep '^\[ *[0-9.]*\] ' "$out" | tail -5
  grep -n 'kcorefs-realkernel-marker' "$out"
  if is_live "$1"; then
    echo "the guest's dmesg: $(vm_ctl 'dmesg | wc -l') lines; marker lines:"
    vm_ctl 'dmesg | grep kcorefs-realkernel-marker'
  fi
  fail "crash log: no marker line '$mark'"
}

c_crash_bt() {
  local out bts
  out=$(crash_session "$1" a) || exit 1
  bts=$(sed -n '/^PID: .*CPU: /,$p' "$out")
  [ "$(echo "$bts" | grep -c '^PID: .*CPU: ')" -ge 2 ] || fail "bt -a: fewer than 2 CPUs' backtraces"
  echo "$bts" | grep -Eq '^ #1 \[[0-9a-f]+\] [a-z_]' || fail "bt -a: no frames"
  if grep -Eiq 'read error|seek error|invalid kernel virtual address|cannot (read|access)|bt: ' "$out"; then
    grep -Ei 'read error|seek error|invalid kernel virtual address|cannot (read|access)|bt: ' "$out"
    fail "bt -a: read errors"
  fi
}

gdb_kcore() {  # gdb_kcore KCORE [KERNELOFFSET]: prints gdb's answers, one per line
  if [ -n "${2:-}" ]; then
    with_timeout 300 gdb -nx -batch -ex "symbol-file -o $2 $VM_VMLINUX" -ex "core-file $1" \
      -ex 'p/x phys_base' -ex 'p jiffies_64' -ex 'x/s linux_banner' 2>&1
  else
    with_timeout 300 gdb -nx -batch -ex 'p/x phys_base' -ex 'p jiffies_64' -ex 'x/s linux_banner' \
      "$VM_VMLINUX" "$1" 2>&1
  fi
}

# When KASLR put the kernel image less than its size above its link-time address, the kcore
# view cannot map it at both (kcorefs warns at mount and prints the symbol-file -o command);
# prints KERNELOFFSET in that case, nothing otherwise. About 1 boot in 20.
kaslr_overlap() {  # kaslr_overlap SRC
  local off size
  off=$(sed -n 's/^KERNELOFFSET=//p' "$W/$1/vmcoreinfo")
  size=$(eu-readelf -l "$(cat "$W/$1/vmcore")" | awk '$1 == "LOAD" { print $5; exit }')
  [ -n "$off" ] && [ -n "$size" ] && [ $((0x$off < size)) = 1 ] && echo "0x$off"
}

vmlinux_static_jiffies() {  # jiffies_64's initial value, read from vmlinux alone
  if [ ! -s "$W/static-jiffies" ]; then
    with_timeout 300 gdb -nx -batch -ex 'p jiffies_64' "$VM_VMLINUX" 2>&1 |
      sed -n 's/^\$1 = \([0-9]*\)$/\1/p' >"$W/static-jiffies"
  fi
  cat "$W/static-jiffies"
}

c_gdb() {  # phys_base, jiffies_64, linux_banner through the kcore view without symbol-file -o
  local src=$1 s=$W/$1 out g want_pb pb vmci_pb j cj sj rel ov
  g=$(cat "$s/guest")
  ov=$(kaslr_overlap "$src")
  [ -z "$ov" ] || echo "NOTE: KASLR offset $ov overlaps the link-time image: using symbol-file -o $ov as kcorefs advises"
  out=$(gdb_kcore "$(cat "$s/kcore")" "$ov")
  echo "$out"
  pb=$(echo "$out" | sed -n 's/^\$1 = \(0x[0-9a-f]*\)$/\1/p')
  [ -n "$pb" ] || fail "gdb: no value for p/x phys_base"
  want_pb=$(guest_phys_base "$g")
  vmci_pb=$(sed -n 's/^NUMBER(phys_base)=//p' "$s/vmcoreinfo")
  [ -n "$vmci_pb" ] || fail "no NUMBER(phys_base) in the source's VMCOREINFO ($s/vmcoreinfo)"
  python3 - "$pb" "$vmci_pb" "$want_pb" <<'EOF' || fail "gdb phys_base $pb does not match"
import sys
got = int(sys.argv[1], 16)
vmci, guest = int(sys.argv[2]) % 2**64, int(sys.argv[3]) % 2**64
print("gdb phys_base %#x, VMCOREINFO NUMBER(phys_base) %#x, guest (/proc/iomem, kallsyms) %#x" % (got, vmci, guest))
sys.exit(0 if got == vmci == guest else 1)
EOF
  rel=$(fact "$g" release)
  echo "$out" | grep -q "<linux_banner>:[[:space:]]*\"Linux version $rel " || fail "gdb x/s linux_banner does not show $rel"
  j=$(echo "$out" | sed -n 's/^\$2 = \([0-9]*\)$/\1/p')
  [ -n "$j" ] || fail "gdb: no value for p jiffies_64"
  sj=$(vmlinux_static_jiffies)
  [ -n "$sj" ] || fail "gdb cannot read jiffies_64 from vmlinux alone"
  if is_live "$src"; then
    echo "live jiffies_64 $j, vmlinux's static value $sj, the ELF dump's ${DUMP_JIFFIES:-?}"
    [ "$j" -gt "$sj" ] || fail "live jiffies_64 $j does not exceed vmlinux's static $sj (gdb read the file, not the guest)"
    if [ -n "${DUMP_JIFFIES:-}" ]; then
      [ "$j" -gt "$DUMP_JIFFIES" ] || fail "live jiffies_64 $j is not past the earlier dump's $DUMP_JIFFIES"
    fi
  else
    cj=$(sed -n 's/^jiffies_64 = \$[0-9]* = \([0-9]*\)$/\1/p' "$(crash_session "$src" b)")
    echo "gdb jiffies_64 $j, crash $cj, vmlinux's static value $sj"
    [ "$j" = "$cj" ] || fail "gdb jiffies_64 $j != crash's $cj on the same dump"
    [ "$j" != "$sj" ] || fail "gdb jiffies_64 is vmlinux's static value: it read the file, not the dump"
  fi
}

c_drgn_osrelease() {
  check_drgn_kernel "$(cat "$W/$1/vmcore")" "$(fact "$(cat "$W/$1/guest")" release)"
}

c_drgn_tasks() {
  local out
  out=$(with_timeout 300 "$DRGN_PYTHON" - "$(cat "$W/$1/vmcore")" "$VM_VMLINUX" 2>&1 <<'EOF'
import sys, drgn
from drgn.helpers.linux.pid import for_each_task
p = drgn.Program()
p.set_core_dump(sys.argv[1])
p.load_debug_info([sys.argv[2]])
print("release", p["init_uts_ns"].name.release.string_().decode())
for t in for_each_task(p):
    print("task", t.pid.value_(), t.comm.string_().decode())
EOF
) || { echo "$out"; fail "drgn with vmlinux failed"; }
  echo "$out"
  echo "$out" | grep -q "^release $(fact "$(cat "$W/$1/guest")" release)\$" || fail "drgn: init_uts_ns release is not the guest's"
  local t
  for t in "1 init" "2 kthreadd"; do
    echo "$out" | grep -q "^task $t\$" || fail "drgn: no task '$t'"
  done
  echo "$out" | grep -q "^task [0-9]* kcorefs\$" || fail "drgn: no kcorefs task"
}

c_makedumpfile_dmesg() {
  check_makedumpfile_dmesg "$(cat "$W/$1/vmcore")" "kcorefs-realkernel-marker $(cat "$W/$1/marker")"
}

d31_once() {  # d31_once SRC: makedumpfile -d 31 -c, then crash sys on the result
  local s=$W/$1 out=$W/$1/d31.kdump log t0=$SECONDS
  rm -f "$out"
  log=$(with_timeout 600 makedumpfile -d 31 -c "$(cat "$s/vmcore")" "$out" 2>&1) || fail "makedumpfile -d 31 -c failed: $log"
  echo "$log" | tr '\r' '\n' | grep -v '^Copying data\|^Checking for\|^Excluding'
  [ "$(head -c 8 "$out")" = "KDUMP   " ] || fail "makedumpfile -d 31 -c output has no KDUMP signature"
  echo "makedumpfile -d 31 -c: $(stat -c %s "$out") bytes in $((SECONDS - t0)) s"
  run_crash "$out" "$s/crash-d31.out" sys
  cat "$s/crash-d31.out"
  grep -Eq "^ +RELEASE: $(fact "$(cat "$s/guest")" release)\$" "$s/crash-d31.out" || return 1
  rm -f "$out"
}

c_makedumpfile_d31() {
  if ! is_live "$1"; then
    d31_once "$1" || fail "crash sys on the -d 31 -c output: wrong or no RELEASE"
    return
  fi
  # A filtered dump of a running kernel is not a snapshot: makedumpfile decides which pages
  # to keep from mem_map first and copies them afterwards, so a page allocated in between
  # (a new thread's stack or page table) is left out, and crash stops on it. The guest's
  # reader (kcorefs in the guest for live-guest, nbdkit for live) starts worker threads on
  # demand: start them first with a burst of parallel reads, so the dump does not race it. One retry for the
  # rest of the guest's activity (on a loaded host the window is wider: two retries); a
  # retry is reported in the log.
  local i
  for i in $(seq 0 15); do
    dd if="$(cat "$W/$1/vmcore")" of=/dev/null bs=64k count=16 skip=$((i * 512)) iflag=direct 2>/dev/null &
  done
  wait
  for i in 1 2 3; do
    d31_once "$1" && return 0
    echo "NOTE: crash could not open the live -d 31 -c dump (try $i; memory changed during makedumpfile)"
  done
  fail "crash sys on the -d 31 -c output of the live source failed three times"
}

# ---------------------------------------------------------------------------------------
# Plan

SOURCES=(live dump-vmcoreinfo dump-novmcoreinfo)
CHECKS=(readelf readelf-kcore crash-sys crash-tasks crash-log crash-bt gdb drgn-osrelease drgn-tasks
        makedumpfile-dmesg makedumpfile-d31)
for s in "${SOURCES[@]}"; do for c in "${CHECKS[@]}"; do PLANNED+=("$s/$c"); done; done
PLANNED+=(live/bytes-read dumps/kdump-zlib "${KMD_CHECKS[@]}" kaslr/find kaslr/overlap-gdb
          dump-vmcoreinfo/gdb-vmlinux-view dump-novmcoreinfo/gdb-vmlinux-view)
PLANNED+=("${TRUNC_CHECKS[@]}")  # checks_truncation.sh
PLANNED+=("${REDACT_CHECKS[@]}")  # checks_redact.sh
source "$HERE/checks_kdump.sh"
source "$HERE/checks_formats.sh"
source "$HERE/checks_nbd.sh"   # live, live-guest, nbd/* (issue 9)

run_source_checks() {  # run_source_checks SRC [CHECK...] (default: all)
  local src=$1 c
  shift
  for c in "${@:-${CHECKS[@]}}"; do
    case $c in
      readelf) check "$src/$c" c_readelf "$src" ;;
      readelf-kcore) check "$src/$c" c_readelf_kcore "$src" ;;
      crash-sys) check "$src/$c" c_crash_sys "$src" ;;
      rodata) check "$src/$c" c_rodata "$src" ;;
      crash-tasks) check "$src/$c" c_crash_tasks "$src" ;;
      crash-log) check "$src/$c" c_crash_log "$src" ;;
      crash-bt) check "$src/$c" c_crash_bt "$src" ;;
      gdb) check "$src/$c" c_gdb "$src" ;;
      drgn-osrelease) check "$src/$c" c_drgn_osrelease "$src" ;;
      drgn-tasks) check "$src/$c" c_drgn_tasks "$src" ;;
      makedumpfile-dmesg) check "$src/$c" c_makedumpfile_dmesg "$src" ;;
      makedumpfile-d31) check "$src/$c" c_makedumpfile_d31 "$src" ;;
    esac
  done
}

new_source() {  # new_source SRC GUEST VMCORE KCORE VMCOREINFO_FILE
  mkdir -p "$W/$1"
  echo "$2" >"$W/$1/guest"
  echo "$3" >"$W/$1/vmcore"
  echo "$4" >"$W/$1/kcore"
  echo "$MARK_BASE-$2" >"$W/$1/marker"
  cp "$5" "$W/$1/vmcoreinfo"
}

source_times() {  # summary line with the crash session times of SRC
  local s=$W/$1 a b
  a=$(cat "$s/crash-a.out.time" 2>/dev/null || echo '?')
  b=$(cat "$s/crash-b.out.time" 2>/dev/null || echo '?')
  summary "$1: crash 'sys; ps; log; bt -a' ${a} s, crash 'list (tasks); p jiffies_64' ${b} s"
}

# ---------------------------------------------------------------------------------------
# Run

echo "real-kernel suite: work dir $W, cache $KCOREFS_CACHE, marker $MARK_BASE-*"
setup_step fixture prepare_fixture
# prepare_fixture ran in a subshell: load what it found into this shell (the fixture is cached now).
vm_fixture 2>/dev/null
start_guest g1
start_guest g2 --no-vmcoreinfo
setup_step boot-g1 wait_guest g1
setup_step boot-g2 wait_guest g2
summary "guest: Debian $VM_ABI ($VM_VERSION), qemu TCG -smp 2 -m $VM_MEM, KASLR on"

# Reference dumps.
setup_step dump-g2-elf dump_guest g2 elf "$W/g2-elf.core"
stop_guest g2
setup_step dump-g1-elf dump_guest g1 elf "$W/g1-elf.core"
setup_step dump-g1-kdump-zlib dump_guest g1 kdump-zlib "$W/g1-kdump-zlib.core"
c_kdump_zlib() {  # QEMU 7.2 writes kdump formats in makedumpfile's flattened format
  local sig
  sig=$(head -c 12 "$W/g1-kdump-zlib.core")
  echo "signature: $sig, $(stat -c %s "$W/g1-kdump-zlib.core") bytes"
  [ "$sig" = "makedumpfile" ] || [ "${sig:0:8}" = "KDUMP   " ] || fail "not a kdump-compressed file"
}
check dumps/kdump-zlib c_kdump_zlib
mkdir -p "$KCOREFS_CACHE/dumps" 2>/dev/null &&
  cp "$W/g1-kdump-zlib.core" "$KCOREFS_CACHE/dumps/kdump-zlib.core" 2>/dev/null  # for later suites

mount_kcorefs "$W/g1-elf.core" "$W/mnt/dump-vmcoreinfo"
mount_kcorefs "$W/g2-elf.core" "$W/mnt/dump-novmcoreinfo"
python3 "$HERE/elf_vmcoreinfo.py" "$W/g1-elf.core" >"$W/g1-elf.vmcoreinfo" ||  # the dump's own note
  vm_fail "read the dump's VMCOREINFO" "QEMU's ELF dump of g1 has no VMCOREINFO note (qemu_fw_cfg not loaded?)"
new_source dump-vmcoreinfo g1 "$W/mnt/dump-vmcoreinfo/vmcore" "$W/mnt/dump-vmcoreinfo/kcore" "$W/g1-elf.vmcoreinfo"
new_source dump-novmcoreinfo g2 "$W/mnt/dump-novmcoreinfo/vmcore" "$W/mnt/dump-novmcoreinfo/kcore" "$W/mnt/dump-novmcoreinfo/vmcoreinfo"
for src in dump-vmcoreinfo dump-novmcoreinfo; do
  run_source_checks "$src"
  source_times "$src"
done
# gdb and KASLR (checks_kaslr.sh): the cached overlapping dump, and MNT/vmlinux on these.
check kaslr/find kaslr_find_overlap
check kaslr/overlap-gdb c_kaslr_overlap
check dump-vmcoreinfo/gdb-vmlinux-view c_kaslr_vmlinux_view dump-vmcoreinfo "$W/g1-elf.core"
check dump-novmcoreinfo/gdb-vmlinux-view c_kaslr_vmlinux_view dump-novmcoreinfo "$W/g2-elf.core"
run_truncation_checks  # cuts of g1's ELF dump (checks_truncation.sh)
# g1's jiffies_64 at its ELF dump (crash, through kcorefs): the live value must be past it.
DUMP_JIFFIES=$(sed -n 's/^jiffies_64 = \$[0-9]* = \([0-9]*\)$/\1/p' "$W/dump-vmcoreinfo/crash-b.out" 2>/dev/null)
run_kdump_sources
run_format_sources
# kmemdump: a region set captured from g1's ELF dump (checks_kmemdump.sh).
run_kmemdump_checks "$W/g1-elf.core" "kcorefs-realkernel-marker $MARK_BASE-g1"

# The agent plugin over TLS on loopback, then the live guest: its /proc/kcore through stock
# nbdkit and kcorefs here (live, nbd/*), and its own kcorefs (live-guest); checks_nbd.sh.
# redact=user: a fresh dump of g1 with a marker process (checks_redact.sh).
run_redact_checks
run_nbd_plugin_checks
run_live_checks
[ -d "$W/live" ] && source_times live
run_live_guest_checks
[ -d "$W/live-guest" ] && source_times live-guest
vm_stop_all
finish
