#!/usr/bin/env bash
# nbd backend benchmark (docs/performance.md, "nbd backend"), run as root. One export,
# `nbdkit -r file DUMP` on TCP loopback, the dump warm in the page cache; each figure is the
# median of REPS runs, each run on a fresh mount:
#   1. nbdcopy nbd://127.0.0.1:PORT/ /dev/null: wall time and MB/s of the export;
#   2. kcorefs mount nbd://127.0.0.1:PORT/ MP, dd if=MP/vmcore of=/dev/null bs=1M: MB/s of
#      the vmcore view, and its ratio to (1) (target >= 0.70); with the default cache (64M)
#      and with -o cache_size=16M and 0; the daemon's peak RSS (VmHWM) after the read;
#   3. nbdfuse -r MP URI, dd if=MP/nbd of=/dev/null bs=1M: MB/s (target: kcorefs faster);
#   4. for reference, a local `kcorefs mount DUMP` and the same dd;
#   5. the daemon's peak RSS against the cache size when the cache fills: NBD_BENCH_RANDOM
#      (20000) reads of 4 KiB at random pages of vmcore (O_DIRECT), cache 64M and 16M
#      (sequential reads of 256 KiB or more bypass the cache, so 2 never fills it).
# MB/s is 10^6 bytes per second of the bytes each one moves (the export for 1 and 3, the
# vmcore view for 2 and 4; they differ by the headers the view builds).
# Usage: [NBD_BENCH_SKIP=REGEX] bench/nbd_bench.sh BUILD_DIR [DUMP] [REPS]
# DUMP defaults to the real-kernel suite's QEMU ELF dump of its guest.
set -euo pipefail
build=$(cd "${1:?BUILD_DIR}" && pwd)
dump=${2:-/var/cache/kcorefs-tests/dumps/kaslr-overlap.core}
reps=${3:-3}
kcorefs=$build/src/cli/kcorefs
file -L "$dump" | grep -q "ELF 64-bit LSB core file" || { echo "$dump is no ELF core: $(file -L "$dump")" >&2; exit 1; }
for t in nbdkit nbdcopy nbdfuse; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
work=$(mktemp -d /tmp/kcorefs-nbd-bench.XXXXXX)
mp=$work/mp
mkdir -p "$mp"
pids=()
cleanup() {
  fusermount3 -u "$mp" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
uri=nbd://127.0.0.1:$port/
nbdkit -f -r -P "$work/nbdkit.pid" -i 127.0.0.1 -p "$port" file "$dump" &
pids+=($!)
for i in $(seq 1 100); do [ -s "$work/nbdkit.pid" ] && break; sleep 0.1; done
[ -s "$work/nbdkit.pid" ] || { echo "nbdkit did not start" >&2; exit 1; }
size=$(stat -L -c %s "$dump")
cat "$dump" >/dev/null   # warm: every run reads the dump from the page cache

wait_file() { local i; for i in $(seq 1 200); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "no $1" >&2; exit 1; }
# dd_secs FILE: seconds of one sequential read of FILE (dd bs=1M).
dd_secs() {
  local t0 t1
  t0=$(now)
  dd if="$1" of=/dev/null bs=1M status=none
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
mbs() { echo "$1 / $2 / 1000000" | bc -l; }
# random_secs FILE N: seconds of N reads of 4 KiB at random page offsets of FILE (O_DIRECT,
# fixed seed: every run reads the same pages), which fill the block cache as crash does.
random_secs() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import mmap, os, random, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
pages = os.fstat(fd).st_size // 4096
buf = mmap.mmap(-1, 4096)
rng = random.Random(9)
offs = [rng.randrange(pages) * 4096 for _ in range(int(sys.argv[2]))]
t0 = time.monotonic()
for o in offs:
    os.preadv(fd, [buf], o)
print(time.monotonic() - t0)
PY
}

declare -A secs rate hwm bytes
run() {  # run LABEL: one measurement of LABEL into secs/rate (and hwm for kcorefs)
  local label=$1 s pid f
  case $label in
    nbdcopy)
      local t0 t1
      t0=$(now); nbdcopy "$uri" /dev/null; t1=$(now)
      s=$(echo "$t1 - $t0" | bc -l); bytes[$label]=$size ;;
    nbdfuse)
      nbdfuse -r "$mp" "$uri" & pid=$!
      wait_file "$mp/nbd"
      s=$(dd_secs "$mp/nbd"); bytes[$label]=$(stat -c %s "$mp/nbd")
      fusermount3 -u "$mp"; wait "$pid" || true ;;
    kcorefs*|local*)
      local src=$uri opts=()
      case $label in
        local*) src=$dump ;;
        *16M*) opts=(-o cache_size=16M) ;;
        *"random"*) ;;
        *"no cache"*) opts=(-o cache_size=0) ;;
      esac
      "$kcorefs" mount -f "${opts[@]}" "$src" "$mp" 2>"$work/kcorefs.log" & pid=$!
      wait_file "$mp/vmcore"
      f=$mp/vmcore
      if [[ $label == *random* ]]; then
        s=$(random_secs "$f" "$nrandom"); bytes[$label]=$((nrandom * 4096))
      else
        s=$(dd_secs "$f"); bytes[$label]=$(stat -c %s "$f")
      fi
      hwm[$label]+="$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$pid/status") "
      [ "${label#local}" != "$label" ] || stats[$label]=$(tr '\n' ' ' <"$mp/stats")
      fusermount3 -u "$mp"; wait "$pid" || true ;;
  esac
  secs[$label]+="$s "
  rate[$label]+="$(mbs "${bytes[$label]}" "$s") "
  sleep 0.3
}
declare -A stats
load0=$(cut -d' ' -f1-3 /proc/loadavg)
nrandom=${NBD_BENCH_RANDOM:-20000}
labels=(nbdcopy "kcorefs nbd (cache 64M)" "kcorefs nbd (cache 16M)" "kcorefs nbd (no cache)" nbdfuse
  "local kcorefs (dumpfile)" "kcorefs nbd random 4K (64M)" "kcorefs nbd random 4K (16M)")
if [ -n "${NBD_BENCH_SKIP:-}" ]; then   # a regex of labels not to run, e.g. 'kcorefs nbd'
  keep=()
  for l in "${labels[@]}"; do [[ $l =~ $NBD_BENCH_SKIP ]] || keep+=("$l"); done
  labels=("${keep[@]}")
fi
for i in $(seq 1 "$reps"); do
  for l in "${labels[@]}"; do run "$l"; done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
base=$(med "${rate[nbdcopy]:-0}")
[ "$base" != 0 ] && [ -n "$base" ] || base=1   # nbdcopy left out: the ratios mean nothing
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r), $(nproc) CPUs, load average $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# dump $dump ($size bytes); $reps rounds over all readers, medians"
printf '%-30s %10s %9s %8s %11s  %s\n' "reader" "bytes" "seconds" "MB/s" "vs nbdcopy" "peak RSS MiB (runs)"
for l in "${labels[@]}"; do
  r=$(med "${rate[$l]}")
  h=-
  [ -z "${hwm[$l]:-}" ] || h="$(med "${hwm[$l]}") (${hwm[$l]% })"
  ratio=$(printf '%.2fx' "$(echo "$r / $base" | bc -l)")
  [[ $l != *random* ]] || ratio=-
  printf '%-30s %10s %9.3f %8.0f %11s  %s\n' "$l" "${bytes[$l]}" "$(med "${secs[$l]}")" "$r" "$ratio" "$h"
done
for l in "${labels[@]}"; do
  [ -z "${stats[$l]:-}" ] || echo "# stats after the last run, $l: ${stats[$l]}"
done
