# Real-kernel KASLR checks (sourced by suite.sh; also runnable on its own, see below).
#
# About one boot in twenty, KASLR puts the kernel image less than its own size above its
# link-time address, so the kcore view cannot map it at both (docs/consumers.md, "gdb and
# KASLR"). Those boots are rare, so the dump is searched for once and cached:
#
#   kaslr_find_overlap   boots the cached Debian kernel with a minimal initramfs (busybox,
#                        qemu_fw_cfg for VMCOREINFO) again and again, reading _text from
#                        /proc/kallsyms as soon as userspace runs, until KERNELOFFSET is
#                        smaller than the image; then dumps that guest with QMP into
#                        $KCOREFS_CACHE/dumps/kaslr-overlap.core. Bounded per run
#                        (KASLR_MAX_BOOTS, KASLR_MAX_SECONDS); the boots tried so far are
#                        recorded in $KCOREFS_CACHE/dumps/kaslr-search.log, so a run that
#                        found nothing is resumed by the next one.
#   c_kaslr_overlap      mounts the cached dump with --vmlinux $VM_VMLINUX and checks, with
#                        gdb MNT/vmlinux MNT/kcore: p jiffies_64 (= crash's), p/x phys_base
#                        (= VMCOREINFO's), a prb pointer walk (text_data_ring.size_bits, via
#                        a pointer read at runtime), x/s linux_banner; and that `kcorefs
#                        info --json` gives that command and the overlap warning.
#   c_kaslr_vmlinux_view SRC DUMP  a suite source's dump mounted again with --vmlinux:
#                        MNT/vmlinux is the file byte for byte (no overlap), and gdb
#                        MNT/vmlinux MNT/kcore reads phys_base, jiffies_64, prb, linux_banner.
#
# Standalone: bash tests/realkernel/checks_kaslr.sh find|check   (KCOREFS set, under the
# real-kernel flock).

: "${KASLR_MAX_BOOTS:=60}"      # per run (1 boot in ~20 overlaps: 95% find one); resumes next run
: "${KASLR_MAX_SECONDS:=1080}"  # per run: ~17 s a boot on 2 cores; within meson.build's rk_limit
KASLR_LINK_TEXT=0xffffffff81000000
KASLR_DUMP_MEM=256M

kaslr_cache() { echo "$KCOREFS_CACHE/dumps"; }
kaslr_dump() { echo "$(kaslr_cache)/kaslr-overlap.core"; }

# The minimal guest: only what the dump needs (VMCOREINFO via qemu_fw_cfg).
kaslr_initramfs() {  # kaslr_initramfs OUT
  local out=$1 root a
  [ -n "${VM_MODDIR:-}" ] || vm_fixture
  root=$(mktemp -d "${TMPDIR:-/tmp}/kcorefs-kaslr-initramfs.XXXXXX")
  mkdir -p "$root"/{bin,proc,sys,dev,lib/modules}
  cp /bin/busybox "$root/bin/busybox" || return 1
  for a in sh mount insmod sed cat sleep echo grep; do ln -s busybox "$root/bin/$a"; done
  cp "$VM_MODDIR/qemu_fw_cfg.ko" "$root/lib/modules/" || return 1
  cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
insmod /lib/modules/qemu_fw_cfg.ko || echo "kcorefs-guest: insmod qemu_fw_cfg failed"
echo "kcorefs-kaslr-text=0x$(sed -n 's/^\([0-9a-f]*\) T _text$/\1/p' /proc/kallsyms)"
echo "kcorefs-guest: ready"
while true; do sleep 3600; done
EOF
  chmod 755 "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$out"
  local rc=$?
  rm -rf "$root"
  return $rc
}

# The image's mapped size as kcorefs derives it: _text to _end rounded up to 2 MiB.
kaslr_image_size() {
  local c=$(kaslr_cache)/image-size.$VM_ABI
  if [ ! -s "$c" ]; then
    nm "$VM_VMLINUX" | python3 -c '
import sys
s = {}
for line in sys.stdin:
    f = line.split()
    if len(f) == 3 and f[2] in ("_text", "_end"): s[f[2]] = int(f[0], 16)
if len(s) == 2: print(hex((s["_end"] - s["_text"] + 0x1fffff) // 0x200000 * 0x200000))' >"$c"
  fi
  cat "$c"
}

kaslr_find_overlap() {
  local dump dir log size boots=0 t0=$SECONDS text off total
  dump=$(kaslr_dump)
  if [ -s "$dump" ] && [ -s "$dump.abi" ] && [ "$(cat "$dump.abi")" = "$VM_ABI" ]; then
    echo "cached: $dump ($(cat "$dump.offset"), found after $(wc -l <"$(kaslr_cache)/kaslr-search.log") boots)"
    return 0
  fi
  mkdir -p "$(kaslr_cache)" || fail "cannot create $(kaslr_cache)"
  log=$(kaslr_cache)/kaslr-search.log
  size=$(kaslr_image_size)
  [ -n "$size" ] || fail "cannot read _text and _end from $VM_VMLINUX"
  dir=${W:-$TEST_TMP}/kaslr-guest
  mkdir -p "$dir"
  kaslr_initramfs "$dir/initramfs.cpio" || fail "cannot build the minimal initramfs"
  echo "searching for a boot whose KERNELOFFSET is below the image size $size (boots so far: $(cat "$log" 2>/dev/null | wc -l))"
  while [ "$boots" -lt "$KASLR_MAX_BOOTS" ] && [ $((SECONDS - t0)) -lt "$KASLR_MAX_SECONDS" ]; do
    boots=$((boots + 1))
    vm_start "$dir" --initrd "$dir/initramfs.cpio" --mem "$KASLR_DUMP_MEM"
    ( vm_wait_ready 180 ) || { vm_stop; fail "the minimal guest did not boot"; }
    text=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^kcorefs-kaslr-text=//p' | head -1)
    if [ "${#text}" -ne 18 ]; then vm_stop; fail "no _text on the console: '$text'"; fi
    off=$(printf '0x%x' $((text - KASLR_LINK_TEXT)))
    echo "$(date -u +%FT%TZ) $VM_ABI offset $off" >>"$log"
    echo "boot $boots: KERNELOFFSET $off ($((SECONDS - t0)) s)"
    if [ $((off)) -gt 0 ] && [ $((off)) -lt $((size)) ]; then
      vm_dump elf "$dump.tmp" || { vm_stop; fail "QMP dump failed"; }
      vm_stop
      mv "$dump.tmp" "$dump" && echo "$off" >"$dump.offset" && echo "$VM_ABI" >"$dump.abi"
      chmod 0400 "$dump"
      echo "found after $(wc -l <"$log") boots in all: $dump, KERNELOFFSET $off"
      return 0
    fi
    vm_stop
  done
  total=$(wc -l <"$log")
  fail "no overlapping KASLR offset in $boots boots this run ($total in all, recorded in $log); the next run goes on searching"
}

# suite.sh runs each check in a subshell, which does not run functions.sh's exit trap (and
# must not: it would run the suite's own cleanups): unmount there ourselves.
kaslr_unmount_at_exit() {  # kaslr_unmount_at_exit MOUNTPOINT (after mount_kcorefs)
  if [ "$BASH_SUBSHELL" -gt 0 ]; then trap "unmount_kcorefs '$1' $KCOREFS_PID" EXIT; fi
}

# gdb_script KCORE ARGS...: gdb -batch with the commands after --, prints its output.
kaslr_gdb() { with_timeout 300 gdb -nx -batch "$@" 2>&1; }

# The commands every arrangement is checked with: phys_base, jiffies_64, a pointer walk
# from static data (prb -> desc ring -> its text ring's size_bits), linux_banner.
KASLR_GDB_CMDS=(-ex 'p/x phys_base' -ex 'p jiffies_64' -ex 'p prb->text_data_ring.size_bits'
                -ex 'x/s linux_banner')

kaslr_check_answers() {  # kaslr_check_answers OUT VMCOREINFO_FILE RELEASE [JIFFIES]
  local out=$1 vmci=$2 rel=$3 want_j=${4:-} pb j sb want_pb
  pb=$(echo "$out" | sed -n 's/^\$1 = \(0x[0-9a-f]*\)$/\1/p')
  want_pb=$(sed -n 's/^NUMBER(phys_base)=//p' "$vmci")
  [ -n "$pb" ] && [ -n "$want_pb" ] || fail "no phys_base from gdb ('$pb') or VMCOREINFO ('$want_pb')"
  [ $((pb)) = $((want_pb)) ] || fail "gdb phys_base $pb != VMCOREINFO NUMBER(phys_base) $want_pb"
  j=$(echo "$out" | sed -n 's/^\$2 = \([0-9]*\)$/\1/p')
  [ -n "$j" ] || fail "gdb: no value for p jiffies_64"
  # jiffies starts at -300 s worth of ticks (INITIAL_JIFFIES) and counts up from there.
  [ -z "$want_j" ] || [ "$j" = "$want_j" ] || fail "gdb jiffies_64 $j != $want_j"
  python3 -c "import sys; j=$j; sys.exit(0 if 2**32 - 300*250 - 10 <= j < 2**32 + 10**9 else 1)" ||
    fail "gdb jiffies_64 $j is not a plausible jiffies value (INITIAL_JIFFIES is 2^32 - 300 s)"
  sb=$(echo "$out" | sed -n 's/^\$3 = \([0-9]*\)$/\1/p')
  [ -n "$sb" ] && [ "$sb" -ge 12 ] && [ "$sb" -le 30 ] ||
    fail "gdb prb->text_data_ring.size_bits is '$sb', not the log buffer's size (2^12..2^30)"
  echo "$out" | grep -q "<linux_banner>:[[:space:]]*\"Linux version $rel " || fail "gdb x/s linux_banner does not show $rel"
  echo "phys_base $pb, jiffies_64 $j, prb->text_data_ring.size_bits $sb"
}

c_kaslr_overlap() {
  local dump mp out info cmd vmci rel off
  dump=$(kaslr_dump)
  [ -s "$dump" ] || fail "no overlapping dump cached (setup step kaslr-find failed)"
  off=$(cat "$dump.offset")
  mp=${W:-$TEST_TMP}/mnt/kaslr-overlap
  mount_kcorefs "$dump" "$mp" --vmlinux "$VM_VMLINUX"
  kaslr_unmount_at_exit "$mp"
  cat "$KCOREFS_LOG"
  vmci=$mp/vmcoreinfo
  rel=$(sed -n 's/^OSRELEASE=//p' "$vmci")
  [ "$(sed -n 's/^KERNELOFFSET=//p' "$vmci")" = "${off#0x}" ] || fail "VMCOREINFO KERNELOFFSET is not the boot's $off"
  grep -q "gdb $mp/vmlinux $mp/kcore" "$KCOREFS_LOG" || fail "the mount did not print the gdb command for this mount"
  [ -f "$mp/vmlinux" ] || fail "no $mp/vmlinux"
  [ "$(head -c 18 "$mp/vmlinux" | od -An -tx1 -j16 | tr -d ' ')" = 0300 ] || fail "$mp/vmlinux is not ET_DYN"
  cmp -s -i 18 "$mp/vmlinux" "$VM_VMLINUX" || fail "$mp/vmlinux differs from $VM_VMLINUX past its e_type"
  # The command info gives is the one run here.
  info=$("$KCOREFS" info --json "$mp") || fail "kcorefs info --json $mp failed"
  cmd=$(echo "$info" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["gdb"]["command"])')
  echo "info --json gdb command: $cmd"
  [ "$cmd" = "gdb $mp/vmlinux $mp/kcore" ] || fail "info --json gives '$cmd'"
  echo "$info" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any("overlaps" in w for w in d["warnings"]) else 1)' ||
    fail "info --json has no overlap warning"
  out=$(kaslr_gdb "${KASLR_GDB_CMDS[@]}" "$mp/vmlinux" "$mp/kcore")
  echo "$out"
  local cj
  cj=$(printf 'p jiffies_64\nquit\n' | with_timeout 600 crash -s "$VM_VMLINUX" "$mp/vmcore" 2>&1 |
       sed -n 's/^jiffies_64 = \$[0-9]* = \([0-9]*\)$/\1/p')
  [ -n "$cj" ] || echo "NOTE: crash gave no jiffies_64 (checked for plausibility only)"
  kaslr_check_answers "$out" "$vmci" "$rel" "$cj"
  # The same through the symbol-file -o command info gives when there is no vmlinux view.
  out=$(kaslr_gdb -c "$mp/kcore" -ex "symbol-file -o $off $VM_VMLINUX" "${KASLR_GDB_CMDS[@]}")
  echo "$out"
  kaslr_check_answers "$out" "$vmci" "$rel" "$cj"
}

c_kaslr_vmlinux_view() {  # SRC DUMPFILE: a suite source's dump, mounted again with --vmlinux
  local src=$1 dumpfile=$2 mp out vmci rel layout
  mp=$W/mnt/kaslr-$src
  mount_kcorefs "$dumpfile" "$mp" --vmlinux "$VM_VMLINUX"
  kaslr_unmount_at_exit "$mp"
  cat "$KCOREFS_LOG"
  [ -f "$mp/vmlinux" ] || fail "no $mp/vmlinux"
  vmci=$mp/vmcoreinfo
  rel=$(sed -n 's/^OSRELEASE=//p' "$vmci")
  layout=$("$KCOREFS" info --json "$mp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gdb"]["kcore_image"])') ||
    fail "kcorefs info --json $mp failed"
  echo "kcore image layout: $layout"
  if [ "$layout" != relocate ]; then
    cmp -s "$mp/vmlinux" "$VM_VMLINUX" || fail "$mp/vmlinux is not byte-identical to $VM_VMLINUX (no overlap)"
  fi
  out=$(kaslr_gdb "${KASLR_GDB_CMDS[@]}" "$mp/vmlinux" "$mp/kcore")
  echo "$out"
  kaslr_check_answers "$out" "$vmci" "$rel"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  HERE=$(cd "$(dirname "$0")" && pwd)
  source "$HERE/../integration/functions.sh"
  source "$HERE/../../contrib/vm/vm.sh"
  vm_fixture >/dev/null
  W=$TEST_TMP
  case ${1:-} in
    find) kaslr_find_overlap ;;
    check) kaslr_find_overlap && c_kaslr_overlap ;;
    view) c_kaslr_vmlinux_view "$2" "$3" ;;
    *) echo "usage: $0 find|check|view NAME DUMP" >&2; exit 2 ;;
  esac
fi
