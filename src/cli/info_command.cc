#include <getopt.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/elf/core_view.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::cli {
namespace {

using base::Hex;

constexpr char kInfoUsage[] =
    "usage: kcorefs info [--json] SOURCE|MOUNTPOINT\n"
    "\n"
    "Describes SOURCE: architecture, kernel release, KASLR offset, phys_base, direct-map\n"
    "base, kernel image, segments, notes and where VMCOREINFO came from. Given a kcorefs\n"
    "mount point, prints the mount's counters (its stats file).\n"
    "\n"
    "      --json              machine-readable output\n"
    "      --vmcoreinfo FILE   use FILE's VMCOREINFO text instead of the source's\n"
    "  -O KEY=VALUE[,...]      backend options (`kcorefs backends` lists them)\n"
    "  -h, --help              this text\n";

// phys_base is signed (the kernel prints it with %ld): "-0x1e000000" rather than 2^64 - x.
std::string SignedHex(int64_t v) {
  return v < 0 ? absl::StrCat("-", Hex(0 - static_cast<uint64_t>(v))) : Hex(static_cast<uint64_t>(v));
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

void PrintText(const backends::Backend& b, const backends::Snapshot& s) {
  const kernel::KernelFacts& f = s.facts;
  std::printf("source:           %s (backend %s%s)\n", b.source().c_str(),
              std::string(b.name()).c_str(), b.live() ? ", live" : "");
  std::printf("format:           %s\n", s.format.c_str());
  std::printf("views:            %s\n", elf::ViewNames(&s).c_str());
  std::printf("arch:             %s\n", std::string(f.arch->name).c_str());
  std::printf("release:          %s\n", f.osrelease.c_str());
  std::printf("kaslr offset:     %s\n", Hex(f.kaslr_offset).c_str());
  // Both forms: the kernel's signed value and the 64-bit one gdb's `p/x phys_base` shows.
  std::printf("phys_base:        %s (%s)\n", SignedHex(f.phys_base).c_str(),
              Hex(static_cast<uint64_t>(f.phys_base)).c_str());
  std::printf("paging levels:    %d\n", f.five_level ? 5 : 4);
  std::printf("direct-map base:  %s (from %s)\n", Hex(f.direct_map_base).c_str(),
              f.direct_map_origin.c_str());
  std::printf("kernel image:     vaddr %s paddr %s size %s (link-time vaddr %s)\n",
              Hex(f.image.vaddr).c_str(), Hex(f.image.paddr).c_str(), Hex(f.image.size).c_str(),
              Hex(f.image_link_vaddr()).c_str());
  std::printf("vmcoreinfo:       from %s\n", f.vmcoreinfo_origin.c_str());
  std::printf("notes:            VMCOREINFO, %zu NT_PRSTATUS\n", f.cpus.size());
  std::printf("physical memory:  %zu segments, %s bytes\n", s.map.physical().size(),
              Hex(s.map.TotalPhysBytes()).c_str());
  for (const mem::Segment& seg : s.map.physical()) {
    std::printf("  phys [%s, %s)%s\n", Hex(seg.start).c_str(), Hex(seg.end()).c_str(),
                seg.data_size < seg.size ? " (zero tail)" : "");
  }
  for (const mem::Segment& seg : s.map.virtual_only()) {
    std::printf("  virt [%s, %s)\n", Hex(seg.start).c_str(), Hex(seg.end()).c_str());
  }
  for (const std::string& w : s.warnings) std::printf("warning:          %s\n", w.c_str());
}

void PrintJson(const backends::Backend& b, const backends::Snapshot& s) {
  const kernel::KernelFacts& f = s.facts;
  std::string out = "{";
  absl::StrAppend(&out, "\"source\":", JsonString(b.source()), ",\"backend\":", JsonString(b.name()),
                  ",\"live\":", b.live() ? "true" : "false", ",\"format\":", JsonString(s.format), ",\"arch\":", JsonString(f.arch->name),
                  ",\"release\":", JsonString(f.osrelease),
                  ",\"kaslr_offset\":", JsonString(Hex(f.kaslr_offset)),
                  ",\"phys_base\":", JsonString(SignedHex(f.phys_base)),
                  ",\"phys_base_u64\":", JsonString(Hex(static_cast<uint64_t>(f.phys_base))),
                  ",\"paging_levels\":", f.five_level ? 5 : 4,
                  ",\"direct_map_base\":", JsonString(Hex(f.direct_map_base)),
                  ",\"direct_map_origin\":", JsonString(f.direct_map_origin),
                  ",\"image\":{\"vaddr\":", JsonString(Hex(f.image.vaddr)),
                  ",\"paddr\":", JsonString(Hex(f.image.paddr)), ",\"size\":", JsonString(Hex(f.image.size)),
                  ",\"link_vaddr\":", JsonString(Hex(f.image_link_vaddr())), "}",
                  ",\"vmcoreinfo_origin\":", JsonString(f.vmcoreinfo_origin),
                  ",\"prstatus_notes\":", f.cpus.size(), ",\"segments\":[");
  bool first = true;
  for (const mem::Segment& seg : s.map.physical()) {
    absl::StrAppend(&out, first ? "" : ",", "{\"paddr\":", JsonString(Hex(seg.start)),
                    ",\"size\":", JsonString(Hex(seg.size)), ",\"data_size\":", JsonString(Hex(seg.data_size)), "}");
    first = false;
  }
  for (const mem::Segment& seg : s.map.virtual_only()) {
    absl::StrAppend(&out, first ? "" : ",", "{\"vaddr\":", JsonString(Hex(seg.start)),
                    ",\"size\":", JsonString(Hex(seg.size)), "}");
    first = false;
  }
  absl::StrAppend(&out, "],\"warnings\":[");
  first = true;
  for (const std::string& w : s.warnings) {
    absl::StrAppend(&out, first ? "" : ",", JsonString(w));
    first = false;
  }
  absl::StrAppend(&out, "]}\n");
  std::fputs(out.c_str(), stdout);
}

// The stats file's "key value" lines as one JSON object; counters become numbers.
std::string StatsJson(absl::string_view text) {
  std::string out = "{";
  bool first = true;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    size_t sp = line.find(' ');
    if (sp == absl::string_view::npos) continue;
    absl::string_view key = line.substr(0, sp), value = line.substr(sp + 1);
    uint64_t n;
    absl::StrAppend(&out, first ? "" : ",", JsonString(key), ":",
                    absl::SimpleAtoi(value, &n) ? absl::StrCat(n) : JsonString(value));
    first = false;
  }
  return out + "}\n";
}

}  // namespace

int InfoCommand(int argc, char** argv) {
  static const struct option kLong[] = {{"json", no_argument, nullptr, 'j'},
                                        {"vmcoreinfo", required_argument, nullptr, 'V'},
                                        {"option", required_argument, nullptr, 'O'},
                                        {"help", no_argument, nullptr, 'h'},
                                        {nullptr, 0, nullptr, 0}};
  bool json = false;
  SourceOptions source_opts;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "O:h", kLong, nullptr)) != -1) {
    switch (c) {
      case 'j': json = true; break;
      case 'V': source_opts.vmcoreinfo_file = optarg; break;
      case 'O':
        if (absl::Status s = source_opts.config.ParseList(optarg); !s.ok()) {
          base::LogError(std::string(s.message()));
          return 2;
        }
        break;
      case 'h': std::fputs(kInfoUsage, stdout); return 0;
      default: std::fputs(kInfoUsage, stderr); return 2;
    }
  }
  if (argc - optind != 1) {
    std::fputs(kInfoUsage, stderr);
    return 2;
  }
  std::string source = argv[optind];
  struct stat st;
  if (::stat(source.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    // A kcorefs mount point: its counters. Any other directory is a source (a region set).
    auto stats = io::ReadSmallFile(source + "/stats");
    if (stats.ok() && absl::StartsWith(*stats, "backend ")) {
      std::fputs(json ? StatsJson(*stats).c_str() : stats->c_str(), stdout);
      return 0;
    }
  }
  auto backend = OpenSource(source, std::move(source_opts));
  if (!backend.ok()) {
    base::LogError(std::string(backend.status().message()));
    return 1;
  }
  auto snap = (*backend)->Current();
  if (!snap.ok()) {
    base::LogError(std::string(snap.status().message()));
    return 1;
  }
  if (json) {
    PrintJson(**backend, **snap);
  } else {
    PrintText(**backend, **snap);
  }
  return 0;
}

}  // namespace kcorefs::cli
