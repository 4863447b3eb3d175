// Fuzz target: the ELF note parser (a PT_NOTE segment's bytes, or the note that
// /sys/kernel/vmcoreinfo points at). Notes that parse must survive a round trip through
// SerializeNotes unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kcorefs/kernel/vmcoreinfo.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto notes = kcorefs::kernel::ParseNotes(bytes);
  if (!notes.ok()) return 0;
  uint64_t payload = 0;
  for (const kcorefs::kernel::Note& n : *notes) payload += n.name.size() + n.desc.size();
  KCOREFS_FUZZ_CHECK(payload <= size);
  std::string again = kcorefs::kernel::SerializeNotes(*notes);
  auto reparsed = kcorefs::kernel::ParseNotes(again);
  KCOREFS_FUZZ_CHECK(reparsed.ok());
  KCOREFS_FUZZ_CHECK(reparsed->size() == notes->size());
  for (size_t i = 0; i < notes->size(); ++i) {
    KCOREFS_FUZZ_CHECK((*reparsed)[i].name == (*notes)[i].name);
    KCOREFS_FUZZ_CHECK((*reparsed)[i].type == (*notes)[i].type);
    KCOREFS_FUZZ_CHECK((*reparsed)[i].desc == (*notes)[i].desc);
  }
  return 0;
}
