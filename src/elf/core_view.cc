#include "absl/strings/string_view.h"
#include "kcorefs/elf/core_view.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "elf/view_builder.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::elf {

absl::string_view ViewName(ViewKind kind) {
  switch (kind) {
    case ViewKind::kVmcore: return "vmcore";
    case ViewKind::kKcore: return "kcore";
    case ViewKind::kVmcoreinfo: return "vmcoreinfo";
  }
  return "";
}

std::optional<ViewKind> ViewByName(absl::string_view name) {
  for (ViewKind k : kAllViews) {
    if (ViewName(k) == name) return k;
  }
  return std::nullopt;
}

absl::StatusOr<std::shared_ptr<const CoreView>> CoreView::Build(
    ViewKind kind, std::shared_ptr<const backends::Snapshot> snapshot) {
  return ViewBuilder(kind, std::move(snapshot)).Build();
}

absl::StatusOr<size_t> CoreView::ReadAt(uint64_t offset, absl::Span<uint8_t> out) const {
  if (offset >= size_) return 0;
  uint64_t n = std::min<uint64_t>(out.size(), size_ - offset);
  uint64_t end = offset + n;
  uint8_t* p = out.data();
  // First extent that ends after `offset` (extents are sorted and disjoint, so their ends
  // are sorted too).
  auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                             [](uint64_t o, const Extent& e) { return o < e.end(); });
  uint64_t pos = offset;
  while (pos < end) {
    if (it == extents_.end() || it->offset >= end) {
      std::memset(p + (pos - offset), 0, end - pos);
      break;
    }
    if (it->offset > pos) {
      std::memset(p + (pos - offset), 0, it->offset - pos);
      pos = it->offset;
    }
    uint64_t take = std::min(it->end(), end) - pos;
    KCOREFS_RETURN_IF_ERROR(it->source->ReadAt(it->source_offset + (pos - it->offset),
                                               absl::MakeSpan(p + (pos - offset), take)));
    pos += take;
    ++it;
  }
  return static_cast<size_t>(n);
}

}  // namespace kcorefs::elf
