// Snapshot: one consistent picture of a source — its memory map, the kernel facts derived
// from it, and the source's own warnings. An open file pins the snapshot (epoch) it was
// opened with; a backend publishes a new one when its map changes.
#ifndef KCOREFS_BACKENDS_SNAPSHOT_H_
#define KCOREFS_BACKENDS_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kcorefs/io/byte_source.h"

#include "kcorefs/kernel/kernel_facts.h"
#include "kcorefs/mem/memory_map.h"

namespace kcorefs::backends {

// A region set's own file layout, served by the coreimage view (kmemdump/meminspect,
// docs/backends/kcorefs-kmemdump.7.md): the header region as the kernel wrote it, the
// VMCOREINFO region, then every region at its running offset. The elf layer writes the
// program headers itself from `regions`; the kernel's offsets are never used.
struct ImageRegion {
  std::string name;
  uint64_t id = 0;
  uint64_t vaddr = 0;
  uint64_t paddr = 0;
  uint64_t size = 0;       // bytes it takes in the layout (p_memsz)
  uint64_t data_size = 0;  // bytes `source` holds from source_offset; the rest is a hole
  uint32_t flags = 0;      // p_flags
  std::shared_ptr<const io::ByteSource> source;  // null: the region is missing
  uint64_t source_offset = 0;
};

struct RegionImage {
  uint16_t e_machine = 0;
  // Region 1 (Ehdr, program header slots, notes up to VMCOREINFO's descriptor), or empty:
  // the view writes a header of its own.
  std::string header;
  uint64_t phdr_slots = 0;           // program headers `header` has room for, PT_NOTE included
  ImageRegion vmcoreinfo;            // region 2: the VMCOREINFO note's descriptor
  std::vector<ImageRegion> regions;  // the PT_LOADs, in layout order
  // Append a section header table naming every region (eu-readelf -S shows them).
  bool section_names = false;
};

// What `-o redact=user` hid in a snapshot (docs/security.md, "Redaction").
struct Redaction {
  uint64_t user_pages = 0;        // anonymous, page cache, swap cache, hugetlb
  uint64_t free_pages = 0;        // free buddy blocks
  uint64_t unreadable_pages = 0;  // no readable struct page
  uint64_t page_size = 4096;
  // A volatile source: every page read is checked again and served as zeros when it has
  // become a user (or free) page since the snapshot was classified.
  bool recheck_on_read = false;
  uint64_t hidden_pages() const { return user_pages + free_pages + unreadable_pages; }
  // "redaction: user pages hidden: 1234 pages (4.8 MiB): 1000 user, 200 free, 34 unreadable"
  std::string Describe() const;
};

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
  // The coreimage layout of a region set (null for every other source).
  std::shared_ptr<const RegionImage> region_image;
  // Set when the map had user pages cut out of it (-o redact=user).
  std::optional<Redaction> redaction;
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_SNAPSHOT_H_
