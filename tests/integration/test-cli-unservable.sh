#!/usr/bin/env bash
# Inputs kcorefs recognises but cannot serve are refused at once (never block), by mount,
# export and info alike, with a message that says what the input is and what to give
# instead: a vmlinux (ELF ET_EXEC or ET_DYN at kernel addresses, either byte order), a
# program, a relocatable object, a kcorefs mount point, a FIFO (also as `dumpfile:FIFO`
# and `live:FIFO`, whose open would wait for a writer) and a socket.
source "$(dirname "$0")/functions.sh"
core=$TEST_TMP/core
"${KCOREFS%/src/cli/kcorefs}/tests/write_test_core" "$core" || fail "cannot write the test core"
mp=$TEST_TMP/mp
mkdir -p "$mp"
cleanup_fn "fusermount3 -u '$mp' 2>/dev/null"

# elf PATH ORDER(<|>) CLASS(32|64) TYPE VADDR: a minimal ELF with one PT_LOAD at VADDR and
# one PT_NOTE (a vmlinux has build-id notes too).
elf() {
  python3 - "$@" <<'PY'
import struct, sys
path, order, bits, etype, vaddr = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5], 0)
if bits == 64:
    eh = struct.pack(order + "16sHHIQQQIHHHHHH", b"\x7fELF\x02" + (b"\x01" if order == "<" else b"\x02") + b"\x01" + b"\0" * 9,
                     etype, 62 if order == "<" else 22, 1, vaddr, 64, 0, 0, 64, 56, 2, 0, 0, 0)
    ph = struct.pack(order + "IIQQQQQQ", 1, 5, 0x1000, vaddr, 0x1000000, 0x1000, 0x1000, 0x200000)
    ph += struct.pack(order + "IIQQQQQQ", 4, 4, 0x2000, 0, 0, 0x24, 0x24, 4)
else:
    eh = struct.pack(order + "16sHHIIIIIHHHHHH", b"\x7fELF\x01" + (b"\x01" if order == "<" else b"\x02") + b"\x01" + b"\0" * 9,
                     etype, 3, 1, vaddr, 52, 0, 0, 52, 32, 2, 0, 0, 0)
    ph = struct.pack(order + "IIIIIIII", 1, 0x1000, vaddr, 0x1000000, 0x1000, 0x1000, 5, 0x1000)
    ph += struct.pack(order + "IIIIIIII", 4, 0x2000, 0, 0, 0x24, 0x24, 4, 4)
open(path, "wb").write((eh + ph).ljust(0x3000, b"\0"))
PY
}

# refused NAME WORDS SOURCE: mount, export and info each exit 1 within 5 s, mount nothing,
# and say WORDS (a fixed string) and the source's name.
refused() {
  local name=$1 words=$2 src=$3 cmd rc msg
  for cmd in mount export info; do
    case $cmd in
      mount) set -- mount -f "$src" "$mp" ;;
      export) set -- export "$src" -o "$TEST_TMP/out" ;;
      info) set -- info "$src" ;;
    esac
    with_timeout 5 "$KCOREFS" "$@" >"$TEST_TMP/msg" 2>&1
    rc=$?
    msg=$(cat "$TEST_TMP/msg")
    if grep -q " $mp fuse" /proc/mounts; then fusermount3 -u "$mp"; fail "$name: $cmd left a mount"; fi
    [ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "$name: kcorefs $cmd blocked (killed after 5 s)"
    [ $rc -eq 1 ] || fail "$name: kcorefs $cmd exited $rc: $msg"
    [ ! -e "$TEST_TMP/out" ] || fail "$name: export wrote an output"
    grep -qF -- "$words" <<<"$msg" || fail "$name: kcorefs $cmd: message lacks '$words': $msg"
    grep -qF -- "${src#*:}" <<<"$msg" || fail "$name: kcorefs $cmd: message does not name $src: $msg"
  done
  note "$name: $msg"
}

v=$TEST_TMP/vmlinux
for spec in "<:64:2:0xffffffff81000000" ">:64:2:0xc000000000000000" "<:64:3:0xffff800008000000" \
            "<:32:2:0xc1000000"; do
  IFS=: read -r order bits etype vaddr <<<"$spec"
  elf "$v" "$order" "$bits" "$etype" "$vaddr"
  refused "vmlinux $spec" "is a kernel image (vmlinux" "$v"
  grep -qF -- "--vmlinux" "$TEST_TMP/msg" || fail "vmlinux $spec: the message does not say --vmlinux"
done
# Debian's own vmlinux, when this machine has one (the real-kernel suite's cache does).
for real in /usr/lib/debug/boot/vmlinux-* /var/cache/kcorefs-tests/*/vmlinux; do
  [ -f "$real" ] || continue
  refused "real vmlinux" "is a kernel image (vmlinux: ELF ET_EXEC" "$real"
  break
done
elf "$TEST_TMP/prog" "<" 64 2 0x401000
refused "program" "is an ELF program or shared library (ET_EXEC, not ET_CORE)" "$TEST_TMP/prog"
refused "shared object" "is an ELF program or shared library (ET_DYN" "$(readlink -f /bin/true)"
elf "$TEST_TMP/mod.ko" "<" 64 1 0
refused "relocatable" "is an ELF relocatable object (ET_REL" "$TEST_TMP/mod.ko"
# A core is still a core: the same writer with ET_CORE mounts.
python3 - "$v" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[16] = 4; open(sys.argv[1], "wb").write(b)
PY
with_timeout 5 "$KCOREFS" info "$v" >"$TEST_TMP/msg" 2>&1
grep -q "is a kernel image\|is an ELF program" "$TEST_TMP/msg" && fail "an ET_CORE file was called a kernel image: $(cat "$TEST_TMP/msg")"

# A kcorefs mount point given as SOURCE (`info MNT` describes the mount: not tested here).
src_mp=$TEST_TMP/src-mp
mount_kcorefs "$core" "$src_mp"
for cmd in mount export; do
  if [ $cmd = mount ]; then set -- mount -f "$src_mp" "$mp"; else set -- export "$src_mp" -o "$TEST_TMP/out"; fi
  with_timeout 5 "$KCOREFS" "$@" >"$TEST_TMP/msg" 2>&1 && fail "kcorefs mount point: $cmd succeeded"
  grep -qF "$src_mp is a kcorefs mount; use $src_mp/vmcore" "$TEST_TMP/msg" ||
    fail "kcorefs mount point: $cmd: $(cat "$TEST_TMP/msg")"
done
grep -q " $mp fuse" /proc/mounts && fail "a mount of a mount point was made"
# What the message says to do works.
with_timeout 10 "$KCOREFS" export "$src_mp/vmcore" -o "$TEST_TMP/out" || fail "export of $src_mp/vmcore failed"
cmp "$TEST_TMP/out" "$src_mp/vmcore" || fail "export of $src_mp/vmcore differs from it"
rm -f "$TEST_TMP/out"

# A FIFO: nothing ever writes to it, so any open for reading would block.
mkfifo "$TEST_TMP/fifo"
refused "FIFO" "is a FIFO (named pipe)" "$TEST_TMP/fifo"
grep -qF "copy it to a file first" "$TEST_TMP/msg" || fail "FIFO: no advice: $(cat "$TEST_TMP/msg")"
refused "dumpfile:FIFO" "is a FIFO (named pipe)" "dumpfile:$TEST_TMP/fifo"
refused "live:FIFO" "is a FIFO (named pipe)" "live:$TEST_TMP/fifo"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TEST_TMP/sock"
refused "socket" "is a socket, not a file" "$TEST_TMP/sock"
echo ok
