#include "bench/core_gen.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tests/testing/core_builder.h"

namespace kcorefs::bench {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
constexpr uint64_t kText = 0xffffffff81000000ull + kKaslr;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t PatternWord(uint64_t paddr8) { return (paddr8 / 8 + 1) * 0x9e3779b97f4a7c15ull; }

// The same VMCOREINFO keys and note encoding as the unit tests' test kernel.
std::string Vmcoreinfo() {
  // The image starts at physical kImagePaddr: phys_base = paddr(_text) - (_text - map start).
  int64_t phys_base = static_cast<int64_t>(kImagePaddr) - static_cast<int64_t>(kText - kStartKernelMap);
  return testing::TestVmcoreinfo(kKaslr, phys_base, kText + 0x1c00000);
}

Elf64_Phdr Load(uint64_t offset, uint64_t vaddr, uint64_t paddr, uint64_t size) {
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_W | PF_X;
  ph.p_offset = offset;
  ph.p_vaddr = vaddr;
  ph.p_paddr = paddr;
  ph.p_filesz = ph.p_memsz = size;
  ph.p_align = 0;
  return ph;
}

bool PwriteAll(int fd, const void* data, size_t size, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

// Writes `size` bytes of physical memory from `paddr` at file `offset`.
bool FillRange(int fd, uint64_t offset, uint64_t paddr, uint64_t size) {
  constexpr size_t kChunk = 4 << 20;
  std::vector<uint64_t> buf(kChunk / 8);
  for (uint64_t done = 0; done < size; done += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - done));
    for (size_t i = 0; i < n / 8; ++i) buf[i] = PatternWord(paddr + done + i * 8);
    if (!PwriteAll(fd, buf.data(), n, offset + done)) return false;
  }
  return true;
}

}  // namespace

uint8_t PatternByte(uint64_t paddr) {
  uint64_t w = PatternWord(paddr & ~7ull);
  return static_cast<uint8_t>(w >> (8 * (paddr & 7)));
}

std::string WriteCore(const std::string& path, const CoreSpec& spec) {
  std::string notes = testing::Note("VMCOREINFO", 0, Vmcoreinfo());
  const size_t phnum = 2 + spec.ram.size();
  const bool xnum = phnum >= PN_XNUM;
  uint64_t off = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  uint64_t shoff = 0;
  if (xnum) {
    shoff = off;
    off += sizeof(Elf64_Shdr);
  }
  uint64_t notes_off = off;
  off += notes.size();

  std::vector<Elf64_Phdr> ph;
  ph.reserve(phnum);
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = notes_off;
  note.p_filesz = note.p_memsz = notes.size();
  note.p_align = 4;
  ph.push_back(note);
  off = AlignUp(off, kPage);
  uint64_t image_off = off;
  ph.push_back(Load(image_off, kText, kImagePaddr, spec.image_size));
  off += spec.image_size;
  for (const RamRange& r : spec.ram) {
    off = AlignUp(off, kPage);
    ph.push_back(Load(off, kDirectMap + r.paddr, r.paddr, r.size));
    off += r.size;
  }
  uint64_t file_size = off;

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = xnum ? PN_XNUM : static_cast<uint16_t>(phnum);
  if (xnum) {
    eh.e_shoff = shoff;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 1;
  }

  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return path + ": " + std::strerror(errno);
  std::string head(reinterpret_cast<const char*>(&eh), sizeof(eh));
  head.append(reinterpret_cast<const char*>(ph.data()), ph.size() * sizeof(Elf64_Phdr));
  if (xnum) {
    Elf64_Shdr sh{};
    sh.sh_info = static_cast<uint32_t>(phnum);
    head.append(reinterpret_cast<const char*>(&sh), sizeof(sh));
  }
  head += notes;
  bool ok = PwriteAll(fd, head.data(), head.size(), 0) &&
            ::ftruncate(fd, static_cast<off_t>(file_size)) == 0;
  if (ok && spec.fill) {
    ok = FillRange(fd, image_off, kImagePaddr, spec.image_size);
    for (size_t i = 0; ok && i < spec.ram.size(); ++i) {
      ok = FillRange(fd, ph[i + 2].p_offset, spec.ram[i].paddr, spec.ram[i].size);
    }
  }
  if (ok) ok = ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  return ok ? "" : path + ": " + std::strerror(err);
}

CoreSpec KdumpSpec(uint64_t ram_bytes) {
  CoreSpec s;
  s.ram.push_back({kImagePaddr, ram_bytes});
  s.image_size = std::min<uint64_t>(16ull << 20, ram_bytes);
  s.fill = true;
  return s;
}

CoreSpec SegmentsSpec(uint64_t count) {
  CoreSpec s;
  for (uint64_t i = 0; i < count; ++i) s.ram.push_back({kImagePaddr + i * 2 * kPage, kPage});
  s.image_size = kPage;
  s.fill = false;
  return s;
}

CoreSpec SparseSpec(uint64_t total_bytes) {
  CoreSpec s;
  constexpr uint64_t kParts = 8;
  uint64_t part = total_bytes / kParts / kPage * kPage;
  uint64_t at = kImagePaddr;
  for (uint64_t i = 0; i < kParts; ++i) {
    s.ram.push_back({at, part});
    at += part + (1ull << 30);  // a 1 GiB gap: the ranges stay separate PT_LOADs
  }
  s.fill = false;
  return s;
}

}  // namespace kcorefs::bench
