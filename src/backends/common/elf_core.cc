#include "backends/common/elf_core.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <cstddef>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/cpu_state.h"
#include "kcorefs/kernel/vmcoreinfo.h"

namespace kcorefs::backends {
namespace {

using base::Hex;
using mem::kNoAddr;

// A note segment larger than this is not a kernel's (a few KiB per CPU plus VMCOREINFO).
constexpr uint64_t kMaxNotesSize = 64ull << 20;
// More program headers than this is not a kernel core we can serve in memory.
constexpr size_t kMaxPhdrs = 4u << 20;

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

absl::Status ElfError(const std::string& path, absl::string_view what) {
  int err = elf_errno();
  const char* detail = err != 0 ? elf_errmsg(err) : nullptr;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", what, detail ? absl::StrCat(" (", detail, ")") : "",
                   " (is this an ELF core? kcorefs reads kdump vmcores, /proc/kcore copies "
                   "and QEMU dump-guest-memory ELF output)"));
}

struct Classified {
  std::vector<mem::Segment> ram;
  std::vector<mem::Segment> image;  // kernel-image segments (also physical)
  std::vector<mem::Segment> virt;
};

// Decodes one NT_PRSTATUS into the hints. /proc/kcore writes an all-zero one; QEMU and
// kdump write real registers. Only real ones are passed on (crash and drgn apply them to
// tasks). The CPU number counts every NT_PRSTATUS, kept or not, as the notes come in CPU
// order.
void TakePrstatus(const std::string& path, absl::string_view desc, int cpu, ElfCoreContents& out) {
  auto state = kernel::DecodePrstatus(*out.hints.arch, desc, cpu);
  if (!state.ok()) {
    out.warnings.push_back(absl::StrCat(path, ": NT_PRSTATUS note ", cpu, " dropped: ",
                                        state.status().message()));
    return;
  }
  if (state->HasRegisters()) out.hints.cpus.push_back(std::move(*state));
}

// What the notes of all PT_NOTEs have given so far.
struct NotesState {
  int prstatus_seen = 0;  // NT_PRSTATUS notes across all PT_NOTEs
  std::optional<uint64_t> vmcoreinfo_offset;  // file offset of the VMCOREINFO note taken
};

// Adds the notes of one PT_NOTE (at file offset `offset`) to the hints.
absl::Status TakeNotes(const std::string& path, uint64_t offset, absl::string_view bytes,
                       NotesState& state, ElfCoreContents& out) {
  auto notes = kernel::ParseNotes(bytes);
  if (!notes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": PT_NOTE at file offset ", Hex(offset), ": ", notes.status().message()));
  }
  for (kernel::Note& n : *notes) {
    if (n.name == "VMCOREINFO" && n.type == 0) {
      // The kernel writes one. Of two, the first is kept, as makedumpfile and crash read
      // the first they find; the user is told, since either may be the wrong one.
      uint64_t at = offset + n.offset;
      if (state.vmcoreinfo_offset.has_value()) {
        bool same = *out.hints.vmcoreinfo == n.desc;
        out.warnings.push_back(absl::StrCat(
            path, ": two VMCOREINFO notes, at file offsets ", Hex(*state.vmcoreinfo_offset), " and ",
            Hex(at), same ? " (the same text)" : " (different texts)", "; using the first, at ",
            Hex(*state.vmcoreinfo_offset),
            same ? "" : "; pass the right one with --vmcoreinfo FILE if it is not"));
        continue;
      }
      state.vmcoreinfo_offset = at;
      out.hints.vmcoreinfo = std::move(n.desc);
      out.hints.vmcoreinfo_origin = absl::StrCat("VMCOREINFO note of ", path);
    } else if (n.name == "CORE" && n.type == NT_PRSTATUS) {
      TakePrstatus(path, n.desc, state.prstatus_seen++, out);
    } else if (n.name == "CORE" && n.type == NT_TASKSTRUCT) {
      out.has_taskstruct = true;
    }
    // "QEMU" CPU-state notes, PRPSINFO and others are dropped: crash switches to a
    // heuristic mode on "QEMU" and misreads NT_TASKSTRUCT.
  }
  return absl::OkStatus();
}

// What the program headers describe beyond the end of the file.
struct Cut {
  uint64_t described = 0;  // the largest p_offset + p_filesz (saturating)
  std::vector<std::pair<uint64_t, uint64_t>> missing_phys;
  size_t segments = 0;     // PT_LOADs with data past the end
  std::vector<std::string> details;  // the first few of them, for the warning
};
// A core of 100,000 segments cut early would otherwise print 100,000 lines.
constexpr size_t kMaxCutDetails = 4;

// Sorts one PT_LOAD into RAM, kernel image or virtual-only by the architecture's address
// space, clamping it to the file.
absl::Status Classify(size_t index, const Elf64_Phdr& ph, uint64_t file_size,
                      const std::shared_ptr<const io::ByteSource>& file, Classified& c, Cut& cut,
                      ElfCoreContents& out) {
  uint64_t data = ph.p_filesz;
  if (ph.p_offset >= file_size) {
    data = 0;
  } else if (!base::RangeWithin(ph.p_offset, ph.p_filesz, file_size)) {
    data = file_size - ph.p_offset;
  }
  KCOREFS_ASSIGN_OR_RETURN(kernel::SegmentClass kind,
                           out.hints.arch->ClassifySegment(ph.p_vaddr, ph.p_paddr));
  if (data < ph.p_filesz) {
    ++cut.segments;
    if (cut.details.size() < kMaxCutDetails) {
      cut.details.push_back(absl::StrCat(
          "PT_LOAD[", index, "] (paddr ", Hex(ph.p_paddr), ", vaddr ", Hex(ph.p_vaddr), ") has ",
          Hex(data), " of its ", Hex(ph.p_filesz), " bytes at file offset ", Hex(ph.p_offset)));
    }
    // Virtual-only segments have no physical address to name in a later error.
    if (ph.p_paddr != kNoAddr && kind != kernel::SegmentClass::kVirtualOnly &&
        kind != kernel::SegmentClass::kUnaddressable) {
      cut.missing_phys.emplace_back(ph.p_paddr + data, ph.p_paddr + ph.p_filesz);  // checked by caller
    }
  }
  // The layout facts in a header hold even when its data is missing.
  if (kind == kernel::SegmentClass::kDirectMapRam && !out.hints.direct_map_base.has_value()) {
    out.hints.direct_map_base = ph.p_vaddr - ph.p_paddr;
  }
  // Absent data is left out of the segment rather than shown as zeros.
  uint64_t size = data < ph.p_filesz ? data : ph.p_memsz;
  if (size == 0) return absl::OkStatus();
  mem::Segment seg{0, size, data, file, ph.p_offset};
  switch (kind) {
    case kernel::SegmentClass::kUnaddressable:
      break;
    case kernel::SegmentClass::kVirtualOnly:
      seg.start = ph.p_vaddr;
      c.virt.push_back(seg);
      break;
    case kernel::SegmentClass::kKernelImage:
      seg.start = ph.p_paddr;
      c.image.push_back(seg);
      if (!out.hints.image.has_value()) out.hints.image = kernel::ImageRange{ph.p_vaddr, ph.p_paddr, size};
      break;
    case kernel::SegmentClass::kDirectMapRam:
    case kernel::SegmentClass::kOtherRam:
      seg.start = ph.p_paddr;
      c.ram.push_back(seg);
      break;
  }
  return absl::OkStatus();
}

// Records a cut: the headline goes first among the warnings (everything after may follow
// from it), the segments it cut after it, and the hints carry it so that derivation
// errors can point back at it.
void TakeCut(const std::string& path, uint64_t file_size, Cut cut, ElfCoreContents& out) {
  kernel::Truncation t{path, cut.described, file_size, std::move(cut.missing_phys)};
  std::sort(t.missing_phys.begin(), t.missing_phys.end());
  std::string detail = absl::StrCat(path, ": ", cut.segments, " PT_LOAD", cut.segments == 1 ? " reaches" : "s reach",
                                    " past the end of the file (", Hex(file_size), "): ",
                                    absl::StrJoin(cut.details, "; "));
  if (cut.segments > cut.details.size()) {
    absl::StrAppend(&detail, "; and ", cut.segments - cut.details.size(), " more");
  }
  absl::StrAppend(&detail,
                  ". Only the bytes the file has are served; the rest is left out of the views "
                  "(consumers report those addresses as not present; no read returns zeros for "
                  "them)");
  std::vector<std::string> first = {
      absl::StrCat(t.Headline(), " (", Hex(t.described), " vs ", Hex(file_size),
                   "); serving what is there"),
      std::move(detail)};
  out.warnings.insert(out.warnings.begin(), first.begin(), first.end());
  out.hints.truncation = std::move(t);
}

// Kernel-image segments duplicate RAM in kdump and kcore layouts; they join the physical
// map only where no RAM segment already covers them.
std::vector<mem::Segment> MergePhysical(Classified& c) {
  // Moved, not copied: with 100,000 segments a copy is megabytes of fresh pages.
  std::vector<mem::Segment> phys = std::move(c.ram);
  const size_t ram_count = phys.size();
  // Checking every image segment against every RAM segment was quadratic in the header
  // count (an 8 MiB core of half image, half RAM segments took 10 s). Sorted by start,
  // disjoint RAM has sorted ends too, so the RAM segment just below img.end() is the only
  // one that can reach into img. (Overlapping RAM fails MemoryMap::Create either way.)
  auto by_start = [](const mem::Segment& a, const mem::Segment& b) { return a.start < b.start; };
  std::sort(phys.begin(), phys.end(), by_start);
  for (const mem::Segment& img : c.image) {
    auto above = std::partition_point(phys.begin(), phys.begin() + ram_count,
                                      [&](const mem::Segment& r) { return r.start < img.end(); });
    bool overlaps = above != phys.begin() && std::prev(above)->end() > img.start;
    if (!overlaps) phys.push_back(img);
  }
  return phys;
}

}  // namespace

absl::StatusOr<ElfCoreContents> ReadElfCore(std::shared_ptr<const io::ByteSource> file,
                                            uint64_t file_size) {
  const std::string& path = file->name();
  // libelf checks the identification and header from a copy of the first bytes, so the
  // same parser serves a file, an NBD export or a buffer.
  std::string ident(std::min<uint64_t>(file_size, sizeof(Elf64_Ehdr)), '\0');
  if (ident.size() < EI_NIDENT) return ElfError(path, "not an ELF file (shorter than an ELF header)");
  KCOREFS_RETURN_IF_ERROR(
      file->ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(ident.data()), ident.size())));
  // The byte order is checked before libelf converts the header: read in the wrong order,
  // every field is nonsense ("ELF type 1024").
  if (std::memcmp(ident.data(), ELFMAG, SELFMAG) == 0) {
    const auto data = static_cast<uint8_t>(ident[EI_DATA]);
    if (data == ELFDATA2MSB) {
      return absl::UnimplementedError(absl::StrCat(
          path, ": big-endian ELF (ELFDATA2MSB in e_ident[EI_DATA] at offset 0x5): not supported; "
                "kcorefs reads little-endian cores (x86_64, aarch64)"));
    }
    if (data != ELFDATA2LSB) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": e_ident[EI_DATA] at offset 0x5 is ", data,
          ", neither little-endian (1) nor big-endian (2); the ELF header is corrupt"));
    }
  }
  elf_version(EV_CURRENT);
  ElfPtr elf(elf_memory(ident.data(), ident.size()));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return ElfError(path, "not an ELF file");
  if (gelf_getclass(elf.get()) != ELFCLASS64) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": only 64-bit ELF cores are supported"));
  }
  GElf_Ehdr eh;
  if (!gelf_getehdr(elf.get(), &eh)) return ElfError(path, "cannot read the ELF header");
  if (eh.e_type != ET_CORE) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ELF type ", eh.e_type,
                                                   " is not ET_CORE; give a core dump, not a "
                                                   "vmlinux or program"));
  }
  // The table is read as Elf64_Phdr records; any other stride would misread every header.
  // e_ehsize is not checked: nothing here depends on it, and QEMU 7.2's dump-guest-memory
  // writes 8 there (measured on its ELF dumps), which every consumer ignores too.
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": e_phentsize (at offset ", Hex(offsetof(Elf64_Ehdr, e_phentsize)), ") is ",
        eh.e_phentsize, ", not ", sizeof(Elf64_Phdr),
        " (an ELF64 program header); the ELF header is corrupt"));
  }
  ElfCoreContents out;
  // Refused before anything is sorted by an address space kcorefs does not know.
  auto arch = kernel::LookupArch(eh.e_machine);
  if (!arch.ok()) {
    // A known row's message names only the architecture; say which machine number it is.
    const kernel::Arch* known = kernel::ArchByMachine(eh.e_machine);
    return base::Annotate(arch.status(), known ? absl::StrCat(path, ": ELF machine ", eh.e_machine,
                                                              " (", known->name, ")")
                                               : path);
  }
  out.hints.arch = *arch;
  // The raw count, not elf_getphdrnum(): libelf quietly clamps a count that does not fit
  // in the file, which would turn a corrupt header into a silently shorter one.
  size_t phnum = eh.e_phnum;
  if (eh.e_phnum == PN_XNUM) {
    // Extended numbering: the real count is section header 0's sh_info.
    Elf64_Shdr sh0;
    if (!base::RangeWithin(eh.e_shoff, sizeof(sh0), file_size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": e_phnum is 65535 (PN_XNUM), so the program header count is in section "
                "header 0, but that is at offset ", Hex(eh.e_shoff), " outside the file (size ", Hex(file_size),
          "); the ELF header is corrupt"));
    }
    KCOREFS_RETURN_IF_ERROR(file->ReadAt(
        eh.e_shoff, absl::MakeSpan(reinterpret_cast<uint8_t*>(&sh0), sizeof(sh0))));
    phnum = sh0.sh_info;
  }
  auto table_end = base::CheckedMul(phnum, sizeof(Elf64_Phdr));
  if (phnum > kMaxPhdrs || !table_end || !base::RangeWithin(eh.e_phoff, *table_end, file_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", phnum, " program headers at offset ", Hex(eh.e_phoff),
        " do not fit in the file (size ", Hex(file_size), "); the header is corrupt or truncated"));
  }
  Classified c;
  NotesState notes;
  Cut cut;
  cut.described = std::max<uint64_t>(sizeof(Elf64_Ehdr), eh.e_phoff + *table_end);  // both fit
  c.ram.reserve(phnum);  // one allocation instead of log2(phnum) growing copies
  // libelf validated the ELF header and counted the program headers (PN_XNUM included);
  // the table itself is read in bounded chunks of native Elf64_Phdr (little-endian on a
  // little-endian host) rather than through gelf_getphdr, which copies and converts the
  // whole table first: a 100,000-segment core would cost 5 MiB for nothing.
  constexpr size_t kChunk = 4096;
  std::vector<Elf64_Phdr> table(std::min(phnum, kChunk));
  // PT_NOTEs may all name the same bytes: each one is copied and parsed, and each real
  // NT_PRSTATUS in it is kept, so 8,000 headers over one 500 KiB run of notes made a 1 MiB
  // file cost 5 GiB and a minute. Their total may not exceed the file (as notes that do
  // not overlap cannot) nor kMaxNotesSize.
  uint64_t notes_total = 0;
  for (size_t i = 0; i < phnum; ++i) {
    if (i % kChunk == 0) {
      size_t n = std::min(kChunk, phnum - i);
      KCOREFS_RETURN_IF_ERROR(file->ReadAt(
          eh.e_phoff + i * sizeof(Elf64_Phdr),
          absl::MakeSpan(reinterpret_cast<uint8_t*>(table.data()), n * sizeof(Elf64_Phdr))));
    }
    const Elf64_Phdr& ph = table[i % kChunk];
    if (ph.p_type == PT_NOTE) {
      if (ph.p_filesz > kMaxNotesSize || !base::RangeWithin(ph.p_offset, ph.p_filesz, file_size)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": PT_NOTE[", i, "] at offset ", Hex(ph.p_offset), " of size ", Hex(ph.p_filesz),
            " lies outside the file (size ", Hex(file_size), "); the dump is truncated or corrupt"));
      }
      notes_total += ph.p_filesz;
      if (notes_total > std::min(kMaxNotesSize, file_size)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": the PT_NOTEs up to PT_NOTE[", i, "] hold ", Hex(notes_total),
            " bytes: more than fits in the file (size ", Hex(file_size),
            ") without overlapping, or more than a kernel writes (", Hex(kMaxNotesSize),
            "); the header is corrupt"));
      }
      std::string bytes(ph.p_filesz, '\0');
      KCOREFS_RETURN_IF_ERROR(
          file->ReadAt(ph.p_offset, absl::MakeSpan(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size())));
      KCOREFS_RETURN_IF_ERROR(TakeNotes(path, ph.p_offset, bytes, notes, out));
    } else if (ph.p_type == PT_LOAD) {
      auto end = base::CheckedAdd(ph.p_paddr == kNoAddr ? ph.p_vaddr : ph.p_paddr, ph.p_memsz);
      bool phys_ok = ph.p_paddr == kNoAddr ||
                     (end && *end <= (uint64_t{1} << out.hints.arch->max_phys_bits));
      if (ph.p_filesz > ph.p_memsz || !end || !phys_ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": PT_LOAD[", i, "] is absurd (paddr ", Hex(ph.p_paddr), ", vaddr ", Hex(ph.p_vaddr),
            ", filesz ", Hex(ph.p_filesz), ", memsz ", Hex(ph.p_memsz), "); the header is corrupt"));
      }
      cut.described = std::max(cut.described, base::CheckedAdd(ph.p_offset, ph.p_filesz)
                                                   .value_or(std::numeric_limits<uint64_t>::max()));
      KCOREFS_RETURN_IF_ERROR(Classify(i, ph, file_size, file, c, cut, out));
    }
  }
  if (cut.segments > 0) TakeCut(path, file_size, std::move(cut), out);
  auto map = mem::MemoryMap::Create(MergePhysical(c), std::move(c.virt));
  if (!map.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", map.status().message(), "; the dump's program headers are corrupt"));
  }
  out.map = std::move(*map);
  if (out.map.physical().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no PT_LOAD holds physical memory"));
  }
  return out;
}

}  // namespace kcorefs::backends
