#include "kcorefs/elf/core_view.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "elf/view_builder.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::elf {
namespace {

using base::Hex;

bool Always(const backends::Snapshot&) { return true; }

template <ViewLayout kLayout>
absl::StatusOr<std::shared_ptr<const CoreView>> BuildLayout(
    const ViewType& type, std::shared_ptr<const backends::Snapshot> snapshot) {
  return ViewBuilder(type, kLayout, std::move(snapshot)).Build();
}

// The registry. A new view is one more row (and, if it has a layout of its own, a
// builder); the mount and `kcorefs export --view` pick it up from here.
const ViewType kVmcore{"vmcore", "kdump / /proc/vmcore layout: crash, makedumpfile, drgn",
                       Always, BuildLayout<ViewLayout::kVmcore>};
const ViewType kKcore{"kcore", "/proc/kcore layout at runtime addresses: gdb, drgn", Always,
                      BuildLayout<ViewLayout::kKcore>};
const ViewType kVmcoreinfo{"vmcoreinfo", "the VMCOREINFO text as served in the notes", Always,
                           BuildLayout<ViewLayout::kVmcoreinfo>};
bool HasRegionImage(const backends::Snapshot& s) { return s.region_image != nullptr; }
const ViewType kCoreimage{"coreimage",
                          "kmemdump/meminspect coreimage layout: the region set in its own order",
                          HasRegionImage, BuildLayout<ViewLayout::kCoreimage>};
// Only with a vmlinux checked against the kernel's BUILD-ID (--vmlinux, or Debian's path).
bool HasVmlinux(const backends::Snapshot& s) { return s.facts.vmlinux != nullptr; }
const ViewType kVmlinux{"vmlinux", "the kernel's vmlinux, ET_DYN when gdb must relocate it: gdb",
                        HasVmlinux, BuildLayout<ViewLayout::kVmlinux>};

}  // namespace

const std::vector<const ViewType*>& ViewTypes() {
  static const auto* views =
      new std::vector<const ViewType*>{&kVmcore, &kKcore, &kVmcoreinfo, &kCoreimage, &kVmlinux};
  return *views;
}

const ViewType* FindViewType(absl::string_view name) {
  for (const ViewType* t : ViewTypes()) {
    if (t->name == name) return t;
  }
  return nullptr;
}

std::string ViewNames(const backends::Snapshot* snapshot) {
  std::vector<absl::string_view> names;
  for (const ViewType* t : ViewTypes()) {
    if (snapshot == nullptr || t->applies(*snapshot)) names.push_back(t->name);
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::shared_ptr<const CoreView>> CoreView::Build(
    absl::string_view name, std::shared_ptr<const backends::Snapshot> snapshot) {
  const ViewType* type = FindViewType(name);
  if (type == nullptr) {
    return absl::NotFoundError(absl::StrCat("no view named \"", name, "\"; views: ", ViewNames()));
  }
  if (!type->applies(*snapshot)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ", name, " view does not apply to this source; it has: ", ViewNames(snapshot.get())));
  }
  return type->build(*type, std::move(snapshot));
}

absl::Status CoreView::ForEachPiece(uint64_t offset, uint64_t length,
                                    absl::FunctionRef<absl::Status(const Piece&)> fn) const {
  const uint64_t end = offset + Clip(offset, length);
  // First extent that ends after `offset` (extents are sorted and disjoint, so their ends
  // are sorted too).
  auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                             [](uint64_t o, const Extent& e) { return o < e.end(); });
  uint64_t pos = offset;
  while (pos < end) {
    if (it == extents_.end() || it->offset >= end) return fn(Piece{end - pos, nullptr, 0});
    if (it->offset > pos) {
      KCOREFS_RETURN_IF_ERROR(fn(Piece{it->offset - pos, nullptr, 0}));
      pos = it->offset;
    }
    uint64_t take = std::min(it->end(), end) - pos;
    KCOREFS_RETURN_IF_ERROR(fn(Piece{take, it->source, it->source_offset + (pos - it->offset)}));
    pos += take;
    ++it;
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> CoreView::ReadAt(uint64_t offset, absl::Span<uint8_t> out,
                                        absl::Time deadline) const {
  uint64_t pos = offset;
  KCOREFS_RETURN_IF_ERROR(ForEachPiece(offset, out.size(), [&](const Piece& p) {
    uint8_t* dst = out.data() + (pos - offset);
    absl::Status s = absl::OkStatus();
    if (p.source == nullptr) {
      std::memset(dst, 0, p.length);
    } else {
      s = p.source->ReadAt(p.source_offset, absl::MakeSpan(dst, p.length), deadline);
      if (!s.ok()) s = base::Annotate(s, DescribeOffset(pos));
    }
    pos += p.length;
    return s;
  }));
  return static_cast<size_t>(pos - offset);
}

std::string CoreView::DescribeOffset(uint64_t offset) const {
  std::string out = absl::StrCat(name(), " offset ", Hex(offset));
  const std::string& h = header_->bytes();
  Elf64_Ehdr eh;
  if (h.size() < sizeof(eh) || std::memcmp(h.data(), ELFMAG, SELFMAG) != 0) return out;
  std::memcpy(&eh, h.data(), sizeof(eh));
  uint64_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM && eh.e_shoff + sizeof(Elf64_Shdr) <= h.size()) {
    Elf64_Shdr sh0;
    std::memcpy(&sh0, h.data() + eh.e_shoff, sizeof(sh0));
    phnum = sh0.sh_info;
  }
  for (uint64_t i = 0; i < phnum; ++i) {
    uint64_t at = eh.e_phoff + i * sizeof(Elf64_Phdr);
    if (at + sizeof(Elf64_Phdr) > h.size()) break;
    Elf64_Phdr ph;
    std::memcpy(&ph, h.data() + at, sizeof(ph));
    if (ph.p_type != PT_LOAD || offset < ph.p_offset || offset - ph.p_offset >= ph.p_filesz) continue;
    uint64_t delta = offset - ph.p_offset;
    absl::StrAppend(&out, " (");
    if (ph.p_paddr != mem::kNoAddr) absl::StrAppend(&out, "physical ", Hex(ph.p_paddr + delta), ", ");
    absl::StrAppend(&out, "virtual ", Hex(ph.p_vaddr + delta), ")");
    break;
  }
  return out;
}

}  // namespace kcorefs::elf
