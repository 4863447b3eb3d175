// The scan for the kernel's vmcoreinfo_note in sources that carry no VMCOREINFO (QEMU
// dumps without -device vmcoreinfo, raw memory, GDB stubs). It may read all of RAM, so it
// reads in large batches and stops at the first I/O failure instead of skipping it: a
// source that cannot be read must not look like a kernel without the note.
#include <algorithm>
#include <vector>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/byte_order.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/vmcoreinfo.h"

namespace kcorefs::kernel {
namespace {

using base::Hex;
using ScanResult = absl::StatusOr<std::optional<VmcoreinfoScanHit>>;

constexpr uint64_t kDefaultBatch = 1 << 20;
// One batch is held in memory; a source preferring more gets this.
constexpr uint64_t kMaxBatch = 16 << 20;
// VMCOREINFO_BYTES in the kernel is one page; a note larger than this is not the kernel's.
constexpr uint32_t kMaxVmcoreinfoSize = 1 << 16;

constexpr char kName[] = "VMCOREINFO";  // 10 chars + NUL = namesz 11
constexpr char kFirstKey[] = "OSRELEASE=";
// The note header (12 bytes), the name padded to 12, then the text.
constexpr size_t kTextOffset = 12 + 12;
constexpr size_t kHeadSize = kTextOffset + sizeof(kFirstKey) - 1;


// The text size of the kernel's note starting at `head` (kHeadSize bytes), or 0 when the
// bytes are not its note.
uint32_t NoteTextSize(const uint8_t* head) {
  if (base::LoadLe32(head) != 11 || base::LoadLe32(head + 8) != 0) return 0;
  if (std::memcmp(head + 12, kName, sizeof(kName)) != 0) return 0;
  if (std::memcmp(head + kTextOffset, kFirstKey, sizeof(kFirstKey) - 1) != 0) return 0;
  uint32_t descsz = base::LoadLe32(head + 4);
  return descsz <= kMaxVmcoreinfoSize ? descsz : 0;
}

// Bytes of `s` its source really holds: its data, cut at the source's end when the source
// knows its size, and never past the last offset a source can address.
uint64_t HeldBytes(const mem::Segment& s) {
  if (s.source == nullptr) return 0;  // zeros hold no note
  uint64_t held = std::min(s.data_size, std::numeric_limits<uint64_t>::max() - s.source_offset);
  uint64_t size = s.source->size();
  if (size == 0) return held;  // a device that does not say
  return s.source_offset >= size ? 0 : std::min(held, size - s.source_offset);
}

// The I/O failure that ends the scan, keeping its code and kind.
absl::Status ReadFailure(const absl::Status& status, uint64_t paddr, const io::ByteSource& source) {
  return base::WithKind(
      base::Annotate(status, absl::StrCat("could not read physical ", Hex(paddr), " from ",
                                          source.name())),
      base::KindOf(status));
}

class Scanner {
 public:
  Scanner(const mem::MemoryMap& map, const VmcoreinfoScanOptions& options)
      : map_(map), options_(options) {}

  ScanResult Run() {
    const uint64_t page = options_.page_size;
    if (page < kHeadSize || (page & (page - 1)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("scan page size ", page, " is not a power of two of at least ", kHeadSize));
    }
    SetBudget();
    for (const mem::Segment& s : map_.physical()) {
      KCOREFS_ASSIGN_OR_RETURN(auto hit, ScanSegment(s));
      if (hit.has_value()) return hit;
    }
    return std::nullopt;
  }

 private:
  uint64_t BatchSize(const io::ByteSource& source) const {
    uint64_t b = options_.batch_size ? options_.batch_size
                                     : std::max(kDefaultBatch, source.preferred_read_size());
    return base::AlignUp(std::clamp(b, options_.page_size, kMaxBatch), options_.page_size);
  }
  // One request per preferred_read_size() (whole pages), so a remote source pipelines.
  uint64_t RequestSize(const io::ByteSource& source, uint64_t batch) const {
    uint64_t r = base::AlignUp(std::clamp<uint64_t>(source.preferred_read_size(), 1, batch),
                               options_.page_size);
    return std::min(r, batch);
  }

  // Segments may share their source's bytes (a corrupt core's PT_LOADs can all name one
  // file range), which would make the scan cost segments x bytes. So no more bytes are
  // read than the sources hold, plus a page per segment for its partial pages; a source of
  // unknown size (a device reports 0) lifts the bound.
  void SetBudget() {
    std::vector<const io::ByteSource*> seen;
    budget_ = 0;
    bounded_ = true;
    for (const mem::Segment& s : map_.physical()) {
      budget_ += options_.page_size;
      if (s.source == nullptr || std::find(seen.begin(), seen.end(), s.source.get()) != seen.end()) continue;
      seen.push_back(s.source.get());
      if (s.source->size() == 0) bounded_ = false;
      budget_ += s.source->size();
    }
  }

  ScanResult ScanSegment(const mem::Segment& s) {
    const uint64_t page = options_.page_size;
    uint64_t held = HeldBytes(s);
    auto rounded = base::CheckedAdd(s.start, page - 1);
    if (held < kHeadSize || !rounded) return std::nullopt;
    const uint64_t first = base::AlignDown(*rounded, page);
    const uint64_t end = s.start + held;  // within the segment, which cannot wrap
    const uint64_t batch = BatchSize(*s.source);
    for (const auto& [from, to] : DataRanges(s, first, end)) {
      for (uint64_t pa = from; pa < to && to - pa >= kHeadSize; pa += std::min(batch, to - pa)) {
        uint64_t len = std::min(batch, to - pa);
        if (bounded_) {
          if (budget_ < len) return std::nullopt;  // every byte the sources hold was read
          budget_ -= len;
        }
        KCOREFS_ASSIGN_OR_RETURN(auto hit, ScanBatch(s, pa, len));
        if (hit.has_value()) return hit;
      }
    }
    return std::nullopt;
  }

  // The page-aligned physical ranges within [first, end) of `s` whose source bytes may be
  // data. Holes and recorded zeros (a sparse file's unwritten part, an excluded page) hold
  // no note, so a header that claims a terabyte of RAM over a sparse file of a few pages
  // costs a few pages, not a terabyte of reads of zeros. A source that cannot say is all
  // data.
  std::vector<std::pair<uint64_t, uint64_t>> DataRanges(const mem::Segment& s, uint64_t first,
                                                        uint64_t end) const {
    const uint64_t page = options_.page_size;
    std::vector<std::pair<uint64_t, uint64_t>> out;
    if (first >= end) return out;
    const uint64_t base_off = s.source_offset + (first - s.start);  // held bytes fit
    auto extents = s.source->Extents(base_off, end - first);
    if (!extents.ok()) return {{first, end}};
    for (const io::SourceExtent& e : *extents) {
      if (e.kind != io::ExtentKind::kData || e.length == 0) continue;
      if (e.offset < base_off || e.offset - base_off >= end - first) continue;  // outside: ignored
      uint64_t lo = first + (e.offset - base_off);
      uint64_t hi = lo + std::min(e.length, end - lo);
      lo = base::AlignDown(lo, page);
      hi = std::min(end, base::AlignUp(hi, page));  // end - lo < 2^64 - page: no wrap
      if (!out.empty() && lo <= out.back().second) {
        out.back().second = std::max(out.back().second, hi);
      } else {
        out.emplace_back(lo, hi);
      }
    }
    return out;
  }

  // Reads [pa, pa + len) of `s` with one ReadMany() and looks at each page start.
  ScanResult ScanBatch(const mem::Segment& s, uint64_t pa, uint64_t len) {
    buf_.resize(len);
    requests_.clear();
    const uint64_t step = RequestSize(*s.source, len);
    const uint64_t source_offset = s.source_offset + (pa - s.start);  // held bytes fit
    for (uint64_t off = 0; off < len; off += step) {
      requests_.push_back({source_offset + off, absl::MakeSpan(buf_.data() + off, std::min(step, len - off))});
    }
    absl::Status read = s.source->ReadMany(requests_, Deadline());
    if (!read.ok()) {
      // Pages the source does not hold (excluded from a filtered dump) fault; the others
      // of the batch may still hold the note.
      if (base::KindOf(read) == base::ErrorKind::kFault) return ScanPageByPage(pa, len);
      return ReadFailure(read, pa, *s.source);
    }
    for (uint64_t p = 0; p + kHeadSize <= len; p += options_.page_size) {
      uint32_t descsz = NoteTextSize(buf_.data() + p);
      if (descsz == 0) continue;
      KCOREFS_ASSIGN_OR_RETURN(auto hit, TakeNote(pa + p, descsz, absl::MakeConstSpan(buf_).subspan(p)));
      if (hit.has_value()) return hit;
    }
    return std::nullopt;
  }

  // A batch that faulted, read one page head at a time.
  ScanResult ScanPageByPage(uint64_t pa, uint64_t len) {
    uint8_t head[kHeadSize];
    for (uint64_t p = 0; p + kHeadSize <= len; p += options_.page_size) {
      absl::Status read = ReadPhys(pa + p, absl::MakeSpan(head, kHeadSize));
      if (base::KindOf(read) == base::ErrorKind::kFault) continue;
      KCOREFS_RETURN_IF_ERROR(read);
      uint32_t descsz = NoteTextSize(head);
      if (descsz == 0) continue;
      KCOREFS_ASSIGN_OR_RETURN(auto hit, TakeNote(pa + p, descsz, {}));
      if (hit.has_value()) return hit;
    }
    return std::nullopt;
  }

  // The note at `pa`, whose head matched. Its text comes from `have` (the bytes from `pa`
  // already read) when they hold it all, else from the map: it may run into the next
  // batch or segment.
  ScanResult TakeNote(uint64_t pa, uint32_t descsz, absl::Span<const uint8_t> have) {
    std::string text(descsz, '\0');
    if (kTextOffset + descsz <= have.size()) {
      std::memcpy(text.data(), have.data() + kTextOffset, descsz);
    } else {
      absl::Status read =
          ReadPhys(pa + kTextOffset, absl::MakeSpan(reinterpret_cast<uint8_t*>(text.data()), descsz));
      if (base::KindOf(read) == base::ErrorKind::kFault) return std::nullopt;
      KCOREFS_RETURN_IF_ERROR(read);
    }
    auto parsed = Vmcoreinfo::Parse(text);
    if (!parsed.ok()) return std::nullopt;  // a lookalike, not the kernel's text
    return VmcoreinfoScanHit{parsed->text(), pa};
  }

  // MemoryMap::ReadPhys with the scan's deadline, naming the source that failed.
  absl::Status ReadPhys(uint64_t paddr, absl::Span<uint8_t> out) {
    uint8_t* p = out.data();
    uint64_t at = paddr;
    absl::Status status;
    absl::Time deadline = Deadline();
    KCOREFS_RETURN_IF_ERROR(map_.ResolvePhys(paddr, out.size(), [&](const mem::Piece& piece) {
      if (status.ok()) {
        if (piece.source == nullptr) {
          std::memset(p, 0, piece.length);
        } else {
          status = piece.source->ReadAt(piece.source_offset, absl::MakeSpan(p, piece.length), deadline);
          if (!status.ok()) status = ReadFailure(status, at, *piece.source);
        }
      }
      p += piece.length;
      at += piece.length;
    }));
    return status;
  }

  absl::Time Deadline() const { return absl::Now() + options_.batch_timeout; }

  uint64_t budget_ = 0;
  bool bounded_ = true;
  const mem::MemoryMap& map_;
  const VmcoreinfoScanOptions options_;
  std::vector<uint8_t> buf_;
  std::vector<io::ReadRequest> requests_;
};

}  // namespace

absl::StatusOr<std::optional<VmcoreinfoScanHit>> ScanForVmcoreinfo(
    const mem::MemoryMap& map, const VmcoreinfoScanOptions& options) {
  return Scanner(map, options).Run();
}

}  // namespace kcorefs::kernel
