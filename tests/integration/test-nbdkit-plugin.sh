#!/usr/bin/env bash
# The agent plugin under real nbdkit: `nbdkit -r -U SOCK nbdkit-kcorefs-plugin.so
# source=DUMP view=VIEW` serves exactly the bytes kcorefs's FUSE mount of the same dump
# serves in MNT/VIEW (vmcore and vmcoreinfo compared whole with cmp; kcore, ~100 TiB sparse,
# compared on its header and every PT_LOAD, and zero everywhere else); the export's size is
# the file's; the export description says "kcorefs VIEW of SOURCE (immutable)", and
# "(live)" for a live source, whose bytes a new read sees change; the extents report the
# kcore layout's gaps as holes and no data as a hole. nbdkit refuses to start, with
# kcorefs's message, on a missing source=, an unknown view, a view that does not apply, an
# unknown backend key and corrupt dumps. A source that changes under the agent gives EIO
# and a log line naming the view and offset, never zeros; new connections are refused. nbdkit's fork to the background
# (the backend is started in the child) serves too.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/nbd-lib.sh"
requires nbdkit --version
requires nbdcopy --version
requires nbdinfo --version
PLUGIN=${NBDKIT_PLUGIN:-$(dirname "$(dirname "$KCOREFS")")/nbdkit/nbdkit-kcorefs-plugin.so}
[ -f "$PLUGIN" ] || fail "no plugin at $PLUGIN (is nbdkit-plugin-dev installed? meson builds it then)"

# Exported symbols: plugin_init and nothing else (the core library stays private).
syms=$(nm -D --defined-only "$PLUGIN" | awk '{print $3}' | grep -v '^$' | sort -u)
[ "$syms" = plugin_init ] || fail "the plugin exports more than plugin_init: $(echo $syms | head -c 300)"

KCORE_DIR=$TEST_TMP/shm
mount_tmpfs "$KCORE_DIR"
make_cores qemu kdump kcore bad
sparse_dir "$TEST_TMP/sparse" 200T
SPARSE=$SPARSE_DIR

# serve NAME ARGS...: the plugin under nbdkit (nbd-lib.sh's start_nbdkit) on unix socket
# $TEST_TMP/NAME.sock, read-only; sets SOCK, URI and NBDKIT_LOG. Stopped at exit.
serve() {
  local name=$1
  shift
  SOCK=$TEST_TMP/$name.sock
  URI=$(nbd_unix_uri "$SOCK")
  rm -f "$SOCK"
  start_nbdkit "$name" -r -U "$SOCK" "$PLUGIN" "$@"
}

# refused WORDS ARGS...: nbdkit must exit non-zero within 10 s, and its message contain WORDS.
refused() {
  local words=$1 rc
  shift
  with_timeout 10 nbdkit -f -r -U "$TEST_TMP/refused.sock" "$PLUGIN" "$@" >"$TEST_TMP/refused.out" 2>&1
  rc=$?
  local msg
  msg=$(cat "$TEST_TMP/refused.out")
  [ $rc -ne 0 ] || fail "nbdkit $* started (it must refuse): $msg"
  [ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "nbdkit $* hung instead of refusing"
  grep -qF -- "$words" <<<"$msg" || fail "nbdkit $*: message lacks '$words': $msg"
  note "refused ($*): $msg"
}

# json_field JSON KEY: a top-level value of `nbdinfo --json`'s first export.
export_field() {
  python3 -c 'import json,sys; print(json.load(sys.stdin)["exports"][0][sys.argv[1]])' "$2" <<<"$1"
}

for src in qemu kdump; do
  dump=$(mf files.$src)
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$dump" "$mp"
  views="vmcore vmcoreinfo"
  # The ~100 TiB sparse kcore view once: its copy walks ~10^6 extents requests.
  [ "$src" = qemu ] && views="$views kcore"
  for view in $views; do
    serve "$src-$view" source="$dump" view=$view
    info=$(with_timeout 30 nbdinfo --json "$URI") || fail "$src $view: nbdinfo failed: $(cat "$NBDKIT_LOG")"
    size=$(export_field "$info" export-size)
    want=$(stat -c %s "$mp/$view")
    [ "$size" = "$want" ] || fail "$src $view: export size $size, the mount's file has $want"
    desc=$(export_field "$info" description)
    [ "$desc" = "kcorefs $view of $dump (immutable)" ] || fail "$src $view: description '$desc'"
    [ "$(export_field "$info" is_read_only)" = True ] || fail "$src $view: export not read-only: $info"
    [ "$(export_field "$info" can_multi_conn)" = True ] || fail "$src $view: no multi-conn: $info"
    out=$SPARSE/$src-$view.out
    # nbdcopy uses several connections and requests in flight (multi-conn), and skips the
    # holes the extents report.
    with_timeout 600 nbdcopy "$URI" "$out" || fail "$src $view: nbdcopy failed: $(tail -5 "$NBDKIT_LOG")"
    [ "$(stat -c %s "$out")" = "$want" ] || fail "$src $view: the copy has $(stat -c %s "$out") bytes, want $want"
    if [ "$view" != kcore ]; then
      cmp "$out" "$mp/$view" || fail "$src $view: the export's bytes differ from the mount's"
      note "$src $view: $size bytes equal to $mp/$view"
    else
      with_timeout 120 nbdinfo --map --json "$URI" >"$TEST_TMP/map.json" || fail "$src kcore: nbdinfo --map failed"
      "$DRGN_PYTHON" - "$out" "$mp/kcore" "$TEST_TMP/map.json" <<'PY' || fail "$src kcore: the export differs from the mount (above)"
import json, os, struct, sys
out, ref, mapfile = sys.argv[1:]
o, r = open(out, "rb"), open(ref, "rb")
eh = r.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
r.seek(phoff)
ph = [struct.unpack("<IIQQQQQQ", r.read(56)) for _ in range(phnum)]
ranges = [(0, phoff + 56 * phnum)] + [(p[2], p[2] + p[5]) for p in ph if p[5] > 0]
CH = 1 << 20
compared = 0
for lo, hi in ranges:
    pos = lo
    while pos < hi:
        n = min(CH, hi - pos)
        o.seek(pos); r.seek(pos)
        a, b = o.read(n), r.read(n)
        if a != b:
            i = next(i for i in range(n) if a[i:i+1] != b[i:i+1])
            sys.exit("kcore: byte %#x: export %r, mount %r" % (pos + i, a[i:i+16], b[i:i+16]))
        pos += n; compared += n
# Outside the header and the segments the file is zeros: every data run of the copy that
# lies outside them must read as zeros (the copy is sparse: SEEK_DATA finds the runs).
fd, size, pos, extra = o.fileno(), os.fstat(o.fileno()).st_size, 0, 0
inside = lambda a: any(lo <= a < hi for lo, hi in ranges)
while pos < size:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    p = d
    while p < h:
        n = min(CH, h - p)
        if not inside(p):
            o.seek(p)
            blk = o.read(n)
            if blk.count(0) != len(blk):
                sys.exit("kcore: nonzero bytes at %#x, outside every segment" % p)
            extra += n
        p += n
    pos = h
# The extents: some holes (the layout's gaps), and no hole over data the mount has.
m = json.load(open(mapfile))
holes = [(e["offset"], e["offset"] + e["length"]) for e in m if e["type"] & 1]
data = [(e["offset"], e["offset"] + e["length"]) for e in m if not e["type"] & 1]
if not holes or not data:
    sys.exit("kcore map: %d holes, %d data extents: %s" % (len(holes), len(data), m[:6]))
covered = sum(b - a for a, b in holes)
if covered < size // 2:
    sys.exit("kcore map: only %d of %d bytes are holes in a sparse layout" % (covered, size))
checked = 0
for hl, hh in holes:
    for lo, hi in ranges:
        a, b = max(hl, lo), min(hh, hi)
        while a < b:
            n = min(CH, b - a)
            r.seek(a)
            if r.read(n).count(0) != n:
                sys.exit("kcore map: hole [%#x, %#x) holds data at %#x" % (hl, hh, a))
            a += n; checked += n
print("kcore: %d bytes compared, %d more zero, %d holes (%d bytes), %d hole bytes read as zeros"
      % (compared, extra, len(holes), covered, checked))
PY
    fi
    rm -f "$out"
  done
done

# kcorefs's own nbd backend on the agent's export (once it is in the build): the mount of
# `nbd+unix:///?socket=` holds the dump's physical pages, as the direct mount does, and
# treats the export as immutable, as its description says.
if "$KCOREFS" backends | grep -q '^  nbd '; then
  qemu=$(mf files.qemu)
  serve client source="$qemu" view=vmcore
  mount_kcorefs "$URI" "$TEST_TMP/m-client"
  "$DRGN_PYTHON" "$SRCDIR/tests/tools/compare_phys.py" "$qemu" "$TEST_TMP/m-client/vmcore" ||
    fail "kcorefs mount of the agent's export: pages differ from the dump's"
  cmp "$TEST_TMP/m-client/vmcoreinfo" "$TEST_TMP/m-qemu/vmcoreinfo" || fail "nbd mount: vmcoreinfo differs"
  grep -q '^nbd_server ' "$TEST_TMP/m-client/stats" || fail "nbd mount: no nbd_server in stats: $(cat "$TEST_TMP/m-client/stats")"
  note "kcorefs mount $URI: the dump's pages"
else
  note "this build has no nbd backend: kcorefs mount of the export not checked here"
fi

# A live source: "(live)" in the description, and a byte changed in the source is what the
# next read (a new connection, or the same one) returns; nothing is cached in the agent.
kc=$(mf files.kcore)
cp --sparse=always "$kc" "$KCORE_DIR/live.core"
serve live source="live:$KCORE_DIR/live.core" view=vmcore
info=$(with_timeout 30 nbdinfo --json "$URI") || fail "live: nbdinfo failed"
desc=$(export_field "$info" description)
[ "$desc" = "kcorefs vmcore of live:$KCORE_DIR/live.core (live)" ] || fail "live: description '$desc'"
mkdir -p "$TEST_TMP/m-live"
mount_kcorefs "live:$KCORE_DIR/live.core" "$TEST_TMP/m-live"
# The last page of the vmcore view's largest RAM PT_LOAD and where the source holds it.
read -r voff soff pa < <("$DRGN_PYTHON" - "$TEST_TMP/m-live/vmcore" "$KCORE_DIR/live.core" <<'PY'
import struct, sys
def loads(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
        f.seek(phoff)
        return [p for p in (struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)) if p[0] == 1 and p[5]]
v = max(loads(sys.argv[1]), key=lambda p: p[5])
pa = v[4] + v[5] - 4096
s = next(p for p in loads(sys.argv[2]) if p[4] != (1 << 64) - 1 and p[4] <= pa < p[4] + p[5])
print(v[2] + pa - v[4], s[2] + pa - s[4], pa)
PY
)
[ -n "$voff" ] || fail "live: no RAM page found"
# read_page OFFSET: 4096 bytes of the export, through nbdkit's nbd plugin and offset filter.
read_page() {
  nbdcopy -- [ nbdkit -r --filter=offset nbd socket="$SOCK" offset="$1" range=4096 ] - | od -An -v -tx1 | tr -d ' \n'
}
before=$(read_page "$voff")
# kcorefs's nbd backend on the live export (once it is in the build): it takes the
# description's "(live)" and serves the change within its cache_ttl (default 1 s).
nbd_client=
if "$KCOREFS" backends | grep -q '^  nbd '; then
  nbd_client=$TEST_TMP/m-live-nbd
  mount_kcorefs "$URI" "$nbd_client"
  # The nbd mount builds its own vmcore view of the exported one: find the page by address.
  noff=$("$DRGN_PYTHON" - "$nbd_client/vmcore" "$pa" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
    f.seek(phoff)
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
pa = int(sys.argv[2])
print(next(p[2] + pa - p[4] for p in ph if p[0] == 1 and p[4] <= pa < p[4] + p[5]))
PY
) || fail "live: the nbd mount's vmcore has no PT_LOAD for physical $pa"
  page() { dd if="$1" bs=4096 skip="$noff" count=1 iflag=skip_bytes status=none | od -An -v -tx1 | tr -d ' \n'; }
  [ "$(page "$nbd_client/vmcore")" = "$before" ] || fail "live: the nbd mount's page differs from the export's"
fi
[ ${#before} = 8192 ] || fail "live: read of the page at $voff gave ${#before} hex digits"
printf 'LIVE-CHANGED-%08d' $RANDOM | dd of="$KCORE_DIR/live.core" bs=1 seek="$soff" conv=notrunc status=none
after=$(read_page "$voff")
[ "$after" != "$before" ] || fail "live: the changed source byte was not served (cached?)"
[ "${after:0:26}" = "$(printf 'LIVE-CHANGED-' | od -An -v -tx1 | tr -d ' \n')" ] ||
  fail "live: page reads ${after:0:32}, not the bytes written"
cmp <(dd if="$TEST_TMP/m-live/vmcore" bs=4096 skip=$((voff / 4096)) count=1 status=none | od -An -v -tx1 | tr -d ' \n') \
  <(echo -n "$after") || fail "live: the export and the mount disagree on the changed page"
note "live: the changed page is served at vmcore offset $voff"
if [ -n "$nbd_client" ]; then
  sleep 1.5
  [ "$(page "$nbd_client/vmcore")" = "$after" ] ||
    fail "live: the nbd mount of the live export still serves the old page after its cache_ttl"
  note "live: the nbd mount serves the changed page"
fi

# Refusals, each with kcorefs's message.
qemu=$(mf files.qemu)
refused "source= is required" view=vmcore
refused "vmcore, kcore, vmcoreinfo" source="$qemu" view=nosuch
refused "does not apply" source="$qemu" view=coreimage
refused "bogus_key" source="$qemu" view=vmcore bogus_key=1
refused "timeout=" source="$qemu" timeout=-1
refused "notthere" source="$TEST_TMP/notthere" view=vmcore
refused "vmlinux=$TEST_TMP/novmlinux" source="$qemu" vmlinux="$TEST_TMP/novmlinux"
for spec in "bad-notelf:not an ELF" "bad-overlap:overlap" "bad-filesz:PT_LOAD[2]"; do
  name=${spec%%:*} file=$(mf files.${spec%%:*})
  refused "${spec#*:}" source="$file" view=vmcore
  grep -qF "$(basename "$file")" "$TEST_TMP/refused.out" || fail "$name: the message does not name the file"
done
# --help lists the plugin's keys and the backends'.
help=$(nbdkit "$PLUGIN" --help 2>&1) || fail "nbdkit PLUGIN --help failed: $help"
for k in source= view= timeout= vmlinux= vmcoreinfo=; do
  grep -qF -- "$k" <<<"$help" || fail "--help lacks $k: $help"
done

# A dump changed under the agent. A connection made before the change (nbdfuse holds one)
# gets EIO for its reads, and the agent's log names the view, the offset and the change;
# never the new bytes or zeros. A connection made after it is refused, saying why.
requires nbdfuse --version
cp "$qemu" "$TEST_TMP/changing.core"
serve changing source="$TEST_TMP/changing.core" view=vmcore
size=$(stat -c %s "$TEST_TMP/changing.core")
fmp=$TEST_TMP/nbdfuse
mkdir -p "$fmp"
nbdfuse -r "$fmp" "$URI" >"$TEST_TMP/nbdfuse.log" 2>&1 &
fpid=$!
cleanup_fn "fusermount3 -u '$fmp' 2>/dev/null; kill $fpid 2>/dev/null"
for i in $(seq 1 200); do [ -e "$fmp/nbd" ] && break; sleep 0.05; done
[ -e "$fmp/nbd" ] || fail "nbdfuse did not mount the export: $(cat "$TEST_TMP/nbdfuse.log")"
dd if="$fmp/nbd" of=/dev/null bs=64K count=1 iflag=direct status=none || fail "nbdfuse: the first read failed"
sleep 0.1
truncate -s $((size / 2)) "$TEST_TMP/changing.core"
eio=
for i in $(seq 1 30); do
  # The last MiB: past the new end of the dump.
  if ! dd if="$fmp/nbd" of="$TEST_TMP/tail.out" bs=64K skip=$(((size - (1 << 20)) / 65536)) count=8 \
      iflag=direct status=none 2>"$TEST_TMP/dd.err"; then
    eio=1
    break
  fi
  sleep 0.1
done
[ -n "$eio" ] || fail "reads of a dump truncated under the agent still succeed after 3 s"
grep -q 'Input/output error' "$TEST_TMP/dd.err" || fail "the failed read is not EIO: $(cat "$TEST_TMP/dd.err")"
grep -Eq "vmcore view: read of [0-9]+ bytes at offset 0x[0-9a-f]+ failed: .*changing\.core" "$NBDKIT_LOG" ||
  fail "the agent's log does not name the failed read: $(tail -5 "$NBDKIT_LOG")"
grep -E "read of" "$NBDKIT_LOG" | head -1
if with_timeout 60 nbdcopy "$URI" "$TEST_TMP/changing.out" 2>"$TEST_TMP/nbdcopy.err"; then
  fail "a new connection to an agent whose dump changed was served"
fi
grep -q "changed while" "$NBDKIT_LOG" || fail "the refusal does not say the dump changed"

# nbdkit forking to the background (no -f): the backend is opened before the fork and
# started in the child, which serves.
bg_sock=$TEST_TMP/bg.sock
nbdkit -r -U "$bg_sock" -P "$TEST_TMP/bg.pid" "$PLUGIN" source="$qemu" view=vmcoreinfo ||
  fail "nbdkit in the background failed to start"
cleanup_fn "kill \$(cat '$TEST_TMP/bg.pid') 2>/dev/null"
with_timeout 60 nbdcopy "nbd+unix:///?socket=$bg_sock" "$TEST_TMP/bg.out" || fail "background nbdkit: copy failed"
cmp "$TEST_TMP/bg.out" "$TEST_TMP/m-qemu/vmcoreinfo" || fail "background nbdkit: vmcoreinfo differs"
echo ok
