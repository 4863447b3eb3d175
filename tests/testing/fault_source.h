// FaultByteSource: bytes in memory behind rules that make chosen offset ranges misbehave
// the way remote transports do: fail with a given status, end early, answer slowly, or
// never answer until the test releases them. Every call is logged, so tests can count
// what a decorator asked of its inner source. Thread-safe.
//
// Delays and blocks ignore the read's deadline on purpose: they stand for a remote that
// does not honour it, which is what DeadlineByteSource exists for.
#ifndef KCOREFS_TESTS_TESTING_FAULT_SOURCE_H_
#define KCOREFS_TESTS_TESTING_FAULT_SOURCE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::testing {

class FaultByteSource final : public io::ByteSource {
 public:
  using RuleId = int;
  // One inner call as the source saw it: a ReadAt (one range) or a ReadMany.
  struct Call {
    bool many = false;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // offset, length
  };

  explicit FaultByteSource(std::string bytes, std::string name = "fault://test")
      : name_(std::move(name)), bytes_(std::move(bytes)) {}

  // `size` bytes where byte i is Pattern(i), so a misplaced copy shows.
  static std::shared_ptr<FaultByteSource> WithPattern(uint64_t size,
                                                      std::string name = "fault://test") {
    std::string bytes(size, '\0');
    for (uint64_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(Pattern(i));
    return std::make_shared<FaultByteSource>(std::move(bytes), std::move(name));
  }
  static uint8_t Pattern(uint64_t offset) {
    return static_cast<uint8_t>(offset * 7 + (offset >> 8) * 13 + (offset >> 16));
  }
  // True when `bytes` are what WithPattern holds at `offset`.
  static bool HasPattern(absl::Span<const uint8_t> bytes, uint64_t offset) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != Pattern(offset + i)) return false;
    }
    return true;
  }

  // A read overlapping [offset, offset + length) fails with `status`: always (times < 0)
  // or for the first `times` such reads.
  RuleId Fail(uint64_t offset, uint64_t length, absl::Status status, int times = -1) {
    Rule r = MakeRule(Rule::kFail, offset, length, times);
    r.status = std::move(status);
    return Add(std::move(r));
  }
  // A read overlapping the range gets the bytes before `offset`, then OutOfRange (kind
  // permanent), as from a source that ends there.
  RuleId Short(uint64_t offset, uint64_t length, int times = -1) {
    return Add(MakeRule(Rule::kShort, offset, length, times));
  }
  // A read overlapping the range first sleeps `delay`.
  RuleId Delay(uint64_t offset, uint64_t length, absl::Duration delay, int times = -1) {
    Rule r = MakeRule(Rule::kDelay, offset, length, times);
    r.delay = delay;
    return Add(std::move(r));
  }
  // A read overlapping the range waits until Release(id) or Clear().
  RuleId Block(uint64_t offset, uint64_t length, int times = -1) {
    Rule r = MakeRule(Rule::kBlock, offset, length, times);
    r.gate = std::make_shared<bool>(false);
    return Add(std::move(r));
  }
  // Lets the reads a Block rule holds go on, and removes the rule.
  void Release(RuleId id) {
    absl::MutexLock l(&mu_);
    auto it = rules_.find(id);
    if (it == rules_.end()) return;
    if (it->second.gate) *it->second.gate = true;
    rules_.erase(it);
  }
  void Remove(RuleId id) { Release(id); }
  // Removes every rule and releases every blocked read.
  void Clear() {
    absl::MutexLock l(&mu_);
    for (auto& [id, r] : rules_) {
      if (r.gate) *r.gate = true;
    }
    rules_.clear();
  }

  // Waits until `n` reads are held by Block rules; false if that takes over `timeout`.
  bool WaitForBlocked(int n, absl::Duration timeout = absl::Seconds(10)) const {
    absl::MutexLock l(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return blocked_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  int blocked() const {
    absl::MutexLock l(&mu_);
    return blocked_;
  }

  // Ranges read (a ReadAt's, each request of a ReadMany's) overlapping the range.
  uint64_t ReadsOf(uint64_t offset, uint64_t length) const {
    absl::MutexLock l(&mu_);
    uint64_t n = 0;
    for (const Call& c : calls_) {
      for (const auto& [o, len] : c.ranges) n += Overlaps(o, len, offset, length) ? 1 : 0;
    }
    return n;
  }
  // Inner calls so far (ReadAt and ReadMany alike: what a remote would see as requests
  // batches).
  uint64_t calls() const {
    absl::MutexLock l(&mu_);
    return calls_.size();
  }
  std::vector<Call> call_log() const {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  void ClearLog() {
    absl::MutexLock l(&mu_);
    calls_.clear();
  }

  // Changes bytes in place (a live source's memory changing under a cache).
  void Write(uint64_t offset, absl::string_view data) {
    absl::MutexLock l(&mu_);
    if (base::RangeWithin(offset, data.size(), bytes_.size())) {
      std::memcpy(bytes_.data() + offset, data.data(), data.size());
    }
  }
  // Grows the source (a live source whose size became known).
  void Append(absl::string_view data) {
    absl::MutexLock l(&mu_);
    bytes_.append(data.data(), data.size());
  }

  uint64_t size() const override {
    absl::MutexLock l(&mu_);
    return bytes_.size();
  }
  const std::string& name() const override { return name_; }

 protected:
  absl::Status DoRead(uint64_t offset, absl::Span<uint8_t> out, absl::Time) const override {
    Log(Call{false, {{offset, out.size()}}});
    return ReadOne(offset, out);
  }
  absl::Status DoReadMany(absl::Span<const io::ReadRequest> requests, absl::Time) const override {
    Call call{true, {}};
    for (const io::ReadRequest& r : requests) call.ranges.push_back({r.offset, r.out.size()});
    Log(std::move(call));
    for (const io::ReadRequest& r : requests) {
      absl::Status s = ReadOne(r.offset, r.out);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  struct Rule {
    enum Kind { kFail, kShort, kDelay, kBlock };
    Kind kind = kFail;
    uint64_t offset = 0;
    uint64_t length = 0;
    int times = -1;  // < 0: always
    absl::Status status;
    absl::Duration delay;
    std::shared_ptr<bool> gate;  // kBlock: set when released
  };
  static Rule MakeRule(Rule::Kind kind, uint64_t offset, uint64_t length, int times) {
    Rule r;
    r.kind = kind;
    r.offset = offset;
    r.length = length;
    r.times = times;
    return r;
  }

  static bool Overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
    const uint64_t aend = base::CheckedAdd(a, alen).value_or(UINT64_MAX);
    const uint64_t bend = base::CheckedAdd(b, blen).value_or(UINT64_MAX);
    return alen > 0 && blen > 0 && a < bend && b < aend;
  }

  RuleId Add(Rule r) {
    absl::MutexLock l(&mu_);
    rules_.emplace(next_id_, std::move(r));
    return next_id_++;
  }
  void Log(Call call) const {
    absl::MutexLock l(&mu_);
    calls_.push_back(std::move(call));
  }

  // The rules a read of [offset, offset + n) meets, in the order they were added, each
  // with one use taken.
  std::vector<Rule> Match(uint64_t offset, uint64_t n) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Rule> hit;
    for (auto it = rules_.begin(); it != rules_.end();) {
      Rule& r = it->second;
      if (!Overlaps(offset, n, r.offset, r.length) || r.times == 0) {
        ++it;
        continue;
      }
      hit.push_back(r);
      if (r.times > 0 && --r.times == 0 && !r.gate) {
        it = rules_.erase(it);
        continue;
      }
      ++it;
    }
    return hit;
  }

  absl::Status ReadOne(uint64_t offset, absl::Span<uint8_t> out) const {
    std::vector<Rule> hit;
    {
      absl::MutexLock l(&mu_);
      hit = Match(offset, out.size());
    }
    for (const Rule& r : hit) {
      if (r.kind == Rule::kDelay) absl::SleepFor(r.delay);
      if (r.kind == Rule::kBlock) WaitForGate(*r.gate);
    }
    for (const Rule& r : hit) {
      if (r.kind == Rule::kFail) return r.status;
      if (r.kind == Rule::kShort) return ShortRead(offset, out, r.offset);
    }
    absl::MutexLock l(&mu_);
    if (!base::RangeWithin(offset, out.size(), bytes_.size())) {
      return base::WithKind(absl::OutOfRangeError(absl::StrCat(name_, ": read of ", out.size(),
                                                               " bytes at ", base::Hex(offset),
                                                               " is past its end")),
                            base::ErrorKind::kPermanent);
    }
    if (!out.empty()) std::memcpy(out.data(), bytes_.data() + offset, out.size());
    CountRead(out.size());
    return absl::OkStatus();
  }

  absl::Status ShortRead(uint64_t offset, absl::Span<uint8_t> out, uint64_t end) const {
    absl::MutexLock l(&mu_);
    if (end > offset) {
      const uint64_t n = std::min<uint64_t>(end - offset, out.size());
      if (base::RangeWithin(offset, n, bytes_.size())) {
        std::memcpy(out.data(), bytes_.data() + offset, n);
      }
    }
    return base::WithKind(absl::OutOfRangeError(absl::StrCat(name_, ": unexpected end at ",
                                                             base::Hex(end))),
                          base::ErrorKind::kPermanent);
  }

  void WaitForGate(const bool& gate) const {
    absl::MutexLock l(&mu_);
    ++blocked_;
    mu_.Await(absl::Condition(&gate));
    --blocked_;
  }

  const std::string name_;
  mutable absl::Mutex mu_;
  std::string bytes_ ABSL_GUARDED_BY(mu_);
  mutable std::map<RuleId, Rule> rules_ ABSL_GUARDED_BY(mu_);
  RuleId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  mutable std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  mutable int blocked_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kcorefs::testing

#endif  // KCOREFS_TESTS_TESTING_FAULT_SOURCE_H_
