#!/usr/bin/env bash
# contrib/k8s/ played with `podman kube play` (podman 4.3: Pod; the DaemonSet's pod template
# is played as a Pod): the agent on a dump in place of the live kernel serves its socket
# 0660 group 2000; the debug pod's sidecar mounts through it and its unprivileged debug
# container (uid 1000, group 2000, no capability) reads vmcoreinfo equal to a host mount's.
# Two substitutions only, said where they are made: the image, and the volumes' host paths
# (the debug pod's emptyDir becomes a hostPath on a shared mount: podman's volumes are not
# shared mounts, so nothing would propagate; kubelet's pod directories are).
source "$(dirname "$0")/functions.sh"
requires command -v podman
requires python3 -c 'import yaml'
[ "$(id -u)" -eq 0 ] || { echo "SKIP: rootful podman needs root" >&2; exit 77; }
build=${KCOREFS%/src/cli/kcorefs}
img=localhost/kcorefs-test:latest
bash "$SRCDIR/contrib/container/build-image.sh" "$build" "$img" >"$TEST_TMP/image.log" 2>&1 ||
  fail "build-image.sh failed: $(tail -20 "$TEST_TMP/image.log")"
P=(podman --runtime runc --cgroup-manager=cgroupfs)
# kube play takes no --ulimit: the defaults below the host's come from containers.conf.
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$TEST_TMP/containers.conf"
export CONTAINERS_CONF=$TEST_TMP/containers.conf
W=$TEST_TMP
mkdir -p "$W/run" "$W/share"
mount --bind "$W/share" "$W/share" && mount --make-shared "$W/share" || fail "cannot make the shared mount"
cleanup_fn "umount -R -l '$W/share' 2>/dev/null"
cleanup_fn "${P[*]} pod rm -f -t 0 kcfs-agent kcorefs-debug >/dev/null 2>&1"
"$build/tests/write_test_core" "$W/core" || fail "cannot write the test core"
mount_kcorefs "$W/core" "$W/host"
python3 - "$W" "$img" "$SRCDIR/contrib/k8s" <<'PY' || fail "cannot rewrite the manifests"
import sys, yaml
w, img, k8s = sys.argv[1:]
ds = yaml.safe_load(open(k8s + '/agent-daemonset.yaml'))
assert ds['kind'] == 'DaemonSet'
t = ds['spec']['template']
c = t['spec']['containers'][0]
c['image'] = img
assert 'source=live view=kcore' in c['args'][0]
c['args'] = [c['args'][0].replace('source=live view=kcore', 'source=/dump/core view=vmcore')]
c['volumeMounts'].append({'name': 'dump', 'mountPath': '/dump/core', 'readOnly': True})
t['spec']['volumes'][0]['hostPath']['path'] = w + '/run'
t['spec']['volumes'].append({'name': 'dump', 'hostPath': {'path': w + '/core', 'type': 'File'}})
yaml.safe_dump({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'kcfs-agent'},
                'spec': t['spec']}, open(w + '/agent.yaml', 'w'))
p = yaml.safe_load(open(k8s + '/debug-pod.yaml'))
for c in p['spec']['containers']:
    c['image'] = img
vols = {v['name']: v for v in p['spec']['volumes']}
assert 'emptyDir' in vols['kernel'] and vols['agent']['hostPath']['path'] == '/run/kcorefs'
vols['kernel'] = {'name': 'kernel', 'hostPath': {'path': w + '/share', 'type': 'Directory'}}
vols['agent']['hostPath']['path'] = w + '/run'
p['spec']['volumes'] = list(vols.values())
yaml.safe_dump(p, open(w + '/debug.yaml', 'w'))
PY
"${P[@]}" kube play --network none "$W/agent.yaml" >"$W/play1.log" 2>&1 || fail "kube play agent: $(cat "$W/play1.log")"
for _ in $(seq 1 100); do [ "$(stat -c '%a %g' "$W/run/kcore.sock" 2>/dev/null)" = "660 2000" ] && break; sleep 0.1; done
[ "$(stat -c '%a %g' "$W/run/kcore.sock" 2>/dev/null)" = "660 2000" ] || fail "agent socket: $(stat -c '%a %g' "$W/run/kcore.sock" 2>&1)"
"${P[@]}" kube play --network none "$W/debug.yaml" >"$W/play2.log" 2>&1 || fail "kube play debug pod: $(cat "$W/play2.log")"
for _ in $(seq 1 100); do [ -e "$W/share/k/vmcoreinfo" ] && break; sleep 0.1; done
[ -e "$W/share/k/vmcoreinfo" ] || fail "no mount propagated: $("${P[@]}" logs kcorefs-debug-kcorefs 2>&1)"
x=(with_timeout 60 "${P[@]}" exec kcorefs-debug-debug)
[ "$("${x[@]}" id -u):$("${x[@]}" id -g)" = "1000:2000" ] || fail "debug container runs as $("${x[@]}" id)"
"${x[@]}" grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status || fail "debug container has capabilities"
"${x[@]}" cat /mnt/kernel/k/vmcoreinfo >"$W/d.vmcoreinfo" || fail "debug container cannot read vmcoreinfo"
cmp "$W/d.vmcoreinfo" "$W/host/vmcoreinfo" || fail "debug container's vmcoreinfo differs from the host mount's"
"${x[@]}" touch /mnt/kernel/k/new 2>/dev/null && fail "debug container created a file"
note "kube play: agent pod + debug pod; the debug container (uid 1000 gid 2000, no caps) reads the sidecar's mount"
echo ok
