# contrib/vm/vm.sh — the throwaway Debian guest used by the real-kernel suite
# (tests/realkernel/) and the README demo (contrib/demo.sh). Sourced by bash scripts.
#
#   vm_fixture                      Debian's current amd64 kernel, its modules and the matching
#                                   debug vmlinux, cached in $KCOREFS_CACHE (downloaded once,
#                                   rebuilt when missing). Sets VM_ABI, VM_VERSION, VM_VMLINUZ,
#                                   VM_VMLINUX, VM_MODDIR.
#   vm_initramfs OUT KCOREFS_BIN    busybox-static initramfs with the modules, nbdkit and kcorefs
#   vm_start DIR [--no-vmcoreinfo] [--marker M] [--mem SIZE]
#                                   boots the guest (qemu, TCG, KASLR on) with its state in DIR
#   vm_wait_ready [SECONDS]         waits for "kcorefs-guest: ready" on the console
#   vm_ctl CMD                      runs CMD in the guest (control port), prints its output
#   vm_dump FORMAT OUT              QMP dump-guest-memory (elf, kdump-zlib, ...)
#   vm_pause, vm_resume             QMP stop / cont: the guest's CPUs and devices freeze
#                                   (its ports accept bytes and answer nothing) and go on
#   vm_kcore_uri                    the NBD URI of the guest's /proc/kcore (stock nbdkit on
#                                   the kcorefs.kcore port, one connection at a time):
#                                   `kcorefs mount "$(vm_kcore_uri)" MNT`
#   vm_nbd_mount EXPORT TARGET [PORT]  the guest's /mnt/k/EXPORT at TARGET/EXPORT, or over
#                                   the regular file TARGET (nbdfuse -C 1)
#   vm_nbd_umount TARGET
#   vm_stop                         QMP quit, then kill; also unmounts vm_nbd_mount's mounts
#
# Every failure names the step and, once a guest was started, prints its console tail:
#   kcorefs-vm: FAILED at step "<step>": <what happened>
# vm_fail exits the calling script (which should tear down with vm_stop from a trap).

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${KCOREFS_CACHE:=/var/cache/kcorefs-tests}"
: "${VM_BOOT_TIMEOUT:=240}"
VM_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
            virtio_console qemu_fw_cfg fuse)
VM_DIR=
VM_PID=
VM_NBD_MOUNTS=()

vm_say() { echo "kcorefs-vm: $*" >&2; }

vm_console_tail() {
  if [ -n "$VM_DIR" ] && [ -f "$VM_DIR/console.log" ]; then
    echo "---- guest console ($VM_DIR/console.log), last 40 lines ----" >&2
    tail -n 40 "$VM_DIR/console.log" | tr -d '\r' >&2
    echo "---- end of guest console ----" >&2
  fi
}

vm_fail() {  # vm_fail STEP MESSAGE...
  local step=$1
  shift
  echo "kcorefs-vm: FAILED at step \"$step\": $*" >&2
  vm_console_tail
  exit 1
}

# ---------------------------------------------------------------------------------------
# Kernel fixture

_vm_pkg_version() {  # candidate version of package $1, empty if unknown
  apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -1
}

_vm_resolve_abi() {
  local dep
  dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
  if [ -z "$dep" ]; then
    vm_say "apt-cache knows no linux-image-amd64; running apt-get update"
    apt-get update -q >&2 || vm_fail "apt-get update" "cannot reach Debian's archive" \
      "(the real-kernel suite needs Debian's kernel and its -dbg package)"
    dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
          sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
  fi
  [ -n "$dep" ] || vm_fail "find kernel" "apt-cache depends linux-image-amd64 names no" \
    "linux-image-<abi>-amd64 package; is Debian's archive in the apt sources?"
  echo "${dep#linux-image-}"
}

vm_fixture() {
  local cache=$KCOREFS_CACHE abi ver dver dir deb dbg m f
  mkdir -p "$cache/debs" || vm_fail "cache" "cannot create $cache (set KCOREFS_CACHE)"
  if [ -n "${KCOREFS_KERNEL_ABI:-}" ]; then
    abi=$KCOREFS_KERNEL_ABI
  elif [ -f "$cache/current" ] && [ -f "$cache/$(cat "$cache/current")/.complete" ]; then
    abi=$(cat "$cache/current")
  else
    abi=$(_vm_resolve_abi) || exit 1
  fi
  dir=$cache/$abi
  if [ ! -f "$dir/.complete" ]; then
    ver=$(_vm_pkg_version "linux-image-$abi")
    dver=$(_vm_pkg_version "linux-image-$abi-dbg")
    [ -n "$ver" ] || vm_fail "find kernel" "apt-cache has no linux-image-$abi"
    [ -n "$dver" ] || vm_fail "find debug package" "apt-cache has no linux-image-$abi-dbg" \
      "(the debug vmlinux matching linux-image-$abi $ver); run apt-get update, or set" \
      "KCOREFS_KERNEL_ABI to an ABI that has one (apt-cache search 'linux-image-.*-amd64-dbg')"
    if [ "$ver" != "$dver" ]; then
      # The candidates differ (one archive updated before the other): any version both
      # packages still have will do.
      ver=$(comm -12 <(apt-cache madison "linux-image-$abi" | awk -F' *[|] *' '{ print $2 }' | sort -u) \
                     <(apt-cache madison "linux-image-$abi-dbg" | awk -F' *[|] *' '{ print $2 }' | sort -u) |
            sort -V | tail -1)
      [ -n "$ver" ] || vm_fail "find debug package" "linux-image-$abi and linux-image-$abi-dbg" \
        "share no version ($(_vm_pkg_version "linux-image-$abi") vs $dver): vmlinux must match the kernel"
    fi
    deb=$cache/debs/linux-image-${abi}_${ver}_amd64.deb
    dbg=$cache/debs/linux-image-${abi}-dbg_${ver}_amd64.deb
    for f in "$deb" "$dbg"; do
      if [ -f "$f" ] && ! dpkg-deb -I "$f" >/dev/null 2>&1; then rm -f "$f"; fi
    done
    if [ ! -f "$deb" ] || [ ! -f "$dbg" ]; then
      vm_say "downloading Debian's kernel linux-image-$abi $ver (~70 MB: the guest's kernel" \
             "and modules) and linux-image-$abi-dbg (~860 MB: its vmlinux with debug info," \
             "which crash, gdb and drgn need) into $cache/debs (kept for later runs)"
      (cd "$cache/debs" && apt-get download -q "linux-image-$abi=$ver" "linux-image-$abi-dbg=$ver" >&2) ||
        vm_fail "download" "apt-get download linux-image-$abi=$ver linux-image-$abi-dbg=$ver failed"
    fi
    vm_say "extracting the kernel, its modules and vmlinux into $dir"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/x" "$dir.tmp/modules" || vm_fail "extract" "cannot write $dir.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp/x" "./boot/vmlinuz-$abi" "./lib/modules/$abi/kernel" ||
      vm_fail "extract" "cannot unpack $deb"
    mv "$dir.tmp/x/boot/vmlinuz-$abi" "$dir.tmp/vmlinuz" || vm_fail "extract" "no vmlinuz-$abi in $deb"
    for m in "${VM_MODULES[@]}"; do
      f=$(find "$dir.tmp/x/lib/modules/$abi/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -1)
      [ -n "$f" ] || vm_fail "extract" "module $m not found in $deb"
      case $f in
        *.xz) xz -dc "$f" ;; *.zst) zstd -qdc "$f" ;; *.gz) gzip -dc "$f" ;; *) cat "$f" ;;
      esac >"$dir.tmp/modules/$m.ko" || vm_fail "extract" "cannot decompress $f"
    done
    rm -rf "$dir.tmp/x"
    dpkg-deb --fsys-tarfile "$dbg" | tar -x -O "./usr/lib/debug/boot/vmlinux-$abi" >"$dir.tmp/vmlinux" ||
      vm_fail "extract" "no ./usr/lib/debug/boot/vmlinux-$abi in $dbg"
    echo "$ver" >"$dir.tmp/version"
    rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete" || vm_fail "extract" "cannot write $dir"
    # The debs are only needed to rebuild $dir; keep them so a wiped $dir costs no download.
  fi
  echo "$abi" >"$cache/current"
  VM_ABI=$abi
  VM_VERSION=$(cat "$dir/version")
  VM_VMLINUZ=$dir/vmlinuz
  VM_VMLINUX=$dir/vmlinux
  VM_MODDIR=$dir/modules
  export VM_ABI VM_VERSION VM_VMLINUZ VM_VMLINUX VM_MODDIR
}

# ---------------------------------------------------------------------------------------
# Initramfs

_vm_copy_with_libs() {  # _vm_copy_with_libs ROOT FILE...: FILE and what ldd says it needs
  local root=$1 f lib
  shift
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f" || return 1
    for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || return 1
    done
  done
}

vm_initramfs() {  # vm_initramfs OUT KCOREFS_BIN
  local out=$1 kcorefs=$2 root a plugin
  [ -n "${VM_MODDIR:-}" ] || vm_fixture
  [ -x "$kcorefs" ] || vm_fail "initramfs" "no kcorefs binary at $kcorefs (build it first)"
  [ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 ||
    vm_fail "initramfs" "no /bin/busybox (apt-get install busybox-static)"
  plugin=$(nbdkit file --dump-plugin 2>/dev/null | sed -n 's/^path=//p')
  [ -f "$plugin" ] || vm_fail "initramfs" "nbdkit's file plugin not found (apt-get install nbdkit)"
  root=$(mktemp -d "${TMPDIR:-/tmp}/kcorefs-initramfs.XXXXXX")
  mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,run,mnt,lib/modules,usr/bin,usr/sbin}
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  cp "$VM_MODDIR"/*.ko "$root/lib/modules/"
  cp "$VM_HERE/init" "$root/init" && chmod 755 "$root/init"
  _vm_copy_with_libs "$root" "$(command -v nbdkit)" "$plugin" "$(command -v fusermount3)" ||
    vm_fail "initramfs" "cannot copy nbdkit and its libraries"
  kcorefs=$(readlink -f "$kcorefs")
  _vm_copy_with_libs "$root" "$kcorefs" || vm_fail "initramfs" "cannot copy kcorefs and its libraries"
  # kcorefs may live anywhere on the host (a build dir): put it on the guest's PATH.
  [ "$kcorefs" = /usr/bin/kcorefs ] || mv "$root$kcorefs" "$root/usr/bin/kcorefs"
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$out" || vm_fail "initramfs" "cpio failed"
  rm -rf "$root"
}

# ---------------------------------------------------------------------------------------
# Guest

_vm_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

vm_start() {  # vm_start DIR [--no-vmcoreinfo] [--marker M] [--mem SIZE] [--initrd FILE]
  local vmci=1 marker=none mem=512M initrd= args=()
  VM_DIR=$1
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --no-vmcoreinfo) vmci= ;;
      --marker) marker=$2; shift ;;
      --mem) mem=$2; shift ;;
      --initrd) initrd=$2; shift ;;
      *) vm_fail "start guest" "unknown vm_start option $1" ;;
    esac
    shift
  done
  mkdir -p "$VM_DIR" || vm_fail "start guest" "cannot create $VM_DIR"
  [ -n "$initrd" ] || initrd=$VM_DIR/initramfs.cpio
  [ -f "$initrd" ] || vm_fail "start guest" "no initramfs at $initrd"
  command -v qemu-system-x86_64 >/dev/null || vm_fail "start guest" "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
  VM_GDB_PORT=$(_vm_free_port)
  VM_MARKER=$marker
  VM_MEM=$mem
  [ -n "$vmci" ] && args+=(-device vmcoreinfo)
  rm -f "$VM_DIR"/{agent,agent2,kcore,ctl,qmp}.sock "$VM_DIR/console.log"
  : >"$VM_DIR/console.log"
  qemu-system-x86_64 -machine q35 -accel tcg -m "$mem" -smp 2 -nodefaults -no-reboot \
    -display none -monitor none -serial "file:$VM_DIR/console.log" \
    -kernel "$VM_VMLINUZ" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 kcorefs.marker=$marker" \
    "${args[@]}" \
    -device virtio-serial-pci \
    -chardev "socket,id=agent,path=$VM_DIR/agent.sock,server=on,wait=off" \
    -device virtserialport,chardev=agent,name=kcorefs.agent \
    -chardev "socket,id=agent2,path=$VM_DIR/agent2.sock,server=on,wait=off" \
    -device virtserialport,chardev=agent2,name=kcorefs.agent2 \
    -chardev "socket,id=kcore,path=$VM_DIR/kcore.sock,server=on,wait=off" \
    -device virtserialport,chardev=kcore,name=kcorefs.kcore \
    -chardev "socket,id=ctl,path=$VM_DIR/ctl.sock,server=on,wait=off" \
    -device virtserialport,chardev=ctl,name=kcorefs.ctl \
    -gdb "tcp:127.0.0.1:$VM_GDB_PORT" \
    -qmp "unix:$VM_DIR/qmp.sock,server=on,wait=off" \
    >"$VM_DIR/qemu.log" 2>&1 </dev/null &
  VM_PID=$!
  echo "$VM_PID" >"$VM_DIR/qemu.pid"
  export VM_DIR VM_PID VM_GDB_PORT VM_MARKER VM_MEM
}

vm_wait_ready() {  # vm_wait_ready [SECONDS]
  local limit=${1:-$VM_BOOT_TIMEOUT} start=$SECONDS
  while ! grep -q 'kcorefs-guest: ready' "$VM_DIR/console.log" 2>/dev/null; do
    if ! kill -0 "$VM_PID" 2>/dev/null; then
      cat "$VM_DIR/qemu.log" >&2
      vm_fail "boot guest" "qemu exited before the guest was ready"
    fi
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      vm_fail "boot guest" "the guest did not boot within $limit s (no 'kcorefs-guest: ready' on its console)"
    fi
    sleep 0.5
  done
  VM_BOOT_SECONDS=$((SECONDS - start))
  if grep -q 'kcorefs-guest: .*failed' "$VM_DIR/console.log"; then
    vm_fail "boot guest" "the guest reported a failure: $(grep 'kcorefs-guest: .*failed' "$VM_DIR/console.log" | head -3)"
  fi
}

vm_ctl() {  # vm_ctl [--timeout S] CMD: runs CMD in the guest, prints its output
  python3 "$VM_HERE/ctl.py" "$VM_DIR/ctl.sock" "$@"
}

vm_dump() {  # vm_dump FORMAT OUT
  python3 "$VM_HERE/qmp.py" "$VM_DIR/qmp.sock" dump "$1" "$2" >&2 ||
    vm_fail "QMP dump-guest-memory format=$1" "QEMU did not write $2"
}

vm_kcore_uri() { echo "nbd+unix:///?socket=$VM_DIR/kcore.sock"; }

vm_pause() {
  python3 "$VM_HERE/qmp.py" "$VM_DIR/qmp.sock" stop >&2 || vm_fail "QMP stop" "QEMU did not pause the guest"
}
vm_resume() {
  python3 "$VM_HERE/qmp.py" "$VM_DIR/qmp.sock" cont >&2 || vm_fail "QMP cont" "QEMU did not resume the guest"
}

vm_nbd_mount() {  # vm_nbd_mount EXPORT TARGET [PORT]: the guest's /mnt/k/EXPORT, read-only
  # TARGET a directory: the file is TARGET/EXPORT; TARGET a regular file: mounted over it.
  # PORT: agent (default) or agent2; each carries one NBD connection at a time.
  local export=$1 target=$2 port=${3:-agent} pid i file
  if [ -f "$target" ]; then file=$target; else mkdir -p "$target"; file=$target/$export; fi
  nbdfuse -C 1 -r "$file" "nbd+unix:///$export?socket=$VM_DIR/$port.sock" \
    >"$VM_DIR/nbdfuse.$export.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$VM_DIR/nbdfuse.$export.pid"
  VM_NBD_MOUNTS+=("$target:$pid")
  for i in $(seq 1 200); do
    if [ -s "$file" ] && grep -q " $target fuse" /proc/mounts; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$VM_DIR/nbdfuse.$export.log" >&2
  vm_fail "nbd mount of $export" "nbdfuse could not read the guest's /mnt/k/$export over the kcorefs.$port port"
}

vm_nbd_umount() {  # vm_nbd_umount TARGET
  local dir=$1 e pid i keep=()
  for e in "${VM_NBD_MOUNTS[@]}"; do
    if [ "${e%%:*}" = "$dir" ]; then
      pid=${e##*:}
      fusermount3 -u "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill "$pid" 2>/dev/null
    else
      keep+=("$e")
    fi
  done
  VM_NBD_MOUNTS=("${keep[@]}")
}

vm_stop() {
  local e i
  for e in "${VM_NBD_MOUNTS[@]}"; do vm_nbd_umount "${e%%:*}"; done
  [ -n "$VM_PID" ] || return 0
  if kill -0 "$VM_PID" 2>/dev/null; then
    timeout 5 python3 "$VM_HERE/qmp.py" "$VM_DIR/qmp.sock" quit >/dev/null 2>&1
    for i in $(seq 1 50); do kill -0 "$VM_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$VM_PID" 2>/dev/null
    for i in $(seq 1 20); do kill -0 "$VM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$VM_PID" 2>/dev/null
  fi
  wait "$VM_PID" 2>/dev/null
  VM_PID=
}
