#!/usr/bin/env bash
# Builds the kcorefs tools image (the same content as contrib/container/Containerfile)
# without an image registry: a Debian 12 rootfs made by mmdebstrap from Debian's archive
# with the packages in packages.txt, imported with `podman import`, then this build's
# `meson install` copied in and committed as a layer of its own.
#
# Usage: contrib/container/build-image.sh BUILD_DIR [IMAGE]   (root; default IMAGE
#        localhost/kcorefs:latest)
# The rootfs tar is cached in $KCOREFS_CACHE/container/ (default /var/cache/kcorefs-tests),
# keyed by packages.txt and the mirror, and imported once per key as
# localhost/kcorefs-base:KEY, so a CI run pays mmdebstrap (~1 min) once per machine and
# then only the install layer (a few seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: build-image.sh BUILD_DIR [IMAGE]}
image=${2:-localhost/kcorefs:latest}
cache=${KCOREFS_CACHE:-/var/cache/kcorefs-tests}/container
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
: "${PODMAN:=podman}"

pkgs=$(grep -v '^#' "$here/packages.txt" | sed '/^$/d' | sort | paste -sd, -)
key=$(printf '%s\n%s\n' "$pkgs" "$mirror" | sha256sum | cut -c1-16)
base=localhost/kcorefs-base:$key
mkdir -p "$cache"
tar=$cache/rootfs-$key.tar

if ! $PODMAN image exists "$base"; then
  if [ ! -s "$tar" ]; then
    echo "build-image: mmdebstrap bookworm ($pkgs) -> $tar" >&2
    # --variant=minbase: no init, no apt recommends; the rootfs is written as a tar
    # directly (no chroot left behind). A partial tar is never kept.
    mmdebstrap --variant=minbase --include="$pkgs" --aptopt='APT::Install-Recommends "false"' \
      bookworm "$tar.part.tar" "$mirror" >&2 || { rm -f "$tar.part.tar"; exit 1; }
    mv "$tar.part.tar" "$tar"  # mmdebstrap picks the format from the name: .tar
  fi
  echo "build-image: podman import $tar as $base" >&2
  $PODMAN import --change 'CMD ["/bin/bash"]' "$tar" "$base" >/dev/null
fi

# This build's kcorefs: meson install into a staging directory under the image's /usr.
stage=$(mktemp -d /tmp/kcorefs-image.XXXXXX)
ctr=
cleanup() { [ -z "$ctr" ] || $PODMAN rm -f "$ctr" >/dev/null 2>&1 || true; rm -rf "$stage"; }
trap cleanup EXIT
meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >&2

# Debian 12 has a merged /usr (/sbin is a link to usr/sbin): what meson put in /sbin
# (mount.fuse.kcorefs) goes to usr/sbin, or the copy would try to replace the link.
for d in bin sbin lib; do
  if [ -d "$stage/$d" ]; then mkdir -p "$stage/usr/$d" && cp -a "$stage/$d/." "$stage/usr/$d/" && rm -rf "${stage:?}/$d"; fi
done
ctr=$($PODMAN create --runtime "${PODMAN_RUNTIME:-runc}" "$base" /bin/true)
$PODMAN cp "$stage/." "$ctr:/"  # the prefix and the plugin directory (nbdkit's, outside it)
$PODMAN commit -q --change "LABEL kcorefs.base=$base" "$ctr" "$image" >/dev/null
# The image must run kcorefs and find the plugin (a wrong prefix or a missing library
# shows here, not in a test later).
$PODMAN run --rm --runtime "${PODMAN_RUNTIME:-runc}" --cgroup-manager=cgroupfs \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none "$image" \
  sh -c 'kcorefs --version && nbdkit kcorefs --version >/dev/null' >&2 ||
  { echo "build-image: $image does not run kcorefs or its nbdkit plugin" >&2; exit 1; }
echo "$image"
