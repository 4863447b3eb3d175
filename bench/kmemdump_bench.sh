#!/usr/bin/env bash
# kmemdump benchmarks (docs/performance.md, "kmemdump region sets"), run as root:
#   1. mount time of a 10,000-region set (manifest, no header region: the header is
#      synthesized): wall time of `kcorefs mount` (it returns once the mount is up and every
#      view was built once), median of REPS runs;
#   2. sequential read of MP/coreimage (dd bs=1M) of a 64-region set of 1 MiB regions
#      against bench/passthrough_ll serving the same regions concatenated into one file, in
#      the same run, warm page cache for both backing sets, median MB/s of REPS runs each.
# Usage: bench/kmemdump_bench.sh BUILD_DIR [WORK_DIR] [REPS]
set -euo pipefail
build=$(cd "${1:?BUILD_DIR}" && pwd)
work=${2:-/var/tmp/kcorefs-kmemdump-bench}
reps=${3:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
kcorefs=$build/src/cli/kcorefs
pt=$build/bench/passthrough_ll
mkdir -p "$work"
[ -f "$work/core/manifest.json" ] || /usr/bin/python3 "$src/tests/tools/mkcore.py" "$work/core" kdump >/dev/null
rm -rf "$work/big" "$work/seq"
/usr/bin/python3 "$src/tests/tools/mkregions.py" "$work/core" "$work/big" --metadata manifest --no-header --filler 10000
/usr/bin/python3 "$src/tests/tools/mkregions.py" "$work/core" "$work/seq" --metadata manifest \
  --filler 64 --filler-size $((1 << 20)) --concat "$work/seq.concat" --slots 201
mp=$work/mp
mkdir -p "$mp"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

# The manifest records every file's sha256: by default each file is read and checked at
# mount; verify=no shows the cost of the rest.
for opts in verify=yes verify=no; do
  times=()
  for i in $(seq 1 "$reps"); do
    t0=$(now)
    "$kcorefs" mount -o "$opts" "$work/big" "$mp" 2>/dev/null
    t1=$(now)
    n=$(ls "$mp" | wc -l)
    fusermount3 -u "$mp"
    times+=("$(printf '%.0f' "$(echo "($t1 - $t0) * 1000" | bc -l)")")
    sleep 0.3
  done
  printf 'mount 10,000 regions (%s): median %s ms (runs: %s)\n' "$opts" "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"
done

cat "$work"/seq/* "$work/seq.concat" >/dev/null   # warm: both read their files from the page cache
read_mbs() {  # FILE -> MB/s of 8 sequential reads of it (dd bs=1M), bytes over seconds
  local t0 t1 i bytes
  bytes=$(stat -c %s "$1")
  t0=$(now)
  for i in 1 2 3 4 5 6 7 8; do dd if="$1" of=/dev/null bs=1M status=none; done
  t1=$(now)
  echo "8 * $bytes / ($t1 - $t0) / 1000000" | bc -l | xargs printf '%.0f'
}
drop() { echo 1 >/proc/sys/vm/drop_caches; cat "$work"/seq/* "$work/seq.concat" >/dev/null; }
declare -A res
for label in "kcorefs watch=no" "kcorefs watch=yes (direct_io)" "passthrough"; do
  res[$label]=""
  for i in $(seq 1 "$reps"); do
    case $label in
      "kcorefs watch=no") "$kcorefs" mount -o watch=no "$work/seq" "$mp"; f=$mp/coreimage ;;
      "kcorefs watch=yes (direct_io)") "$kcorefs" mount "$work/seq" "$mp"; f=$mp/coreimage ;;
      passthrough) "$pt" "$work/seq.concat" "$mp" & sleep 0.5; f=$mp/data ;;
    esac
    drop
    res[$label]+="$(read_mbs "$f") "
    fusermount3 -u "$mp"; sleep 0.3
  done
  printf '%-32s median %s MB/s (runs: %s; %s bytes)\n' "$label" \
    "$(tr ' ' '\n' <<<"${res[$label]}" | grep . | median)" "${res[$label]}" "$(stat -c %s "$work/seq.concat")"
done
