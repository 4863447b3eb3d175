// Writes an ELF64 core header in place: Ehdr, program headers (PN_XNUM past 65534
// entries) and the note bytes, into one buffer reserved up front, so a header with
// 100,000 program headers is built without intermediate copies.
#ifndef KCOREFS_ELF_ELF_WRITER_H_
#define KCOREFS_ELF_ELF_WRITER_H_

#include <elf.h>

#include <cstdint>
#include <string>

namespace kcorefs::elf {

class CoreHeaderWriter {
 public:
  // `phnum` counts every program header including the PT_NOTE, which is written here as
  // phdr[0] with p_align 4 and its offset right after the header table.
  CoreHeaderWriter(uint16_t e_machine, size_t phnum, std::string notes);

  // Bytes before the notes (Ehdr, program headers, section header 0 under PN_XNUM).
  uint64_t table_size() const { return table_size_; }
  // First byte past the notes: where segment data may start.
  uint64_t notes_end() const { return table_size_ + notes_.size(); }
  // Appends the next program header. Exactly phnum - 1 calls before Finish().
  void Add(const Elf64_Phdr& ph);
  // Largest p_offset + p_filesz of any program header (the file must be at least this long).
  uint64_t max_end() const { return max_end_; }
  std::string Finish();

 private:
  std::string out_;
  std::string notes_;
  size_t phnum_;
  size_t added_ = 0;
  uint64_t table_size_;
  uint64_t max_end_ = 0;
};

}  // namespace kcorefs::elf

#endif  // KCOREFS_ELF_ELF_WRITER_H_
