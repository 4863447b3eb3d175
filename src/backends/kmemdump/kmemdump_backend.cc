#include "backends/kmemdump/kmemdump_backend.h"

#include <dirent.h>
#include <elf.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <cerrno>
#include <ctime>
#include <map>
#include <set>
#include <mutex>
#include <thread>
#include <atomic>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "backends/common/snapshot_builder.h"
#include "backends/kmemdump/region_digest.h"
#include "backends/kmemdump/region_parsers.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/base/unique_fd.h"
#include "kcorefs/io/small_file.h"
#include "kcorefs/kernel/vmcoreinfo.h"

namespace kcorefs::backends {
namespace {

using base::Hex;
using kmemdump::HeaderRegion;
using kmemdump::RegionSpec;
using kmemdump::Role;

constexpr char kManifest[] = "kcorefs-regions.json";
constexpr char kDumpInfo[] = "dump_info.txt";
constexpr char kLoadCmm[] = "load.cmm";
constexpr char kMinidumpElf[] = "minidump.elf";
// A coreimage header region is an Ehdr, 201 program header slots and three notes: about
// 12 KiB plus VMCOREINFO's reservation. Anything past 4 MiB is not one.
constexpr uint64_t kHeaderLimit = 4 << 20;
constexpr uint64_t kVmcoreinfoLimit = 1 << 20;
// Warnings that name one region each are capped; the rest are counted.
constexpr size_t kNamedWarnings = 50;

struct FileInfo {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t ino = 0;
  bool operator==(const FileInfo& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && ino == o.ino;
  }
};
using Listing = std::map<std::string, FileInfo>;

absl::StatusOr<Listing> ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return base::ErrnoError(errno, absl::StrCat("cannot read directory ", dir));
  Listing out;
  int dfd = ::dirfd(d);
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    struct stat st;
    if (::fstatat(dfd, e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;
    out[e->d_name] = FileInfo{static_cast<uint64_t>(st.st_size),
                              int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                              static_cast<uint64_t>(st.st_ino)};
  }
  ::closedir(d);
  return out;
}

// A region file opened on its first read, not at mount: mounting a 10,000-file set then
// costs one stat per file (docs/performance.md). Start() opens them all in the background,
// so a file removed later still serves the handles of the epoch that had it.
class LazyFileSource final : public io::ByteSource {
 public:
  LazyFileSource(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {}
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return path_; }
  std::optional<int> fd() const override {
    auto f = File();
    if (!f.ok()) return std::nullopt;
    return (*f)->fd();
  }
  absl::Status Prefetch() const { return File().status(); }
  uint64_t read_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_read() + (file_ ? file_->bytes_read() : 0);
  }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override {
    KCOREFS_ASSIGN_OR_RETURN(auto f, File());
    if (!base::RangeWithin(offset, out.size(), size_)) {
      return absl::OutOfRangeError(absl::StrCat(path_, ": read of ", out.size(), " bytes at ",
                                                Hex(offset), " past its ", size_, " bytes at mount"));
    }
    return f->ReadAt(offset, out, deadline);
  }

 private:
  absl::StatusOr<std::shared_ptr<io::FileByteSource>> File() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_) return file_;
    KCOREFS_ASSIGN_OR_RETURN(file_, io::FileByteSource::Open(path_));
    return file_;
  }
  const std::string path_;
  const uint64_t size_;
  // std::mutex, not absl::Mutex: 10,000 of them would each cost a node in absl's deadlock
  // detection graph.
  mutable std::mutex mu_;
  mutable std::shared_ptr<io::FileByteSource> file_;
};

// Region files stay open while a snapshot uses them (a removed file keeps serving the
// handles of the epoch that had it) and are reused across rescans while unchanged.
class FileCache {
 public:
  absl::StatusOr<std::shared_ptr<const io::ByteSource>> Get(const std::string& dir,
                                                            const std::string& name,
                                                            const FileInfo& info) {
    auto it = files_.find(name);
    if (it != files_.end() && it->second.info == info) return it->second.source;
    auto f = std::make_shared<LazyFileSource>(absl::StrCat(dir, "/", name), info.size);
    if (it != files_.end()) retired_ += it->second.source->read_bytes();
    files_[name] = Entry{info, f, std::nullopt};
    return std::shared_ptr<const io::ByteSource>(std::move(f));
  }
  // Forgets files the listing no longer has (snapshots that use them keep them open).
  void Retain(const Listing& listing) {
    for (auto it = files_.begin(); it != files_.end();) {
      auto l = listing.find(it->first);
      if (l == listing.end() || !(l->second == it->second.info)) {
        retired_ += it->second.source->read_bytes();
        it = files_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // The SHA-256 ComputeSha256 found for the file (computed once per version of the file:
  // a rescan that finds it unchanged, same size, mtime and inode, reuses the verdict).
  absl::StatusOr<std::string> Sha256(const std::string& name) const {
    auto it = files_.find(name);
    if (it == files_.end() || !it->second.sha256) {
      return absl::InternalError(absl::StrCat(name, "'s sha256 was not computed"));
    }
    return *it->second.sha256;
  }
  // Computes the digests of `names` not known yet, on a few threads when there are many:
  // a set of 10,000 small files is 10,000 opens and reads, bound by system calls rather
  // than by the hash.
  void ComputeSha256(const std::vector<std::string>& names) {
    std::vector<Entry*> todo;
    for (const std::string& n : names) {
      auto it = files_.find(n);
      if (it != files_.end() && !it->second.sha256) todo.push_back(&it->second);
    }
    const size_t threads = todo.size() < 64 ? 1
        : std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        // Each entry is written by one thread only; std::map nodes do not move.
        for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
          todo[i]->sha256 = kmemdump::Sha256Hex(*todo[i]->source);
        }
      });
    }
    for (std::thread& t : pool) t.join();
  }
  uint64_t bytes_read() const {
    uint64_t n = retired_;
    for (const auto& [name, e] : files_) n += e.source->read_bytes();
    return n;
  }
  // Every file not opened yet, for the background opener.
  std::vector<std::shared_ptr<const LazyFileSource>> All() const {
    std::vector<std::shared_ptr<const LazyFileSource>> out;
    out.reserve(files_.size());
    for (const auto& [name, e] : files_) out.push_back(e.source);
    return out;
  }

 private:
  struct Entry {
    FileInfo info;
    std::shared_ptr<const LazyFileSource> source;
    std::optional<absl::StatusOr<std::string>> sha256;
  };
  std::map<std::string, Entry> files_;
  uint64_t retired_ = 0;
};

// One region as the views will serve it.
struct Placed {
  std::string name;
  uint64_t id = 0;
  uint64_t paddr = 0;
  std::optional<uint64_t> vaddr;
  uint64_t size = 0;  // bytes in the layout (p_memsz)
  uint32_t flags = PF_R | PF_W;
  std::string file;  // for messages; empty: none
  std::shared_ptr<const io::ByteSource> source;
  uint64_t offset = 0;
  uint64_t data = 0;  // bytes the source holds
};

// A region as the header's PT_LOAD names it, not yet given its bytes.
Placed FromHeaderLoad(const kmemdump::HeaderLoad& hl) {
  Placed r;
  r.id = hl.index;
  r.paddr = hl.paddr;
  r.vaddr = hl.vaddr;
  r.size = hl.memsz;
  r.flags = hl.flags;
  return r;
}

std::string Describe(const Placed& r) {
  return absl::StrCat(r.name.empty() ? "(unnamed)" : r.name, " (id ", r.id, ", physical ",
                      Hex(r.paddr), ", ", r.size, " bytes", r.file.empty() ? "" : ", file ",
                      r.file, ")");
}

struct Assembly {
  uint16_t e_machine = EM_X86_64;
  std::string header;  // region 1; empty: the view writes one
  uint64_t phdr_slots = 0;
  Placed vmcoreinfo;
  std::optional<std::string> vmcoreinfo_text;
  std::vector<Placed> regions;
  std::vector<std::string> warnings;
  std::vector<std::string> missing;  // one line per region served as a hole
  std::string format;
  // Every region present and the kernel's offsets agree: the coreimage is the kernel's own.
  bool pristine = true;
  std::optional<std::string> osrelease;

  void Hole(const Placed& r, absl::string_view why) {
    missing.push_back(absl::StrCat("region ", Describe(r), " ", why,
                                   ": served as a hole at its own place, later regions do not move"));
    pristine = false;
  }
};

std::string TextOf(const std::string& bytes) {
  // Region 2 is vmcoreinfo_data as registered: the text, then zeros up to ALIGN(size, 4).
  return bytes.substr(0, bytes.find('\0'));
}

// Reads up to `limit` bytes from the start of `src`.
absl::StatusOr<std::string> ReadHead(const io::ByteSource& src, uint64_t size, uint64_t limit) {
  std::string out(std::min(size, limit), '\0');
  KCOREFS_RETURN_IF_ERROR(
      src.ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), out.size())));
  return out;
}

class DirectoryAssembler {
 public:
  DirectoryAssembler(const std::string& dir, const Listing& listing, FileCache& cache, bool verify)
      : dir_(dir), listing_(listing), cache_(cache), verify_(verify) {}

  absl::StatusOr<Assembly> Run() {
    for (const auto& [name, info] : listing_) {
      if (absl::StartsWith(name, "md_encr_key_")) {
        return absl::FailedPreconditionError(absl::StrCat(
            dir_, " holds ", name, ": the device saved its regions encrypted, and kcorefs does not "
            "decrypt them. Decrypt the set with the device vendor's tools and mount the plaintext "
            "regions"));
      }
    }
    KCOREFS_RETURN_IF_ERROR(ReadMetadata());
    KCOREFS_RETURN_IF_ERROR(AddRegionFiles());
    KCOREFS_RETURN_IF_ERROR(CheckUnique());
    if (verify_) KCOREFS_RETURN_IF_ERROR(ComputeDigests());
    AssignRoles();
    KCOREFS_RETURN_IF_ERROR(ReadHeader());
    KCOREFS_RETURN_IF_ERROR(ReadVmcoreinfo());
    if (header_) {
      KCOREFS_RETURN_IF_ERROR(PlaceByHeader());
    } else {
      KCOREFS_RETURN_IF_ERROR(PlaceByMetadata());
    }
    out_.format = absl::StrCat("kmemdump region set (", out_.regions.size(), " regions; ",
                               header_ ? "header region" : "header synthesized",
                               meta_.empty() ? "" : "; ", meta_, ")");
    return std::move(out_);
  }

 private:
  bool Has(const std::string& name) const { return listing_.contains(name); }
  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  absl::Status ReadMetadata() {
    if (Has(kManifest)) {
      meta_ = kManifest;
      KCOREFS_ASSIGN_OR_RETURN(std::string text, io::ReadSmallFile(Path(kManifest), 64 << 20));
      KCOREFS_ASSIGN_OR_RETURN(kmemdump::Manifest m, kmemdump::ParseManifest(text, Path(kManifest)));
      if (m.machine) {
        if (*m.machine == "x86_64") out_.e_machine = EM_X86_64;
        else if (*m.machine == "aarch64") out_.e_machine = EM_AARCH64;
        else return absl::InvalidArgumentError(absl::StrCat(Path(kManifest), ": \"machine\" \"", *m.machine, "\" is not x86_64 or aarch64"));
      }
      out_.osrelease = m.osrelease;
      specs_ = std::move(m.regions);
    } else if (Has(kDumpInfo)) {
      meta_ = kDumpInfo;
      KCOREFS_ASSIGN_OR_RETURN(std::string text, io::ReadSmallFile(Path(kDumpInfo), 64 << 20));
      KCOREFS_ASSIGN_OR_RETURN(specs_, kmemdump::ParseDumpInfo(text, Path(kDumpInfo)));
    } else if (Has(kLoadCmm)) {
      meta_ = kLoadCmm;
      KCOREFS_ASSIGN_OR_RETURN(std::string text, io::ReadSmallFile(Path(kLoadCmm), 64 << 20));
      KCOREFS_ASSIGN_OR_RETURN(specs_, kmemdump::ParseLoadCmm(text, Path(kLoadCmm)));
    }
    return absl::OkStatus();
  }

  // md_K files the metadata does not name are regions too (their id is in the name).
  absl::Status AddRegionFiles() {
    std::set<std::string> named;
    for (RegionSpec& s : specs_) {
      if (!s.file.empty()) named.insert(s.file);
      if (!s.id && !s.file.empty()) {
        if (auto p = kmemdump::ParseRegionFileName(s.file)) s.id = p->id;
      }
    }
    for (const auto& [name, info] : listing_) {
      if (named.contains(name)) continue;
      auto p = kmemdump::ParseRegionFileName(name);
      if (!p) continue;
      RegionSpec s;
      s.file = name;
      s.name = p->name;
      s.id = p->id;
      s.origin = Path(name);
      from_names_ = true;
      specs_.push_back(std::move(s));
    }
    if (specs_.empty()) {
      return absl::NotFoundError(absl::StrCat(
          dir_, " holds no region files (md_K<name><id>.BIN), ", kManifest, ", ", kDumpInfo, ", ",
          kLoadCmm, " or ", kMinidumpElf, ": not a kmemdump region set"));
    }
    return absl::OkStatus();
  }

  // Every digest the manifest asks to check, at once (see FileCache::ComputeSha256); Bind
  // reads the verdicts. Bind's conditions for checking are these: a sha256, a file in the
  // listing, not empty.
  absl::Status ComputeDigests() {
    std::vector<std::string> names;
    for (const RegionSpec& s : specs_) {
      auto it = s.sha256 && !s.file.empty() ? listing_.find(s.file) : listing_.end();
      if (it == listing_.end() || it->second.size == 0) continue;
      KCOREFS_RETURN_IF_ERROR(cache_.Get(dir_, it->first, it->second).status());
      names.push_back(it->first);
    }
    cache_.ComputeSha256(names);
    return absl::OkStatus();
  }

  absl::Status CheckUnique() {
    absl::flat_hash_map<uint64_t, size_t> ids;
    absl::flat_hash_map<std::string, size_t> files;
    for (size_t i = 0; i < specs_.size(); ++i) {
      const RegionSpec& s = specs_[i];
      if (s.id) {
        auto [it, fresh] = ids.emplace(*s.id, i);
        if (!fresh) {
          return absl::InvalidArgumentError(absl::StrCat(
              "regions ", specs_[it->second].origin, " and ", s.origin, " both have id ", *s.id,
              ": a region set has one region per id; remove the wrong one"));
        }
      }
      if (!s.file.empty()) {
        auto [it, fresh] = files.emplace(s.file, i);
        if (!fresh) {
          return absl::InvalidArgumentError(absl::StrCat(
              specs_[it->second].origin, " and ", s.origin, " both name the file ", s.file));
        }
      }
    }
    return absl::OkStatus();
  }

  void AssignRoles() {
    for (RegionSpec& s : specs_) {
      if (s.role) continue;
      std::string lower = absl::AsciiStrToLower(s.name);
      if ((s.id && *s.id == 1) || lower == "elf" || lower == "kelf") s.role = Role::kElfHeader;
      else if ((s.id && *s.id == 2) || absl::StartsWith(lower, "vmcorein") ||
               absl::StartsWith(lower, "kvmcorein")) s.role = Role::kVmcoreinfo;
      else s.role = Role::kLoad;
    }
  }

  const RegionSpec* FindRole(Role role) const {
    for (const RegionSpec& s : specs_) {
      if (s.role == role) return &s;
    }
    return nullptr;
  }

  absl::Status ReadHeader() {
    const RegionSpec* h = FindRole(Role::kElfHeader);
    if (h == nullptr) return absl::OkStatus();
    header_spec_ = h;
    auto it = listing_.find(h->file);
    if (h->file.empty() || it == listing_.end()) {
      out_.warnings.push_back(absl::StrCat("the header region (", h->origin, ") has no file",
                                           "; the program headers are rebuilt from ", meta_.empty() ? "nothing" : meta_));
      return absl::OkStatus();
    }
    if (it->second.size > kHeaderLimit) {
      return absl::InvalidArgumentError(absl::StrCat(Path(h->file), " is ", it->second.size,
                                                     " bytes: not a coreimage header region"));
    }
    KCOREFS_ASSIGN_OR_RETURN(std::string bytes, io::ReadSmallFile(Path(h->file), kHeaderLimit));
    auto parsed = kmemdump::ParseHeaderRegion(bytes, false, Path(h->file));
    if (!parsed.ok()) {
      if (!AllLoadsAddressed()) {
        return base::Annotate(parsed.status(), absl::StrCat(
            "and without it nothing says where the regions belong; give ", kManifest, " or ", kDumpInfo));
      }
      out_.warnings.push_back(absl::StrCat(parsed.status().message(), "; the header is synthesized from ", meta_));
      return absl::OkStatus();
    }
    header_ = std::move(*parsed);
    if (header_->e_machine != EM_X86_64 && header_->e_machine != EM_AARCH64) {
      return absl::InvalidArgumentError(absl::StrCat(Path(h->file), ": e_machine ", header_->e_machine,
                                                     " is neither x86_64 nor aarch64"));
    }
    out_.e_machine = header_->e_machine;
    out_.header = std::move(bytes);
    out_.phdr_slots = header_->phdr_slots;
    return absl::OkStatus();
  }

  bool AllLoadsAddressed() const {
    bool any = false;
    for (const RegionSpec& s : specs_) {
      if (s.role != Role::kLoad) continue;
      if (!s.paddr) return false;
      any = true;
    }
    return any;
  }

  // Binds `r` to `spec`'s file: present, short, long or missing.
  absl::Status Bind(Placed& r, const RegionSpec* spec) {
    if (spec != nullptr) {
      if (!spec->name.empty()) r.name = spec->name;
      if (spec->id) r.id = *spec->id;
      if (!r.vaddr && spec->vaddr) r.vaddr = spec->vaddr;
      r.file = spec->file;
    }
    auto it = spec == nullptr || spec->file.empty() ? listing_.end() : listing_.find(spec->file);
    if (it == listing_.end()) {
      out_.Hole(r, spec == nullptr ? "has no file in the set" : "is missing");
      return absl::OkStatus();
    }
    if (it->second.size == 0) {
      out_.Hole(r, "is an empty (0-byte) file");
      return absl::OkStatus();
    }
    KCOREFS_ASSIGN_OR_RETURN(auto source, cache_.Get(dir_, it->first, it->second));
    if (verify_ && spec != nullptr && spec->sha256) {
      // Checked before anything is served: a file that is not the bytes the manifest
      // describes (a copy cut short, another capture's file) would be wrong bytes.
      absl::StatusOr<std::string> d = cache_.Sha256(it->first);
      if (!d.ok()) {
        out_.Hole(r, absl::StrCat("could not be checked against ", kManifest, "'s sha256 (",
                                  d.status().message(), ")"));
        return absl::OkStatus();
      }
      if (*d != *spec->sha256) {
        out_.Hole(r, absl::StrCat("has sha256 ", *d, ", not the ", *spec->sha256, " ", kManifest,
                                  " records (not the bytes the manifest describes; -o verify=no "
                                  "serves it anyway)"));
        return absl::OkStatus();
      }
    }
    r.source = std::move(source);
    r.data = std::min(it->second.size, r.size);
    if (it->second.size > r.size) {
      out_.warnings.push_back(absl::StrCat(Path(it->first), " holds ", it->second.size,
                                           " bytes, more than the ", r.size, " bytes region ", r.name,
                                           " takes; the bytes past them are not served"));
      out_.pristine = false;
    } else if (it->second.size < r.size) {
      out_.Hole(r, absl::StrCat("is short (", it->second.size, " bytes of ", r.size, ")"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadVmcoreinfo() {
    const RegionSpec* v = FindRole(Role::kVmcoreinfo);
    Placed& r = out_.vmcoreinfo;
    r.name = "vmcoreinfo";
    r.id = 2;
    if (v != nullptr && v->paddr) r.paddr = *v->paddr;
    auto it = v == nullptr || v->file.empty() ? listing_.end() : listing_.find(v->file);
    uint64_t file_size = it == listing_.end() ? 0 : it->second.size;
    r.size = header_ ? header_->vmcoreinfo_size : base::AlignUp(v && v->size ? *v->size : file_size, 4);
    if (it == listing_.end()) {
      out_.warnings.push_back("the VMCOREINFO region (region 2) is missing; give the kernel's text with --vmcoreinfo FILE");
      out_.pristine = false;
      return absl::OkStatus();
    }
    if (file_size > kVmcoreinfoLimit) {
      return absl::InvalidArgumentError(absl::StrCat(Path(it->first), " is ", file_size,
                                                     " bytes: too large for a VMCOREINFO region"));
    }
    KCOREFS_RETURN_IF_ERROR(Bind(r, v));
    r.name = "vmcoreinfo";
    if (r.source) {
      KCOREFS_ASSIGN_OR_RETURN(std::string bytes, ReadHead(*r.source, r.data, kVmcoreinfoLimit));
      out_.vmcoreinfo_text = TextOf(bytes);
    }
    return absl::OkStatus();
  }

  absl::Status PlaceByHeader() {
    absl::flat_hash_map<uint64_t, const RegionSpec*> by_paddr;
    std::vector<const RegionSpec*> loads;
    for (const RegionSpec& s : specs_) {
      if (s.role != Role::kLoad) continue;
      loads.push_back(&s);
      if (!s.paddr) continue;
      auto [it, fresh] = by_paddr.emplace(*s.paddr, &s);
      if (!fresh) {
        return absl::InvalidArgumentError(absl::StrCat(it->second->origin, " and ", s.origin,
                                                       " both place a region at physical ", Hex(*s.paddr)));
      }
    }
    const bool by_address = !by_paddr.empty();
    std::vector<const RegionSpec*> order;  // the spec each program header gets, or null
    if (by_address) {
      for (const kmemdump::HeaderLoad& hl : header_->loads) {
        auto it = by_paddr.find(hl.paddr);
        order.push_back(it == by_paddr.end() ? nullptr : it->second);
        if (it != by_paddr.end()) by_paddr.erase(it);
      }
    } else {
      order = MatchByOrder(loads);
    }
    uint64_t expect = header_->size + header_->vmcoreinfo_size;
    for (size_t i = 0; i < header_->loads.size(); ++i) {
      const kmemdump::HeaderLoad& hl = header_->loads[i];
      Placed r = FromHeaderLoad(hl);
      if (hl.offset != expect) offsets_wrong_ = true;
      expect += hl.memsz;
      if (order[i] != nullptr && order[i]->size && base::AlignUp(*order[i]->size, 4) != hl.memsz) {
        out_.warnings.push_back(absl::StrCat(order[i]->origin, " says ", *order[i]->size,
                                             " bytes, the header's program header ", hl.index, " ",
                                             hl.memsz, "; the header's size is used"));
      }
      KCOREFS_RETURN_IF_ERROR(Bind(r, order[i]));
      out_.regions.push_back(std::move(r));
    }
    if (offsets_wrong_) {
      out_.warnings.push_back(absl::StrCat(
          "the header region's p_offset values do not follow its regions (a region was unregistered "
          "after it was written?); kcorefs places every region itself"));
      out_.pristine = false;
    }
    // Regions with an address the header does not list (registered after it was saved).
    for (const RegionSpec* s : loads) {
      if (!s->paddr || !by_paddr.contains(*s->paddr)) continue;
      Placed r;
      r.paddr = *s->paddr;
      r.size = base::AlignUp(s->size.value_or(FileSize(s->file)), 4);
      out_.warnings.push_back(absl::StrCat(s->origin, ": region at physical ", Hex(r.paddr),
                                           " is not in the header's program headers; placed after them"));
      out_.pristine = false;
      KCOREFS_RETURN_IF_ERROR(Bind(r, s));
      out_.regions.push_back(std::move(r));
    }
    return absl::OkStatus();
  }

  uint64_t FileSize(const std::string& file) const {
    auto it = listing_.find(file);
    return it == listing_.end() ? 0 : it->second.size;
  }

  // Without addresses in metadata: the files in id order against the program headers in
  // order, each file's size confirming its match (region sizes are ALIGN(size, 4), as the
  // header's p_memsz). A program header no file fits is a missing region.
  std::vector<const RegionSpec*> MatchByOrder(std::vector<const RegionSpec*> files) {
    std::sort(files.begin(), files.end(), [](const RegionSpec* a, const RegionSpec* b) {
      return a->id.value_or(~uint64_t{0}) < b->id.value_or(~uint64_t{0});
    });
    const auto& loads = header_->loads;
    std::vector<const RegionSpec*> order(loads.size(), nullptr);
    constexpr size_t kLookahead = 64;  // bounds the work on a hostile set
    size_t f = 0;
    for (size_t j = 0; j < loads.size() && f < files.size(); ++j) {
      while (f < files.size()) {
        uint64_t size = FileSize(files[f]->file);
        if (size == loads[j].memsz) {
          order[j] = files[f++];
          break;
        }
        // Does this file fit a later program header? Then header j's region is missing.
        bool later = false;
        for (size_t k = j + 1; k < loads.size() && k <= j + kLookahead; ++k) {
          if (loads[k].memsz == size) later = true;
        }
        if (later) break;
        // Does a later file fit header j? Then this file is not one of the header's.
        bool other = false;
        for (size_t g = f + 1; g < files.size() && g <= f + kLookahead; ++g) {
          if (FileSize(files[g]->file) == loads[j].memsz) other = true;
        }
        if (other) {
          out_.warnings.push_back(absl::StrCat(Path(files[f]->file), " (", size,
                                               " bytes) fits no program header of the header region; not served"));
          ++f;
          continue;
        }
        order[j] = files[f++];  // the sizes disagree: Bind() reports short or long
        break;
      }
    }
    for (; f < files.size(); ++f) {
      out_.warnings.push_back(absl::StrCat(Path(files[f]->file), " matches no program header of the header region; not served"));
    }
    out_.warnings.push_back(absl::StrCat("regions were matched to files by id order and size; a ",
                                         kManifest, " or ", kDumpInfo, " lets kcorefs match them by physical address"));
    return order;
  }

  absl::Status PlaceByMetadata() {
    out_.pristine = false;
    bool any = false;
    for (const RegionSpec& s : specs_) {
      if (s.role != Role::kLoad) continue;
      if (!s.paddr) {
        out_.warnings.push_back(absl::StrCat(s.origin, ": no physical address; not served"));
        continue;
      }
      any = true;
      Placed r;
      r.paddr = *s.paddr;
      r.vaddr = s.vaddr;
      r.size = base::AlignUp(s.size.value_or(FileSize(s.file)), 4);
      KCOREFS_RETURN_IF_ERROR(Bind(r, &s));
      out_.regions.push_back(std::move(r));
    }
    if (!any) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir_, ": no header region (md_KELF1.BIN) and no region with a physical address; give ",
          kManifest, " or ", kDumpInfo));
    }
    return absl::OkStatus();
  }

  const std::string& dir_;
  const Listing& listing_;
  FileCache& cache_;
  const bool verify_;
  std::vector<RegionSpec> specs_;
  std::string meta_;
  bool from_names_ = false;
  const RegionSpec* header_spec_ = nullptr;
  std::optional<HeaderRegion> header_;
  bool offsets_wrong_ = false;
  Assembly out_;
};

// A single assembled minidump.elf (QDL's sahara_build_minidump_elf): the header region,
// VMCOREINFO, then the regions in program header order. QDL skips a missing region without
// padding, so every later region sits earlier than the header says; the layout is
// recomputed here and a file too short by exactly one region's size is repaired.
absl::StatusOr<Assembly> AssembleMinidumpElf(const std::string& path,
                                             std::shared_ptr<const io::ByteSource> file) {
  const uint64_t size = file->size();
  KCOREFS_ASSIGN_OR_RETURN(std::string head, ReadHead(*file, size, kHeaderLimit));
  KCOREFS_ASSIGN_OR_RETURN(HeaderRegion h, kmemdump::ParseHeaderRegion(head, true, path));
  if (h.e_machine != EM_X86_64 && h.e_machine != EM_AARCH64) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": e_machine ", h.e_machine,
                                                   " is neither x86_64 nor aarch64"));
  }
  Assembly out;
  out.e_machine = h.e_machine;
  out.header = head.substr(0, h.size);
  out.phdr_slots = h.phdr_slots;
  out.format = absl::StrCat("kmemdump minidump.elf (", h.loads.size(), " regions)");
  Placed& v = out.vmcoreinfo;
  v.name = "vmcoreinfo";
  v.id = 2;
  v.size = h.vmcoreinfo_size;
  v.source = file;
  v.offset = h.size;
  v.data = size > h.size ? std::min(size - h.size, v.size) : 0;
  std::string vmci(v.data, '\0');
  KCOREFS_RETURN_IF_ERROR(file->ReadAt(h.size, absl::MakeSpan(reinterpret_cast<uint8_t*>(vmci.data()), vmci.size())));
  out.vmcoreinfo_text = TextOf(vmci);

  uint64_t expect_end = h.size + h.vmcoreinfo_size;
  bool offsets_wrong = false;
  for (const kmemdump::HeaderLoad& hl : h.loads) {
    if (hl.offset != expect_end) offsets_wrong = true;
    auto end = base::CheckedAdd(expect_end, hl.memsz);
    if (!end) return absl::InvalidArgumentError(absl::StrCat(path, ": region sizes overflow"));
    expect_end = *end;
  }
  // Which region QDL left out, when the file is short: only one of exactly the missing size
  // can be told; otherwise regions from the first that could be missing are not served.
  const uint64_t short_by = size < expect_end ? expect_end - size : 0;
  std::optional<size_t> skipped;
  size_t first_unsure = h.loads.size();
  if (short_by > 0) {
    std::vector<size_t> fits;
    for (size_t i = 0; i < h.loads.size(); ++i) {
      if (h.loads[i].memsz == short_by) fits.push_back(i);
      if (h.loads[i].memsz <= short_by && first_unsure == h.loads.size()) first_unsure = i;
    }
    if (fits.size() == 1) {
      skipped = fits[0];
      first_unsure = h.loads.size();
      out.warnings.push_back(absl::StrCat(path, " is ", short_by, " bytes shorter than its header says, "
                                          "the size of program header ", h.loads[fits[0]].index,
                                          "'s region alone: that region was left out when the file was "
                                          "assembled, and the regions after it are read from where they are"));
    } else {
      out.warnings.push_back(absl::StrCat(path, " is ", short_by, " bytes shorter than its header says and "
                                          "kcorefs cannot tell which regions were left out; regions from "
                                          "program header ", first_unsure < h.loads.size() ? h.loads[first_unsure].index : 0,
                                          " on are not served (mount the region directory instead)"));
    }
  } else if (size > expect_end) {
    out.warnings.push_back(absl::StrCat(path, " has ", size - expect_end, " bytes past its last region; not served"));
  }
  if (offsets_wrong) {
    out.warnings.push_back(absl::StrCat(path, ": the header's p_offset values do not follow its regions; "
                                        "kcorefs places every region itself"));
    out.pristine = false;
  }
  uint64_t pos = h.size + h.vmcoreinfo_size;
  for (size_t i = 0; i < h.loads.size(); ++i) {
    const kmemdump::HeaderLoad& hl = h.loads[i];
    Placed r = FromHeaderLoad(hl);
    r.file = path;
    if ((skipped && i == *skipped) || i >= first_unsure) {
      out.Hole(r, skipped && i == *skipped ? "is not in the file" : "cannot be located in the file");
    } else {
      r.source = file;
      r.offset = pos;
      r.data = pos < size ? std::min(size - pos, r.size) : 0;
      if (r.data < r.size) out.Hole(r, "is cut short by the end of the file");
      if (r.data == 0) r.source = nullptr;
      pos += r.size;
    }
    out.regions.push_back(std::move(r));
  }
  return out;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// The snapshot of an assembly: the regions at their physical addresses; those in the
// kernel image also at their virtual address and again at their link-time address (gdb
// reads vmlinux symbols there); the coreimage layout for the coreimage view.
absl::StatusOr<std::shared_ptr<const Snapshot>> MakeSnapshot(const std::string& source,
                                                             Assembly a, uint64_t epoch,
                                                             int64_t mtime, bool section_names,
                                                             const kernel::DeriveOptions& derive) {
  KCOREFS_ASSIGN_OR_RETURN(const kernel::Arch* arch, kernel::LookupArch(a.e_machine));
  std::vector<std::string> warnings = std::move(a.warnings);
  for (size_t i = 0; i < a.missing.size() && i < kNamedWarnings; ++i) warnings.push_back(a.missing[i]);
  if (a.missing.size() > kNamedWarnings) {
    warnings.push_back(absl::StrCat(a.missing.size() - kNamedWarnings, " more regions are holes (`kcorefs info` lists the set)"));
  }
  kernel::KernelHints hints;
  hints.arch = arch;
  if (a.vmcoreinfo_text && !a.vmcoreinfo_text->empty()) {
    hints.vmcoreinfo = *a.vmcoreinfo_text;
    hints.vmcoreinfo_origin = "the VMCOREINFO region";
  }
  std::optional<kernel::Vmcoreinfo> vmci;
  if (derive.vmcoreinfo_override) {
    if (auto p = kernel::Vmcoreinfo::Parse(*derive.vmcoreinfo_override); p.ok()) vmci = std::move(*p);
  } else if (hints.vmcoreinfo) {
    if (auto p = kernel::Vmcoreinfo::Parse(*hints.vmcoreinfo); p.ok()) vmci = std::move(*p);
  }
  if (vmci && a.osrelease && vmci->Get("OSRELEASE") != *a.osrelease) {
    warnings.push_back(absl::StrCat("the manifest's kernel.osrelease \"", *a.osrelease,
                                    "\" is not VMCOREINFO's OSRELEASE \"", vmci->Get("OSRELEASE").value_or(""), "\""));
  }
  const uint64_t kaslr = vmci ? vmci->GetHex("KERNELOFFSET").value_or(0) : 0;

  // Physical segments, sorted; a range two regions claim is served from the first.
  std::vector<const Placed*> by_paddr;
  for (const Placed& r : a.regions) {
    if (r.source && r.data > 0) by_paddr.push_back(&r);
  }
  std::stable_sort(by_paddr.begin(), by_paddr.end(),
                   [](const Placed* x, const Placed* y) { return x->paddr < y->paddr; });
  std::vector<mem::Segment> phys;
  phys.reserve(by_paddr.size());
  uint64_t covered = 0;
  const Placed* last = nullptr;
  size_t overlaps = 0;
  for (const Placed* r : by_paddr) {
    uint64_t start = r->paddr, skip = 0;
    if (last != nullptr && start < covered) {
      if (++overlaps <= kNamedWarnings) {
        warnings.push_back(absl::StrCat("region ", Describe(*r), " overlaps region ", Describe(*last),
                                        " physically; vmcore and kcore serve the overlap from the latter"));
      }
      skip = std::min(covered - start, r->size);
      start += skip;
    }
    if (skip < r->size) {
      uint64_t data = r->data > skip ? r->data - skip : 0;
      phys.push_back(mem::Segment{start, r->size - skip, data, data ? r->source : nullptr,
                                  r->offset + skip});
    }
    if (r->paddr + r->size > covered) {
      covered = r->paddr + r->size;
      last = r;
    }
  }
  if (overlaps > kNamedWarnings) warnings.push_back(absl::StrCat(overlaps - kNamedWarnings, " more overlaps"));

  // Kernel-image regions virtually, at runtime and link-time addresses; the direct-map
  // base from the direct-map regions (their most common vaddr - paddr).
  std::vector<mem::Segment> virt;
  absl::flat_hash_map<uint64_t, size_t> bases;
  for (const Placed* r : by_paddr) {
    if (!r->vaddr) continue;
    auto cls = arch->classify_segment(*arch, *r->vaddr, r->paddr);
    if (!cls.ok()) continue;
    if (*cls == kernel::SegmentClass::kKernelImage) {
      virt.push_back(mem::Segment{*r->vaddr, r->size, r->data, r->source, r->offset});
      if (kaslr != 0 && *r->vaddr - kaslr < *r->vaddr) {
        virt.push_back(mem::Segment{*r->vaddr - kaslr, r->size, r->data, r->source, r->offset});
      }
    } else if (*cls == kernel::SegmentClass::kDirectMapRam && (*r->vaddr - r->paddr) % (1ull << 30) == 0) {
      bases[*r->vaddr - r->paddr]++;
    }
  }
  std::sort(virt.begin(), virt.end(), [](const mem::Segment& x, const mem::Segment& y) { return x.start < y.start; });
  std::vector<mem::Segment> vkept;
  size_t vdrop = 0;
  for (mem::Segment& s : virt) {
    if (!vkept.empty() && s.start < vkept.back().end()) {
      ++vdrop;
      continue;
    }
    vkept.push_back(std::move(s));
  }
  if (vdrop > 0) {
    warnings.push_back(absl::StrCat(vdrop, " kernel-image regions overlap another's runtime or link-time "
                                    "address and are mapped once only; in gdb use symbol-file -o ", Hex(kaslr)));
  }
  for (const Placed& r : a.regions) {
    // The variable itself is the most direct statement of the base.
    if (r.name == "page_offset_base" && r.source && r.data >= 8) {
      uint64_t v = 0;
      if (r.source->ReadAt(r.offset, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 8)).ok() &&
          v % (1ull << 30) == 0 && v != 0) {
        bases.clear();
        bases[v] = 1;
        break;
      }
    }
  }
  if (!bases.empty()) {
    auto best = std::max_element(bases.begin(), bases.end(),
                                 [](const auto& x, const auto& y) { return x.second < y.second; });
    hints.direct_map_base = best->first;
  }
  // x86_64: the image at _text (its 2 MiB page) with no bytes of its own: the regions are
  // served where they are, and crash, makedumpfile and the kcore view still find the image's
  // place (phys_base) from it.
  if (arch->e_machine == EM_X86_64 && vmci) {
    auto stext = vmci->GetHex("SYMBOL(_stext)");
    auto phys_base = vmci->GetDecimal("NUMBER(phys_base)");
    constexpr uint64_t kStartKernelMap = 0xffffffff80000000ull;
    if (stext && phys_base && *stext >= kStartKernelMap) {
      uint64_t text = base::AlignDown(*stext, 2ull << 20);
      hints.image = kernel::ImageRange{text, text - kStartKernelMap + static_cast<uint64_t>(*phys_base), 0};
    }
  }
  KCOREFS_ASSIGN_OR_RETURN(mem::MemoryMap map, mem::MemoryMap::Create(std::move(phys), std::move(vkept)));
  SnapshotParts parts{std::move(map), std::move(hints), std::move(warnings), a.format, epoch, mtime};
  KCOREFS_ASSIGN_OR_RETURN(auto built, BuildSnapshot(source, std::move(parts), derive));
  auto snap = std::make_shared<Snapshot>(*built);
  auto image = std::make_shared<RegionImage>();
  image->e_machine = a.e_machine;
  image->header = std::move(a.header);
  image->phdr_slots = a.phdr_slots;
  auto convert = [](const Placed& r) {
    return ImageRegion{r.name, r.id, r.vaddr.value_or(0), r.paddr, r.size, r.source ? r.data : 0,
                       r.flags, r.source, r.offset};
  };
  image->vmcoreinfo = convert(a.vmcoreinfo);
  image->regions.reserve(a.regions.size());
  for (const Placed& r : a.regions) image->regions.push_back(convert(r));
  // Names only where the file differs from the kernel's anyway, unless asked: a complete
  // set stays byte-identical to its regions concatenated.
  image->section_names = section_names || !a.pristine || image->header.empty();
  snap->region_image = std::move(image);
  snap->extra_views.push_back("coreimage");
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

// Lets the process hold one fd per region file (a 10,000-region set).
void RaiseFdLimit(size_t want) {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want + 256) return;
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, want + 256);
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

enum class SectionNames { kAuto, kYes, kNo };

class KmemdumpBackend final : public Backend {
 public:
  KmemdumpBackend(std::string source, std::string dir, bool section_names, bool verify,
                  kernel::DeriveOptions derive)
      : source_(std::move(source)), dir_(std::move(dir)), section_names_(section_names),
        verify_(verify), derive_(std::move(derive)) {}

  absl::string_view name() const override { return "kmemdump"; }
  const std::string& source() const override { return source_; }
  Capabilities capabilities() const override {
    // A watched directory is served without the page cache: it is one per inode, so pages
    // a new epoch's open brought in would be seen by handles still on the old epoch.
    return Capabilities{.bytes_volatile = watch_.valid(), .map_volatile = watch_.valid(),
                        .threads = ThreadModel::kParallel, .fd_backed = true};
  }
  uint64_t bytes_read() const override {
    absl::MutexLock lock(&mu_);
    return single_ ? single_->bytes_read() : cache_.bytes_read();
  }
  std::vector<std::pair<std::string, std::string>> Stats() const override {
    absl::MutexLock lock(&mu_);
    return {{"kmemdump_regions", absl::StrCat(regions_)}, {"kmemdump_holes", absl::StrCat(holes_)},
            {"kmemdump_rescans", absl::StrCat(rescans_)}};
  }

  absl::Status OpenSingle(std::shared_ptr<const io::ByteSource> file, int64_t mtime) {
    KCOREFS_ASSIGN_OR_RETURN(Assembly a, AssembleMinidumpElf(source_, file));
    single_ = std::move(file);
    Count(a);
    KCOREFS_ASSIGN_OR_RETURN(snap_, MakeSnapshot(source_, std::move(a), 1, mtime, section_names_, derive_));
    return absl::OkStatus();
  }

  absl::Status OpenDirectory(bool watch) {
    if (watch) {
      // The kernel's own update_elfheader/clear_elfheader, in userspace: a region file
      // added, removed or rewritten gives a new epoch (Current() reads the events).
      watch_ = base::UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
      if (watch_.valid() &&
          ::inotify_add_watch(watch_.get(), dir_.c_str(),
                              IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                                  IN_ATTRIB | IN_DELETE_SELF) < 0) {
        base::LogWarning(absl::StrCat("cannot watch ", dir_, ": ", std::strerror(errno),
                                      "; region files added later are not seen"));
        watch_ = base::UniqueFd();
      }
    }
    absl::MutexLock lock(&mu_);
    return Rescan(/*first=*/true);
  }

  // Opens every region file in the background once the mount is up (see LazyFileSource).
  absl::Status Start() override {
    std::vector<std::shared_ptr<const LazyFileSource>> files;
    {
      absl::MutexLock lock(&mu_);
      files = cache_.All();
    }
    opener_ = std::thread([files = std::move(files), this] {
      for (const auto& f : files) {
        if (stop_.load()) return;
        absl::Status s = f->Prefetch();
        if (!s.ok()) base::LogWarning(s.message());
      }
    });
    return absl::OkStatus();
  }
  void Close() override {
    stop_.store(true);
    if (opener_.joinable()) opener_.join();
  }
  ~KmemdumpBackend() override { Close(); }

  absl::StatusOr<std::shared_ptr<const Snapshot>> Current() override {
    absl::MutexLock lock(&mu_);
    if (watch_.valid() && Drain()) {
      absl::Status s = Rescan(/*first=*/false);
      if (!s.ok()) {
        // A set caught mid-copy (a half-written manifest): the last good epoch stays.
        base::LogWarning(absl::StrCat(dir_, " changed, but ", s.message(),
                                      "; still serving epoch ", snap_->epoch));
      }
    }
    return snap_;
  }

 private:
  // Reads all pending events; true when there were any.
  bool Drain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    alignas(struct inotify_event) char buf[8192];
    bool any = false;
    while (true) {
      ssize_t n = ::read(watch_.get(), buf, sizeof(buf));
      if (n <= 0) break;
      any = true;
    }
    return any;
  }

  void Count(const Assembly& a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    regions_ = a.regions.size();
    holes_ = a.missing.size();
  }

  absl::Status Rescan(bool first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    KCOREFS_ASSIGN_OR_RETURN(Listing listing, ListDirectory(dir_));
    if (!first && listing == listing_) return absl::OkStatus();
    ++rescans_;
    RaiseFdLimit(listing.size());
    KCOREFS_ASSIGN_OR_RETURN(Assembly a, DirectoryAssembler(dir_, listing, cache_, verify_).Run());
    int64_t mtime = 0;
    for (const auto& [name, info] : listing) mtime = std::max(mtime, info.mtime_ns / 1000000000);
    uint64_t epoch = snap_ == nullptr ? 1 : snap_->epoch + 1;
    if (!first) mtime = std::max(mtime, Now());
    Count(a);
    KCOREFS_ASSIGN_OR_RETURN(auto snap, MakeSnapshot(source_, std::move(a), epoch, mtime, section_names_, derive_));
    if (!first) {
      base::LogInfo(absl::StrCat(dir_, ": the region set changed; epoch ", epoch, " has ", regions_,
                                 " regions, ", holes_, " of them holes"));
      for (const std::string& w : snap->warnings) base::LogWarning(w);
    }
    snap_ = std::move(snap);
    listing_ = std::move(listing);
    cache_.Retain(listing_);
    // Files of a later epoch are opened now, so that removing one later still leaves the
    // bytes to the handles that opened this epoch (the first epoch's: Start()).
    if (!first) {
      for (const auto& f : cache_.All()) {
        if (absl::Status s = f->Prefetch(); !s.ok()) base::LogWarning(s.message());
      }
    }
    return absl::OkStatus();
  }

  const std::string source_;
  const std::string dir_;
  const bool section_names_;
  const bool verify_;
  const kernel::DeriveOptions derive_;
  base::UniqueFd watch_;
  mutable absl::Mutex mu_;
  FileCache cache_ ABSL_GUARDED_BY(mu_);
  Listing listing_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const io::ByteSource> single_;
  std::shared_ptr<const Snapshot> snap_ ABSL_GUARDED_BY(mu_);
  size_t regions_ ABSL_GUARDED_BY(mu_) = 0;
  size_t holes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rescans_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread opener_;
  std::atomic<bool> stop_{false};
};

// Names only (no stat): probing a 10,000-file directory must not cost a listing with stats.
template <typename Fn>
bool AnyName(const std::string& dir, Fn fn) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (struct dirent* e = ::readdir(d)) {
    if (fn(absl::string_view(e->d_name))) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

bool IsRegionSetDir(const std::string& dir) {
  return AnyName(dir, [](absl::string_view n) {
    return n == kManifest || n == kMinidumpElf || kmemdump::ParseRegionFileName(n).has_value();
  });
}

// A coreimage's PT_NOTE sits past a table of 201 program header slots (MEMINSPECT_ID_MAX),
// where any other ELF core starts its notes right after the ones it uses.
bool LooksLikeMinidumpElf(const ProbeInput& in) {
  if (absl::EndsWith(in.source, "/minidump.elf") || in.source == "minidump.elf") return true;
  if (in.magic.size() < sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr)) return false;
  Elf64_Ehdr eh;
  std::memcpy(&eh, in.magic.data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_type != ET_CORE ||
      eh.e_phoff != sizeof(Elf64_Ehdr) || eh.e_phnum == 0) return false;
  Elf64_Phdr ph;
  std::memcpy(&ph, in.magic.data() + sizeof(eh), sizeof(ph));
  return ph.p_type == PT_NOTE && ph.p_offset >= sizeof(eh) + 201 * sizeof(Elf64_Phdr) &&
         ph.p_offset > sizeof(eh) + (uint64_t{eh.e_phnum} + 32) * sizeof(Elf64_Phdr);
}

class KmemdumpFactory final : public BackendFactory {
 public:
  absl::string_view name() const override { return "kmemdump"; }
  absl::string_view summary() const override {
    return "a kmemdump/meminspect region set: a QDL md_K*.BIN directory or minidump.elf";
  }
  std::vector<ConfigKey> keys() const override {
    return {{"watch", "BOOL", "follow region files added to or removed from the directory (default yes)"},
            {"section_names", "auto|yes|no",
             "name the regions in coreimage section headers: auto (default) when the file differs "
             "from the kernel's own image anyway, yes always, no never"},
            {"verify", "BOOL",
             "check each region file against the sha256 kcorefs-regions.json records before "
             "serving it; a mismatch is a hole (default yes)"}};
  }
  int Probe(const ProbeInput& in) const override {
    if (in.kind == ProbeInput::Kind::kDirectory) return IsRegionSetDir(in.source) ? 20 : 0;
    // Above dumpfile's 50: a coreimage is an ELF core too, but needs this backend's rebuild.
    if (in.kind == ProbeInput::Kind::kRegular && LooksLikeMinidumpElf(in)) return 60;
    return 0;
  }
  absl::StatusOr<std::unique_ptr<Backend>> Open(const std::string& source,
                                                const BackendConfig& config) const override {
    return OpenKmemdumpBackend(source, config);
  }
};

KCOREFS_REGISTER_BACKEND(KmemdumpFactory);

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenKmemdumpBackend(const std::string& source,
                                                             const BackendConfig& config) {
  KCOREFS_ASSIGN_OR_RETURN(bool watch, config.GetBool("watch", true));
  KCOREFS_ASSIGN_OR_RETURN(bool verify, config.GetBool("verify", true));
  std::string names = config.Get("section_names").value_or("auto");
  if (names != "auto" && names != "yes" && names != "no") {
    return absl::InvalidArgumentError(absl::StrCat("option section_names=", names, ": expected auto, yes or no"));
  }
  // "no" is honoured only where the view can do without (PN_XNUM needs section 0).
  const bool section_names = names == "yes";
  std::string path = source;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("cannot open ", source));
  std::unique_ptr<KmemdumpBackend> backend;
  if (S_ISDIR(st.st_mode)) {
    const bool has_regions = AnyName(path, [](absl::string_view n) {
      return n == kManifest || n == kDumpInfo || n == kLoadCmm ||
             kmemdump::ParseRegionFileName(n).has_value();
    });
    struct stat elf;
    const bool has_elf = ::stat(absl::StrCat(path, "/", kMinidumpElf).c_str(), &elf) == 0;
    if (!has_regions && has_elf) {
      path = absl::StrCat(path, "/", kMinidumpElf);
    } else {
      backend = std::make_unique<KmemdumpBackend>(source, path, section_names, verify, config.derive);
      KCOREFS_RETURN_IF_ERROR(backend->OpenDirectory(watch));
    }
  }
  if (backend == nullptr) {
    KCOREFS_ASSIGN_OR_RETURN(auto file, io::FileByteSource::Open(path));
    if (::stat(path.c_str(), &st) != 0) return base::ErrnoError(errno, absl::StrCat("cannot open ", path));
    backend = std::make_unique<KmemdumpBackend>(path, path, section_names, verify, config.derive);
    KCOREFS_RETURN_IF_ERROR(backend->OpenSingle(std::move(file), st.st_mtim.tv_sec));
  }
  (void)names;
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kcorefs::backends
