#include "elf/view_builder.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "elf/elf_writer.h"
#include "elf/prstatus.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/kernel/vmcoreinfo.h"

namespace kcorefs::elf {
namespace {

using base::AlignUp;
using base::Hex;

// A run of physically contiguous segments served as one PT_LOAD. Only a segment whose
// bytes are all backed may be followed by another in the same run, since a PT_LOAD has
// one zero tail (p_filesz < p_memsz) at its end.
struct Run {
  size_t first;  // index into map.physical()
  size_t count;
  uint64_t start;
  uint64_t size;
  uint64_t data_size;
};

// Calls `fn` for each run, in address order. Runs are not stored: a 100,000-segment map
// would otherwise allocate (and fault in) megabytes just to be walked twice.
template <typename Fn>
void ForEachRun(const std::vector<mem::Segment>& segs, Fn fn) {
  size_t i = 0;
  while (i < segs.size()) {
    Run r{i, 1, segs[i].start, segs[i].size, segs[i].data_size};
    for (++i; i < segs.size() && r.data_size == r.size && r.start + r.size == segs[i].start; ++i) {
      r.count++;
      r.size += segs[i].size;
      r.data_size += segs[i].data_size;
    }
    fn(r);
  }
}

Elf64_Phdr Load(uint64_t offset, uint64_t vaddr, uint64_t paddr, uint64_t filesz, uint64_t memsz,
                uint64_t align) {
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_W | PF_X;
  ph.p_offset = offset;
  ph.p_vaddr = vaddr;
  ph.p_paddr = paddr;
  ph.p_filesz = filesz;
  ph.p_memsz = memsz;
  ph.p_align = align;
  return ph;
}

bool Overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
  return a < b + b_size && b < a + a_size;
}

// A kcore PT_LOAD's file offset is its virtual address minus the direct-map base, so two
// segments whose virtual ranges overlap (a corrupt or unaligned direct-map base, a
// virtual-only segment inside RAM's direct-map addresses) would claim the same file bytes
// and one would serve the other's bytes under its own addresses. Such a segment is left
// out with a warning naming both; what is kept never overlaps.
struct Claim {
  uint64_t start;
  uint64_t size;
  std::string what;
};

std::string Describe(const Claim& c) {
  return absl::StrCat(c.what, " [", Hex(c.start), ", ", Hex(c.start + c.size), ")");
}

// Warnings for dropped segments stop after this many (and say how many more).
constexpr size_t kMaxDropWarnings = 8;

class ClaimSet {
 public:
  explicit ClaimSet(std::vector<std::string>& warnings) : warnings_(warnings) {}
  ~ClaimSet() {
    if (dropped_ > kMaxDropWarnings) {
      warnings_.push_back(absl::StrCat("kcore: ", dropped_ - kMaxDropWarnings,
                                       " more overlapping segments left out"));
    }
  }
  // The first claim `c` overlaps among `fixed` (a few) and `sorted` (sorted, disjoint).
  const Claim* Conflict(const Claim& c) const {
    for (const Claim& f : fixed) {
      if (Overlaps(f.start, f.size, c.start, c.size)) return &f;
    }
    auto it = std::upper_bound(sorted.begin(), sorted.end(), c.start,
                               [](uint64_t a, const Claim& k) { return a < k.start; });
    if (it != sorted.begin() && std::prev(it)->start + std::prev(it)->size > c.start) return &*std::prev(it);
    if (it != sorted.end() && it->start < c.start + c.size) return &*it;
    return nullptr;
  }
  // Whether `c` may be placed; warns when it may not.
  bool Admit(const Claim& c) {
    if (!base::CheckedAdd(c.start, c.size)) return Drop(c, "wraps around the address space");
    if (const Claim* other = Conflict(c)) {
      return Drop(c, absl::StrCat("overlaps ", Describe(*other),
                                  ", so both would claim the same kcore file bytes"));
    }
    return true;
  }
  std::vector<Claim> fixed;   // the image and its alias
  std::vector<Claim> sorted;  // RAM, kept

 private:
  bool Drop(const Claim& c, absl::string_view why) {
    if (++dropped_ <= kMaxDropWarnings) {
      warnings_.push_back(absl::StrCat("kcore: ", Describe(c), " ", why, "; left out of kcore",
                                       absl::StartsWith(c.what, "RAM")
                                           ? " (the vmcore view still serves it by physical address)"
                                           : ""));
    }
    return false;
  }
  std::vector<std::string>& warnings_;
  size_t dropped_ = 0;
};

}  // namespace

ViewBuilder::ViewBuilder(const ViewType& type, ViewLayout layout,
                         std::shared_ptr<const backends::Snapshot> snapshot)
    : view_(new CoreView()), layout_(layout), snap_(*snapshot),
      page_(snapshot->facts.arch->page_size) {
  view_->type_ = &type;
  view_->snapshot_ = std::move(snapshot);
}

absl::StatusOr<std::shared_ptr<const CoreView>> ViewBuilder::Build() {
  switch (layout_) {
    case ViewLayout::kVmcore: BuildVmcore(); break;
    case ViewLayout::kKcore: BuildKcore(); break;
    case ViewLayout::kVmcoreinfo: BuildVmcoreinfo(); break;
  }
  if (!error_.ok()) return error_;
  return std::shared_ptr<const CoreView>(std::move(view_));
}

std::string ViewBuilder::Notes() {
  std::vector<kernel::Note> notes;
  for (const kernel::CpuState& cpu : snap_.facts.cpus) {
    auto pr = EncodePrstatus(*snap_.facts.arch, cpu);
    if (!pr.ok()) {
      // A CPU without its registers is left out rather than shown with wrong ones.
      view_->warnings_.push_back(absl::StrCat(view_->name(), ": NT_PRSTATUS of CPU ", cpu.cpu,
                                              " left out: ", pr.status().message()));
      continue;
    }
    notes.push_back({"CORE", NT_PRSTATUS, std::move(*pr)});
  }
  notes.push_back({"VMCOREINFO", 0, snap_.facts.vmcoreinfo.text()});
  return kernel::SerializeNotes(notes);
}

void ViewBuilder::AddExtent(uint64_t offset, uint64_t length, const io::ByteSource* source,
                            uint64_t source_offset) {
  if (length == 0 || source == nullptr) return;  // zeros: a gap reads as zeros
  auto& ex = view_->extents_;
  if (!ex.empty()) {
    Extent& last = ex.back();
    if (last.source == source && last.end() == offset &&
        last.source_offset + last.length == source_offset) {
      last.length += length;
      return;
    }
  }
  ex.push_back(Extent{offset, length, source, source_offset});
}

uint64_t ViewBuilder::AddPhysical(uint64_t offset, uint64_t paddr, uint64_t size) {
  const mem::MemoryMap& map = snap_.map;
  uint64_t placed = 0;
  while (placed < size) {
    uint64_t at = paddr + placed;
    int i = map.FindPhys(at);
    if (i < 0) break;
    const mem::Segment& s = map.physical()[i];
    uint64_t n = std::min(size - placed, s.end() - at);
    uint64_t in_seg = at - s.start;
    if (in_seg < s.data_size) {
      AddExtent(offset + placed, std::min(n, s.data_size - in_seg), s.source.get(),
                s.source_offset + in_seg);
    }
    placed += n;
  }
  return placed;
}

std::vector<std::pair<uint64_t, uint64_t>> ViewBuilder::ImageParts() const {
  const kernel::ImageRange& img = snap_.facts.image;
  std::vector<std::pair<uint64_t, uint64_t>> parts;
  std::optional<uint64_t> image_end = base::CheckedAdd(img.paddr, img.size);
  if (!image_end) return parts;
  const uint64_t end = *image_end;
  for (const mem::Segment& s : snap_.map.physical()) {
    if (s.end() <= img.paddr || s.start >= end) continue;
    uint64_t a = std::max(s.start, img.paddr);
    uint64_t b = std::min(s.end(), end);
    if (!parts.empty() && parts.back().first + parts.back().second == a - img.paddr) {
      parts.back().second += b - a;
    } else {
      parts.emplace_back(a - img.paddr, b - a);
    }
  }
  return parts;
}

void ViewBuilder::Finish(CoreHeaderWriter& writer) {
  uint64_t size = writer.max_end();
  view_->header_ = std::make_shared<io::BufferByteSource>(
      absl::StrCat(view_->name(), " header"), writer.Finish());
  auto& ex = view_->extents_;
  // Slot 0 was reserved for the header when the builder started.
  ex[0] = Extent{0, view_->header_->size(), view_->header_.get(), 0};
  auto by_offset = [](const Extent& a, const Extent& b) { return a.offset < b.offset; };
  if (!std::is_sorted(ex.begin(), ex.end(), by_offset)) std::sort(ex.begin(), ex.end(), by_offset);
  // The layouts place no two segments on the same file bytes (BuildKcore leaves out a
  // segment that would overlap another). Should two extents still overlap, trimming one
  // would serve one address's bytes under another's: the view is refused instead.
  for (size_t i = 1; i < ex.size(); ++i) {
    if (ex[i].offset < ex[i - 1].end()) {
      error_ = absl::InternalError(absl::StrCat(
          view_->name(), ": two pieces claim file offsets [", Hex(ex[i].offset), ", ",
          Hex(std::min(ex[i].end(), ex[i - 1].end())), ") (from ", ex[i - 1].source->name(), " at ",
          Hex(ex[i - 1].source_offset), " and from ", ex[i].source->name(), " at ",
          Hex(ex[i].source_offset), "); the view is not served rather than serve wrong bytes"));
      return;
    }
  }
  view_->size_ = std::max<uint64_t>(size, view_->header_->size());
  // Merged extents can be far fewer than the segments reserved for.
  if (ex.capacity() > 2 * ex.size()) ex.shrink_to_fit();
}

// kdump / /proc/vmcore shape: [Ehdr][PT_NOTE][PT_LOAD image][PT_LOAD RAM...] notes, then
// dense page-aligned data. Every PT_LOAD has p_align 0 (crash classifies the file KDUMP
// by the first PT_LOAD's p_align), RAM p_vaddr = direct-map base + paddr (makedumpfile's
// page_offset, drgn), the image first (crash's and makedumpfile's phys_base fallback).
void ViewBuilder::BuildVmcore() {
  const kernel::KernelFacts& f = snap_.facts;
  size_t run_count = 0;
  ForEachRun(snap_.map.physical(), [&](const Run&) { ++run_count; });
  std::vector<std::pair<uint64_t, uint64_t>> parts = ImageParts();
  size_t phnum = run_count + 1 + std::max<size_t>(parts.size(), 1);
  CoreHeaderWriter writer(f.arch->e_machine, phnum, Notes());
  ReserveExtents(phnum);
  uint64_t cursor = AlignUp(writer.notes_end(), page_);

  // The image's parts come first, in address order (crash's and makedumpfile's phys_base
  // fallback reads the first). With no part at all a PT_LOAD of size 0 is still emitted
  // so the image stays first; crash and makedumpfile then use NUMBER(phys_base).
  if (parts.empty()) writer.Add(Load(page_, f.image.vaddr, f.image.paddr, 0, 0, 0));
  for (const auto& [off, len] : parts) {
    uint64_t pa = f.image.paddr + off;
    uint64_t offset = AlignUp(cursor, page_) + pa % page_;
    AddPhysical(offset, pa, len);
    writer.Add(Load(offset, f.image.vaddr + off, pa, len, len, 0));
    cursor = offset + len;
  }
  cursor = AlignUp(cursor, page_);

  ForEachRun(snap_.map.physical(), [&](const Run& r) {
    // Keep each segment's offset congruent to its address modulo the page size so that
    // makedumpfile can mmap() it.
    uint64_t offset = AlignUp(cursor, page_) + r.start % page_;
    for (size_t i = r.first; i < r.first + r.count; ++i) {
      const mem::Segment& s = snap_.map.physical()[i];
      AddExtent(offset + (s.start - r.start), s.data_size, s.source.get(), s.source_offset);
    }
    writer.Add(Load(offset, f.direct_map_base + r.start, r.start, r.data_size, r.size, 0));
    cursor = offset + r.data_size;
  });
  Finish(writer);
}

// /proc/kcore shape at runtime addresses: sparse, p_offset = vaddr - direct-map base +
// data offset, p_align = page size, non-physical segments with p_paddr = -1 ahead of RAM.
// The image is mapped again at its link-time address so gdb reads runtime values through
// vmlinux's own symbols.
void ViewBuilder::BuildKcore() {
  const kernel::KernelFacts& f = snap_.facts;
  const uint64_t dm = f.direct_map_base;

  bool alias = f.kaslr_offset != 0;
  uint64_t link = f.image_link_vaddr();
  if (alias && Overlaps(link, f.image.size, f.image.vaddr, f.image.size)) {
    alias = false;
    view_->warnings_.push_back(absl::StrCat(
        "kcore: the kernel image's link-time range [", Hex(link), ", +", Hex(f.image.size),
        ") overlaps its runtime range, so it is not mapped twice; in gdb use: symbol-file -o ",
        Hex(f.kaslr_offset), " vmlinux"));
  }
  ClaimSet claims(view_->warnings_);
  claims.fixed.push_back({f.image.vaddr, f.image.size, "the kernel image"});
  if (alias) claims.fixed.push_back({link, f.image.size, "the kernel image's link-time alias"});
  // RAM first: its direct-map addresses are what the vmcore view serves too.
  std::vector<const mem::Segment*> ram;
  ram.reserve(snap_.map.physical().size());
  for (const mem::Segment& s : snap_.map.physical()) {
    Claim c{dm + s.start, s.size, absl::StrCat("RAM at physical ", Hex(s.start))};
    if (dm + s.start < dm) c.start = ~uint64_t{0};  // wrapped: Admit refuses it
    if (!claims.Admit(c)) continue;
    claims.sorted.push_back(std::move(c));
    ram.push_back(&s);
  }
  std::vector<const mem::Segment*> virt;
  for (const mem::Segment& s : snap_.map.virtual_only()) {
    if (s.start < dm) {
      view_->warnings_.push_back(absl::StrCat("kcore: virtual segment at ", Hex(s.start),
                                              " lies below the direct map and is left out"));
      continue;
    }
    if (alias && Overlaps(link, f.image.size, s.start, s.size)) {
      alias = false;
      claims.fixed.pop_back();
      view_->warnings_.push_back(absl::StrCat(
          "kcore: the kernel image's link-time range overlaps the segment at ", Hex(s.start),
          "; in gdb use: symbol-file -o ", Hex(f.kaslr_offset), " vmlinux"));
    }
    if (!claims.Admit({s.start, s.size, "virtual-only segment"})) continue;
    virt.push_back(&s);
  }
  std::vector<std::pair<uint64_t, uint64_t>> parts = ImageParts();
  size_t image_loads = std::max<size_t>(parts.size(), 1) * (alias ? 2 : 1);
  size_t phnum = 1 + image_loads + virt.size() + ram.size();
  CoreHeaderWriter writer(f.arch->e_machine, phnum, Notes());
  ReserveExtents(phnum);
  uint64_t data = AlignUp(writer.notes_end(), page_);
  auto offset_of = [&](uint64_t vaddr) { return vaddr - dm + data; };

  // The image at its runtime address, then (alias) at its link-time address, part by part.
  if (parts.empty()) {
    writer.Add(Load(offset_of(f.image.vaddr), f.image.vaddr, f.image.paddr, 0, 0, page_));
    if (alias) writer.Add(Load(offset_of(link), link, mem::kNoAddr, 0, 0, page_));
  }
  for (const auto& [off, len] : parts) {
    AddPhysical(offset_of(f.image.vaddr + off), f.image.paddr + off, len);
    writer.Add(Load(offset_of(f.image.vaddr + off), f.image.vaddr + off, f.image.paddr + off,
                    len, len, page_));
  }
  if (alias) {
    for (const auto& [off, len] : parts) {
      AddPhysical(offset_of(link + off), f.image.paddr + off, len);
      writer.Add(Load(offset_of(link + off), link + off, mem::kNoAddr, len, len, page_));
    }
  }
  for (const mem::Segment* s : virt) {
    AddExtent(offset_of(s->start), s->data_size, s->source.get(), s->source_offset);
    writer.Add(Load(offset_of(s->start), s->start, mem::kNoAddr, s->size, s->size, page_));
  }
  for (const mem::Segment* s : ram) {
    uint64_t va = dm + s->start;
    AddExtent(offset_of(va), s->data_size, s->source.get(), s->source_offset);
    writer.Add(Load(offset_of(va), va, s->start, s->size, s->size, page_));
  }
  Finish(writer);
}

void ViewBuilder::BuildVmcoreinfo() {
  // The text lives in the header slot so the view owns it.
  view_->header_ = std::make_shared<io::BufferByteSource>("vmcoreinfo", snap_.facts.vmcoreinfo.text());
  view_->extents_.push_back(Extent{0, view_->header_->size(), view_->header_.get(), 0});
  view_->size_ = view_->header_->size();
}

void ViewBuilder::ReserveExtents(size_t phnum) {
  // One extent per segment is typical; slot 0 is the header's, filled in by Finish().
  view_->extents_.reserve(phnum + 1);
  view_->extents_.push_back(Extent{0, 0, nullptr, 0});
}

}  // namespace kcorefs::elf
