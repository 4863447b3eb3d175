#include "kcorefs/io/block_cache.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::io {
namespace {

// Times a reader re-plans after fetches it waited for failed, before it returns the last
// failure: each failure was a real inner read, so a source that keeps failing is not
// asked again and again on behalf of one read.
constexpr int kMaxRounds = 3;

void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

// One inner fetch of one block, waited on by readers that found the block loading. Guarded
// by the cache's mutex.
struct CachingByteSource::Flight {
  absl::CondVar cv;
  bool done = false;
  absl::Status status;
  Data data;  // set when status is OK
};

struct CachingByteSource::Entry {
  uint64_t index = 0;
  Data data;                       // null while loading
  absl::Time fetched;              // when the fetch that filled it started
  std::shared_ptr<Flight> flight;  // set while loading
  Entry* prev = this;              // LRU links, while ready
  Entry* next = this;
};

// What one pass over a read found: blocks to fetch (this reader leads them) and blocks
// another reader is fetching (this one waits).
struct CachingByteSource::Plan {
  struct Lead {
    uint64_t index;
    std::shared_ptr<Flight> flight;
    bool demand;  // the read needs it (else readahead)
    std::shared_ptr<uint8_t[]> buf;
  };
  struct Wait {
    size_t slot;
    std::shared_ptr<Flight> flight;
  };
  static bool Selected(const Lead& lead, Which which) {
    return which == Which::kAll || lead.demand == (which == Which::kDemand);
  }
  absl::InlinedVector<Lead, 8> leads;
  absl::InlinedVector<Wait, 8> waits;
  bool has_readahead = false;
  absl::Time started;
};

absl::StatusOr<std::shared_ptr<CachingByteSource>> CachingByteSource::Create(
    std::shared_ptr<const ByteSource> inner, CacheOptions options) {
  if (inner == nullptr) return absl::InvalidArgumentError("CachingByteSource: no inner source");
  const uint64_t bs = options.block_size;
  if (bs < 512 || (bs & (bs - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        inner->name(), ": cache block size ", bs, " is not a power of two of at least 512"));
  }
  if (options.ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(inner->name(), ": cache ttl is negative"));
  }
  return std::shared_ptr<CachingByteSource>(new CachingByteSource(std::move(inner), options));
}

CachingByteSource::CachingByteSource(std::shared_ptr<const ByteSource> inner,
                                     CacheOptions options)
    : inner_(std::move(inner)),
      options_(options),
      max_blocks_(options.capacity_bytes / options.block_size),
      caching_(options.ttl > absl::ZeroDuration() && max_blocks_ > 0),
      lru_(std::make_unique<Entry>()) {}

CachingByteSource::~CachingByteSource() = default;

CacheStats CachingByteSource::stats() const {
  CacheStats s;
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.hits = get(counters_.hits);
  s.misses = get(counters_.misses);
  s.coalesced = get(counters_.coalesced);
  s.readahead = get(counters_.readahead);
  s.expired = get(counters_.expired);
  s.evictions = get(counters_.evictions);
  s.inner_reads = get(counters_.inner_reads);
  s.inner_bytes = get(counters_.inner_bytes);
  s.read_through_bytes = get(counters_.read_through_bytes);
  s.capacity_bytes = max_blocks_ * options_.block_size;
  absl::MutexLock l(&mu_);
  s.resident_bytes = resident_ * options_.block_size;
  return s;
}

void CachingByteSource::Clear() {
  absl::MutexLock l(&mu_);
  while (lru_->next != lru_.get()) {
    Entry* e = lru_->next;
    UnlinkLocked(e);
    --resident_;
    map_.erase(e->index);
  }
}

bool CachingByteSource::FreshLocked(const Entry& e, absl::Time now) const {
  return options_.ttl == absl::InfiniteDuration() || now - e.fetched < options_.ttl;
}

void CachingByteSource::LinkFrontLocked(Entry* e) const {
  e->prev = lru_.get();
  e->next = lru_->next;
  lru_->next->prev = e;
  lru_->next = e;
}

void CachingByteSource::UnlinkLocked(Entry* e) const {
  e->prev->next = e->next;
  e->next->prev = e->prev;
  e->prev = e->next = e;
}

void CachingByteSource::EvictLocked() const {
  while (resident_ > max_blocks_) {
    Entry* victim = lru_->prev;
    UnlinkLocked(victim);
    --resident_;
    Bump(counters_.evictions);
    map_.erase(victim->index);
  }
}

bool CachingByteSource::IsSequential(uint64_t offset, uint64_t end) const {
  // One stream is tracked: a read is sequential when it starts within one read length (at
  // least a block) of where the previous read ended, either way, since parallel FUSE
  // workers deliver one stream's reads slightly out of order. Nearer tolerance than that
  // would miss those; wider would fetch a window ahead of every read of a random walk
  // through nearby memory. Interleaved streams look random and get no readahead (they
  // still get the cache).
  const uint64_t prev = last_end_.exchange(end, std::memory_order_relaxed);
  const uint64_t slack = std::max(options_.block_size, end - offset);
  const uint64_t low = base::AlignDown(prev, options_.block_size);
  const uint64_t high = base::CheckedAdd(prev, slack).value_or(UINT64_MAX);
  return base::CheckedAdd(offset, slack).value_or(UINT64_MAX) >= low && offset <= high;
}

absl::Status CachingByteSource::ReadThrough(uint64_t offset, absl::Span<uint8_t> out,
                                            absl::Time deadline) const {
  Bump(counters_.inner_reads);
  Bump(counters_.inner_bytes, out.size());
  Bump(counters_.read_through_bytes, out.size());
  return inner_->ReadAt(offset, out, deadline);
}

absl::Status CachingByteSource::DoRead(uint64_t offset, absl::Span<uint8_t> out,
                                       absl::Time deadline) const {
  const auto end = base::CheckedAdd(offset, out.size());
  if (!end) {
    return absl::OutOfRangeError(absl::StrCat(name(), ": read of ", out.size(), " bytes at ",
                                              base::Hex(offset), " wraps"));
  }
  if (!caching_ || out.empty() || (options_.bypass_bytes > 0 && out.size() >= options_.bypass_bytes)) {
    KCOREFS_RETURN_IF_ERROR(ReadThrough(offset, out, deadline));
    CountRead(out.size());
    return absl::OkStatus();
  }
  // Only blocks the inner size covers whole are cached; the rest is read through.
  const uint64_t covered_blocks = inner_->size() / options_.block_size;
  const uint64_t covered_end = covered_blocks * options_.block_size;
  uint64_t split = std::clamp(covered_end, offset, *end);
  // A read larger than the whole cache would only evict everything to hold itself.
  if (split > offset && (split - 1) / options_.block_size - offset / options_.block_size >=
                            max_blocks_) {
    split = offset;
  }
  const bool sequential = IsSequential(offset, *end);
  if (split > offset) {
    KCOREFS_RETURN_IF_ERROR(
        ReadBlocks(offset, out.first(split - offset), deadline, sequential, covered_blocks));
  }
  if (split < *end) {
    KCOREFS_RETURN_IF_ERROR(ReadThrough(split, out.subspan(split - offset), deadline));
  }
  CountRead(out.size());
  return absl::OkStatus();
}

absl::Status CachingByteSource::ReadBlocks(uint64_t offset, absl::Span<uint8_t> out,
                                           absl::Time deadline, bool sequential,
                                           uint64_t covered_blocks) const {
  const uint64_t bs = options_.block_size;
  const uint64_t end = offset + out.size();  // checked by DoRead
  const uint64_t first = offset / bs;
  const uint64_t last = (end - 1) / bs;
  Blocks blocks(last - first + 1);
  bool readahead = sequential && options_.readahead_blocks > 0;
  for (int round = 1;; ++round) {
    Plan plan;
    const absl::Time now =
        options_.ttl == absl::InfiniteDuration() ? absl::InfinitePast() : absl::Now();
    {
      absl::MutexLock l(&mu_);
      PlanLocked(first, blocks, now, plan);
      if (readahead && !plan.leads.empty()) PlanReadaheadLocked(last, covered_blocks, now, plan);
    }
    readahead = false;
    if (!plan.leads.empty()) KCOREFS_RETURN_IF_ERROR(Fetch(plan, first, blocks, deadline));
    bool missing = false;
    for (const Plan::Wait& w : plan.waits) {
      absl::Status status = Await(w.flight, first + w.slot, deadline);
      if (status.ok()) {
        blocks[w.slot] = w.flight->data;  // written before `done`, which Await saw
        continue;
      }
      if (round >= kMaxRounds || absl::Now() >= deadline) return status;
      missing = true;  // that fetch failed: try again as this read's own
    }
    if (!missing) break;
  }
  CopyOut(offset, blocks, out);
  return absl::OkStatus();
}

void CachingByteSource::CopyOut(uint64_t offset, const Blocks& blocks,
                                absl::Span<uint8_t> out) const {
  const uint64_t bs = options_.block_size;
  const uint64_t first = offset / bs;
  const uint64_t end = offset + out.size();
  uint64_t pos = offset;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const uint64_t from = pos - (first + i) * bs;
    const uint64_t n = std::min(bs - from, end - pos);
    std::memcpy(out.data() + (pos - offset), blocks[i].get() + from, n);
    pos += n;
  }
}

void CachingByteSource::PlanLocked(uint64_t first, Blocks& blocks, absl::Time now,
                                   Plan& plan) const {
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i] != nullptr) continue;
    auto it = map_.find(first + i);
    if (it != map_.end()) {
      Entry& e = *it->second;
      if (e.flight != nullptr) {
        plan.waits.push_back({i, e.flight});
        Bump(counters_.coalesced);
        continue;
      }
      if (FreshLocked(e, now)) {
        UnlinkLocked(&e);
        LinkFrontLocked(&e);
        blocks[i] = e.data;
        Bump(counters_.hits);
        continue;
      }
    }
    LeadLocked(first + i, /*demand=*/true, now, plan);
  }
}

void CachingByteSource::PlanReadaheadLocked(uint64_t after, uint64_t covered_blocks,
                                            absl::Time now, Plan& plan) const {
  const uint64_t stop = std::min(covered_blocks, after + 1 + options_.readahead_blocks);
  for (uint64_t i = after + 1; i < stop; ++i) {
    if (LeadLocked(i, /*demand=*/false, now, plan)) plan.has_readahead = true;
  }
}

bool CachingByteSource::LeadLocked(uint64_t index, bool demand, absl::Time now,
                                   Plan& plan) const {
  auto [it, inserted] = map_.try_emplace(index, nullptr);
  if (inserted) {
    it->second = std::make_unique<Entry>();
    it->second->index = index;
  }
  Entry& e = *it->second;
  if (!inserted) {
    if (e.flight != nullptr || FreshLocked(e, now)) return false;
    // Too old to serve: fetch it again in place, so readers find it loading meanwhile.
    Bump(counters_.expired);
    UnlinkLocked(&e);
    --resident_;
    e.data = nullptr;
  }
  e.flight = std::make_shared<Flight>();
  plan.leads.push_back({index, e.flight, demand, nullptr});
  Bump(demand ? counters_.misses : counters_.readahead);
  return true;
}

absl::Status CachingByteSource::Fetch(Plan& plan, uint64_t first, Blocks& blocks,
                                      absl::Time deadline) const {
  for (Plan::Lead& lead : plan.leads) lead.buf.reset(new uint8_t[options_.block_size]);
  absl::Status status = FetchBatch(plan, Which::kAll, deadline);
  if (!status.ok() && plan.has_readahead) {
    // The part ahead may be what failed (it can run into a region the source lacks); it
    // must not fail this read, so the read's own blocks are fetched again alone.
    {
      absl::MutexLock l(&mu_);
      CompleteLocked(plan, Which::kReadahead, status);
    }
    status = FetchBatch(plan, Which::kDemand, deadline);
    absl::MutexLock l(&mu_);
    CompleteLocked(plan, Which::kDemand, status);
  } else {
    absl::MutexLock l(&mu_);
    CompleteLocked(plan, Which::kAll, status);
  }
  KCOREFS_RETURN_IF_ERROR(status);
  for (const Plan::Lead& lead : plan.leads) {
    if (lead.demand) blocks[lead.index - first] = lead.buf;
  }
  return absl::OkStatus();
}

absl::Status CachingByteSource::FetchBatch(Plan& plan, Which which,
                                           absl::Time deadline) const {
  const uint64_t bs = options_.block_size;
  absl::InlinedVector<ReadRequest, 32> requests;
  for (const Plan::Lead& lead : plan.leads) {
    // index < covered_blocks, so index * bs fits.
    if (Plan::Selected(lead, which)) requests.push_back({lead.index * bs, {lead.buf.get(), bs}});
  }
  Bump(counters_.inner_reads);
  Bump(counters_.inner_bytes, requests.size() * bs);
  plan.started = absl::Now();
  return inner_->ReadMany(requests, deadline);
}

void CachingByteSource::CompleteLocked(Plan& plan, Which which,
                                       const absl::Status& status) const {
  for (Plan::Lead& lead : plan.leads) {
    if (!Plan::Selected(lead, which)) continue;
    // A loading entry is never evicted or cleared, so it is still there and still ours.
    auto it = map_.find(lead.index);
    if (status.ok()) {
      Entry& e = *it->second;
      e.data = lead.buf;
      e.fetched = plan.started;
      e.flight = nullptr;
      LinkFrontLocked(&e);
      ++resident_;
      lead.flight->data = lead.buf;
    } else {
      map_.erase(it);  // errors are never cached
    }
    lead.flight->status = status;
    lead.flight->done = true;
    lead.flight->cv.SignalAll();
  }
  EvictLocked();
}

absl::Status CachingByteSource::Await(const std::shared_ptr<Flight>& flight, uint64_t index,
                                      absl::Time deadline) const {
  absl::MutexLock l(&mu_);
  while (!flight->done) {
    if (flight->cv.WaitWithDeadline(&mu_, deadline) && !flight->done) {
      return base::DeadlineError(absl::StrCat(
          "read of block ", base::Hex(index * options_.block_size), " of ", name(),
          ": the deadline passed while another read was fetching it"));
    }
  }
  return flight->status;
}

}  // namespace kcorefs::io
