#include "kcorefs/kernel/vmlinux.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/kernel/kernel_facts.h"

namespace kcorefs::kernel {
namespace {

// A vmlinux's notes are a few KB (build id, Xen and Linux notes); anything larger is not
// a kernel's and is not read.
constexpr size_t kMaxNotesBytes = 1 << 20;

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

std::string HexBytes(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

// The GNU build id in one block of notes, or empty.
std::string BuildIdIn(Elf_Data* data) {
  if (data == nullptr) return "";
  size_t off = 0;
  GElf_Nhdr nh;
  size_t name_off, desc_off;
  while (off < data->d_size) {
    size_t next = gelf_getnote(data, off, &nh, &name_off, &desc_off);
    if (next == 0 || next <= off) break;  // malformed: stop rather than loop
    const auto* base = static_cast<const uint8_t*>(data->d_buf);
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && name_off + 4 <= data->d_size &&
        std::memcmp(base + name_off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
        desc_off + nh.n_descsz <= data->d_size) {
      return HexBytes(base + desc_off, nh.n_descsz);
    }
    off = next;
  }
  return "";
}

absl::Status Refuse(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

// "the build id differs" for an explicit --vmlinux is an error; the same for the file
// found at Debian's path is a warning and the file is left unused.
absl::Status Check(const Vmlinux& v, const KernelFacts& f) {
  if (v.e_machine != f.arch->e_machine) {
    return Refuse(v.path, absl::StrCat("is a vmlinux for ELF machine ", v.e_machine,
                                       ", the kernel is ", f.arch->name));
  }
  auto want = f.vmcoreinfo.Get("BUILD-ID");
  if (!want.has_value()) return absl::OkStatus();  // said by the caller
  std::string kernel_id = absl::AsciiStrToLower(*want);
  if (v.build_id.empty()) {
    return Refuse(v.path, absl::StrCat("has no GNU build id note, so it cannot be checked "
                                       "against the kernel's BUILD-ID=", kernel_id,
                                       "; pass the vmlinux of this build"));
  }
  if (v.build_id != kernel_id) {
    return Refuse(v.path, absl::StrCat(
        "is not this kernel's vmlinux: its build id is ", v.build_id,
        ", VMCOREINFO's BUILD-ID is ", kernel_id, " (", f.osrelease,
        "); pass the vmlinux of this build (Debian: the linux-image-", f.osrelease,
        "-dbg package of the same version)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DebianVmlinuxPath(const std::string& osrelease) {
  return "/usr/lib/debug/boot/vmlinux-" + osrelease;
}

absl::StatusOr<std::shared_ptr<const Vmlinux>> OpenVmlinux(const std::string& path) {
  auto file = io::FileByteSource::Open(path);
  if (!file.ok()) return base::Annotate(file.status(), "vmlinux");
  static std::once_flag once;
  std::call_once(once, [] { elf_version(EV_CURRENT); });
  // ELF_C_READ: libelf reads the headers and the chunks asked for, not the whole file.
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(*(*file)->fd(), ELF_C_READ, nullptr));
  if (elf == nullptr || elf_kind(elf.get()) != ELF_K_ELF) {
    return Refuse(path, "is not an ELF file (a vmlinux with symbols is expected, not a "
                        "compressed vmlinuz)");
  }
  GElf_Ehdr eh;
  if (gelf_getehdr(elf.get(), &eh) == nullptr || gelf_getclass(elf.get()) != ELFCLASS64) {
    return Refuse(path, "is not a 64-bit ELF file");
  }
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
    return Refuse(path, absl::StrCat("is ELF type ", eh.e_type,
                                     ", not an executable (a vmlinux is ET_EXEC)"));
  }
  auto v = std::make_shared<Vmlinux>();
  v->path = path;
  v->entry = eh.e_entry;
  v->e_type = eh.e_type;
  v->e_machine = eh.e_machine;
  v->big_endian = eh.e_ident[EI_DATA] == ELFDATA2MSB;
  const uint64_t size = (*file)->size();
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) == 0) {
    // Only as many headers as the file can hold.
    phnum = std::min<size_t>(phnum, size / sizeof(Elf64_Phdr));
    for (size_t i = 0; i < phnum && v->build_id.empty(); ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) == nullptr) break;
      if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > kMaxNotesBytes ||
          ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
        continue;
      }
      v->build_id = BuildIdIn(elf_getdata_rawchunk(elf.get(), static_cast<int64_t>(ph.p_offset),
                                                   ph.p_filesz, ELF_T_NHDR));
    }
  }
  // A file without a PT_NOTE (an objcopy'd one) may still have the section.
  for (Elf_Scn* scn = nullptr; v->build_id.empty() && (scn = elf_nextscn(elf.get(), scn)) != nullptr;) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_NOTE || sh.sh_size > kMaxNotesBytes) {
      continue;
    }
    v->build_id = BuildIdIn(elf_getdata(scn, nullptr));
  }
  v->file = std::move(*file);
  return std::shared_ptr<const Vmlinux>(std::move(v));
}

absl::Status AttachVmlinux(const DeriveOptions& options, KernelFacts& f) {
  const bool explicit_path = options.vmlinux_path.has_value();
  if (explicit_path && options.vmlinux_path->empty()) return absl::OkStatus();  // --vmlinux ''
  std::string path = explicit_path ? *options.vmlinux_path
                                   : options.vmlinux_search_dir + "/vmlinux-" + f.osrelease;
  if (!explicit_path) {
    struct stat st;
    if (options.vmlinux_search_dir.empty() || ::stat(path.c_str(), &st) != 0) return absl::OkStatus();
  }
  auto v = OpenVmlinux(path);
  absl::Status s = v.ok() ? Check(**v, f) : v.status();
  if (!s.ok()) {
    if (explicit_path) return s;
    f.warnings.push_back(absl::StrCat("vmlinux found at ", path, " is not used: ", s.message()));
    return absl::OkStatus();
  }
  if (!f.vmcoreinfo.Get("BUILD-ID").has_value()) {
    if (!explicit_path) {
      // Only the release name says it is this kernel's: too little to serve it.
      f.warnings.push_back(absl::StrCat(
          "vmlinux found at ", path, " is not used: VMCOREINFO has no BUILD-ID to check it "
          "against; pass it with --vmlinux ", path, " if it is this build's"));
      return absl::OkStatus();
    }
    f.warnings.push_back(absl::StrCat("VMCOREINFO has no BUILD-ID: cannot check that ", path,
                                      " is this kernel's vmlinux (using it as given)"));
  }
  f.vmlinux = std::move(*v);
  return absl::OkStatus();
}

}  // namespace kcorefs::kernel
