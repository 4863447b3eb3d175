# Real-kernel checks of the nbd backend and the agent plugin (issue 9), sourced by suite.sh.
#
# Source `live`: g1 serves its /proc/kcore with stock `nbdkit -s -r file /proc/kcore` on the
# virtio-serial port kcorefs.kcore ($VM_DIR/kcore.sock, one connection at a time); here,
# `kcorefs mount nbd+unix:///?socket=$VM_DIR/kcore.sock MNT` and MNT/vmcore, MNT/kcore are
# read by every tool. Source `live-guest`: kcorefs inside the guest on its own /proc/kcore
# (the live backend in a real guest), its views brought here by nbdfuse (vm_nbd_mount).
#
#   live/rodata, live-guest/rodata
#                     the kernel's rodata through the source's kcore, one sequential pass and
#                     6 threads of random reads at once, equals g1's ELF dump of the same boot
#                     (tests/tools/kernel_rodata_equal.py): no read gets another read's bytes
#                     (concurrent reads of one open /proc/kcore share the kernel's bounce buffer)
#   live/bytes-read   bytes this side's kcorefs fetched over NBD during crash 'sys; ps; log;
#                     bt -a' (MNT/stats source_bytes_read): > 0 and <= 5% of the guest's RAM;
#                     the session's wall time against the same session on g1's ELF dump
#                     (reported)
#   nbd/delay-1ms, nbd/delay-10ms
#                     the same session through `nbdkit --filter=delay nbd socket=...` here
#                     (delay-read=N ms on every read): crash's answers right, wall time reported
#   nbd/outage        a mount with -o timeout=5,request_timeout=3,cache_size=0; QMP stop: a
#                     read fails with EIO within the read deadline and the mount stays; QMP
#                     cont: reads work again and give the guest's bytes (a kernel-text page
#                     equals the dump's)
#   nbd/plugin-tls    the agent plugin on g1's dump over TCP loopback with TLS-PSK; a second
#                     kcorefs mounts nbds://alice@127.0.0.1:PORT/?tls-psk-file=...: crash sys
#                     and log right, sampled pages equal the local mount's
#   nbd/plugin-wrong-psk   the same server, another key: the mount fails within 15 s, its
#                     message names TLS

LIVE_GUEST_CHECKS=(readelf crash-sys crash-log gdb drgn-tasks rodata)
NBD_CHECKS=(nbd/delay-1ms nbd/delay-10ms nbd/ttl0 nbd/outage nbd/plugin-tls nbd/plugin-wrong-psk)
for c in "${LIVE_GUEST_CHECKS[@]}"; do PLANNED+=("live-guest/$c"); done
PLANNED+=(live/rodata "${NBD_CHECKS[@]}")
: "${NBD_MOUNT_WAIT:=60}"   # seconds for a mount over the virtio port (TCG guest, shared CPUs)

is_live() { [ "$1" = live ] || [ "$1" = live-guest ]; }   # a running kernel, not a dump

selected() {  # selected NAME...: --only selects one of them (or there is no --only)
  local n
  for n; do { [ -z "$ONLY" ] || [[ $n =~ $ONLY ]]; } && return 0; done
  return 1
}

now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

# nbd_mount URI MP [mount options...]: kcorefs on URI at MP, from the caller's shell (a
# cleanup unmounts it at the suite's exit too). 1, with the daemon's log, when no MP/vmcore
# appears within NBD_MOUNT_WAIT s. Sets NBD_PID; MP.pid holds it for nbd_umount.
nbd_mount() {
  local uri=$1 mp=$2 log t0 start=$SECONDS
  shift 2
  mkdir -p "$mp"
  log=$W/kcorefs-mount.$(basename "$mp").log
  t0=$(now)
  "$KCOREFS" mount -f "$@" "$uri" "$mp" >"$log" 2>&1 </dev/null &
  NBD_PID=$!
  echo "$NBD_PID" >"$mp.pid"
  cleanup_fn "unmount_kcorefs '$mp' $NBD_PID"
  while [ $((SECONDS - start)) -lt "$NBD_MOUNT_WAIT" ]; do
    if [ -e "$mp/vmcore" ]; then
      echo "kcorefs mount $* $uri $mp: up in $(since "$t0") s"
      return 0
    fi
    process_running "$NBD_PID" || break
    sleep 0.1
  done
  cat "$log" >&2
  echo "kcorefs mount $* $uri $mp: no vmcore after $(since "$t0") s (log above)" >&2
  unmount_kcorefs "$mp" "$NBD_PID"
  return 1
}

nbd_umount() {  # nbd_umount MP: unmounts and waits for the daemon, so its connection is closed
  [ -f "$1.pid" ] || return 0
  unmount_kcorefs "$1" "$(cat "$1.pid")"
  rm -f "$1.pid"
}

stat_of() { sed -n "s/^$2 //p" "$1/stats"; }   # stat_of MP NAME

# run_crash_timed VMCORE OUT COMMANDS: run_crash, and the wall time in 0.1 s in OUT.secs
run_crash_timed() {
  local t0 rc
  t0=$(now)
  run_crash "$@"
  rc=$?
  since "$t0" >"$2.secs"
  return $rc
}

# crash_answers_right OUT SRC: crash's sys names the guest's release, its log holds SRC's marker
crash_answers_right() {
  local rel
  rel=$(fact "$(cat "$W/$2/guest")" release)
  grep -Eq "^ +RELEASE: $rel\$" "$1" || { tail -30 "$1"; fail "crash sys: RELEASE is not the guest's $rel ($1)"; }
  grep -q "kcorefs-realkernel-marker $(cat "$W/$2/marker")\$" "$1" ||
    { tail -30 "$1"; fail "crash log: no marker line '$(cat "$W/$2/marker")' ($1)"; }
}

# The local reference: the same session on g1's ELF dump through kcorefs, run next to the
# live one so that both see the same load on the shared CPUs (once per suite).
local_session_secs() {
  if [ ! -s "$W/live/crash-local.out.secs" ]; then
    run_crash_timed "$(cat "$W/dump-vmcoreinfo/vmcore")" "$W/live/crash-local.out" "$CRASH_A" ||
      { cat "$W/live/crash-local.out"; fail "crash on the local dump failed"; }
  fi
  cat "$W/live/crash-local.out.secs"
}

c_rodata() {  # c_rodata SRC: a running kernel's rodata, read every way, equals g1's dump
  python3 "$HERE/../tools/kernel_rodata_equal.py" "$(cat "$W/$1/kcore")" "$W/g1-elf.core" "$VM_VMLINUX"
}

c_live_bytes_read() {
  local mp=$LIVE_MNT b0 b1 n0 n1 secs lsecs
  lsecs=$(local_session_secs) || exit 1
  b0=$(stat_of "$mp" source_bytes_read)
  n0=$(stat_of "$mp" nbd_bytes)
  [ -n "$b0" ] || { cat "$mp/stats"; fail "no source_bytes_read in $mp/stats"; }
  # A fresh crash session (not the cached one), so the figure is the session's own.
  run_crash_timed "$(cat "$W/live/vmcore")" "$W/live/crash-bytes.out" "$CRASH_A" ||
    { cat "$W/live/crash-bytes.out"; fail "crash session failed"; }
  crash_answers_right "$W/live/crash-bytes.out" live
  secs=$(cat "$W/live/crash-bytes.out.secs")
  b1=$(stat_of "$mp" source_bytes_read)
  n1=$(stat_of "$mp" nbd_bytes)
  cat "$mp/stats"
  python3 - "$((b1 - b0))" "$(( ${n1:-0} - ${n0:-0} ))" "$VM_MEM" "$(fact g1 memtotal_kb)" "$secs" "$lsecs" <<'EOF' |
import sys
d, n, mem, kb, secs, lsecs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
ram = int(mem[:-1]) * {"M": 2**20, "G": 2**30}[mem[-1]]
print("live (host kcorefs over NBD, virtio-serial): crash 'sys; ps; log; bt -a' %.1f s = %.2fx the"
      " local dump's %.1f s; read %d bytes (%.2f MiB; nbd_bytes %d) = %.2f%% of the guest's %s RAM"
      % (secs, secs / lsecs, lsecs, d, d / 2**20, n, 100.0 * d / ram, mem))
print("pct %.4f" % (100.0 * d / ram))
EOF
    tee "$W/live/bytes-read.raw"
  grep -v '^pct ' "$W/live/bytes-read.raw" >"$W/live/bytes-read.txt"
  [ "$((b1 - b0))" -gt 0 ] || fail "source_bytes_read did not grow during the session"
  python3 -c "import sys; sys.exit(float(sys.argv[1]) > 5.0)" "$(sed -n 's/^pct //p' "$W/live/bytes-read.raw")" ||
    fail "the session fetched more than 5% of the guest's RAM over NBD"
}

# c_nbd_delay MS: the live session through a delaying proxy here; the guest's port is free
# (the live mount is down), and the proxy makes one upstream connection per client.
c_nbd_delay() {
  local ms=$1 sock=$W/delay-$1.sock mp=$W/mnt/delay-$1 pid lsecs secs
  lsecs=$(local_session_secs) || exit 1
  rm -f "$sock"
  nbdkit -f -U "$sock" --filter=delay nbd socket="$VM_DIR/kcore.sock" delay-read="${ms}ms" \
    >"$W/nbdkit-delay-$ms.log" 2>&1 </dev/null &
  pid=$!
  trap "nbd_umount '$mp'; kill $pid 2>/dev/null" EXIT
  for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { cat "$W/nbdkit-delay-$ms.log"; fail "nbdkit --filter=delay did not create $sock"; }
  nbd_mount "nbd+unix:///?socket=$sock" "$mp" -o connections=1 || fail "mount through the delay proxy failed"
  run_crash_timed "$mp/vmcore" "$W/live/crash-delay-$ms.out" "$CRASH_A" ||
    { cat "$W/live/crash-delay-$ms.out"; fail "crash session through the ${ms} ms proxy failed"; }
  crash_answers_right "$W/live/crash-delay-$ms.out" live
  secs=$(cat "$W/live/crash-delay-$ms.out.secs")
  cat "$mp/stats"
  python3 -c 'import sys; s, l, ms, b = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4] or 0)
print("live through nbdkit --filter=delay delay-read=%sms: crash %s %.1f s = %.2fx the local dump'"'"'s %.1f s (%.2f MiB fetched)" % (ms, "'"'"'sys; ps; log; bt -a'"'"'", s, s / l, l, b / 2**20))' \
    "$secs" "$lsecs" "$ms" "$(stat_of "$mp" source_bytes_read)" | tee "$W/live/delay-$ms.txt"
}

# c_nbd_ttl0: the live session with no cache (-o cache_ttl=0: every read goes to the
# guest), against the default (cache_ttl=1) of live/bytes-read: the figures behind the
# default (docs/backends/kcorefs-nbd-backend.7.md, docs/performance.md).
c_nbd_ttl0() {
  local mp=$W/mnt/ttl0 lsecs secs
  lsecs=$(local_session_secs) || exit 1
  trap "nbd_umount '$mp'" EXIT
  nbd_mount "$(vm_kcore_uri)" "$mp" -o connections=1,cache_ttl=0 || fail "mount with cache_ttl=0 failed"
  grep -qx 'nbd_live 1' "$mp/stats" || fail "the guest's /proc/kcore export is not live: $(cat "$mp/stats")"
  run_crash_timed "$mp/vmcore" "$W/live/crash-ttl0.out" "$CRASH_A" ||
    { cat "$W/live/crash-ttl0.out"; fail "crash session with cache_ttl=0 failed"; }
  crash_answers_right "$W/live/crash-ttl0.out" live
  secs=$(cat "$W/live/crash-ttl0.out.secs")
  cat "$mp/stats"
  python3 -c 'import sys; s, l, b, r = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3] or 0), int(sys.argv[4] or 0)
print("live with cache_ttl=0 (no cache): crash %s %.1f s = %.2fx the local dump'"'"'s %.1f s; %.2f MiB fetched in %d NBD requests" % ("'"'"'sys; ps; log; bt -a'"'"'", s, s / l, l, b / 2**20, r))' \
    "$secs" "$lsecs" "$(stat_of "$mp" source_bytes_read)" "$(stat_of "$mp" nbd_requests)" | tee "$W/live/ttl0.txt"
}

# phys_offset FILE PHYS: the offset in FILE (an ELF core) of physical address PHYS
phys_offset() {
  python3 - "$1" "$2" "$HERE/../tools" <<'EOF'
import bisect, sys
sys.path.insert(0, sys.argv[3])
import compare_phys
f, segs = compare_phys.loads(sys.argv[1])
pa = int(sys.argv[2], 0)
for s in segs:
    if s[0] <= pa < s[0] + s[2]:
        print(s[1] + pa - s[0]); sys.exit(0)
sys.exit("%s: no PT_LOAD holds physical address %#x" % (sys.argv[1], pa))
EOF
}

read_page() {  # read_page FILE OFFSET OUT: one page, O_DIRECT (no page cache), bounded
  with_timeout 60 dd if="$1" of="$3" bs=4096 count=1 skip="$2" iflag=direct,skip_bytes status=none
}

# outage_reads VMCORE TEXT_OFF RAM_OFF DUMP_PAGE QMP_SOCKET: on one descriptor opened before
# the outage (O_DIRECT: every read reaches kcorefs): the text page equals the dump's; QMP
# stop; a read at RAM_OFF fails with EIO within 7 s; QMP cont; the text page is read again
# (within 60 s) and equals the dump's. Prints what it saw; exit 1 on a failed expectation.
outage_reads() {
  python3 - "$@" "$VM_HERE/qmp.py" <<'EOF'
import errno, mmap, os, subprocess, sys, time
path, toff, roff, dump_page, qmp_sock, qmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
want = open(dump_page, "rb").read()
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
def pread(off):
    n = os.preadv(fd, [buf], off)
    return bytes(buf[:n])
def qmp_do(op):
    subprocess.run(["python3", qmp, qmp_sock, op], check=True)
def bad(msg):
    print("FAIL: " + msg); sys.exit(1)
if pread(toff) != want:
    bad("before the outage, the kernel-text page at %d differs from the dump's" % toff)
print("before the outage: the kernel-text page at offset %d equals the dump's" % toff)
qmp_do("stop")
try:
    t0 = time.monotonic()
    try:
        got = pread(roff)
        bad("a read at %d of the stopped guest returned %d bytes (%r...)" % (roff, len(got), got[:16]))
    except OSError as e:
        secs = time.monotonic() - t0
        print("guest stopped: the read at offset %d failed after %.1f s: %s" % (roff, secs, e))
        if e.errno != errno.EIO:
            bad("the read failed with %s, not EIO" % errno.errorcode.get(e.errno, e.errno))
        if secs > 7.0:
            bad("the read took %.1f s to fail; the mount's read deadline is 5 s (timeout=5)" % secs)
    print("fail_secs %.1f" % secs)
finally:
    qmp_do("cont")
t0 = time.monotonic()
tries = 0
while True:
    tries += 1
    try:
        got = pread(toff)
        break
    except OSError as e:
        if time.monotonic() - t0 > 60:
            bad("reads still fail 60 s after QMP cont: %s" % e)
        time.sleep(0.5)
back = time.monotonic() - t0
print("reads work again %.1f s after QMP cont (%d tries)" % (back, tries))
print("back_secs %.1f" % back)
if got != want:
    bad("after the outage the kernel-text page differs from the dump's")
pread(roff)
print("after the outage: the kernel-text page equals the dump's; the page that failed reads")
EOF
}

c_nbd_outage() {
  local mp=$W/mnt/outage dump=$W/mnt/dump-vmcoreinfo/vmcore text ram toff doff roff out rc t0 err
  use_guest g1
  trap "vm_resume 2>/dev/null; nbd_umount '$mp'" EXIT
  nbd_mount "$(vm_kcore_uri)" "$mp" -o timeout=5,request_timeout=3,cache_size=0,connections=1 ||
    fail "the outage mount failed"
  text=$(fact g1 kernel_code)
  toff=$(phys_offset "$mp/vmcore" "$text") || fail "no kernel text in the live vmcore"
  doff=$(phys_offset "$dump" "$text") || fail "no kernel text in the dump's vmcore"
  read_page "$dump" "$doff" "$W/outage.dump-page" || fail "cannot read the dump's kernel-text page"
  ram=$(printf '0x%x' $((text + 0x200000)))   # a page not read before (and no cache)
  roff=$(phys_offset "$mp/vmcore" "$ram") || fail "no page at $ram in the live vmcore"
  out=$(outage_reads "$mp/vmcore" "$toff" "$roff" "$W/outage.dump-page" "$VM_DIR/qmp.sock" 2>&1)
  rc=$?
  echo "$out"
  [ $rc -eq 0 ] || fail "the outage did not go as it should (above)"
  grep -q " $mp fuse" /proc/mounts || fail "the mount went away during the outage"
  process_running "$(cat "$mp.pid")" || fail "kcorefs exited during the outage"
  grep '^nbd_' "$mp/stats"
  # A file opened during the outage (a tool started then, not one already running): reported.
  vm_pause
  t0=$(now)
  err=$(with_timeout 20 dd if="$mp/vmcore" of=/dev/null bs=4096 count=1 skip="$((roff + 4096))" \
          iflag=direct,skip_bytes status=none 2>&1)
  echo "NOTE: open + read of $mp/vmcore while the guest is stopped: exit $? after $(since "$t0") s: $err"
  vm_resume
  echo "nbd/outage: with the guest stopped a read fails (EIO) after $(sed -n 's/^fail_secs //p' <<<"$out") s" \
       "(timeout=5, request_timeout=3); reads right again $(sed -n 's/^back_secs //p' <<<"$out") s after QMP cont" \
       "($(stat_of "$mp" nbd_reconnects) reconnects)" >"$W/live/outage.txt"
  trap - EXIT
  nbd_umount "$mp"
}

# ---------------------------------------------------------------------------------------
# The agent plugin over TLS-PSK on loopback.

NBD_PLUGIN=${BUILD_DIR:-build}/src/nbdkit/nbdkit-kcorefs-plugin.so

write_psk() {  # write_psk FILE USER: a fresh 256-bit key in nbdkit's and libnbd's PSK format
  (umask 077; python3 -c 'import secrets, sys; print("%s:%s" % (sys.argv[1], secrets.token_hex(32)))' "$2" >"$1")
}

# plugin_server PSKFILE LOG: the plugin on g1's dump, view vmcore, TLS required; sets
# PLUGIN_PORT, PLUGIN_PID; waits until it listens.
plugin_server() {
  [ -f "$NBD_PLUGIN" ] || fail "no agent plugin at $NBD_PLUGIN (build it: ninja -C ${BUILD_DIR:-build})"
  PLUGIN_PORT=$(_vm_free_port)
  nbdkit -f --tls=require --tls-psk="$1" -i 127.0.0.1 -p "$PLUGIN_PORT" \
    "$NBD_PLUGIN" source="$W/g1-elf.core" view=vmcore >"$2" 2>&1 </dev/null &
  PLUGIN_PID=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PLUGIN_PORT") 2>/dev/null && return 0
    kill -0 "$PLUGIN_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$2"
  fail "nbdkit with the kcorefs plugin does not listen on 127.0.0.1:$PLUGIN_PORT"
}

c_nbd_plugin_tls() {
  local psk=$W/nbd-alice.psk mp=$W/mnt/nbd-tls out=$W/nbd-tls-crash.out uri
  write_psk "$psk" alice
  plugin_server "$psk" "$W/nbdkit-plugin-tls.log"
  trap "nbd_umount '$mp'; kill $PLUGIN_PID 2>/dev/null" EXIT
  uri="nbds://alice@127.0.0.1:$PLUGIN_PORT/?tls-psk-file=$psk"
  nbd_mount "$uri" "$mp" || fail "kcorefs mount $uri failed"
  run_crash "$mp/vmcore" "$out" 'sys
log' || { cat "$out"; fail "crash on the TLS mount failed"; }
  crash_answers_right "$out" dump-vmcoreinfo
  python3 "$HERE/../tools/compare_phys.py" --sample 300 --max-paddr "$(format_ram_end)" \
    "$W/mnt/dump-vmcoreinfo/vmcore" "$mp/vmcore" || fail "the TLS mount's pages differ from the local mount's"
  grep -E '^(nbd_|source_bytes_read)' "$mp/stats"
  [ "$(stat_of "$mp" source_bytes_read)" -gt 0 ] || fail "source_bytes_read is 0: the bytes did not come over NBD"
}

c_nbd_plugin_wrong_psk() {
  local psk=$W/nbd-alice2.psk other=$W/nbd-alice-other.psk mp=$W/mnt/nbd-wrong uri t0 secs out rc
  write_psk "$psk" alice
  write_psk "$other" alice
  plugin_server "$psk" "$W/nbdkit-plugin-wrong.log"
  trap "kill $PLUGIN_PID 2>/dev/null" EXIT
  uri="nbds://alice@127.0.0.1:$PLUGIN_PORT/?tls-psk-file=$other"
  mkdir -p "$mp"
  t0=$(now)
  out=$(with_timeout 30 "$KCOREFS" mount "$uri" "$mp" 2>&1 </dev/null)
  rc=$?
  secs=$(since "$t0")
  echo "kcorefs mount with another key: exit $rc after $secs s: $out"
  if [ $rc -eq 0 ]; then fusermount3 -u "$mp"; fail "the mount with a wrong PSK succeeded"; fi
  grep -q " $mp fuse" /proc/mounts && { fusermount3 -u "$mp"; fail "a mount is left at $mp"; }
  python3 -c "import sys; sys.exit(float(sys.argv[1]) > 15.0)" "$secs" || fail "the refusal took $secs s (> 15 s)"
  echo "$out" | grep -q 'TLS' || fail "the message does not name TLS"
  echo "$out" | grep -qF "127.0.0.1:$PLUGIN_PORT" || fail "the message does not name the server ($uri)"
}

run_nbd_plugin_checks() {
  check nbd/plugin-tls c_nbd_plugin_tls
  check nbd/plugin-wrong-psk c_nbd_plugin_wrong_psk
}

# ---------------------------------------------------------------------------------------
# The live sources, in the order the guest's one-connection port allows.

record_not_run() {  # record_not_run WHY NAME...: each NAME as a failed check
  local why=$1 n
  shift
  echo "not run: $why" >"$LOGS/notrun-live.log"
  for n; do selected "$n" && emit "$n" 1 "$LOGS/notrun-live.log"; done
}

run_live_checks() {
  local c names=()
  use_guest g1
  LIVE_MNT=$W/mnt/live
  for c in "${CHECKS[@]}"; do names+=("live/$c"); done
  names+=(live/rodata live/bytes-read nbd/delay-1ms nbd/delay-10ms nbd/ttl0 nbd/outage)
  selected "${names[@]}" || return 0
  # One connection: the port serves one at a time, and a second one would wait for the
  # handshake deadline.
  if ! nbd_mount "$(vm_kcore_uri)" "$LIVE_MNT" -o connections=1 >"$LOGS/live-mount.log" 2>&1; then
    record_not_run "kcorefs mount $(vm_kcore_uri) failed: $(tail -5 "$LOGS/live-mount.log")" "${names[@]}"
    return
  fi
  cat "$LOGS/live-mount.log"
  summary "live: kcorefs mount $(vm_kcore_uri): $(sed -n 's/.*: up in //p' "$LOGS/live-mount.log")"
  new_source live g1 "$LIVE_MNT/vmcore" "$LIVE_MNT/kcore" "$LIVE_MNT/vmcoreinfo"
  # A marker written now, after the dumps: the live checks see a line the dumps cannot hold.
  echo "$MARK_BASE-g1-live-$SECONDS" >"$W/live/marker"
  vm_ctl "echo kcorefs-realkernel-marker $(cat "$W/live/marker") >/dev/kmsg" >/dev/null
  run_source_checks live
  check live/rodata c_rodata live
  check live/bytes-read c_live_bytes_read
  [ -f "$W/live/bytes-read.txt" ] && summary "$(cat "$W/live/bytes-read.txt")"
  nbd_umount "$LIVE_MNT"   # frees the guest's port for the checks below
  check nbd/delay-1ms c_nbd_delay 1
  [ -f "$W/live/delay-1.txt" ] && summary "$(cat "$W/live/delay-1.txt")"
  check nbd/delay-10ms c_nbd_delay 10
  [ -f "$W/live/delay-10.txt" ] && summary "$(cat "$W/live/delay-10.txt")"
  check nbd/ttl0 c_nbd_ttl0
  [ -f "$W/live/ttl0.txt" ] && summary "$(cat "$W/live/ttl0.txt")"
  check nbd/outage c_nbd_outage
  [ -f "$W/live/outage.txt" ] && summary "$(cat "$W/live/outage.txt")"
}

run_live_guest_checks() {
  local c names=()
  for c in "${LIVE_GUEST_CHECKS[@]}"; do names+=("live-guest/$c"); done
  selected "${names[@]}" || return 0
  use_guest g1
  vm_ctl 'cat /mnt/k/vmcoreinfo' >"$W/g1-live.vmcoreinfo"
  new_source live-guest g1 "$W/nbd/vmcore" "$W/nbd-kcore/kcore" "$W/g1-live.vmcoreinfo"
  echo "$MARK_BASE-g1-live-guest-$SECONDS" >"$W/live-guest/marker"
  vm_ctl "echo kcorefs-realkernel-marker $(cat "$W/live-guest/marker") >/dev/kmsg" >/dev/null
  vm_nbd_mount vmcore "$W/nbd" agent
  vm_nbd_mount kcore "$W/nbd-kcore" agent2  # a port carries one NBD connection at a time
  run_source_checks live-guest "${LIVE_GUEST_CHECKS[@]}"
  vm_nbd_umount "$W/nbd"
  vm_nbd_umount "$W/nbd-kcore"
}
