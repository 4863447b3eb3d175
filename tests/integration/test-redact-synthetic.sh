#!/usr/bin/env bash
# -o redact=user on synthetic cores (tests/tools/mkcore.py): the anonymous page, the
# page-cache page and the free block's pages (their struct pages say so) are in no PT_LOAD
# of the vmcore and kcore views, so their markers are absent, while the same mount without
# redact=user serves them (the control that lets this fail); kernel markers (banner,
# direct-map page, dmesg) stay. `kcorefs info` and the mount's log say how many pages were
# hidden. A VMCOREINFO lacking an entry the classifier needs is refused naming it. On a
# live (/proc/kcore-shaped) source a page that becomes a user page after the mount reads
# as zeros. The agent plugin with redact=user exports the vmcore view without them too.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
source "$(dirname "$0")/nbd-lib.sh"
KCORE_DIR=$TEST_TMP/shm
mount_tmpfs "$KCORE_DIR"
make_cores qemu kcore
user=$(mf user_page_marker) cache=$(mf cache_page_marker) free=$(mf free_page_marker)
banner=$(mf markers.banner.text) direct=$(mf markers.direct.text) dmesg=$(mf dmesg_marker)

has() { grep -qaF -- "$2" "$1"; }
# at VIEW PADDR TEXT: a PT_LOAD of VIEW holds physical PADDR and TEXT is there.
at() {
  "$DRGN_PYTHON" - "$@" <<'PY'
import struct, sys
path, pa, text = sys.argv[1], int(sys.argv[2], 16), sys.argv[3].encode()
with open(path, "rb") as f:
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32)
    phentsize, phnum = struct.unpack_from("<HH", eh, 54)
    f.seek(phoff)
    ph = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, _, off, vaddr, paddr, filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 1 and paddr != (1 << 64) - 1 and paddr <= pa and pa + len(text) <= paddr + filesz:
            f.seek(off + pa - paddr)
            sys.exit(0 if f.read(len(text)) == text else 1)
sys.exit(1)
PY
}

for src in qemu kcore; do
  core=$(mf files.$src)
  plain=$TEST_TMP/plain-$src red=$TEST_TMP/red-$src
  mount_kcorefs "$core" "$plain"
  mount_kcorefs "$core" "$red" -o redact=user
  grep -q "redact=user: [1-9][0-9]* pages hidden" "$KCOREFS_LOG" ||
    fail "$src: the mount's log does not say what was hidden: $(cat "$KCOREFS_LOG")"
  grep -qx "redact user" "$red/stats" || fail "$src: stats lack 'redact user': $(cat "$red/stats")"
  pages=$(awk '$1 == "redacted_pages" {print $2}' "$red/stats")
  # The free block (1024), the anonymous and the page-cache page at least.
  [ "${pages:-0}" -ge 1026 ] || fail "$src: only ${pages:-no} pages hidden"
  # vmcore: every byte searched. kcore (sparse, terabytes of gaps): the marker pages'
  # physical addresses looked up in its PT_LOADs and read there.
  for m in "$user" "$cache" "$free"; do
    has "$plain/vmcore" "$m" || fail "$src vmcore without redact=user lacks $m: the control failed"
    ! has "$red/vmcore" "$m" || fail "$src vmcore with redact=user still serves $m"
  done
  for m in "$banner" "$direct" "$dmesg"; do
    has "$red/vmcore" "$m" || fail "$src vmcore with redact=user lost the kernel's $m"
  done
  for view in vmcore kcore; do
    at "$plain/$view" "$(mf user_pages.0)" "$user" || fail "$src $view without redact=user: no user page (control)"
    at "$plain/$view" "$(mf free_block.0)" "$free" || fail "$src $view without redact=user: no free page (control)"
    ! at "$red/$view" "$(mf user_pages.0)" "$user" || fail "$src $view with redact=user serves the user page"
    ! at "$red/$view" "$(mf free_block.0)" "$free" || fail "$src $view with redact=user serves the free block"
    at "$red/$view" "$(mf markers.direct.paddr)" "$direct" || fail "$src $view with redact=user lost the direct-map page"
    check_readelf "$red/$view" $view
  done
  check_gdb_read "$red/kcore" "$(mf markers.banner.vaddr)" "$banner"
  "$KCOREFS" info "$red" | grep -q "^redacted_pages $pages$" || fail "$src: info on the mount: $("$KCOREFS" info "$red")"
done

info=$("$KCOREFS" info -O redact=user "$(mf files.qemu)") || fail "info -O redact=user failed"
grep -q "^redaction: *redact=user: [1-9][0-9]* pages hidden" <<<"$info" || fail "info does not report redaction: $info"
"$KCOREFS" info --json -O redact=user "$(mf files.qemu)" | "$DRGN_PYTHON" -c '
import json, sys
r = json.load(sys.stdin)["redaction"]
assert r["free_pages"] >= 1024 and r["user_pages"] >= 2, r' || fail "info --json lacks the redaction counts"
"$KCOREFS" info "$(mf files.qemu)" | grep -q "^redaction: *off" || fail "info without redact=user does not say off"

# A VMCOREINFO without OFFSET(page.mapping): refused, naming it; nothing is mounted.
vi=$TEST_TMP/vmcoreinfo-nomapping
grep -v '^OFFSET(page.mapping)=' "$TEST_TMP/plain-qemu/vmcoreinfo" >"$vi"
mkdir -p "$TEST_TMP/refused"
out=$(with_timeout 60 "$KCOREFS" mount -f -o redact=user --vmcoreinfo "$vi" "$(mf files.qemu)" "$TEST_TMP/refused" 2>&1) &&
  fail "mount with redact=user and no OFFSET(page.mapping) succeeded"
grep -q "OFFSET(page.mapping)" <<<"$out" || fail "the refusal does not name OFFSET(page.mapping): $out"
[ ! -e "$TEST_TMP/refused/vmcore" ] || fail "something was mounted after the refusal"
out=$("$KCOREFS" mount -f -o redact=all "$(mf files.qemu)" "$TEST_TMP/refused" 2>&1) && fail "redact=all accepted"
grep -q "redact=all" <<<"$out" || fail "redact=all: $out"

# The agent plugin: redact=user on the node side; the exported vmcore lacks the pages.
PLUGIN=$(dirname "$(dirname "$KCOREFS")")/nbdkit/nbdkit-kcorefs-plugin.so
if command -v nbdkit >/dev/null && command -v nbdcopy >/dev/null && [ -f "$PLUGIN" ]; then
  sock=$TEST_TMP/agent.sock
  start_nbdkit agent -r -U "$sock" "$PLUGIN" source="$(mf files.qemu)" redact=user
  nbdcopy "$(nbd_unix_uri "$sock")" "$TEST_TMP/agent.vmcore" || fail "nbdcopy from the agent failed"
  for m in "$user" "$cache" "$free"; do
    ! has "$TEST_TMP/agent.vmcore" "$m" || fail "the agent with redact=user exports $m"
  done
  has "$TEST_TMP/agent.vmcore" "$banner" || fail "the agent with redact=user lost the banner"
  cmp -s "$TEST_TMP/agent.vmcore" "$TEST_TMP/red-qemu/vmcore" || fail "the agent's redacted vmcore differs from the mount's"
  rm -f "$TEST_TMP/agent.vmcore"
  out=$(with_timeout 10 nbdkit -f -r -U "$TEST_TMP/r.sock" "$PLUGIN" source="$(mf files.qemu)" redact=pages 2>&1) &&
    fail "the agent accepted redact=pages"
  grep -q "redact=pages" <<<"$out" || fail "the agent's refusal of redact=pages: $out"
else
  note "no nbdkit/nbdcopy/plugin: the agent part is not run"
fi

# Live: the direct-map marker page becomes an anonymous page after the mount (its struct
# page gains PAGE_MAPPING_ANON in the source); the next read serves zeros there.
core=$(mf files.kcore)
mp=$TEST_TMP/live
mount_kcorefs "live:$core" "$mp" -o redact=user
grep -q "every read is checked again" "$KCOREFS_LOG" || fail "live: the log does not say reads are re-checked: $(cat "$KCOREFS_LOG")"
at "$mp/vmcore" "$(mf markers.direct.paddr)" "$direct" || fail "live: the direct-map marker is missing before the change"
"$DRGN_PYTHON" - "$core" "$(mf markers.direct.paddr)" <<'PY' || fail "cannot mark the page anonymous"
import struct, sys
path, pa = sys.argv[1], int(sys.argv[2], 16)
PA_VMEMMAP, SIZE_PAGE = 0x4000000, 64
target = PA_VMEMMAP + (pa // 4096) * SIZE_PAGE + 24   # page.mapping
with open(path, "r+b") as f:
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32)
    phentsize, phnum = struct.unpack_from("<HH", eh, 54)
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        p_type, _, off, vaddr, paddr, filesz = struct.unpack("<IIQQQQ", f.read(40))
        if p_type == 1 and paddr != (1 << 64) - 1 and paddr <= target < paddr + filesz:
            f.seek(off + target - paddr)
            f.write(struct.pack("<Q", 0xffff888001600001))
            sys.exit(0)
sys.exit("no PT_LOAD holds physical %#x" % target)
PY
! at "$mp/vmcore" "$(mf markers.direct.paddr)" "$direct" || fail "live: a page that became a user page is still served"
has "$mp/vmcore" "$banner" || fail "live: the banner is gone after the change"
exit 0
