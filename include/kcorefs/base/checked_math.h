// Checked arithmetic for offsets and lengths. Every offset + length computed from
// untrusted input (ELF headers, region tables, remote replies) goes through these.
#ifndef KCOREFS_BASE_CHECKED_MATH_H_
#define KCOREFS_BASE_CHECKED_MATH_H_

#include <cstdint>
#include <optional>

namespace kcorefs::base {

// Returns a + b, or nullopt when the sum does not fit in 64 bits.
inline std::optional<uint64_t> CheckedAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// True when [begin, begin + size) lies inside [0, limit).
inline bool RangeWithin(uint64_t begin, uint64_t size, uint64_t limit) {
  auto end = CheckedAdd(begin, size);
  return end.has_value() && *end <= limit;
}

inline uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }
inline uint64_t AlignDown(uint64_t v, uint64_t align) { return v & ~(align - 1); }

}  // namespace kcorefs::base

#endif  // KCOREFS_BASE_CHECKED_MATH_H_
