// Little-endian loads from untrusted bytes at any alignment (ELF notes, VMCOREINFO note
// headers, LiME range headers): the byte order is the format's, not the host's.
#ifndef KCOREFS_BASE_BYTE_ORDER_H_
#define KCOREFS_BASE_BYTE_ORDER_H_

#include <cstdint>

namespace kcorefs::base {

inline uint32_t LoadLe32(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

inline uint64_t LoadLe64(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return uint64_t{LoadLe32(b)} | uint64_t{LoadLe32(b + 4)} << 32;
}

}  // namespace kcorefs::base

#endif  // KCOREFS_BASE_BYTE_ORDER_H_
