#include "kcorefs/backends/redact.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"
#include "kcorefs/kernel/page_classifier.h"

namespace kcorefs::backends {

std::string Redaction::Describe() const {
  uint64_t bytes = hidden_pages() * page_size;
  return absl::StrFormat(
      "redact=user: %u pages hidden (%.1f MiB): %u user, %u free, %u without a readable struct "
      "page%s",
      hidden_pages(), static_cast<double>(bytes) / (1 << 20), user_pages, free_pages,
      unreadable_pages,
      recheck_on_read ? "; every read is checked again (pages that became user pages read as zeros)"
                      : "");
}

namespace {

// What a redacted snapshot keeps alive: the source's own snapshot (whose map the
// classifier reads struct pages from) and the classifier.
struct ClassifierHold {
  std::shared_ptr<const Snapshot> inner;
  std::unique_ptr<kernel::PageClassifier> classifier;
};

// A physical segment's source of a volatile snapshot: reads the data, then the struct
// pages of the pages read, and zeroes the pages that are now user or free pages. The
// check comes after the data so that a page handed to a process before the data was read
// is seen as such.
class RecheckSource final : public io::ByteSource {
 public:
  RecheckSource(std::shared_ptr<const io::ByteSource> inner, uint64_t source_offset,
                uint64_t paddr, std::shared_ptr<const ClassifierHold> hold)
      : inner_(std::move(inner)), base_offset_(source_offset), base_paddr_(paddr),
        hold_(std::move(hold)) {}
  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  uint64_t preferred_read_size() const override { return inner_->preferred_read_size(); }
  absl::StatusOr<std::vector<io::SourceExtent>> Extents(uint64_t offset,
                                                        uint64_t length) const override {
    return inner_->Extents(offset, length);
  }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const override {
    KCOREFS_RETURN_IF_ERROR(inner_->ReadAt(offset, out, deadline));
    CountRead(out.size());
    return Recheck(offset, out);
  }
  absl::Status DoReadMany(absl::Span<const io::ReadRequest> requests,
                          absl::Time deadline) const override {
    KCOREFS_RETURN_IF_ERROR(inner_->ReadMany(requests, deadline));
    CountRead(requests);
    for (const io::ReadRequest& r : requests) KCOREFS_RETURN_IF_ERROR(Recheck(r.offset, r.out));
    return absl::OkStatus();
  }

 private:
  absl::Status Recheck(uint64_t offset, absl::Span<uint8_t> out) const {
    if (out.empty()) return absl::OkStatus();
    if (offset < base_offset_) {
      return absl::InternalError(absl::StrCat("redact: read at ", base::Hex(offset),
                                              " before its segment's source offset"));
    }
    const uint64_t paddr = base_paddr_ + (offset - base_offset_);
    const kernel::PageClassifier& c = *hold_->classifier;
    // A small batch: a read's own struct pages (64 bytes per 4 KiB page), not 1 MiB.
    uint64_t pages = out.size() / c.layout().page_size + 2;
    auto cls = c.Classify(paddr, out.size(), pages * c.layout().struct_size);
    if (!cls.ok()) {
      return base::Annotate(cls.status(), absl::StrCat("redact=user: checking the struct pages of physical ",
                                                       base::Hex(paddr)));
    }
    for (const auto& [a, b] : cls->hidden) {
      uint64_t from = std::max(a, paddr) - paddr;
      uint64_t to = std::min<uint64_t>(b, paddr + out.size()) - paddr;
      if (to > from) std::memset(out.data() + from, 0, to - from);
    }
    return absl::OkStatus();
  }

  std::shared_ptr<const io::ByteSource> inner_;
  uint64_t base_offset_;
  uint64_t base_paddr_;
  std::shared_ptr<const ClassifierHold> hold_;
};

class RedactingBackend final : public Backend {
 public:
  explicit RedactingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  absl::string_view name() const override { return inner_->name(); }
  const std::string& source() const override { return inner_->source(); }
  Capabilities capabilities() const override {
    Capabilities c = inner_->capabilities();
    // A volatile source's segments read through RecheckSource, which has no fd.
    if (c.bytes_volatile) c.fd_backed = false;
    return c;
  }
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current() override {
    KCOREFS_ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> in, inner_->Current());
    std::lock_guard<std::mutex> lock(mu_);
    if (out_ != nullptr && (in == in_ || in->epoch == out_->epoch)) return out_;
    KCOREFS_ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> out, Redact(in));
    in_ = std::move(in);
    out_ = out;
    return out;
  }
  uint64_t bytes_read() const override { return inner_->bytes_read(); }
  absl::Status Start() override { return inner_->Start(); }
  void Close() override { inner_->Close(); }
  std::vector<std::pair<std::string, std::string>> Stats() const override {
    auto stats = inner_->Stats();
    std::lock_guard<std::mutex> lock(mu_);
    if (out_ != nullptr && out_->redaction.has_value()) {
      const Redaction& r = *out_->redaction;
      stats.emplace_back("redact", "user");
      stats.emplace_back("redacted_pages", absl::StrCat(r.hidden_pages()));
      stats.emplace_back("redacted_user_pages", absl::StrCat(r.user_pages));
      stats.emplace_back("redacted_free_pages", absl::StrCat(r.free_pages));
      stats.emplace_back("redacted_unreadable_pages", absl::StrCat(r.unreadable_pages));
    }
    return stats;
  }

 private:
  absl::StatusOr<std::shared_ptr<const Snapshot>> Redact(std::shared_ptr<const Snapshot> in) const {
    const kernel::KernelFacts& f = in->facts;
    if (f.arch == nullptr) return absl::FailedPreconditionError("redact=user: the source's architecture is unknown");
    auto walker = f.arch->NewPageTableWalker(in->map, f.vmcoreinfo);
    if (!walker.ok()) return base::Annotate(walker.status(), "redact=user: the kernel's page tables");
    auto hold = std::make_shared<ClassifierHold>();
    hold->inner = in;
    KCOREFS_ASSIGN_OR_RETURN(hold->classifier,
                             kernel::PageClassifier::Create(in->map, f.vmcoreinfo, std::move(*walker)));
    auto cls = hold->classifier->ClassifyMap();
    if (!cls.ok()) {
      return base::Annotate(cls.status(), absl::StrCat("redact=user: classifying the pages of ", inner_->source()));
    }
    const bool recheck = inner_->capabilities().bytes_volatile;
    mem::MemoryMap base = in->map;
    if (recheck) {
      std::vector<mem::Segment> phys = in->map.physical();
      for (mem::Segment& s : phys) {
        if (s.source == nullptr) continue;
        s.source = std::make_shared<RecheckSource>(s.source, s.source_offset, s.start, hold);
      }
      auto m = mem::MemoryMap::Create(std::move(phys), in->map.virtual_only());
      if (!m.ok()) return m.status();
      base = std::move(*m);
    }
    auto out = std::make_shared<Snapshot>(*in);
    out->map = base.WithoutPhys(cls->hidden);
    Redaction r;
    r.user_pages = cls->user_pages;
    r.free_pages = cls->free_pages;
    r.unreadable_pages = cls->unreadable_pages;
    r.page_size = hold->classifier->layout().page_size;
    r.recheck_on_read = recheck;
    out->redaction = r;
    return std::shared_ptr<const Snapshot>(std::move(out));
  }

  std::unique_ptr<Backend> inner_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> in_;
  std::shared_ptr<const Snapshot> out_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewRedactingBackend(std::unique_ptr<Backend> inner) {
  auto b = std::make_unique<RedactingBackend>(std::move(inner));
  KCOREFS_RETURN_IF_ERROR(b->Current().status());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace kcorefs::backends
