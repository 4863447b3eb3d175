#!/usr/bin/env bash
# The live backend's epochs on `live:PATH`: PATH is treated like /proc/kcore, whose st_size
# changing means a new layout. The /proc/kcore-shaped source (tests/tools/mkcore.py kcore)
# is rewritten in place twice: with 40 hot-added memory blocks (80 more PT_LOADs, program
# headers a page longer, so st_size grows, as /proc/kcore's does), then without them again
# (fewer segments, st_size shrinks). Each time a new open sees the new layout: new size,
# new program headers, later mtime. A descriptor opened before the change keeps the layout
# it was opened with (kcorefs pins the epoch per open file): the same header bytes, and its
# reads end where its own view ends, even past the new size.
# (fstat on such a descriptor shows the current size: the kernel caches one size per inode.)
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
KCORE_DIR=$TEST_TMP/shm   # kcore.core is ~100 TiB sparse: a tmpfs
mount_tmpfs "$KCORE_DIR"
make_cores kcore
src=$(mf files.kcore)
ino=$(stat -c %i "$src")
BLOCKS=40

rewrite() {  # rewrite HOTPLUG_BLOCKS [same-size]: the same file, in place, with another layout
  local before
  before=$(stat -c %s "$src")
  "$DRGN_PYTHON" "$SRCDIR/tests/tools/mkcore.py" "$TEST_TMP/cores-$1" --kcore-dir "$KCORE_DIR" \
    --hotplug-blocks "$1" kcore || fail "mkcore.py --hotplug-blocks $1 failed"
  [ "$(stat -c %i "$src")" = "$ino" ] || fail "mkcore.py replaced $src instead of rewriting it"
  if [ "${2:-}" = same-size ]; then
    [ "$(stat -c %s "$src")" = "$before" ] || fail "the rewrite with $1 blocks changed st_size: the check of an unchanged size proves nothing"
  else
    [ "$(stat -c %s "$src")" != "$before" ] || fail "the rewritten source has the same st_size $before: no new epoch to see"
  fi
  note "source rewritten with $1 hot-added blocks: st_size $before -> $(stat -c %s "$src")"
}

# facts NAME FD...: what an open file shows, as JSON in $TEST_TMP/NAME.json: per view
# (vmcore, kcore) e_phnum, a digest of the ELF and program headers, RAM PT_LOADs, and
# where its reads end. FDs are shell descriptors (vmcore's, then kcore's); without them
# the files are opened anew. The last byte is read in vmcore only: its last segment is RAM,
# which stays inside the source file whatever the layout; kcore's is the vsyscall page at
# the very end of the source, which moves with the header size (an older descriptor's read
# of it past the source's new end fails, rightly).
facts() {
  local name=$1
  shift
  "$DRGN_PYTHON" - "$mp" "$@" >"$TEST_TMP/$name.json" <<'PY' || fail "cannot read the views ($name)"
import hashlib, json, os, struct, sys
mp, fds = sys.argv[1], [int(x) for x in sys.argv[2:]]
out = {}
for i, view in enumerate(("vmcore", "kcore")):
    fd = fds[i] if fds else os.open(os.path.join(mp, view), os.O_RDONLY)
    eh = os.pread(fd, 64, 0)
    phnum = struct.unpack_from("<H", eh, 56)[0]
    raw = os.pread(fd, 56 * phnum, 64)
    ph = [struct.unpack_from("<IIQQQQQQ", raw, 56 * k) for k in range(phnum)]
    end = max(p[2] + p[5] for p in ph)
    # The last byte of the last segment reads; nothing past it does.
    last = len(os.pread(fd, 1, end - 1)) == 1 if view == "vmcore" else None
    past = len(os.pread(fd, 4096, end))
    st = os.stat(os.path.join(mp, view))   # the file's current attributes (a path stat)
    out[view] = {"phnum": phnum, "digest": hashlib.sha256(eh + raw).hexdigest(), "end": end,
                 "last_byte_reads": last, "reads_past_end": past,
                 "ram": sorted(p[4] for p in ph if p[0] == 1 and p[4] < 2**63 and p[3] < 0xffffffff80000000),
                 "size": st.st_size, "mtime": st.st_mtime_ns // 10**9}
    if not fds: os.close(fd)
json.dump(out, sys.stdout)
PY
}
# fact NAME VIEW KEY
fact() {
  "$DRGN_PYTHON" -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]]; print(json.dumps(v))' \
    "$TEST_TMP/$1.json" "$2" "$3"
}
# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || fail "$1: $2, want $3"; }

mp=$TEST_TMP/live
mount_kcorefs "live:$src" "$mp"
cleanup_fn "exec 5<&- 6<&- 7<&- 8<&-"   # runs before the unmount: no open file keeps it busy

# Epoch 1: the boot layout. Descriptors 5 (vmcore) and 6 (kcore) stay open throughout.
exec 5<"$mp/vmcore" 6<"$mp/kcore"
facts e1 5 6
for v in vmcore kcore; do
  expect "epoch 1 $v: file size" "$(fact e1 $v size)" "$(fact e1 $v end)"
  expect "epoch 1 $v: bytes past the end" "$(fact e1 $v reads_past_end)" 0
done
expect "epoch 1 vmcore: last byte reads" "$(fact e1 vmcore last_byte_reads)" true

# mtime is in whole seconds: let the next epoch begin in a later one.
sleep 1.1
rewrite $BLOCKS
# Lookups and attributes of a live mount are cached for 1 s: after that a stat asks kcorefs.
sleep 1.1

# Epoch 2, seen by a new open: more segments, a bigger file, a later mtime.
facts e2
exec 7<"$mp/vmcore" 8<"$mp/kcore"   # held open into epoch 3
expect "epoch 2 vmcore: e_phnum" "$(fact e2 vmcore phnum)" $(( $(fact e1 vmcore phnum) + BLOCKS ))
expect "epoch 2 kcore: e_phnum" "$(fact e2 kcore phnum)" $(( $(fact e1 kcore phnum) + 2 * BLOCKS ))
"$DRGN_PYTHON" - "$TEST_TMP/e1.json" "$TEST_TMP/e2.json" $BLOCKS <<'PY' || fail "epoch 2 is not the hot-added layout (above)"
import json, sys
e1, e2, blocks = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
errs = []
for v in ("vmcore", "kcore"):
    a, b = e1[v], e2[v]
    if b["size"] != b["end"] or b["size"] <= a["size"]:
        errs.append("%s: size %d (its segments end at %d), epoch 1's %d: want bigger" % (v, b["size"], b["end"], a["size"]))
    if b["mtime"] <= a["mtime"]:
        errs.append("%s: mtime %d is not later than epoch 1's %d" % (v, b["mtime"], a["mtime"]))
    new = sorted(set(b["ram"]) - set(a["ram"]))
    want = [(1 << 32) + 2 * i * (128 << 20) for i in range(blocks)]
    if new != want:
        errs.append("%s: new RAM PT_LOADs at %s, want the %d hot-added blocks" % (v, [hex(x) for x in new[:4]], blocks))
if errs: sys.exit("\n".join(errs))
PY

# The descriptors opened in epoch 1 still see epoch 1.
facts e1-after 5 6
for v in vmcore kcore; do
  for k in phnum digest end last_byte_reads reads_past_end; do
    expect "epoch-1 descriptor of $v after the change: $k" "$(fact e1-after $v $k)" "$(fact e1 $v $k)"
  done
done

sleep 1.1
rewrite 0
sleep 1.1

# Epoch 3: fewer segments again, the boot layout's size, a later mtime than epoch 2's.
facts e3
for v in vmcore kcore; do
  expect "epoch 3 $v: e_phnum" "$(fact e3 $v phnum)" "$(fact e1 $v phnum)"
  expect "epoch 3 $v: size" "$(fact e3 $v size)" "$(fact e1 $v size)"
  [ "$(fact e3 $v mtime)" -gt "$(fact e2 $v mtime)" ] || fail "epoch 3 $v: mtime $(fact e3 $v mtime) is not later than epoch 2's $(fact e2 $v mtime)"
done
# The epoch-2 descriptors keep epoch 2: its headers, and its end (vmcore: its last byte reads,
# past the new, smaller size; nothing past its own end).
facts e2-after 7 8
for v in vmcore kcore; do
  for k in phnum digest end last_byte_reads reads_past_end; do
    expect "epoch-2 descriptor of $v after the change: $k" "$(fact e2-after $v $k)" "$(fact e2 $v $k)"
  done
done
[ "$(fact e2-after vmcore end)" -gt "$(fact e3 vmcore size)" ] || fail "epoch 2's vmcore does not end past epoch 3's size: the last check proved nothing"
# ...and the epoch-1 descriptors still epoch 1.
facts e1-end 5 6
for v in vmcore kcore; do
  expect "epoch-1 descriptor of $v at the end: digest" "$(fact e1-end $v digest)" "$(fact e1 $v digest)"
done
exec 5<&- 6<&- 7<&- 8<&-

# Epoch 4: two hot-added blocks leave st_size as it was (the headers still fit their page,
# as on most real hotplugs); the new program headers alone make the new epoch.
sleep 1.1
rewrite 2 same-size
sleep 1.1
facts e4
expect "epoch 4 vmcore: e_phnum" "$(fact e4 vmcore phnum)" $(( $(fact e1 vmcore phnum) + 2 ))
[ "$(grep -c 'changed (size' "$KCOREFS_LOG")" = 3 ] || fail "kcorefs did not log three layout changes: $(cat "$KCOREFS_LOG")"
echo ok
