#include "kcorefs/kernel/page_classifier.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kcorefs/base/byte_order.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::kernel {
namespace {

using base::Hex;

// A free block's order comes from page.private; anything larger than this is not a buddy
// order (MAX_ORDER is 11 on x86_64 6.1), so only the head page itself is hidden.
constexpr uint64_t kMaxBuddyOrder = 20;

uint64_t LoadU64(absl::Span<const uint8_t> b, uint64_t off) {
  uint64_t v = 0;
  if (off <= b.size() && b.size() - off >= 8) std::memcpy(&v, b.data() + off, 8);
  return v;
}

bool IsFault(const absl::Status& s) { return base::FaultAddress(s).has_value(); }

void AddHidden(PhysRanges& ranges, uint64_t begin, uint64_t end) {
  if (!ranges.empty() && ranges.back().second >= begin) {
    ranges.back().second = std::max(ranges.back().second, end);
    return;
  }
  ranges.emplace_back(begin, end);
}

}  // namespace

absl::StatusOr<PageLayout> PageLayout::FromVmcoreinfo(const Vmcoreinfo& vi) {
  std::vector<std::string> missing;
  auto dec = [&](absl::string_view key) -> int64_t {
    std::optional<int64_t> v = vi.GetDecimal(key);
    if (!v.has_value()) {
      missing.emplace_back(key);
      return 0;
    }
    return *v;
  };
  PageLayout l;
  l.page_size = static_cast<uint64_t>(dec("PAGESIZE"));
  l.struct_size = static_cast<uint64_t>(dec("SIZE(page)"));
  l.off_flags = static_cast<uint64_t>(dec("OFFSET(page.flags)"));
  l.off_mapping = static_cast<uint64_t>(dec("OFFSET(page.mapping)"));
  l.off_mapcount = static_cast<uint64_t>(dec("OFFSET(page._mapcount)"));
  l.off_private = static_cast<uint64_t>(dec("OFFSET(page.private)"));
  // compound_head shares its word with lru.next; older kernels export only the latter.
  l.off_compound_head = static_cast<uint64_t>(
      vi.Has("OFFSET(page.compound_head)") ? dec("OFFSET(page.compound_head)") : dec("OFFSET(page.lru)"));
  l.pg_lru = static_cast<int>(dec("NUMBER(PG_lru)"));
  l.pg_swapcache = static_cast<int>(dec("NUMBER(PG_swapcache)"));
  l.buddy_mapcount = dec("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)");
  for (absl::string_view key : {"SYMBOL(mem_section)", "OFFSET(mem_section.section_mem_map)",
                                "SIZE(mem_section)"}) {
    if (!vi.Has(key) && !vi.Has("NUMBER(vmemmap_base)") && !vi.Has("SYMBOL(vmemmap_base)")) {
      missing.emplace_back(key);
    }
  }
  if (missing.empty()) {
    std::vector<std::string> bad;
    if (l.page_size == 0 || (l.page_size & (l.page_size - 1)) != 0) bad.push_back("PAGESIZE");
    if (l.struct_size < 16 || l.struct_size > 1024) bad.push_back("SIZE(page)");
    for (auto [name, off] : {std::pair<const char*, uint64_t>{"OFFSET(page.flags)", l.off_flags},
                             {"OFFSET(page.mapping)", l.off_mapping},
                             {"OFFSET(page.private)", l.off_private},
                             {"OFFSET(page.compound_head)", l.off_compound_head}}) {
      // Compared without adding: a negative OFFSET wraps to near 2^64.
      if (off > l.struct_size || l.struct_size - off < 8) bad.push_back(name);
    }
    if (l.off_mapcount > l.struct_size || l.struct_size - l.off_mapcount < 4) {
      bad.push_back("OFFSET(page._mapcount)");
    }
    if (l.pg_lru < 0 || l.pg_lru > 63) bad.push_back("NUMBER(PG_lru)");
    if (l.pg_swapcache < 0 || l.pg_swapcache > 63) bad.push_back("NUMBER(PG_swapcache)");
    if (!bad.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "redact=user: VMCOREINFO's ", absl::StrJoin(bad, ", "),
          " out of range for a struct page; refusing to serve this source unredacted"));
    }
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "redact=user needs VMCOREINFO entries this source lacks: ", absl::StrJoin(missing, ", "),
        "; without them user pages cannot be told from kernel pages, so the source is not "
        "served (give a complete VMCOREINFO with --vmcoreinfo FILE, or mount without "
        "redact=user)"));
  }
  std::optional<int64_t> dtor_off = vi.GetDecimal("OFFSET(page.compound_dtor)");
  std::optional<int64_t> dtor = vi.GetDecimal("NUMBER(HUGETLB_PAGE_DTOR)");
  if (dtor_off.has_value() && dtor.has_value() && *dtor_off >= 0 &&
      static_cast<uint64_t>(*dtor_off) < l.struct_size) {
    l.off_compound_dtor = static_cast<uint64_t>(*dtor_off);
    l.hugetlb_dtor = *dtor;
  }
  return l;
}

PageStruct PageStruct::Parse(const PageLayout& l, absl::Span<const uint8_t> b) {
  PageStruct p;
  p.flags = LoadU64(b, l.off_flags);
  p.mapping = LoadU64(b, l.off_mapping);
  if (l.off_mapcount <= b.size() && b.size() - l.off_mapcount >= 4) {
    std::memcpy(&p.mapcount, b.data() + l.off_mapcount, 4);
  }
  p.private_value = LoadU64(b, l.off_private);
  p.compound_head = LoadU64(b, l.off_compound_head);
  return p;
}

PageClass ClassifyHead(const PageLayout& l, const PageStruct& p, absl::Span<const uint8_t> second) {
  if (p.IsBuddy(l)) return PageClass::kFree;
  // PAGE_MAPPING_ANON: anonymous (and KSM) pages point page.mapping at their anon_vma
  // with bit 0 set; nothing else sets that bit (movable non-LRU pages use bit 1 alone).
  if ((p.mapping & 1) != 0) return PageClass::kUser;
  if ((p.flags >> l.pg_lru) & 1) return PageClass::kUser;
  if ((p.flags >> l.pg_swapcache) & 1) return PageClass::kUser;
  if (l.off_compound_dtor.has_value() && l.hugetlb_dtor.has_value() &&
      *l.off_compound_dtor < second.size() &&
      static_cast<int64_t>(second[*l.off_compound_dtor]) == *l.hugetlb_dtor) {
    // Only a head page has a destructor in page[1]; an order-0 page's neighbour is a
    // page of its own whose byte there is not a destructor, so require the neighbour to
    // be this page's tail.
    uint64_t next_head = LoadU64(second, l.off_compound_head);
    if ((next_head & 1) != 0) return PageClass::kUser;
  }
  return PageClass::kKernel;
}

absl::StatusOr<std::unique_ptr<PageClassifier>> PageClassifier::Create(
    const mem::MemoryMap& map, const Vmcoreinfo& vi, std::unique_ptr<PageTableWalker> walker) {
  KCOREFS_ASSIGN_OR_RETURN(PageLayout layout, PageLayout::FromVmcoreinfo(vi));
  if (walker == nullptr) return absl::FailedPreconditionError("redact=user: no page-table walker");
  std::optional<uint64_t> base = vi.Has("NUMBER(vmemmap_base)")
                                     ? std::optional<uint64_t>(static_cast<uint64_t>(
                                           vi.GetDecimal("NUMBER(vmemmap_base)").value_or(0)))
                                     : std::nullopt;
  auto c = std::make_unique<PageClassifier>(map, layout, 0, std::move(walker));
  if (!base.has_value() && vi.Has("SYMBOL(vmemmap_base)")) {
    // The variable's address: its value is the base.
    uint64_t sym = vi.GetHex("SYMBOL(vmemmap_base)").value_or(0);
    uint8_t buf[8];
    absl::Status s = c->ReadVirt(sym, absl::MakeSpan(buf));
    if (!s.ok()) return base::Annotate(s, "redact=user: reading vmemmap_base");
    base = LoadU64(buf, 0);
  }
  if (!base.has_value()) {
    // SPARSEMEM_EXTREME: SYMBOL(mem_section) is the root array; each root points at an
    // array of struct mem_section. Under SPARSEMEM_VMEMMAP a present section's
    // section_mem_map is (vmemmap + start_pfn) - start_pfn, i.e. vmemmap_base, with flag
    // bits (SECTION_MARKED_PRESENT and others) below the page offset.
    uint64_t roots = vi.GetHex("SYMBOL(mem_section)").value_or(0);
    uint64_t msize = static_cast<uint64_t>(vi.GetDecimal("SIZE(mem_section)").value_or(0));
    uint64_t moff = static_cast<uint64_t>(vi.GetDecimal("OFFSET(mem_section.section_mem_map)").value_or(0));
    if (msize < 8 || moff + 8 > msize) {
      return absl::FailedPreconditionError("redact=user: VMCOREINFO's SIZE(mem_section) / "
                                           "OFFSET(mem_section.section_mem_map) are not usable");
    }
    std::vector<uint8_t> page(layout.page_size);
    for (uint64_t r = 0; r < 64 && !base.has_value(); ++r) {
      uint8_t rb[8];
      absl::Status s = c->ReadVirt(roots + 8 * r, absl::MakeSpan(rb));
      if (!s.ok()) return base::Annotate(s, absl::StrCat("redact=user: reading mem_section root ", r, " at ", Hex(roots + 8 * r)));
      uint64_t root = LoadU64(rb, 0);
      if (root == 0) continue;
      s = c->ReadVirt(root, absl::MakeSpan(page));
      if (!s.ok()) return base::Annotate(s, absl::StrCat("redact=user: reading mem_section array at ", Hex(root)));
      for (uint64_t off = 0; off + msize <= page.size(); off += msize) {
        uint64_t v = LoadU64(page, off + moff);
        if ((v & 1) == 0) continue;  // SECTION_MARKED_PRESENT
        base = v & ~(layout.page_size - 1);
        break;
      }
    }
    if (!base.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "redact=user: no present mem_section under SYMBOL(mem_section)=", Hex(roots),
          ", so the struct pages cannot be found; refusing to serve this source unredacted"));
    }
  }
  c->vmemmap_base_ = *base;
  // The first struct page must be mapped, or every page would read as unreadable.
  uint8_t probe[8];
  if (absl::Status s = c->ReadVirt(*base, absl::MakeSpan(probe)); !s.ok() && !IsFault(s)) {
    return base::Annotate(s, absl::StrCat("redact=user: the memory map (vmemmap at ", Hex(*base),
                                          ") is not readable; refusing to serve this source unredacted"));
  }
  return c;
}

absl::Status PageClassifier::ReadVirt(uint64_t vaddr, absl::Span<uint8_t> out) const {
  uint64_t done = 0;
  while (done < out.size()) {
    uint64_t v = vaddr + done;
    KCOREFS_ASSIGN_OR_RETURN(Translation t, walker_->Translate(v));
    uint64_t in_page = t.page_size - (v & (t.page_size - 1));
    uint64_t n = std::min<uint64_t>(in_page, out.size() - done);
    KCOREFS_RETURN_IF_ERROR(map_.ReadPhys(t.paddr, out.subspan(done, n)));
    done += n;
  }
  return absl::OkStatus();
}

absl::Status PageClassifier::ReadStructs(uint64_t first, uint64_t count, std::vector<uint8_t>& out,
                                         std::vector<bool>& unreadable) const {
  const uint64_t sz = layout_.struct_size;
  out.assign(count * sz, 0);
  unreadable.assign(count, false);
  uint64_t begin = vmemmap_base_ + first * sz;
  uint64_t total = count * sz;
  uint64_t done = 0;
  auto mark = [&](uint64_t from, uint64_t to) {  // byte offsets into `out`
    for (uint64_t i = from / sz; i < count && i * sz < to; ++i) unreadable[i] = true;
  };
  while (done < total) {
    uint64_t v = begin + done;
    auto t = walker_->Translate(v);
    if (!t.ok()) {
      if (!absl::IsNotFound(t.status()) && !IsFault(t.status())) return t.status();
      // An unmapped (or uncaptured) piece of the memory map: its pages cannot be told.
      uint64_t n = std::min<uint64_t>(layout_.page_size - (v & (layout_.page_size - 1)), total - done);
      mark(done, done + n);
      done += n;
      continue;
    }
    uint64_t n = std::min<uint64_t>(t->page_size - (v & (t->page_size - 1)), total - done);
    absl::Status s = map_.ReadPhys(t->paddr, absl::MakeSpan(out).subspan(done, n));
    if (!s.ok()) {
      if (!IsFault(s)) return s;
      // Part of it is not in the source: read it page by page to keep what is.
      for (uint64_t o = 0; o < n;) {
        uint64_t m = std::min<uint64_t>(layout_.page_size - ((t->paddr + o) & (layout_.page_size - 1)), n - o);
        absl::Status ps = map_.ReadPhys(t->paddr + o, absl::MakeSpan(out).subspan(done + o, m));
        if (!ps.ok()) {
          if (!IsFault(ps)) return ps;
          mark(done + o, done + o + m);
        }
        o += m;
      }
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<PageClass> PageClassifier::ClassifyRemoteHead(uint64_t head_vaddr) const {
  std::vector<uint8_t> b(2 * layout_.struct_size);
  absl::Status s = ReadVirt(head_vaddr, absl::MakeSpan(b));
  if (!s.ok()) {
    if (absl::IsNotFound(s) || IsFault(s)) return PageClass::kUnreadable;
    return s;
  }
  PageStruct head = PageStruct::Parse(layout_, b);
  if (head.IsTail()) return PageClass::kUnreadable;  // a head that is a tail: corrupt
  return ClassifyHead(layout_, head, absl::MakeConstSpan(b).subspan(layout_.struct_size));
}

absl::StatusOr<Classification> PageClassifier::Classify(uint64_t paddr, uint64_t size,
                                                         uint64_t batch_bytes) const {
  Classification out;
  if (size == 0) return out;
  const uint64_t ps = layout_.page_size;
  const uint64_t sz = layout_.struct_size;
  std::optional<uint64_t> end_addr = base::CheckedAdd(paddr, size);
  if (!end_addr.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("redact: range at ", Hex(paddr), " wraps"));
  }
  const uint64_t first_pfn = paddr / ps;
  if (*end_addr > (uint64_t{1} << 62)) {
    return absl::InvalidArgumentError(absl::StrCat("redact: range at ", Hex(paddr), " is past any physical address"));
  }
  const uint64_t end_pfn = base::AlignUp(*end_addr, ps) / ps;
  // Batches are aligned to a power of two pfns, so a compound page (aligned to its order)
  // usually has its head in the batch of its tails.
  uint64_t per_batch = 1;
  while (per_batch * 2 * sz <= std::max<uint64_t>(batch_bytes, sz)) per_batch *= 2;
  std::vector<uint8_t> structs;
  std::vector<bool> unreadable;
  std::vector<PageClass> cls;
  uint64_t free_until = 0;  // pfns below this are in a free block seen earlier
  uint64_t remote_head = 0;
  PageClass remote_class = PageClass::kKernel;
  bool have_remote = false;
  for (uint64_t b0 = base::AlignDown(first_pfn, per_batch); b0 < end_pfn; b0 += per_batch) {
    const uint64_t lo = std::max(b0, first_pfn);
    const uint64_t hi = std::min(b0 + per_batch, end_pfn);
    // Read from the batch's aligned start so heads before `lo` in it are known.
    KCOREFS_RETURN_IF_ERROR(ReadStructs(b0, hi - b0, structs, unreadable));
    cls.assign(hi - b0, PageClass::kKernel);
    for (uint64_t pfn = b0; pfn < hi; ++pfn) {
      const uint64_t i = pfn - b0;
      PageClass c;
      if (pfn < free_until) {
        c = PageClass::kFree;
      } else if (unreadable[i]) {
        c = PageClass::kUnreadable;
      } else {
        absl::Span<const uint8_t> me = absl::MakeConstSpan(structs).subspan(i * sz, sz);
        PageStruct p = PageStruct::Parse(layout_, me);
        if (p.IsBuddy(layout_)) {
          c = PageClass::kFree;
          if (p.private_value <= kMaxBuddyOrder) free_until = pfn + (uint64_t{1} << p.private_value);
        } else if (p.IsTail()) {
          uint64_t head = p.compound_head - 1;
          uint64_t rel = head - vmemmap_base_;
          if (head >= vmemmap_base_ && rel % sz == 0 && rel / sz >= b0 && rel / sz < pfn) {
            c = cls[rel / sz - b0];
          } else {
            if (!have_remote || remote_head != head) {
              KCOREFS_ASSIGN_OR_RETURN(remote_class, ClassifyRemoteHead(head));
              remote_head = head;
              have_remote = true;
            }
            c = remote_class;
          }
        } else {
          absl::Span<const uint8_t> next;
          if (i + 1 < hi - b0 && !unreadable[i + 1]) next = absl::MakeConstSpan(structs).subspan((i + 1) * sz, sz);
          c = ClassifyHead(layout_, p, next);
        }
      }
      cls[i] = c;
      if (pfn < lo || c == PageClass::kKernel) continue;
      switch (c) {
        case PageClass::kUser: ++out.user_pages; break;
        case PageClass::kFree: ++out.free_pages; break;
        default: ++out.unreadable_pages; break;
      }
      uint64_t a = std::max(pfn * ps, paddr);
      uint64_t e = std::min((pfn + 1) * ps, *end_addr);
      AddHidden(out.hidden, a, e);
    }
  }
  return out;
}

absl::StatusOr<Classification> PageClassifier::ClassifyMap() const {
  Classification all;
  for (const mem::Segment& seg : map_.physical()) {
    if (seg.data_size == 0 || seg.source == nullptr) continue;  // zeros hold nobody's data
    KCOREFS_ASSIGN_OR_RETURN(Classification c, Classify(seg.start, seg.data_size));
    all.user_pages += c.user_pages;
    all.free_pages += c.free_pages;
    all.unreadable_pages += c.unreadable_pages;
    for (const auto& [a, b] : c.hidden) AddHidden(all.hidden, a, b);
  }
  return all;
}

}  // namespace kcorefs::kernel
