#!/usr/bin/env bash
# Installs what kcorefs needs to build, and what its tests and demo run against, from
# Debian 12's archive. Safe to run again: apt-get skips what is already there.
set -euo pipefail
BUILD_DEPS=(meson ninja-build pkg-config g++ go-md2man libfuse3-dev fuse3 libabsl-dev libelf-dev
            libgtest-dev libgmock-dev libnbd-dev nbdkit-plugin-dev libkdumpfile-dev
            nlohmann-json3-dev nettle-dev libsnappy-dev)
TOOL_DEPS=(man-db elfutils binutils gdb crash makedumpfile python3 python3-drgn nbdkit libnbd-bin
           qemu-system-x86 busybox-static cpio kmod xz-utils zstd procps psmisc valgrind
           iproute2 util-linux systemd podman runc mmdebstrap uidmap python3-yaml)
missing=()
for p in "${BUILD_DEPS[@]}" "${TOOL_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "kcorefs: installing from Debian's archive: ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
