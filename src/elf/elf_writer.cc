#include "elf/elf_writer.h"

#include <cstring>

namespace kcorefs::elf {
namespace {
bool NeedsXnum(size_t phnum) { return phnum >= PN_XNUM; }
}  // namespace

uint64_t HeaderTableSize(size_t phnum) {
  return sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr) + (NeedsXnum(phnum) ? sizeof(Elf64_Shdr) : 0);
}

std::string WriteCoreHeader(uint16_t e_machine, const std::vector<Elf64_Phdr>& phdrs,
                            const std::string& notes) {
  Elf64_Ehdr eh;
  std::memset(&eh, 0, sizeof(eh));
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = e_machine;
  eh.e_version = EV_CURRENT;
  // makedumpfile reads program headers at sizeof(Ehdr) whatever e_phoff says.
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  Elf64_Shdr sh;
  std::memset(&sh, 0, sizeof(sh));
  if (NeedsXnum(phdrs.size())) {
    // ELF gABI extended numbering: the real count goes in section header 0's sh_info.
    eh.e_phnum = PN_XNUM;
    eh.e_shoff = sizeof(Elf64_Ehdr) + phdrs.size() * sizeof(Elf64_Phdr);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 1;
    sh.sh_info = static_cast<Elf64_Word>(phdrs.size());
  } else {
    eh.e_phnum = static_cast<Elf64_Half>(phdrs.size());
  }
  std::string out;
  out.reserve(HeaderTableSize(phdrs.size()) + notes.size());
  out.append(reinterpret_cast<const char*>(&eh), sizeof(eh));
  out.append(reinterpret_cast<const char*>(phdrs.data()), phdrs.size() * sizeof(Elf64_Phdr));
  if (NeedsXnum(phdrs.size())) out.append(reinterpret_cast<const char*>(&sh), sizeof(sh));
  out.append(notes);
  return out;
}

}  // namespace kcorefs::elf
