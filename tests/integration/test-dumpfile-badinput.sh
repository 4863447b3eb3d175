#!/usr/bin/env bash
# Bad inputs: `kcorefs mount` refuses each within seconds, exits non-zero with a message
# that names the file (and the offset or header where one is at fault), and leaves nothing
# mounted. A truncated dump mounts with a warning and serves exactly what exists.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores bad

mp=$TEST_TMP/mp
mkdir -p "$mp"
cleanup_fn "fusermount3 -u '$mp' 2>/dev/null"
# variant:words the message must contain besides the file name
for spec in \
    "bad-notelf:not an ELF" \
    "bad-etexec:ET_CORE" \
    "bad-phnum65535:program header" \
    "bad-poffset-eof:$(mf bad.bad-poffset-eof.offset | xargs printf '0x%x')" \
    "bad-overlap:overlap" \
    "bad-filesz:PT_LOAD[2]" \
    "bad-vmcoreinfo-keys:SYMBOL(init_top_pgt)"; do
  name=${spec%%:*} words=${spec#*:}
  file=$(mf files.$name)
  start=$SECONDS
  with_timeout 10 "$KCOREFS" mount -f "$file" "$mp" >"$TEST_TMP/out" 2>&1
  rc=$?
  msg=$(cat "$TEST_TMP/out")
  if grep -q " $mp " /proc/mounts; then fusermount3 -u "$mp"; fail "$name: left a mount behind"; fi
  [ $rc -ne 0 ] || fail "$name: kcorefs mount succeeded"
  [ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "$name: kcorefs mount hung (killed after 10 s)"
  [ $((SECONDS - start)) -le 5 ] || fail "$name: took $((SECONDS - start)) s to fail"
  grep -qF -- "$(basename "$file")" <<<"$msg" || fail "$name: message does not name the file: $msg"
  grep -qF -- "$words" <<<"$msg" || fail "$name: message lacks '$words': $msg"
  note "$name: rc $rc: $msg"
done

# Truncated: mounts, warns with the file and where it ends, serves the intact part (and
# the kernel image, whose own PT_LOAD lies before the cut).
file=$(mf files.bad-truncated)
mount_kcorefs "$file" "$mp"
cut=$(printf '0x%x' "$(mf bad.bad-truncated.truncated_at)")
grep -q "warning: .*$(basename "$file").*truncated" "$KCOREFS_LOG" || fail "no truncation warning: $(cat "$KCOREFS_LOG")"
grep -qF "$cut" "$KCOREFS_LOG" || fail "the warning does not say where the file ends ($cut): $(cat "$KCOREFS_LOG")"
with_timeout 30 cat "$mp/vmcore" >/dev/null || fail "reading the truncated dump's vmcore fails"
"$DRGN_PYTHON" - "$MANIFEST" "$file" "$mp/vmcore" <<'PY' || fail "truncated dump served wrongly"
import json, struct, sys
m = json.load(open(sys.argv[1]))
intact = m["bad"]["bad-truncated"]["intact_phys_end"]
def loads(path):
    f = open(path, "rb"); eh = f.read(64)
    ph = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(struct.unpack_from("<H", eh, 56)[0])]
    return f, [p for p in ph if p[0] == 1]
sf, sl = loads(sys.argv[2])
vf, vl = loads(sys.argv[3])
ram = [(p[4], p[4] + p[5]) for p in vl[1:]]
want = [(int(m["ram"][0][0], 16), int(m["ram"][0][1], 16)), (int(m["ram"][1][0], 16), intact)]
# The kernel image's own PT_LOAD is intact, so its physical range stays served.
img = (int(m["image"]["paddr"], 16), int(m["image"]["paddr"], 16) + int(m["image"]["size"], 16))
if img[0] >= intact: want.append(img)
if ram != want or any(p[5] != p[6] for p in vl[1:]):
    sys.exit("vmcore RAM PT_LOADs %s (filesz/memsz %s), want %s" % (ram, [(p[5], p[6]) for p in vl], want))
last = next(p for p in vl[1:] if p[4] + p[5] == intact)
for pa in (last[4], intact - 4096, intact - 64):
    s = next(p for p in sl if p[4] <= pa < p[4] + p[5])
    sf.seek(s[2] + pa - s[4]); a = sf.read(64)
    vf.seek(last[2] + pa - last[4]); b = vf.read(64)
    if a != b or len(a) != 64: sys.exit("phys %#x: %r != %r" % (pa, b, a))
PY
echo ok
