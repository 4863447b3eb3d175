#!/usr/bin/env bash
# docs/sidecar.md with real podman containers (the image of contrib/container/build-image.sh):
# an agent container serves a dump with the nbdkit plugin on a unix socket (0660, group 2000)
# in a shared directory; mode 1: a sidecar container (/dev/fuse, CAP_SYS_ADMIN, rshared)
# mounts it with kcorefs below a shared mount, and a consumer container with no capability,
# no /dev/fuse and uid 1000 in group 2000 (rslave) reads the files, which equal a host mount
# of the same dump; a user not in the group is refused; nobody writes, truncates, chmods or
# creates; the sidecar killed: the consumer's read fails within 5 s; restarted: it reads again.
# Mode 2: premount in a privileged container, the server in one with no capability and no
# /dev/fuse, the consumer reads.
source "$(dirname "$0")/functions.sh"
requires command -v podman
requires command -v mmdebstrap
[ "$(id -u)" -eq 0 ] || { echo "SKIP: rootful podman needs root" >&2; exit 77; }
build=${KCOREFS%/src/cli/kcorefs}
img=localhost/kcorefs-test:latest
t0=$SECONDS
bash "$SRCDIR/contrib/container/build-image.sh" "$build" "$img" >"$TEST_TMP/image.log" 2>&1 ||
  fail "build-image.sh failed: $(tail -20 "$TEST_TMP/image.log")"
note "image built in $((SECONDS - t0)) s"
# This machine's podman: runc, cgroupfs (hybrid cgroups), ulimits below the host's.
P=(podman --runtime runc --cgroup-manager=cgroupfs)
RUN=("${P[@]}" run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none)
tag=kcfs-$$
ctrs=()
cleanup_fn 'for c in "${ctrs[@]}"; do "${P[@]}" rm -f -t 0 "$c" >/dev/null 2>&1; done'

core=$TEST_TMP/core
"$build/tests/write_test_core" "$core" || fail "cannot write the test core"
run=$TEST_TMP/run share=$TEST_TMP/share fd=$TEST_TMP/fd
mkdir -p "$run" "$share" "$fd"
# The shared directory must itself be a shared mount for the sidecar's mount to propagate.
mount --bind "$share" "$share" && mount --make-shared "$share" || fail "cannot make $share a shared mount"
cleanup_fn "umount -R -l '$share' 2>/dev/null"
mount_kcorefs "$core" "$TEST_TMP/host"   # the reference: the same dump mounted here

# The agent: the plugin on the dump (the live kernel in contrib/k8s/agent-daemonset.yaml).
ctrs+=("$tag-agent")
"${RUN[@]}" -d --name "$tag-agent" -v "$core:/dump/core:ro" -v "$run:/run/kcorefs" "$img" sh -c \
  'rm -f /run/kcorefs/kcore.sock
   (while [ ! -S /run/kcorefs/kcore.sock ]; do sleep 0.1; done; chgrp 2000 /run/kcorefs/kcore.sock && chmod 0660 /run/kcorefs/kcore.sock) &
   exec nbdkit -r -f -U /run/kcorefs/kcore.sock kcorefs source=/dump/core view=vmcore' >/dev/null ||
  fail "agent container did not start"
for _ in $(seq 1 100); do [ "$(stat -c "%a %g" "$run/kcore.sock" 2>/dev/null)" = "660 2000" ] && break; sleep 0.1; done
[ "$(stat -c '%a %g' "$run/kcore.sock" 2>/dev/null)" = "660 2000" ] ||
  fail "agent socket: $(stat -c '%a %g' "$run/kcore.sock" 2>&1); $("${P[@]}" logs "$tag-agent" 2>&1)"

start_sidecar() {
  "${RUN[@]}" -d --name "$tag-sidecar" --device /dev/fuse --cap-add SYS_ADMIN --group-add 2000 \
    -v "$run:/run/kcorefs" -v "$share:/share:rshared" "$img" sh -c \
    'umount -l /share/k 2>/dev/null; mkdir -p /share/k &&
     exec kcorefs mount -f -o allow_other,default_permissions,gid=2000,mode=0440 \
       "nbd+unix:///?socket=/run/kcorefs/kcore.sock" /share/k' >/dev/null || fail "sidecar did not start"
  local i
  for i in $(seq 1 100); do [ -e "$share/k/vmcore" ] && return 0; sleep 0.1; done
  fail "no mount from the sidecar on the host: $("${P[@]}" logs "$tag-sidecar" 2>&1)"
}
ctrs+=("$tag-sidecar" "$tag-consumer" "$tag-other" "$tag-pre" "$tag-srv")
start_sidecar
"${RUN[@]}" -d --name "$tag-consumer" --cap-drop ALL --user 1000:2000 --security-opt no-new-privileges \
  -v "$share:/share:rslave" "$img" sleep infinity >/dev/null || fail "consumer did not start"
cexec() { with_timeout "${T:-60}" "${P[@]}" exec "$tag-consumer" "$@"; }
cexec sh -c '! [ -e /dev/fuse ] && grep -q "^CapEff:[[:space:]]*0*$" /proc/self/status' ||
  fail "the consumer has /dev/fuse or capabilities"
[ "$(cexec stat -c '%a %g' /share/k/vmcore)" = "440 2000" ] || fail "mode: $(cexec stat -c '%a %g' /share/k/vmcore)"
for f in vmcore vmcoreinfo; do
  cexec cat "/share/k/$f" >"$TEST_TMP/c.$f" || fail "consumer cannot read $f"
  cmp "$TEST_TMP/c.$f" "$TEST_TMP/host/$f" || fail "consumer's $f differs from the host mount's"
done
note "mode 1: consumer (no caps, no /dev/fuse, uid 1000 gid 2000) reads vmcore ($(stat -c %s "$TEST_TMP/c.vmcore") bytes) equal to a host mount"

# Not in the group: refused. Nobody (root here, and the consumer) changes anything.
if "${RUN[@]}" --rm --name "$tag-other" --cap-drop ALL --user 1001:1001 -v "$share:/share:rslave" "$img" \
    head -c 1 /share/k/vmcore >/dev/null 2>"$TEST_TMP/other.err"; then
  fail "a user not in group 2000 read vmcore"
fi
grep -qi 'permission denied' "$TEST_TMP/other.err" || fail "not-in-group error: $(cat "$TEST_TMP/other.err")"
for who in host consumer; do
  if [ $who = host ]; then x=(); d=$share/k; else x=(cexec); d=/share/k; fi
  "${x[@]}" sh -c "echo x >>$d/vmcore" 2>/dev/null && fail "$who wrote vmcore"
  "${x[@]}" truncate -s 0 "$d/vmcore" 2>/dev/null && fail "$who truncated vmcore"
  "${x[@]}" chmod 0666 "$d/vmcore" 2>/dev/null && fail "$who chmodded vmcore"
  "${x[@]}" touch "$d/new" 2>/dev/null && fail "$who created a file"
done
cmp "$TEST_TMP/host/vmcore" "$share/k/vmcore" || fail "vmcore changed"
[ "$(stat -c %a "$share/k/vmcore")" = 440 ] || fail "mode changed"

# Kill the sidecar: the consumer's read fails, within 5 s, no hang.
"${P[@]}" kill "$tag-sidecar" >/dev/null
"${P[@]}" wait "$tag-sidecar" >/dev/null 2>&1
t=$SECONDS
if T=10 cexec cat /share/k/vmcoreinfo >/dev/null 2>"$TEST_TMP/dead.err"; then fail "read after the sidecar died succeeded"; fi
[ $((SECONDS - t)) -le 5 ] || fail "the failing read took $((SECONDS - t)) s"
grep -qi 'not connected\|no such file\|input/output' "$TEST_TMP/dead.err" || fail "dead-mount error: $(cat "$TEST_TMP/dead.err")"
note "sidecar killed: consumer's read fails in $((SECONDS - t)) s: $(head -1 "$TEST_TMP/dead.err")"
# Restart: it unmounts the dead mount and mounts again below the stable parent.
"${P[@]}" rm -f "$tag-sidecar" >/dev/null
start_sidecar
for _ in $(seq 1 50); do cexec cat /share/k/vmcoreinfo >"$TEST_TMP/c2" 2>/dev/null && break; sleep 0.1; done
cmp "$TEST_TMP/c2" "$TEST_TMP/host/vmcoreinfo" || fail "consumer does not read again after the sidecar's restart"
note "sidecar restarted: the consumer reads again"

# Mode 2: premount privileged, the server with no capability and no /dev/fuse.
"${RUN[@]}" -d --name "$tag-pre" --device /dev/fuse --cap-add SYS_ADMIN -v "$share:/share:rshared" \
  -v "$fd:/fd" "$img" sh -c 'mkdir -p /share/p && exec kcorefs premount --wait 60 \
    -o uid=1000,gid=1000,allow_other,default_permissions /share/p /fd/fuse.sock' >/dev/null ||
  fail "premount container did not start"
for _ in $(seq 1 100); do [ -S "$fd/fuse.sock" ] && break; sleep 0.1; done
[ -S "$fd/fuse.sock" ] || fail "no premount socket: $("${P[@]}" logs "$tag-pre" 2>&1)"
"${RUN[@]}" -d --name "$tag-srv" --cap-drop ALL --user 1000:1000 --group-add 2000 \
  --security-opt no-new-privileges -v "$fd:/fd" -v "$run:/run/kcorefs" "$img" sh -c \
  '! [ -e /dev/fuse ] || exit 9; exec kcorefs mount -f --fuse-fd-socket /fd/fuse.sock \
     "nbd+unix:///?socket=/run/kcorefs/kcore.sock"' >/dev/null || fail "server container did not start"
for _ in $(seq 1 100); do cexec test -e /share/p/vmcoreinfo 2>/dev/null && break; sleep 0.1; done
cexec cat /share/p/vmcoreinfo >"$TEST_TMP/p" 2>"$TEST_TMP/p.err" ||
  fail "mode 2: consumer cannot read: $(cat "$TEST_TMP/p.err"); $("${P[@]}" logs "$tag-pre" 2>&1; "${P[@]}" logs "$tag-srv" 2>&1)"
cmp "$TEST_TMP/p" "$TEST_TMP/host/vmcoreinfo" || fail "mode 2: vmcoreinfo differs"
"${P[@]}" exec "$tag-srv" grep -q '^CapEff:[[:space:]]*0*$' /proc/1/status || fail "mode 2 server has capabilities"
note "mode 2: server with no caps/no /dev/fuse serves the premount; consumer reads"
"${P[@]}" rm -f -t 0 "$tag-srv" >/dev/null; umount -l "$share/p" 2>/dev/null
note "total $((SECONDS - t0)) s"
echo ok
