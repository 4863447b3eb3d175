#!/usr/bin/env bash
# redact=user cost (docs/performance.md, "Redaction"), run as root:
#   1. mount time of DUMP with and without -o redact=user (`kcorefs mount` returns once the
#      mount is up and every view was built once; with redact=user that includes reading
#      every struct page and classifying every page), median of REPS runs;
#   2. one crash session (sys, ps, log, bt -a: the real-kernel suite's session A) on
#      MP/vmcore with and without redact=user, the two mounts alternating, median wall time
#      of REPS runs each, and their ratio (target: <= 1.2).
# Usage: bench/redact_bench.sh BUILD_DIR DUMP VMLINUX [REPS]
set -euo pipefail
build=$(cd "${1:?BUILD_DIR}" && pwd)
dump=${2:?DUMP}
vmlinux=${3:?VMLINUX}
reps=${4:-3}
kcorefs=$build/src/cli/kcorefs
work=$(mktemp -d /tmp/kcorefs-redact-bench.XXXXXX)
trap 'fusermount3 -u "$work/plain" 2>/dev/null; fusermount3 -u "$work/red" 2>/dev/null; rmdir "$work/plain" "$work/red" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/plain" "$work/red"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
mount_time() {  # mount_time MP [OPTS...]: seconds; leaves it mounted
  local mp=$1 t0
  shift
  t0=$(now)
  "$kcorefs" mount "$@" "$dump" "$mp" >/dev/null 2>"$work/mount.err" || { cat "$work/mount.err" >&2; exit 1; }
  awk -v a="$(now)" -v b="$t0" 'BEGIN {printf "%.2f\n", a - b}'
}
mp_plain=() mp_red=()
for i in $(seq 1 "$reps"); do
  mp_plain+=("$(mount_time "$work/plain")")
  fusermount3 -u "$work/plain"
  mp_red+=("$(mount_time "$work/red" -o redact=user)")
  fusermount3 -u "$work/red"
done
echo "mount: $(printf '%s\n' "${mp_plain[@]}" | median) s without, $(printf '%s\n' "${mp_red[@]}" | median) s with redact=user (median of $reps)"
mount_time "$work/plain" >/dev/null
mount_time "$work/red" -o redact=user >/dev/null
grep redacted "$work/red/stats"
session() {  # session VMCORE: seconds
  local t0 out=$work/crash.out
  t0=$(now)
  printf 'sys\nps\nlog\nbt -a\nquit\n' | timeout 600 crash -s "$vmlinux" "$1" >"$out" 2>&1 ||
    { tail -5 "$out" >&2; exit 1; }
  awk -v a="$(now)" -v b="$t0" 'BEGIN {printf "%.2f\n", a - b}'
}
t_plain=() t_red=()
for i in $(seq 1 "$reps"); do
  t_plain+=("$(session "$work/plain/vmcore")")
  t_red+=("$(session "$work/red/vmcore")")
done
p=$(printf '%s\n' "${t_plain[@]}" | median)
r=$(printf '%s\n' "${t_red[@]}" | median)
echo "crash sys/ps/log/bt -a: $p s without, $r s with redact=user (median of $reps): ratio $(awk -v r="$r" -v p="$p" 'BEGIN {printf "%.3f", r / p}')"
echo "runs without: ${t_plain[*]}; with: ${t_red[*]}"
