#!/usr/bin/env bash
# Every view of every synthetic input (kdump, QEMU with and without a VMCOREINFO note,
# /proc/kcore copy) passes eu-readelf, binutils readelf and the header rules, and its
# program headers match the manifest: RAM at direct-map vaddrs, the image first.
source "$(dirname "$0")/functions.sh"
source "$SRCDIR/tests/checks/consumers.sh"
make_cores kdump qemu kcore
make_cores --no-vmcoreinfo-note qemu

for src in kdump qemu qemu-novmci kcore; do
  mp=$TEST_TMP/m-$src
  mount_kcorefs "$(mf files.$src)" "$mp"
  check_readelf "$mp/vmcore" vmcore
  check_readelf "$mp/kcore" kcore
  head -c 10 "$mp/vmcoreinfo" | grep -qx 'OSRELEASE=' || fail "$src: vmcoreinfo does not start with OSRELEASE="
  # Real registers are passed on (2 CPUs); kcore's zeroed PRSTATUS is not.
  want=2; [ $src = kcore ] && want=0
  n=$(eu-readelf -n "$mp/vmcore" | grep -c 'PRSTATUS')
  [ "$n" = "$want" ] || fail "$src: vmcore has $n NT_PRSTATUS notes, want $want"
  if eu-readelf -n "$mp/kcore" | grep -q TASKSTRUCT; then fail "$src: kcore view carries NT_TASKSTRUCT"; fi
  # The registers reach both views byte for byte: each NT_PRSTATUS with real registers in
  # the source, in order, is the views' NT_PRSTATUS.
  "$DRGN_PYTHON" - "$(mf files.$src)" "$mp" <<'PY' || fail "$src: NT_PRSTATUS bytes differ from the source's"
import struct, sys
def prstatus(path):
    f = open(path, "rb")
    eh = f.read(64)
    phoff, phnum = struct.unpack_from("<Q", eh, 32)[0], struct.unpack_from("<H", eh, 56)[0]
    f.seek(phoff)
    out = []
    for p in [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]:
        if p[0] != 4: continue
        f.seek(p[2]); data = f.read(p[5]); off = 0
        while off + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, off)
            d = off + 12 + (namesz + 3) // 4 * 4
            if data[off + 12:off + 12 + namesz] == b"CORE\0" and ntype == 1:
                out.append(data[d:d + descsz])
            off = d + (descsz + 3) // 4 * 4
    return out
src = [d for d in prstatus(sys.argv[1]) if any(d[112:112 + 27 * 8])]
for view in ("vmcore", "kcore"):
    got = prstatus(sys.argv[2] + "/" + view)
    if got != src:
        sys.exit("%s: %d NT_PRSTATUS differ from the source's %d" % (view, len(got), len(src)))
PY
  "$DRGN_PYTHON" - "$MANIFEST" "$mp" "$src" <<'PY' || fail "$src: program headers disagree with the manifest"
import json, struct, sys
m, mp, src = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
h = lambda s: int(s, 16)
pob, img = h(m["page_offset_base"]), {k: h(v) for k, v in m["image"].items()}
ram = [(h(a), h(b)) for a, b in m.get("source_ram", {}).get(src) or m["ram"]]
def phdrs(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        phnum = struct.unpack_from("<H", eh, 56)[0]
        return [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
errs = []
v = [p for p in phdrs(mp + "/vmcore") if p[0] == 1]
if (v[0][3], v[0][4], v[0][5]) != (img["vaddr"], img["paddr"], img["size"]):
    errs.append("vmcore image PT_LOAD %s" % [hex(x) for x in v[0][3:6]])
got = [(p[4], p[4] + p[6]) for p in v[1:]]
if got != ram: errs.append("vmcore RAM PT_LOADs %s, want %s" % (got, ram))
errs += ["vmcore RAM PT_LOAD vaddr %#x for paddr %#x" % (p[3], p[4]) for p in v[1:] if p[3] != pob + p[4]]
k = [p for p in phdrs(mp + "/kcore") if p[0] == 1]
byva = {p[3]: p for p in k}
for va, pa in ((img["vaddr"], img["paddr"]), (img["link_vaddr"], None)):
    p = byva.get(va)
    if p is None or p[5] != img["size"]: errs.append("kcore has no %#x image PT_LOAD of size %#x" % (va, img["size"]))
    elif pa is not None and p[4] != pa: errs.append("kcore image p_paddr %#x" % p[4])
    elif pa is None and p[4] != (1 << 64) - 1: errs.append("kcore link-time alias p_paddr %#x, want -1" % p[4])
for p in k:
    if p[4] != (1 << 64) - 1 and p[3] < 0xffffffff80000000 and p[3] != pob + p[4]:
        errs.append("kcore RAM PT_LOAD vaddr %#x paddr %#x" % (p[3], p[4]))
if len({(p[2] - p[3]) % (1 << 64) for p in k}) != 1:
    errs.append("kcore p_offset - p_vaddr differs between PT_LOADs (not the /proc/kcore layout)")
ramk = [(p[4], p[4] + p[6]) for p in k if p[4] != (1 << 64) - 1 and p[3] < 0xffffffff80000000]
if ramk != ram: errs.append("kcore RAM PT_LOADs %s, want %s" % (ramk, ram))
if src == "kcore" and h(m["vmalloc_page"]) not in byva: errs.append("kcore view lost the source's vmalloc segment")
if errs: sys.exit("\n".join(errs))
PY
done
echo ok
