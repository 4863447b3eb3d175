// Serialises an ELF64 core header: Ehdr, program headers (PN_XNUM past 65534 entries)
// and the note bytes. The callers choose every field; this file only writes bytes.
#ifndef KCOREFS_ELF_ELF_WRITER_H_
#define KCOREFS_ELF_ELF_WRITER_H_

#include <elf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kcorefs::elf {

// Bytes taken by the Ehdr, `phnum` program headers and, when PN_XNUM is needed, the one
// section header that carries the real count. The notes start here.
uint64_t HeaderTableSize(size_t phnum);

// phdrs[0] must be the PT_NOTE; its p_offset must equal HeaderTableSize(phdrs.size()).
std::string WriteCoreHeader(uint16_t e_machine, const std::vector<Elf64_Phdr>& phdrs,
                            const std::string& notes);

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_ELF_WRITER_H_
