// The coreimage view: a kmemdump/meminspect region set in the kernel's own coreimage layout
// (kmemdump_coreimage.c): the header region, the VMCOREINFO region right after it (the
// VMCOREINFO note's descriptor), then every region at its running offset, each taking
// ALIGN(size, 4) bytes. The program headers are written here from the region list, never
// taken from the kernel's (unregistering a region shifts the kernel's offsets); a missing or
// short region keeps its place as a hole (p_filesz < p_memsz) so nothing after it moves.
// With every region present and the kernel's header intact the file is byte-identical to
// the regions concatenated in order.
#include <elf.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "elf/view_builder.h"
#include "kcorefs/base/checked_math.h"

namespace kcorefs::elf {
namespace {

template <typename T>
void Put(std::string& out, uint64_t at, const T& v) {
  std::memcpy(out.data() + at, &v, sizeof(v));
}

template <typename T>
void Append(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

// A header of our own when the set has none (or it cannot hold the regions): Ehdr,
// program headers, one note header whose descriptor is the VMCOREINFO region.
std::string SynthesizedHeader(const backends::RegionImage& ri, uint64_t phnum) {
  const bool xnum = phnum >= PN_XNUM;
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_CORE;
  eh.e_machine = ri.e_machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = xnum ? PN_XNUM : static_cast<Elf64_Half>(phnum);
  std::string out;
  Append(out, eh);
  out.resize(sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr), '\0');
  const uint64_t note_at = out.size();
  Elf64_Nhdr nh{};
  nh.n_namesz = 11;  // "VMCOREINFO\0": drgn matches the exact size
  nh.n_descsz = static_cast<Elf64_Word>(ri.vmcoreinfo.size);
  nh.n_type = 0;
  Append(out, nh);
  out.append("VMCOREINFO\0\0", 12);
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = note_at;
  note.p_filesz = note.p_memsz = sizeof(nh) + 12 + ri.vmcoreinfo.size;
  note.p_align = 4;  // gdb rejects 8 and 4096
  Put(out, sizeof(Elf64_Ehdr), note);
  return out;
}

// Whether the kernel's header region can take our program headers in place.
bool UsableTemplate(const backends::RegionImage& ri, uint64_t phnum) {
  if (ri.header.size() < sizeof(Elf64_Ehdr) || phnum > ri.phdr_slots || phnum >= PN_XNUM) {
    return false;
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, ri.header.data(), sizeof(eh));
  auto table_end = base::CheckedAdd(eh.e_phoff, ri.phdr_slots * sizeof(Elf64_Phdr));
  return std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_phentsize == sizeof(Elf64_Phdr) &&
         table_end.has_value() && *table_end <= ri.header.size();
}

}  // namespace

void ViewBuilder::BuildCoreimage() {
  const backends::RegionImage& ri = *snap_.region_image;
  const uint64_t n = ri.regions.size();
  const uint64_t phnum = n + 1;
  const bool in_place = UsableTemplate(ri, phnum);
  std::string header = in_place ? ri.header : SynthesizedHeader(ri, phnum);
  if (!in_place && !ri.header.empty()) {
    view_->warnings_.push_back(absl::StrCat(
        "coreimage: the header region has room for ", ri.phdr_slots, " program headers, not ",
        phnum, "; the view writes a header of its own"));
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, header.data(), sizeof(eh));
  const uint64_t phoff = eh.e_phoff;
  const uint64_t slots = in_place ? ri.phdr_slots : phnum;
  // Program headers past the ones used are zero, as the kernel leaves them.
  std::memset(header.data() + phoff + sizeof(Elf64_Phdr), 0, (slots - 1) * sizeof(Elf64_Phdr));
  const bool xnum = phnum >= PN_XNUM;
  if (!xnum) eh.e_phnum = static_cast<Elf64_Half>(phnum);

  view_->extents_.reserve(n + 3);
  view_->extents_.push_back(Extent{0, 0, nullptr, 0});  // the header, set below
  uint64_t offset = header.size();
  const uint64_t vmci = std::min<uint64_t>(ri.vmcoreinfo.size, uint32_t{0xffffffff});
  AddExtent(offset, std::min(ri.vmcoreinfo.data_size, vmci), ri.vmcoreinfo.source.get(),
            ri.vmcoreinfo.source_offset);
  offset += vmci;
  std::vector<uint64_t> offsets;
  offsets.reserve(n);
  // Sizes come from a header region; a layout past 2^62 bytes (a hostile p_memsz) would
  // wrap the offsets, so such regions are served as empty holes.
  constexpr uint64_t kLayoutLimit = uint64_t{1} << 62;
  for (uint64_t i = 0; i < n; ++i) {
    backends::ImageRegion r = ri.regions[i];
    if (r.size > kLayoutLimit - offset) {
      view_->warnings_.push_back(absl::StrCat("coreimage: region ", r.name, " (", r.size,
                                              " bytes) does not fit the file; left empty"));
      r.size = 0;
      r.source = nullptr;
    }
    r.data_size = std::min(r.data_size, r.size);
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = r.flags;
    ph.p_offset = offset;
    ph.p_vaddr = r.vaddr;
    ph.p_paddr = r.paddr;
    ph.p_filesz = r.source ? r.data_size : 0;
    ph.p_memsz = r.size;
    Put(header, phoff + (i + 1) * sizeof(Elf64_Phdr), ph);
    if (r.source) AddExtent(offset, r.data_size, r.source.get(), r.source_offset);
    offsets.push_back(offset);
    offset += r.size;
  }
  uint64_t end = offset;

  // Section headers after the last region, naming each region: [0] null (or the PN_XNUM
  // count), the VMCOREINFO region, one per region, .shstrtab.
  std::string trailer;
  if (ri.section_names || xnum) {
    std::string strtab(1, '\0');
    auto name_of = [&](absl::string_view s) {
      uint64_t at = strtab.size();
      strtab.append(s.data(), s.size());
      strtab.push_back('\0');
      return static_cast<Elf64_Word>(at);
    };
    const uint64_t shnum = n + 3;
    const uint64_t shoff = base::AlignUp(end, 8);
    Elf64_Shdr null{};
    if (xnum) null.sh_info = static_cast<Elf64_Word>(phnum);
    if (shnum >= SHN_LORESERVE) {
      null.sh_size = shnum;
      null.sh_link = static_cast<Elf64_Word>(shnum - 1);
    }
    Append(trailer, null);
    auto section = [&](absl::string_view name, uint64_t addr, uint64_t at, uint64_t data,
                       uint64_t size) {
      Elf64_Shdr sh{};
      sh.sh_name = name_of(name);
      sh.sh_type = data > 0 ? SHT_PROGBITS : SHT_NOBITS;
      sh.sh_flags = SHF_ALLOC | SHF_WRITE;
      sh.sh_addr = addr;
      sh.sh_offset = at;
      sh.sh_size = data > 0 ? data : size;
      sh.sh_addralign = 1;
      Append(trailer, sh);
    };
    // The notes as a SHT_NOTE section: with section headers present, eu-readelf -n reads
    // notes from sections, not from PT_NOTE.
    Elf64_Phdr note;
    std::memcpy(&note, header.data() + phoff, sizeof(note));
    Elf64_Shdr notes{};
    notes.sh_name = name_of("vmcoreinfo");
    notes.sh_type = SHT_NOTE;
    notes.sh_offset = note.p_offset;
    notes.sh_size = note.p_filesz;
    notes.sh_addralign = 4;
    Append(trailer, notes);
    for (uint64_t i = 0; i < n; ++i) {
      const backends::ImageRegion& r = ri.regions[i];
      std::string name = r.name.empty() ? absl::StrCat("region", r.id) : r.name;
      section(name, r.vaddr, offsets[i], r.source ? r.data_size : 0, r.size);
    }
    Elf64_Shdr str{};
    str.sh_name = name_of(".shstrtab");
    str.sh_type = SHT_STRTAB;
    str.sh_offset = shoff + shnum * sizeof(Elf64_Shdr);
    str.sh_size = strtab.size();
    str.sh_addralign = 1;
    Append(trailer, str);
    trailer += strtab;
    eh.e_shoff = shoff;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = shnum >= SHN_LORESERVE ? 0 : static_cast<Elf64_Half>(shnum);
    eh.e_shstrndx = shnum - 1 >= SHN_LORESERVE ? SHN_XINDEX : static_cast<Elf64_Half>(shnum - 1);
    end = shoff;
  }
  Put(header, 0, eh);

  const uint64_t header_size = header.size();
  view_->header_ = std::make_shared<io::BufferByteSource>("coreimage header", header + trailer);
  view_->extents_[0] = Extent{0, header_size, view_->header_.get(), 0};
  if (!trailer.empty()) {
    view_->extents_.push_back(Extent{end, trailer.size(), view_->header_.get(), header_size});
  }
  view_->size_ = end + trailer.size();
}

}  // namespace kcorefs::elf
