# -o redact=user on the real kernel (issue 11), sourced by suite.sh. g1 runs a process
# that builds a marker in its own memory from two halves sent separately (the whole
# string never passes through a kernel buffer), then a fresh QMP ELF dump is mounted
# twice, with and without redact=user.
#   redact/control        without redact=user the marker is in the vmcore and kcore views
#                         (so the absence check can fail)
#   redact/user-hidden    with redact=user it is in neither; the mount says how many pages
#                         it hid
#   redact/kernel-log     the kernel log marker is still in the vmcore, and crash's log
#                         shows it
#   redact/crash-tasks    crash walks the task list of the redacted dump and finds the
#                         marker process (sh) and init
#   redact/crash-time     crash's session (sys, ps, log, bt -a) with redact=user takes at
#                         most 1.2x (+2 s of timer grain) the time without it

REDACT_CHECKS=(redact/control redact/user-hidden redact/kernel-log redact/crash-tasks redact/crash-time)

# view_has FILE TEXT: TEXT is in a PT_LOAD's file bytes (the kcore view is terabytes of
# sparse gaps: only the segments' data is read).
view_has() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
path, text = sys.argv[1], sys.argv[2].encode()
with open(path, "rb") as f:
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32)
    phentsize, phnum = struct.unpack_from("<HH", eh, 54)
    f.seek(phoff)
    ph = f.read(phentsize * phnum)
    seen = set()
    for i in range(phnum):
        p_type, _, off, vaddr, paddr, filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type != 1 or (off, filesz) in seen:
            continue
        seen.add((off, filesz))
        f.seek(off)
        left, tail = filesz, b""
        while left > 0:
            b = f.read(min(left, 8 << 20))
            if not b:
                break
            if text in tail + b:
                sys.exit(0)
            tail = b[-len(text):]
            left -= len(b)
sys.exit(1)
PY
}

redact_setup() {
  local a b
  a="kcorefsRED$RANDOM$RANDOM" b="ACTEDuser$RANDOM$RANDOM"
  REDACT_MARK=$a$b
  use_guest g1
  vm_ctl "sh -c 'A=$a; B=$b; M=\"\$A\$B\"; while :; do sleep 100000; done' </dev/null >/dev/null 2>&1 &
          sleep 1; echo started" | grep -q started || return 1
  vm_dump elf "$W/redact.core" || return 1
  mount_kcorefs "$W/redact.core" "$W/mnt/redact-plain" || return 1
  mount_kcorefs "$W/redact.core" "$W/mnt/redact-user" -o redact=user || return 1
  cp "$KCOREFS_LOG" "$W/redact-mount.log"
}

c_redact_control() {
  local v
  for v in vmcore kcore; do
    view_has "$W/mnt/redact-plain/$v" "$REDACT_MARK" || fail "the marker is not in $v without redact=user"
  done
  echo "marker $REDACT_MARK present in vmcore and kcore without redact=user"
}

c_redact_hidden() {
  local v
  cat "$W/redact-mount.log"
  grep -q "redact=user: [1-9][0-9]* pages hidden" "$W/redact-mount.log" || fail "the mount does not say what it hid"
  for v in vmcore kcore; do
    ! view_has "$W/mnt/redact-user/$v" "$REDACT_MARK" || fail "the marker is in $v with redact=user"
  done
  grep redacted "$W/mnt/redact-user/stats"
}

c_redact_kernel_log() {
  local m="kcorefs-realkernel-marker $MARK_BASE-g1" out
  view_has "$W/mnt/redact-user/vmcore" "$m" || fail "the kernel log marker is gone with redact=user"
  out=$W/redact-crash-log.out
  run_crash "$W/mnt/redact-user/vmcore" "$out" log || { cat "$out"; fail "crash log failed"; }
  grep -qF "$m" "$out" || { tail -20 "$out"; fail "crash's log of the redacted dump lacks the marker"; }
}

c_redact_crash_tasks() {
  local out=$W/redact-crash-tasks.out
  run_crash "$W/mnt/redact-user/vmcore" "$out" "$CRASH_B" || { cat "$out"; fail "crash failed"; }
  cat "$out"
  grep -qE 'comm = "(init|systemd)\\' "$out" || fail "no init task in crash's task list"
  grep -qE 'comm = "sh\\' "$out" || fail "the marker process (sh) is not in crash's task list"
  grep -E '^crash: ' "$out" | grep -v 'crash: .* (no such|cannot find the)' && fail "crash reported errors"
  return 0
}

c_redact_crash_time() {
  local p=$W/redact-time-plain.out r=$W/redact-time-user.out tp tr
  run_crash "$W/mnt/redact-plain/vmcore" "$p" "$CRASH_A" || fail "crash (plain) failed"
  run_crash "$W/mnt/redact-user/vmcore" "$r" "$CRASH_A" || fail "crash (redact=user) failed"
  tp=$(cat "$p.time") tr=$(cat "$r.time")
  echo "crash sys/ps/log/bt -a: $tp s without, $tr s with redact=user"
  [ $((tr * 10)) -le $((tp * 12 + 20)) ] || fail "redact=user: $tr s vs $tp s, more than 1.2x"
}

run_redact_checks() {
  if [ -n "$ONLY" ] && ! [[ redact/ =~ $ONLY ]] && ! [[ redact/control =~ $ONLY ]]; then return 0; fi
  if ! redact_setup >"$LOGS/redact_setup.log" 2>&1; then
    local c
    for c in "${REDACT_CHECKS[@]}"; do emit "$c" 1 "$LOGS/redact_setup.log"; done
    return 0
  fi
  check redact/control c_redact_control
  check redact/user-hidden c_redact_hidden
  check redact/kernel-log c_redact_kernel_log
  check redact/crash-tasks c_redact_crash_tasks
  check redact/crash-time c_redact_crash_time
  [ -f "$W/redact-time-user.out.time" ] &&
    summary "redact=user crash session: $(cat "$W/redact-time-plain.out.time") s without, $(cat "$W/redact-time-user.out.time") s with"
}
