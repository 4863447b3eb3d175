#include "kcorefs/mem/memory_map.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::mem {
namespace {

using base::Hex;

absl::Status SortAndCheck(std::vector<Segment>& segs, const char* kind) {
  for (const Segment& s : segs) {
    if (!base::CheckedAdd(s.start, s.size)) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " segment at ", Hex(s.start), " of size ",
                                                     Hex(s.size), " wraps around the address space"));
    }
    if (s.data_size > s.size) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " segment at ", Hex(s.start),
                                                     " has more data than address space"));
    }
  }
  std::sort(segs.begin(), segs.end(),
            [](const Segment& a, const Segment& b) { return a.start < b.start; });
  for (size_t i = 1; i < segs.size(); ++i) {
    if (segs[i].start < segs[i - 1].end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " segments overlap: [", Hex(segs[i - 1].start), ", ",
                       Hex(segs[i - 1].end()), ") and [", Hex(segs[i].start), ", ",
                       Hex(segs[i].end()), ")"));
    }
  }
  // Empty segments carry nothing; dropping them keeps lookups simple.
  segs.erase(std::remove_if(segs.begin(), segs.end(), [](const Segment& s) { return s.size == 0; }),
             segs.end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MemoryMap> MemoryMap::Create(std::vector<Segment> physical,
                                            std::vector<Segment> virtual_only) {
  KCOREFS_RETURN_IF_ERROR(SortAndCheck(physical, "physical"));
  KCOREFS_RETURN_IF_ERROR(SortAndCheck(virtual_only, "virtual"));
  MemoryMap m;
  m.physical_ = std::move(physical);
  m.virtual_ = std::move(virtual_only);
  return m;
}

int MemoryMap::FindPhys(uint64_t paddr) const {
  auto it = std::upper_bound(physical_.begin(), physical_.end(), paddr,
                             [](uint64_t a, const Segment& s) { return a < s.start; });
  if (it == physical_.begin()) return -1;
  --it;
  if (paddr >= it->end()) return -1;
  return static_cast<int>(it - physical_.begin());
}

absl::Status MemoryMap::ResolvePhys(uint64_t paddr, uint64_t size,
                                    const std::function<void(const Piece&)>& fn) const {
  if (!base::CheckedAdd(paddr, size)) {
    return absl::OutOfRangeError(absl::StrCat("physical range at ", Hex(paddr), " wraps"));
  }
  uint64_t addr = paddr;
  uint64_t left = size;
  while (left > 0) {
    int i = FindPhys(addr);
    if (i < 0) return base::FaultError(addr, "physical address");
    const Segment& s = physical_[i];
    uint64_t in_seg = addr - s.start;
    uint64_t n = std::min(left, s.end() - addr);
    if (in_seg < s.data_size) {
      uint64_t d = std::min(n, s.data_size - in_seg);
      fn(Piece{d, s.source.get(), s.source_offset + in_seg});
      if (d < n) fn(Piece{n - d, nullptr, 0});
    } else {
      fn(Piece{n, nullptr, 0});
    }
    addr += n;
    left -= n;
  }
  return absl::OkStatus();
}

absl::Status MemoryMap::ReadPhys(uint64_t paddr, absl::Span<uint8_t> out) const {
  uint8_t* p = out.data();
  absl::Status status;
  KCOREFS_RETURN_IF_ERROR(ResolvePhys(paddr, out.size(), [&](const Piece& piece) {
    if (status.ok()) {
      if (piece.source == nullptr) {
        std::memset(p, 0, piece.length);
      } else {
        status = piece.source->ReadAt(piece.source_offset, absl::MakeSpan(p, piece.length));
      }
    }
    p += piece.length;
  }));
  return status;
}

absl::StatusOr<uint64_t> MemoryMap::ReadPhysU64(uint64_t paddr) const {
  uint64_t v = 0;
  KCOREFS_RETURN_IF_ERROR(ReadPhys(paddr, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 8)));
  return v;  // little-endian hosts and targets only, for now (x86_64, aarch64)
}

uint64_t MemoryMap::TotalPhysBytes() const {
  uint64_t total = 0;
  for (const Segment& s : physical_) total += s.size;
  return total;
}

MemoryMap MemoryMap::WithoutPhys(absl::Span<const std::pair<uint64_t, uint64_t>> holes) const {
  MemoryMap out;
  out.virtual_ = virtual_;
  out.physical_.reserve(physical_.size() + holes.size());
  // Both lists are sorted: one pass, the first hole that may touch a segment carried on.
  size_t h = 0;
  for (const Segment& seg : physical_) {
    while (h < holes.size() && holes[h].second <= seg.start) ++h;
    uint64_t at = seg.start;
    // Emits [at, to) of `seg`, keeping its data/zero split and source offset.
    auto emit = [&](uint64_t to) {
      if (to <= at) return;
      Segment piece = seg;
      piece.start = at;
      piece.size = to - at;
      uint64_t data_end = seg.start + seg.data_size;
      piece.data_size = data_end <= at ? 0 : std::min(data_end, to) - at;
      piece.source_offset = seg.source_offset + (at - seg.start);
      out.physical_.push_back(std::move(piece));
    };
    for (size_t k = h; k < holes.size() && holes[k].first < seg.end(); ++k) {
      emit(std::max(holes[k].first, at));
      at = std::max(at, std::min(holes[k].second, seg.end()));
    }
    emit(seg.end());
  }
  return out;
}

}  // namespace kcorefs::mem
