#!/usr/bin/env bash
# The nbd backend serves the same views as a local mount of the same core: stock
# `nbdkit -r file CORE` over a unix socket and over TCP loopback, a kdump-shaped, a
# QEMU-shaped and a /proc/kcore-shaped core (the unix server writable, logging: reads only
# come in); vmcore, kcore and vmcoreinfo byte-equal to
# `kcorefs mount CORE`'s, with the cache (default) and without it (-o cache_size=0).
# `kcorefs info URI` names backend nbd; MNT/stats carries the nbd and cache counters, and
# they count what happened (bytes came from the server, none of the requests failed).
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/nbd-lib.sh"
make_cores kdump qemu kcore

# check_stats MP URI WHAT CACHE_CAPACITY LIVE: the nbd and cache lines of MP/stats (with no
# cache, the cache lines may be absent; if present they say capacity 0 and no hits).
check_stats() {
  local mp=$1 uri=$2 what=$3 cap=$4 live=$5 k v
  local keys="nbd_server nbd_connections nbd_reconnects nbd_requests nbd_request_errors nbd_bytes"
  local cache_keys="cache_hits cache_misses cache_readahead cache_resident_bytes cache_capacity_bytes"
  [ "$cap" = 0 ] || keys+=" $cache_keys"
  for k in $keys; do
    [ -n "$(stat_of "$mp" "$k")" ] || fail "$what: no '$k' line in stats: $(cat "$mp/stats")"
  done
  grep -q '^backend nbd$' "$mp/stats" || fail "$what: stats names another backend: $(cat "$mp/stats")"
  [ "$(stat_of "$mp" nbd_server)" = "$uri" ] || fail "$what: nbd_server is '$(stat_of "$mp" nbd_server)', want $uri"
  for k in nbd_bytes nbd_requests source_bytes_read nbd_connections; do
    v=$(stat_of "$mp" "$k")
    [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || fail "$what: $k is '$v' after reading every view"
  done
  [ "$(stat_of "$mp" nbd_request_errors)" = 0 ] || fail "$what: nbd_request_errors $(stat_of "$mp" nbd_request_errors)"
  [ "$(stat_of "$mp" nbd_reconnects)" = 0 ] || fail "$what: nbd_reconnects $(stat_of "$mp" nbd_reconnects), the server never went away"
  v=$(stat_of "$mp" nbd_live)
  [ -z "$v" ] || [ "$v" = "$live" ] || fail "$what: nbd_live $v, want $live (live=auto)"
  # A /proc/kcore shape from a file server gets one request at a time (pipeline=auto).
  v=$(stat_of "$mp" nbd_pipelined)
  [ "$v" = "$((1 - live))" ] || fail "$what: nbd_pipelined '$v', want $((1 - live)) (pipeline=auto)"
  v=$(stat_of "$mp" cache_capacity_bytes)
  if [ "$cap" = 0 ]; then
    [ -z "$v" ] || [ "$v" = 0 ] || fail "$what: cache_capacity_bytes $v with -o cache_size=0"
    v=$(stat_of "$mp" cache_hits)
    [ -z "$v" ] || [ "$v" = 0 ] || fail "$what: cache_hits $v with no cache"
  else
    [ "$v" = "$cap" ] || fail "$what: cache_capacity_bytes $v, want $cap"
    v=$(stat_of "$mp" cache_resident_bytes)
    [ "$v" -le "$cap" ] || fail "$what: cache_resident_bytes $v above the capacity $cap"
    v=$(stat_of "$mp" cache_misses)
    [ "$v" -gt 0 ] || fail "$what: cache_misses $v after reading every view through the cache"
  fi
  note "$what: $(tr '\n' ' ' <"$mp/stats")"
}

for src in kdump qemu kcore; do
  core=$(mf files.$src)
  local_mp=$TEST_TMP/local-$src
  mount_kcorefs "$core" "$local_mp"
  sock=$TEST_TMP/$src.sock
  # The unix-socket server is writable and logs every request: the client must send reads
  # only (the backend is read-only by itself, not because the server says so).
  nlog=$TEST_TMP/nbdkit-requests.$src.log
  start_nbdkit "$src-unix" -U "$sock" --filter=log file "$core" logfile="$nlog"
  sum0=$(stat -c "%y %s" "$core")   # a write changes the mtime (no checksum: kcore.core is ~100 TiB)
  port=$(free_port)
  start_nbdkit "$src-tcp" -r -i 127.0.0.1 -p "$port" file "$core"
  unix_uri=$(nbd_unix_uri "$sock")
  tcp_uri=nbd://127.0.0.1:$port/

  with_timeout 60 "$KCOREFS" info "$unix_uri" >"$TEST_TMP/info.$src" 2>&1 ||
    fail "kcorefs info $unix_uri: $(cat "$TEST_TMP/info.$src")"
  grep -qE "\(backend nbd[,)]" "$TEST_TMP/info.$src" || fail "info $unix_uri names no backend nbd: $(head -3 "$TEST_TMP/info.$src")"
  grep -q '^views: *vmcore, kcore, vmcoreinfo$' "$TEST_TMP/info.$src" || fail "info $unix_uri: views line: $(cat "$TEST_TMP/info.$src")"

  n=0
  for cfg in "$unix_uri|" "$tcp_uri|" "$unix_uri|cache_size=0"; do
    uri=${cfg%%|*} opts=${cfg#*|}
    n=$((n + 1))
    mp=$TEST_TMP/nbd-$src-$n
    what="$src via $uri${opts:+ -o $opts}"
    mount_kcorefs "$uri" "$mp" ${opts:+-o "$opts"}
    for v in vmcore vmcoreinfo kcore; do
      same_core "$local_mp/$v" "$mp/$v" "$what: $v"
    done
    cap=67108864
    [ -z "$opts" ] || cap=0
    live=0
    [ "$src" != kcore ] || live=1   # /proc/kcore-shaped (NT_TASKSTRUCT): live=auto says live
    check_stats "$mp" "$uri" "$what" "$cap" "$live"
    unmount_kcorefs "$mp" "$KCOREFS_PID"
  done
  grep -q ' Read ' "$nlog" || fail "$src: the request log holds no read: $(head -3 "$nlog")"
  if grep -E ' (Write|Trim|Zero|Flush) ' "$nlog" | head -3 | grep . >&2; then
    fail "$src: the nbd backend sent a write-type request (above)"
  fi
  [ "$(stat -c "%y %s" "$core")" = "$sum0" ] || fail "$src: the served core was modified"
done
echo ok
