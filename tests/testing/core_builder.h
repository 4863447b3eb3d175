// A small ELF core writer for unit tests: program headers, notes and data chosen by the
// test, including deliberately broken ones. Independent of src/elf (which it helps test).
#ifndef KCOREFS_TESTS_TESTING_CORE_BUILDER_H_
#define KCOREFS_TESTS_TESTING_CORE_BUILDER_H_

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace kcorefs::testing {

inline std::string Note(const std::string& name, uint32_t type, const std::string& desc) {
  std::string out;
  uint32_t hdr[3] = {static_cast<uint32_t>(name.size() + 1), static_cast<uint32_t>(desc.size()), type};
  out.append(reinterpret_cast<const char*>(hdr), 12);
  out += name;
  out.push_back('\0');
  while (out.size() % 4) out.push_back('\0');
  out += desc;
  while (out.size() % 4) out.push_back('\0');
  return out;
}

// A VMCOREINFO text with the keys kcorefs requires, for a kernel with the given layout.
inline std::string TestVmcoreinfo(uint64_t kaslr, int64_t phys_base, uint64_t init_top_pgt) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                "OSRELEASE=6.1.0-test-amd64\nPAGESIZE=4096\nSYMBOL(_stext)=%llx\n"
                "SYMBOL(swapper_pg_dir)=%llx\nSYMBOL(init_top_pgt)=%llx\n"
                "NUMBER(pgtable_l5_enabled)=0\nNUMBER(phys_base)=%lld\nKERNELOFFSET=%llx\n",
                static_cast<unsigned long long>(0xffffffff81000000ull + kaslr),
                static_cast<unsigned long long>(init_top_pgt),
                static_cast<unsigned long long>(init_top_pgt), static_cast<long long>(phys_base),
                static_cast<unsigned long long>(kaslr));
  return buf;
}

class CoreBuilder {
 public:
  struct Load {
    uint64_t vaddr, paddr, memsz;
    std::string data;  // p_filesz = data.size() unless filesz_override is set
    uint64_t filesz_override = ~0ull;
    uint64_t offset_override = ~0ull;
  };
  uint16_t e_type = ET_CORE;
  uint16_t e_machine = EM_X86_64;
  uint16_t phnum_override = 0;
  std::string notes;
  std::vector<Load> loads;

  std::string Build() const {
    size_t phnum = 1 + loads.size();
    uint64_t off = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
    std::vector<Elf64_Phdr> ph(phnum);
    ph[0] = Elf64_Phdr{};
    ph[0].p_type = PT_NOTE;
    ph[0].p_offset = off;
    ph[0].p_filesz = ph[0].p_memsz = notes.size();
    ph[0].p_align = 4;
    off += notes.size();
    std::string data;
    for (size_t i = 0; i < loads.size(); ++i) {
      off = (off + 4095) & ~4095ull;
      const Load& l = loads[i];
      Elf64_Phdr& p = ph[i + 1];
      p = Elf64_Phdr{};
      p.p_type = PT_LOAD;
      p.p_offset = l.offset_override != ~0ull ? l.offset_override : off;
      p.p_vaddr = l.vaddr;
      p.p_paddr = l.paddr;
      p.p_filesz = l.filesz_override != ~0ull ? l.filesz_override : l.data.size();
      p.p_memsz = l.memsz;
      data.resize(off - (sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr) + notes.size()), '\0');
      data += l.data;
      off += l.data.size();
    }
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = e_type;
    eh.e_machine = e_machine;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = phnum_override ? phnum_override : static_cast<uint16_t>(phnum);
    std::string out(reinterpret_cast<const char*>(&eh), sizeof(eh));
    out.append(reinterpret_cast<const char*>(ph.data()), ph.size() * sizeof(Elf64_Phdr));
    out += notes;
    out += data;
    return out;
  }

  void WriteTo(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    std::string b = Build();
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
  }
};

// A kdump-shaped test kernel: 4 MiB of RAM at physical 0x1000000, the kernel image's
// first 2 MiB of it mapped at _text, direct map at kDirectMap. Bytes are a pattern of
// their physical address so any read can be checked.
struct TestKernel {
  static constexpr uint64_t kKaslr = 0x1e000000;
  static constexpr uint64_t kDirectMap = 0xffff9c0000000000ull;
  static constexpr uint64_t kRamStart = 0x1000000;
  static constexpr uint64_t kRamSize = 4 << 20;
  static constexpr int64_t kPhysBase = kRamStart - 0x1000000 - kKaslr;  // image at kRamStart
  static constexpr uint64_t kText = 0xffffffff81000000ull + kKaslr;

  static std::string Pattern(uint64_t paddr, uint64_t size) {
    std::string s(size, '\0');
    for (uint64_t i = 0; i < size; i += 8) {
      uint64_t v = (paddr + i) * 0x9e3779b97f4a7c15ull;
      std::memcpy(&s[i], &v, std::min<uint64_t>(8, size - i));
    }
    return s;
  }

  static CoreBuilder Kdump() {
    CoreBuilder b;
    b.notes = Note("VMCOREINFO", 0, TestVmcoreinfo(kKaslr, kPhysBase, kText + 0x100000));
    b.loads.push_back({kText, kRamStart, 2 << 20, Pattern(kRamStart, 2 << 20)});
    b.loads.push_back({kDirectMap + kRamStart, kRamStart, kRamSize, Pattern(kRamStart, kRamSize)});
    return b;
  }
};

// An arm64 VMCOREINFO (arch/arm64/kernel/crash_core.c's keys: kimage_voffset and
// PHYS_OFFSET printed 0x%llx) for a 48-bit VA, 6.1 kernel.
inline std::string TestVmcoreinfoArm64(uint64_t kaslr, uint64_t kimage_voffset, uint64_t phys_offset,
                                       uint64_t swapper_pg_dir, uint64_t stext) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                "OSRELEASE=6.1.0-test-arm64\nPAGESIZE=4096\nSYMBOL(_stext)=%llx\n"
                "SYMBOL(swapper_pg_dir)=%llx\nNUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0x%llx\n"
                "NUMBER(PHYS_OFFSET)=0x%llx\nKERNELOFFSET=%llx\nNUMBER(TCR_EL1_T1SZ)=16\n",
                static_cast<unsigned long long>(stext), static_cast<unsigned long long>(swapper_pg_dir),
                static_cast<unsigned long long>(kimage_voffset),
                static_cast<unsigned long long>(phys_offset), static_cast<unsigned long long>(kaslr));
  return buf;
}

// The arm64 counterpart of TestKernel: 4 MiB of RAM at physical 0x40000000 (QEMU virt's
// PHYS_OFFSET), linear map at PAGE_OFFSET 0xffff000000000000, the image's first 2 MiB at
// KIMAGE_VADDR (6.1: 0xffff800008000000) + KASLR, physically at the start of RAM.
struct TestKernelArm64 {
  static constexpr uint64_t kKaslr = 0x2e00000;
  static constexpr uint64_t kPhysOffset = 0x40000000;
  static constexpr uint64_t kPageOffset = 0xffff000000000000ull;
  static constexpr uint64_t kRamSize = 4 << 20;
  static constexpr uint64_t kText = 0xffff800008000000ull + kKaslr;
  static constexpr uint64_t kImageVoffset = kText - kPhysOffset;

  static CoreBuilder Kdump() {
    CoreBuilder b;
    b.e_machine = EM_AARCH64;
    b.notes = Note("VMCOREINFO", 0,
                   TestVmcoreinfoArm64(kKaslr, kImageVoffset, kPhysOffset, kText + 0x100000,
                                       kText + 0x10000));
    b.loads.push_back({kText, kPhysOffset, 2 << 20, TestKernel::Pattern(kPhysOffset, 2 << 20)});
    b.loads.push_back({kPageOffset, kPhysOffset, kRamSize, TestKernel::Pattern(kPhysOffset, kRamSize)});
    return b;
  }
};

}  // namespace kcorefs::testing

#endif  // KCOREFS_TESTS_TESTING_CORE_BUILDER_H_
