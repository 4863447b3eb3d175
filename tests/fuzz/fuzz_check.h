// Shared by the fuzz targets: an invariant check that aborts (libFuzzer and the replay
// runner both report an abort as a failure, with the input that caused it) and a reader
// of little-endian integers from the front of an input.
#ifndef KCOREFS_TESTS_FUZZ_FUZZ_CHECK_H_
#define KCOREFS_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define KCOREFS_FUZZ_CHECK(cond)                                                   \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace kcorefs::fuzz {

// Takes fixed-size little-endian values from the front of the input; past its end every
// value reads as 0, so any input is usable.
class InputHeader {
 public:
  InputHeader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Take(size_t bytes) {
    uint64_t v = 0;
    size_t n = pos_ < size_ ? (size_ - pos_ < bytes ? size_ - pos_ : bytes) : 0;
    if (n > 0) std::memcpy(&v, data_ + pos_, n);  // little-endian host
    pos_ += bytes;
    return v;
  }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Take(2)); }
  uint64_t U64() { return Take(8); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace kcorefs::fuzz

#endif  // KCOREFS_TESTS_FUZZ_FUZZ_CHECK_H_
