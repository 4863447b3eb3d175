// CachingByteSource (BlockCache): a bounded cache of fixed-size, aligned blocks of an
// inner source, shared by every thread reading the mount.
//
//  - LRU eviction within `capacity_bytes`; a hit takes one mutex, a hash lookup, a list
//    splice and a reference count (no allocation): the bytes are copied out after the
//    lock is released, from a buffer the reader holds a reference to, so eviction while
//    copying is harmless.
//  - Single flight: a block being fetched is marked loading; a second reader that needs it
//    waits for that fetch (until its own deadline) instead of issuing another inner read.
//  - The blocks one read misses go to the inner source as one ReadMany, so a remote can
//    pipeline them; when reads are sequential, a miss also fetches the next
//    `readahead_blocks` blocks in the same batch. (A failure in the readahead part never
//    fails the read: the missed blocks are then fetched alone.)
//  - Freshness: an entry older than `ttl` is never served (a live kernel's memory changes
//    under the cache). ttl 0 caches nothing, InfiniteDuration() is for immutable sources.
//  - Errors are never cached: a failed fetch leaves no entry, and readers that were
//    waiting for it try again themselves (their deadline may be later than the one that
//    failed).
//  - A block the inner size does not fully cover (the tail of a file, or any block of a
//    source of unknown size 0) is read through: its bytes may still grow. So is a read of
//    more blocks than the cache holds (a bulk copy would only flush it).
#ifndef KCOREFS_IO_BLOCK_CACHE_H_
#define KCOREFS_IO_BLOCK_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::io {

struct CacheOptions {
  // A power of two, at least 512.
  uint64_t block_size = 64 << 10;
  // Whole blocks are kept; less than one block caches nothing.
  uint64_t capacity_bytes = 64 << 20;
  // Blocks fetched ahead of a sequential read that missed; 0 turns readahead off.
  uint32_t readahead_blocks = 16;
  // How long a fetched block may be served. 0: never (reads go through); infinite: the
  // source is immutable (a dump file).
  absl::Duration ttl = absl::InfiniteDuration();
  // Reads of at least this many bytes go straight to the inner source, uncached (0: none
  // do). A bulk read (a FUSE read of a sequential stream, an export) is held by the
  // kernel's page cache or by its reader; copying it through the cache costs a copy and
  // makes parallel readers queue behind each other's fetches, for no later hit.
  uint64_t bypass_bytes = 0;
};

// Counters for `stats`, in blocks unless named bytes.
struct CacheStats {
  uint64_t hits = 0;         // served from the cache
  uint64_t misses = 0;       // fetched because a read needed them
  uint64_t coalesced = 0;    // waited for while another read fetched them
  uint64_t readahead = 0;    // fetched ahead of a sequential read
  uint64_t expired = 0;      // found older than ttl and fetched again
  uint64_t evictions = 0;
  uint64_t inner_reads = 0;  // calls to the inner source (ReadAt or ReadMany)
  uint64_t inner_bytes = 0;  // bytes those calls asked for
  uint64_t read_through_bytes = 0;  // bytes read past the cache (uncovered tail, ttl 0)
  uint64_t resident_bytes = 0;
  uint64_t capacity_bytes = 0;
};

class CachingByteSource final : public ByteSource {
 public:
  // InvalidArgument when block_size is not a power of two >= 512 or ttl is negative.
  static absl::StatusOr<std::shared_ptr<CachingByteSource>> Create(
      std::shared_ptr<const ByteSource> inner, CacheOptions options = {});
  ~CachingByteSource() override;
  CachingByteSource(const CachingByteSource&) = delete;
  CachingByteSource& operator=(const CachingByteSource&) = delete;

  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  uint64_t preferred_read_size() const override { return inner_->preferred_read_size(); }
  // The inner fd: a read from it gives the same bytes, only uncached.
  std::optional<int> fd() const override { return inner_->fd(); }
  absl::StatusOr<std::vector<SourceExtent>> Extents(uint64_t offset,
                                                    uint64_t length) const override {
    return inner_->Extents(offset, length);
  }

  CacheStats stats() const;
  // Drops every cached block (a live source's contents were replaced); fetches under way
  // complete normally.
  void Clear();

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out,
                      absl::Time deadline) const override;

 private:
  using Data = std::shared_ptr<const uint8_t[]>;
  using Blocks = absl::InlinedVector<Data, 32>;
  struct Flight;
  struct Entry;
  struct Plan;
  // Which leads of a plan a batch covers: all, the read's own blocks, or the readahead.
  enum class Which { kAll, kDemand, kReadahead };
  struct Counters {
    std::atomic<uint64_t> hits{0}, misses{0}, coalesced{0}, readahead{0}, expired{0},
        evictions{0}, inner_reads{0}, inner_bytes{0}, read_through_bytes{0};
  };

  CachingByteSource(std::shared_ptr<const ByteSource> inner, CacheOptions options);
  bool IsSequential(uint64_t offset, uint64_t end) const;
  absl::Status ReadThrough(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline) const;
  // Reads [offset, offset + out.size()), all in blocks the inner size covers.
  absl::Status ReadBlocks(uint64_t offset, absl::Span<uint8_t> out, absl::Time deadline,
                          bool sequential, uint64_t covered_blocks) const;
  // Copies [offset, offset + out.size()) out of `blocks` (the first holds `offset`).
  void CopyOut(uint64_t offset, const Blocks& blocks, absl::Span<uint8_t> out) const;
  void PlanLocked(uint64_t first, Blocks& blocks, absl::Time now, Plan& plan) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PlanReadaheadLocked(uint64_t after, uint64_t covered_blocks, absl::Time now,
                           Plan& plan) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes this reader fetch `index` (true) unless the block is fresh or being fetched.
  bool LeadLocked(uint64_t index, bool demand, absl::Time now, Plan& plan) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Fetch(Plan& plan, uint64_t first, Blocks& blocks, absl::Time deadline) const;
  // One inner ReadMany for the selected leads of `plan`.
  absl::Status FetchBatch(Plan& plan, Which which, absl::Time deadline) const;
  // Publishes (or, on failure, drops) the selected leads and wakes their waiters.
  void CompleteLocked(Plan& plan, Which which, const absl::Status& status) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Await(const std::shared_ptr<Flight>& flight, uint64_t index,
                     absl::Time deadline) const;
  bool FreshLocked(const Entry& e, absl::Time now) const;
  void LinkFrontLocked(Entry* e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnlinkLocked(Entry* e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const ByteSource> inner_;
  const CacheOptions options_;
  const uint64_t max_blocks_;
  const bool caching_;  // ttl > 0 and room for a block
  mutable std::atomic<uint64_t> last_end_{0};  // end of the latest read, for readahead
  mutable Counters counters_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<uint64_t, std::unique_ptr<Entry>> map_ ABSL_GUARDED_BY(mu_);
  // Ready entries, most recently used first (a circular list through a sentinel).
  std::unique_ptr<Entry> lru_;
  mutable uint64_t resident_ ABSL_GUARDED_BY(mu_) = 0;
};

// The name the design uses.
using BlockCache = CachingByteSource;

}  // namespace kcorefs::io

#endif  // KCOREFS_IO_BLOCK_CACHE_H_
