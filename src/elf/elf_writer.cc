#include "elf/elf_writer.h"

#include <cassert>
#include <cstring>

namespace kcorefs::elf {
namespace {
bool NeedsXnum(size_t phnum) { return phnum >= PN_XNUM; }
}  // namespace

CoreHeaderWriter::CoreHeaderWriter(uint16_t e_machine, size_t phnum, std::string notes)
    : notes_(std::move(notes)), phnum_(phnum) {
  table_size_ = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr) +
                (NeedsXnum(phnum) ? sizeof(Elf64_Shdr) : 0);
  out_.reserve(table_size_ + notes_.size());
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
  if (NeedsXnum(phnum)) {
    // ELF gABI extended numbering: the real count goes in section header 0's sh_info.
    eh.e_phnum = PN_XNUM;
    eh.e_shoff = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 1;
  } else {
    eh.e_phnum = static_cast<Elf64_Half>(phnum);
  }
  out_.append(reinterpret_cast<const char*>(&eh), sizeof(eh));
  Elf64_Phdr note;
  std::memset(&note, 0, sizeof(note));
  note.p_type = PT_NOTE;
  note.p_offset = table_size_;
  note.p_filesz = note.p_memsz = notes_.size();
  note.p_align = 4;  // gdb rejects 8 and 4096; drgn and eu-readelf misparse 8
  out_.append(reinterpret_cast<const char*>(&note), sizeof(note));
  added_ = 1;
  max_end_ = notes_end();
}

void CoreHeaderWriter::Add(const Elf64_Phdr& ph) {
  assert(added_ < phnum_);
  out_.append(reinterpret_cast<const char*>(&ph), sizeof(ph));
  ++added_;
  if (ph.p_offset + ph.p_filesz > max_end_) max_end_ = ph.p_offset + ph.p_filesz;
}

std::string CoreHeaderWriter::Finish() {
  assert(added_ == phnum_);
  if (NeedsXnum(phnum_)) {
    Elf64_Shdr sh;
    std::memset(&sh, 0, sizeof(sh));
    sh.sh_info = static_cast<Elf64_Word>(phnum_);
    out_.append(reinterpret_cast<const char*>(&sh), sizeof(sh));
  }
  out_.append(notes_);
  return std::move(out_);
}

}  // namespace kcorefs::elf
