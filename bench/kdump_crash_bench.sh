#!/usr/bin/env bash
# crash on a compressed dump through kcorefs against crash on the same file directly
# (docs/performance.md, "kdump backend"; issue target: at most 1.2x), run as root. The
# session is `sys; ps; log; bt -a; quit`, run REPS times each way, alternating, with the
# dump warm in the page cache; each kcorefs run is on a fresh mount. Prints the medians and
# their ratio.
# Usage: bench/kdump_crash_bench.sh BUILD_DIR [DUMP] [VMLINUX] [REPS]
# DUMP defaults to the real-kernel suite's QEMU kdump-zlib dump, rewritten from QEMU's
# flattened form with `makedumpfile -R` (crash reads only the rewritten form).
set -euo pipefail
build=$(cd "${1:?BUILD_DIR}" && pwd)
cache=${KCOREFS_CACHE:-/var/cache/kcorefs-tests}
dump=${2:-$cache/dumps/kdump-zlib.core}
vmlinux=${3:-$cache/$(cat "$cache/current")/vmlinux}
reps=${4:-5}
kcorefs=$build/src/cli/kcorefs
work=$(mktemp -d /tmp/kcorefs-kdump-crash-bench.XXXXXX)
mp=$work/mp
mkdir -p "$mp"
trap 'fusermount3 -u "$mp" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ "$(head -c 12 "$dump")" = makedumpfile ]; then
  makedumpfile -R "$work/dump.kdump" <"$dump" >/dev/null
  dump=$work/dump.kdump
fi
cat "$dump" >/dev/null
session() {  # session FILE -> wall seconds of one crash session; fails when crash did not get through
  local t0 t1 out
  t0=$(date +%s.%N)
  out=$(printf 'sys\nps\nlog\nbt -a\nquit\n' | timeout 600 crash -s "$vmlinux" "$1" 2>&1)
  t1=$(date +%s.%N)
  grep -q "RELEASE: " <<<"$out" || { echo "crash on $1 did not start: $(tail -5 <<<"$out")" >&2; return 1; }
  echo "$t1 - $t0" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
direct=() via=()
for i in $(seq 1 "$reps"); do
  direct+=("$(session "$dump")")
  "$kcorefs" mount "$dump" "$mp" 2>/dev/null
  via+=("$(session "$mp/vmcore")")
  fusermount3 -u "$mp"
done
d=$(printf '%s\n' "${direct[@]}" | median)
v=$(printf '%s\n' "${via[@]}" | median)
printf 'crash directly on %s: median %.2f s (runs: %s)\n' "$(basename "$dump")" "$d" "$(printf '%.2f ' "${direct[@]}")"
printf 'crash on kcorefs MNT/vmcore:  median %.2f s (runs: %s)\n' "$v" "$(printf '%.2f ' "${via[@]}")"
printf 'ratio: %.2fx (target <= 1.2x)\n' "$(echo "$v / $d" | bc -l)"
