#!/usr/bin/env bash
# kcorefs demo (command 1 of the README): install what is needed, build kcorefs, mount a
# running kernel's memory, and open it with crash.
#
#   contrib/demo.sh          run the demo; the mount stays up afterwards
#   contrib/demo.sh stop     unmount and stop what the demo started
#   contrib/demo.sh stats    kcorefs's counters (bytes read from the source so far)
#   contrib/demo.sh help     this text
#
# With a readable /proc/kcore, it mounts this machine's own live memory. Without one (a
# container, a VM without it, lockdown), it boots a throwaway Debian guest under QEMU (TCG,
# no KVM needed) whose only agent is stock `nbdkit -r file /proc/kcore` on a virtio-serial
# port, and mounts the guest's live memory here with kcorefs's nbd backend
# (`kcorefs mount nbd+unix:///?socket=GUEST_DIR/kcore.sock MNT`). Everything it starts is
# recorded in $KCOREFS_DEMO_DIR.
#
# Environment: KCOREFS_DEMO_DIR (default /tmp/kcorefs-demo), KCOREFS_CACHE (downloads;
# default /var/cache/kcorefs-tests when writable, else ~/.cache/kcorefs), KCOREFS_BUILD_DIR
# (default build).
set -uo pipefail
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${KCOREFS_DEMO_DIR:-/tmp/kcorefs-demo}
BUILD=${KCOREFS_BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
if [ -z "${KCOREFS_CACHE:-}" ]; then
  if [ -w /var/cache ] || [ -w /var/cache/kcorefs-tests ]; then KCOREFS_CACHE=/var/cache/kcorefs-tests
  else KCOREFS_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kcorefs; fi
fi
export KCOREFS_CACHE
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo

say() { printf '\n==> %s\n' "$*"; }

stop() {
  local f pid mp
  if [ -f "$DEMO/mountpoint" ]; then
    mp=$(cat "$DEMO/mountpoint")
    if grep -q " $mp fuse" /proc/mounts; then
      fusermount3 -u "$mp" 2>/dev/null || $SUDO umount "$mp" 2>/dev/null || true
      echo "unmounted $mp"
    fi
    rm -f "$DEMO/mountpoint"
  fi
  [ "$(cat "$DEMO/mode" 2>/dev/null)" = host ] && return 0
  # Files an older demo mounted with nbdfuse.
  for f in "$DEMO"/mnt/vmcore "$DEMO"/mnt/kcore; do
    grep -q " $f fuse" /proc/mounts && { fusermount3 -u "$f" && echo "unmounted $f"; }
  done
  if [ -f "$DEMO/guest/qemu.pid" ]; then
    pid=$(cat "$DEMO/guest/qemu.pid")
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "qemu-system.*$DEMO/guest"; then
      timeout 5 python3 "$SRCDIR/contrib/vm/qmp.py" "$DEMO/guest/qmp.sock" quit >/dev/null 2>&1 || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill "$pid" 2>/dev/null || true
      echo "stopped the guest (qemu pid $pid)"
    fi
    rm -f "$DEMO/guest/qemu.pid"
  fi
}

# The comment block at the top of this file, without its "# ".
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

# The guest the demo started is still running (its pid file names a live qemu of this demo).
guest_running() {
  local pid
  pid=$(cat "$DEMO/guest/qemu.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "qemu-system.*$DEMO/guest"
}

not_running() {
  echo "demo: nothing to show: the demo is not running (contrib/demo.sh stop ended it, or it" \
       "has not run yet); start it with contrib/demo.sh" >&2
  exit 1
}

stats() {  # this side's kcorefs: in guest mode, the bytes it fetched over NBD
  local mp
  mp=$(cat "$DEMO/mountpoint" 2>/dev/null) || not_running
  grep -q " $mp fuse.kcorefs " /proc/mounts || not_running
  cat "$mp/stats"
}

case ${1:-} in
  stop) stop; exit 0 ;;
  stats) stats; exit ;;
  help | -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "demo: unknown command '$1'" >&2; usage >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------
say "Installing build and tool dependencies from Debian's archive (contrib/install-deps.sh):
    the compiler and libraries kcorefs builds with, and the tools this demo runs:
    crash, gdb, drgn, makedumpfile, qemu-system-x86, busybox-static, nbdkit, nbdfuse."
"$SRCDIR/contrib/install-deps.sh" || { echo "demo: installing dependencies failed" >&2; exit 1; }

say "Building kcorefs (meson, build dir $BUILD)"
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" "$SRCDIR" >/dev/null || { echo "demo: meson setup $BUILD failed" >&2; exit 1; }
fi
ninja -C "$BUILD" src/cli/kcorefs || { echo "demo: building kcorefs failed" >&2; exit 1; }
KCOREFS=$BUILD/src/cli/kcorefs

stop >/dev/null 2>&1 || true
mkdir -p "$DEMO"

crash_session() {  # crash_session VMLINUX VMCORE
  say "crash $1 $2   (sys, the task list, log | tail)"
  local t0=$SECONDS
  printf '%s\n' sys 'list -o task_struct.tasks -s task_struct.comm -h init_task' 'log | tail -n 5' quit |
    crash -s "$1" "$2" 2>&1 | tee "$DEMO/crash.out" | sed -n '/^ *KERNEL:/,$p' | grep -v '^$' |
    awk '/^[0-9a-f]+$/ { next }                          # list: task addresses
         /^  comm = "/ { s = $0; sub(/^  comm = "/, "", s); sub(/(\\000)*",?$/, "", s)
                         names = names " " s; n++; next }
         { if (n) { print "   task list (" n " tasks, init_task.tasks):" names; n = 0; names = "" } print }
         END { if (n) print "   task list (" n " tasks, init_task.tasks):" names }' | fold -s -w 100 || true
  echo "(crash session: $((SECONDS - t0)) s)"
  # What a first user asks about the output above when the counts differ (README, "crash
  # TASKS on 6.1").
  local tasks cpus listed
  tasks=$(sed -n 's/^ *TASKS: *\([0-9]*\).*/\1/p' "$DEMO/crash.out" | head -1)
  cpus=$(sed -n 's/^ *CPUS: *\([0-9]*\).*/\1/p' "$DEMO/crash.out" | head -1)
  listed=$(grep -c '^  comm = "' "$DEMO/crash.out")
  if [ -n "$tasks" ] && [ "$listed" -gt "$tasks" ]; then
    echo "Why TASKS is $tasks beside $listed tasks in the list: crash $(crash --version 2>/dev/null | sed -n 's/^crash \([0-9.]*\).*/\1/p;q')'s task table (what"
    echo "  ps and sys's TASKS show) holds only the idle tasks$([ "$tasks" = "$cpus" ] && echo ", one per CPU,") on Debian's 6.1"
    echo "  kernel, on QEMU's own dump as through kcorefs: crash's limit, not the mount's. The"
    echo "  list walks init_task.tasks, which has every task: use it in crash (list -o"
    echo "  task_struct.tasks -s task_struct.comm -h init_task), or drgn's for_each_task."
  fi
}

if [ -r /proc/kcore ] && head -c 4 /proc/kcore 2>/dev/null | grep -q ELF; then
  # ---- This machine's own memory --------------------------------------------------------
  MP=$DEMO/mnt
  mkdir -p "$MP"
  rel=$(uname -r)
  say "Mounting this machine's live memory: kcorefs mount /proc/kcore $MP"
  $SUDO "$KCOREFS" mount -o "allow_other,default_permissions,uid=$(id -u),gid=$(id -g)" /proc/kcore "$MP" ||
    { echo "demo: kcorefs mount /proc/kcore $MP failed" >&2; exit 1; }
  echo host >"$DEMO/mode"
  echo "$MP" >"$DEMO/mountpoint"
  ls -l "$MP"
  VMLINUX=/usr/lib/debug/boot/vmlinux-$rel
  if [ ! -f "$VMLINUX" ]; then
    if apt-cache show "linux-image-$rel-dbg" >/dev/null 2>&1; then
      say "crash, gdb and drgn need this kernel's vmlinux with debug info: installing
    linux-image-$rel-dbg from Debian's archive (~860 MB download, ~5 GB installed)"
      $SUDO apt-get install -y -q --no-install-recommends "linux-image-$rel-dbg" || VMLINUX=
    else
      say "No linux-image-$rel-dbg package: crash needs this kernel's debug vmlinux."
      VMLINUX=
    fi
  fi
  if [ -n "$VMLINUX" ]; then crash_session "$VMLINUX" "$MP/vmcore"; else VMLINUX=vmlinux; fi
  VMCORE=$MP/vmcore KCORE=$MP/kcore
  STOP="fusermount3 -u $MP    (or: contrib/demo.sh stop)"
else
  # ---- A throwaway guest's memory -------------------------------------------------------
  say "/proc/kcore is not readable here, so the demo boots a throwaway Debian guest
    (qemu-system-x86_64, TCG, 512 MiB, KASLR on) and mounts the guest's live memory.
    It downloads, once, into $KCOREFS_CACHE:
      linux-image-<abi>-amd64      (~70 MB)  the guest's kernel and modules
      linux-image-<abi>-amd64-dbg  (~860 MB) that kernel's vmlinux with debug info, which
                                             crash, gdb and drgn need to read its memory"
  # shellcheck source=contrib/vm/vm.sh
  source "$SRCDIR/contrib/vm/vm.sh"
  vm_fixture
  say "Building the guest's initramfs (busybox, virtio + fuse modules, nbdkit, kcorefs)"
  mkdir -p "$DEMO/guest"
  vm_initramfs "$DEMO/guest/initramfs.cpio" "$KCOREFS"
  say "Booting the guest (kernel $VM_ABI, $VM_VERSION); console: $DEMO/guest/console.log"
  # The guest outlives this script; contrib/demo.sh stop ends it.
  vm_start "$DEMO/guest" --marker "kcorefs-demo-$(date +%s)"
  vm_wait_ready
  echo "guest ready after ${VM_BOOT_SECONDS} s"
  echo guest >"$DEMO/mode"
  MP=$DEMO/mnt
  mkdir -p "$MP"
  say "Mounting the guest's live memory here: kcorefs mount -o connections=1 $(vm_kcore_uri) $MP
    The guest runs stock nbdkit on its /proc/kcore (nbdkit -s -r file /proc/kcore) on a
    virtio-serial port, QEMU's $VM_DIR/kcore.sock here; kcorefs reads it with its nbd
    backend (connections=1: the port carries one connection at a time)"
  "$KCOREFS" mount -o connections=1 "$(vm_kcore_uri)" "$MP" ||
    { echo "demo: kcorefs mount $(vm_kcore_uri) $MP failed" >&2; exit 1; }
  echo "$MP" >"$DEMO/mountpoint"
  ls -l "$MP"
  VMLINUX=$VM_VMLINUX VMCORE=$MP/vmcore KCORE=$MP/kcore
  crash_session "$VMLINUX" "$VMCORE"
  # Keep the guest: detach it from this shell's job table.
  disown -a
  STOP="contrib/demo.sh stop   (unmounts $MP, stops the guest)"
fi

cat <<EOF

==> The mount stays up. Try:

  crash $VMLINUX $VMCORE
  gdb $VMLINUX $KCORE -ex 'p jiffies_64' -ex 'x/s linux_banner'      # 19 boots in 20; docs/consumers.md, "gdb and KASLR"
  drgn -c $VMCORE -s $VMLINUX                                      # interactive drgn
  /usr/bin/python3 -c 'import drgn
from drgn.helpers.linux.pid import for_each_task
p = drgn.Program(); p.set_core_dump("$VMCORE"); p.load_debug_info(["$VMLINUX"])
print(p["init_uts_ns"].name.release.string_().decode(), [t.comm.string_().decode() for t in for_each_task(p)][:10])'
  makedumpfile --dump-dmesg $VMCORE /tmp/dmesg.txt

  contrib/demo.sh stats    bytes kcorefs has read from the source so far
  $STOP
EOF
