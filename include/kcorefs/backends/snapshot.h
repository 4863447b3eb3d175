// Snapshot: one consistent picture of a source — its memory map, the kernel facts derived
// from it, and the source's own warnings. An open file pins the snapshot (epoch) it was
// opened with; a backend publishes a new one when its map changes.
#ifndef KCOREFS_BACKENDS_SNAPSHOT_H_
#define KCOREFS_BACKENDS_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kcorefs/kernel/kernel_facts.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::backends {

struct Snapshot {
  uint64_t epoch = 0;   // bumped whenever the map changes (memory hotplug, regions)
  int64_t mtime = 0;    // seconds; when this epoch began (live) or the dump's mtime
  mem::MemoryMap map;
  kernel::KernelFacts facts;
  std::string format;   // what the source is, for `info`: "ELF core (kdump)", "/proc/kcore"
  std::vector<std::string> warnings;  // the source's own (truncation, dropped notes)
  // Views that apply only to some sources (e.g. "coreimage" for a kmemdump region set)
  // look for their name here.
  std::vector<std::string> extra_views;
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_SNAPSHOT_H_
