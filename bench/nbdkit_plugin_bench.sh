#!/usr/bin/env bash
# The agent plugin's sequential throughput (docs/agent.md, "Throughput"), run as root:
# `nbdcopy` of the vmcore view from `nbdkit -r -U SOCK nbdkit-kcorefs-plugin.so
# source=DUMP view=vmcore` against `nbdcopy` from stock `nbdkit -r -U SOCK file` serving a
# `kcorefs export` of the same view (a plain file in /dev/shm: the ceiling, nbdkit's file
# plugin on bytes already laid out), same machine, loopback unix sockets, warm page cache for
# both, to nbdcopy's null: sink with --no-extents (every byte is read, none skipped as a
# hole). Prints the median MB/s of REPS runs of each, and checks the two serve the same bytes.
# Usage: bench/nbdkit_plugin_bench.sh BUILD_DIR DUMP [REPS]
set -euo pipefail
build=$(cd "${1:?BUILD_DIR}" && pwd)
dump=$(realpath "${2:?DUMP}")
reps=${3:-5}
plugin=$build/src/nbdkit/nbdkit-kcorefs-plugin.so
kcorefs=$build/src/cli/kcorefs
work=$(mktemp -d /dev/shm/kcorefs-nbdkit-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$kcorefs" export --view vmcore -o "$work/vmcore" "$dump"
size=$(stat -c %s "$work/vmcore")
serve() {  # serve NAME ARGS...
  nbdkit -f -r -U "$work/$1.sock" -P "$work/$1.pid" "${@:2}" 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 1 200); do [ -s "$work/$1.pid" ] && return 0; sleep 0.05; done
  cat "$work/$1.log" >&2; exit 1
}
serve plugin "$plugin" source="$dump" view=vmcore
serve file file "$work/vmcore"
uri() { echo "nbd+unix:///?socket=$work/$1.sock"; }

# Same bytes, or the figure means nothing.
nbdcopy "$(uri plugin)" "$work/copy"
cmp "$work/copy" "$work/vmcore"
rm -f "$work/copy"
cat "$dump" >/dev/null  # warm the dump's page cache

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() {  # rate NAME: MB/s of one nbdcopy to null:
  local t0 t1
  t0=$(date +%s.%N)
  nbdcopy --no-extents "$(uri "$1")" null:
  t1=$(date +%s.%N)
  awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f\n", s / (b - a) / 1e6}'
}
declare -A runs
for i in $(seq 1 "$reps"); do
  for name in plugin file; do runs[$name]+="$(rate "$name") "; done
done
p=$(tr ' ' '\n' <<<"${runs[plugin]}" | grep . | median)
f=$(tr ' ' '\n' <<<"${runs[file]}" | grep . | median)
echo "dump: $dump ($(stat -c %s "$dump") bytes), vmcore view $size bytes, $reps runs each, nbdcopy $(nbdcopy --version | head -1 | awk '{print $2}')"
echo "plugin (nbdkit kcorefs source=DUMP view=vmcore): median $p MB/s (runs: ${runs[plugin]})"
echo "file   (nbdkit file on kcorefs export --view vmcore): median $f MB/s (runs: ${runs[file]})"
awk -v p="$p" -v f="$f" 'BEGIN {printf "plugin / file: %.2f\n", p / f}'
