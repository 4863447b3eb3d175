# Real-kernel checks of the kmemdump backend (sourced by suite.sh; issue 10). From the
# guest's ELF dump, capture the regions the kmemdump/meminspect series registers — vmcoreinfo,
# linux_banner, init_uts_ns, jiffies_64, the printk ring buffer (prb and what it points to),
# the cpu masks, __per_cpu_offset, mem_section, init_mm, the top page table and the x86_64
# KASLR bases page_offset_base, vmalloc_base, vmemmap_base — at the addresses vmlinux's
# symbols plus KERNELOFFSET give, with the dump's bytes; write them as a QDL-style directory
# (md_K<name8><id>.BIN, region 1 the coreimage header, dump_info.txt); mount it.
#   kmemdump/crash-log-coreimage, kmemdump/crash-log-vmcore: crash --minimal vmlinux
#     MNT/coreimage (MNT/vmcore) prints the guest's log with its marker line;
#   kmemdump/gdb-kcore: gdb vmlinux MNT/kcore prints linux_banner and jiffies_64 (the
#     dump's value);
#   kmemdump/hole: a set without a middle region (the cpu active mask) still gives the log,
#     and the mount's warning names the region;
#   kmemdump/add-back: putting the region back while mounted, a new open sees its bytes.

KMD_CHECKS=(kmemdump/crash-log-coreimage kmemdump/crash-log-vmcore kmemdump/gdb-kcore
            kmemdump/hole kmemdump/add-back)

# kmd_capture DUMP VMLINUX OUTDIR: writes the region set, OUTDIR.info (JSON) and
# OUTDIR.concat (the files in id order).
kmd_capture() {
  nm -S "$2" >"$3.nm" || return 1
  "$DRGN_PYTHON" - "$1" "$3.nm" "$3" "$SRCDIR/tests/tools" <<'PY'
import json, os, struct, sys
sys.path.insert(0, sys.argv[4])
import mkregions as mk
dump, nm_path, out = sys.argv[1:4]
mem = mk.Memory(dump)
# VMCOREINFO: the dump's note.
with open(dump, "rb") as f:
    eh = f.read(64)
    phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
    f.seek(phoff)
    phs = [struct.unpack("<IIQQQQQQ", f.read(56)) for _ in range(phnum)]
    note = next(p for p in phs if p[0] == 4)
    f.seek(note[2]); notes = f.read(note[5])
vmci, off = None, 0
while off + 12 <= len(notes):
    nsz, dsz, t = struct.unpack_from("<III", notes, off)
    name = notes[off + 12:off + 12 + nsz]; d = off + 12 + mk.align4(nsz)
    if name == b"VMCOREINFO\0": vmci = notes[d:d + dsz]
    off = d + mk.align4(dsz)
text = vmci.decode()
kv = dict(l.split("=", 1) for l in text.splitlines() if "=" in l)
kaslr = int(kv["KERNELOFFSET"], 16); phys_base = int(kv["NUMBER(phys_base)"])
syms = {}
for line in open(nm_path):
    p = line.split()
    if len(p) == 4: syms[p[3]] = (int(p[0], 16) + kaslr, int(p[1], 16))
def pa_img(va): return va - mk.START_KERNEL_MAP + phys_base
def u64(va): return struct.unpack("<Q", mem.read(pa_img(va), 8))[0]
dm = u64(syms["page_offset_base"][0])
def pa(va): return pa_img(va) if va >= mk.START_KERNEL_MAP else va - dm
regions = []
def add(name, va, size): regions.append({"name": name, "vaddr": va, "paddr": pa(va), "size": size})
for s in ("linux_banner", "init_uts_ns", "jiffies_64", "prb", "printk_rb_static", "printk_rb_dynamic"):
    add(s, *syms[s])
rb = u64(syms["prb"][0])                 # the ring prb points to
count_bits = struct.unpack("<I", mem.read(pa(rb), 4))[0]
descs, infos = struct.unpack("<QQ", mem.read(pa(rb) + 8, 16))
size_bits = struct.unpack("<I", mem.read(pa(rb) + 48, 4))[0]
data = struct.unpack("<Q", mem.read(pa(rb) + 56, 8))[0]
add("prb_descs", descs, (1 << count_bits) * int(kv["SIZE(prb_desc)"]))
add("prb_infos", infos, (1 << count_bits) * int(kv["SIZE(printk_info)"]))
add("prb_data", data, 1 << size_bits)
for s in ("__cpu_possible_mask", "__cpu_present_mask", "__cpu_online_mask", "__cpu_active_mask",
          "__per_cpu_offset", "mem_section", "init_mm", "init_top_pgt", "page_offset_base",
          "vmalloc_base", "vmemmap_base", "phys_base", "nr_cpu_ids", "__pgtable_l5_enabled"):
    add(s, *syms[s])
add("mem_section_roots", int(kv["SYMBOL(mem_section)"], 16), 4096)
for i, r in enumerate(regions): r["id"] = 3 + i
header = mk.elf_header_region(regions, len(vmci))
vmci_pa = None
files = [dict(id=1, name="ELF", bytes=header, paddr=0), dict(id=2, name="vmcoreinfo",
         bytes=vmci + bytes(mk.align4(len(vmci)) - len(vmci)), paddr=0)]
for r in regions: files.append(dict(r, bytes=mem.read(r["paddr"], mk.align4(r["size"]))))
os.makedirs(out, exist_ok=True)
offset = 0
with open(out + ".concat", "wb") as c, open(os.path.join(out, "dump_info.txt"), "w") as di:
    for f in files:
        f["file"] = "md_K%.8s%d.BIN" % (f["name"], f["id"]); f["offset"] = offset
        offset += len(f["bytes"]); c.write(f["bytes"])
        open(os.path.join(out, f["file"]), "wb").write(f["bytes"])
        di.write("1 0x%016x\t%16d\t%-16s\t%-16s\n" % (f["paddr"], len(f["bytes"]), f["name"][:8], f["file"]))
json.dump({"regions": [{k: v for k, v in f.items() if k != "bytes"} for f in files],
           "jiffies_64": struct.unpack("<Q", mem.read(pa(syms["jiffies_64"][0]), 8))[0]},
          open(out + ".info", "w"), indent=1)
print("captured %d regions, %d bytes" % (len(files), offset))
PY
}

kmd_info() {  # kmd_info INFO NAME KEY
  "$DRGN_PYTHON" -c 'import json,sys
for r in json.load(open(sys.argv[1]))["regions"]:
    if r["name"] == sys.argv[2]: print(r[sys.argv[3]])' "$1" "$2" "$3"
}

# kmd_crash_log FILE MARKER: crash --minimal prints the log with the marker line.
kmd_crash_log() {
  local out=$KMD/crash-$(basename "$(dirname "$1")")-$(basename "$1").out
  with_timeout 300 crash --minimal -s "$VM_VMLINUX" "$1" <<<$'log\nquit' >"$out" 2>&1
  grep -q "$2" "$out" || { tail -40 "$out"; fail "crash --minimal log of $1: no '$2'"; }
  grep -c . "$out"
}

c_kmd_crash_log_coreimage() { cmp "$KMD/m/coreimage" "$KMD/set.concat" && kmd_crash_log "$KMD/m/coreimage" "$KMD_MARK"; }
c_kmd_crash_log_vmcore() { kmd_crash_log "$KMD/m/vmcore" "$KMD_MARK"; }
c_kmd_gdb_kcore() {
  local out want
  want=$("$DRGN_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["jiffies_64"])' "$KMD/set.info")
  out=$(with_timeout 300 gdb -nx -batch -ex "file $VM_VMLINUX" -ex "core-file $KMD/m/kcore" \
        -ex 'p linux_banner' -ex 'p jiffies_64' 2>&1)
  echo "$out" | tail -3
  grep -q '^\$1 = .*"Linux version' <<<"$out" || fail "gdb: no linux_banner from kcore"
  grep -q "^\$2 = $want\$" <<<"$out" || fail "gdb: jiffies_64 is not the dump's $want"
}
c_kmd_hole() {
  local f
  f=$(kmd_info "$KMD/set.info" __cpu_active_mask file)
  grep -q "region __cpu_ac.*$f) is missing" "$KCOREFS_LOG" || fail "no warning naming the region: $(cat "$KCOREFS_LOG")"
  kmd_crash_log "$KMD/mh/coreimage" "$KMD_MARK"
}
c_kmd_add_back() {
  local f off size
  f=$(kmd_info "$KMD/set.info" __cpu_active_mask file)
  off=$(kmd_info "$KMD/set.info" __cpu_active_mask offset)
  size=$(stat -c %s "$KMD/$f")
  cmp -n "$size" <(tail -c +$((off + 1)) "$KMD/mh/coreimage") /dev/zero || fail "the hole is not zeros"
  mv "$KMD/$f" "$KMD/hole/$f"
  sleep 1.5
  ls "$KMD/mh" >/dev/null
  cmp -n "$size" <(tail -c +$((off + 1)) "$KMD/mh/coreimage") "$KMD/hole/$f" || fail "a new open does not see the region put back"
  cmp "$KMD/mh/coreimage" "$KMD/set.concat" || fail "with every region back the coreimage is not the concatenation"
}

# run_kmemdump_checks DUMP MARKER
run_kmemdump_checks() {
  local c want=
  for c in "${KMD_CHECKS[@]}"; do if [ -z "$ONLY" ] || [[ $c =~ $ONLY ]]; then want=1; fi; done
  [ -n "$want" ] || return 0
  KMD=$W/kmemdump
  KMD_MARK=$2
  mkdir -p "$KMD"
  if ! kmd_capture "$1" "$VM_VMLINUX" "$KMD/set" >"$LOGS/kmemdump_capture.log" 2>&1; then
    cat "$LOGS/kmemdump_capture.log" >&2
  fi
  mount_kcorefs "$KMD/set" "$KMD/m"
  # The set without a middle region, mounted here (a check's subshell would lose the
  # unmount at its exit); its log is the hole check's.
  local f
  f=$(kmd_info "$KMD/set.info" __cpu_active_mask file)
  cp -a "$KMD/set" "$KMD/hole" && mv "$KMD/hole/$f" "$KMD/$f"
  mount_kcorefs "$KMD/hole" "$KMD/mh"
  check kmemdump/crash-log-coreimage c_kmd_crash_log_coreimage
  check kmemdump/crash-log-vmcore c_kmd_crash_log_vmcore
  check kmemdump/gdb-kcore c_kmd_gdb_kcore
  check kmemdump/hole c_kmd_hole
  check kmemdump/add-back c_kmd_add_back
}
