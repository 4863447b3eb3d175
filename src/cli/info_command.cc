#include <getopt.h>
#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "cli/commands.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/log.h"
#include "kcorefs/elf/core_view.h"
#include "kcorefs/elf/gdb.h"
#include "kcorefs/io/small_file.h"

namespace kcorefs::cli {
namespace {

using base::Hex;
// Keys in the order they are printed, so the JSON reads like the text.
using Json = nlohmann::ordered_json;

constexpr char kInfoUsage[] =
    "usage: kcorefs info [--json] SOURCE|MOUNTPOINT\n"
    "\n"
    "Describes SOURCE: architecture, kernel release, KASLR offset, phys_base, direct-map\n"
    "base, kernel image, segments, notes, where VMCOREINFO came from, and the gdb command\n"
    "that reads this kernel right. Given a kcorefs mount point, also prints the mount's\n"
    "counters (its stats file), and the gdb command for that mount.\n"
    "\n"
    "      --json              machine-readable output (UTF-8 JSON; numbers as numbers,\n"
    "                          with a *_hex string beside addresses)\n"
    "      --vmcoreinfo FILE   use FILE's VMCOREINFO text instead of the source's\n"
    "      --vmlinux FILE      check FILE against the kernel's BUILD-ID (as mount does)\n"
    "  -O KEY=VALUE[,...]      backend options (`kcorefs backends` lists them)\n"
    "  -h, --help              this text\n";

// phys_base is signed (the kernel prints it with %ld): "-0x1e000000" rather than 2^64 - x.
std::string SignedHex(int64_t v) {
  return v < 0 ? absl::StrCat("-", Hex(0 - static_cast<uint64_t>(v))) : Hex(static_cast<uint64_t>(v));
}

// An address as a number and, for humans, as hex beside it.
void PutAddr(Json& j, const std::string& key, uint64_t v) {
  j[key] = v;
  j[key + "_hex"] = Hex(v);
}

// What `info` says about a source, whichever way it was reached.
struct Report {
  const backends::Backend* backend = nullptr;   // null for a mount point's vmcore
  const backends::Snapshot* snap = nullptr;
  std::string mount;                            // the mount point, or empty
  std::map<std::string, std::string> stats;     // the mount's stats file
  std::vector<std::string> stats_order;
  std::vector<std::string> warnings;
  elf::GdbAdvice gdb;
  bool vmlinux_view = false;
};

void Collect(Report& r) {
  const backends::Snapshot& s = *r.snap;
  for (const std::string& w : s.warnings) r.warnings.push_back(w);
  for (const std::string& w : s.facts.warnings) {
    if (std::find(r.warnings.begin(), r.warnings.end(), w) == r.warnings.end()) r.warnings.push_back(w);
  }
  r.gdb = elf::AdviseGdb(s, r.mount.empty() ? "MNT" : r.mount, r.vmlinux_view);
  if (!r.gdb.warning.empty()) r.warnings.push_back(absl::StrCat("gdb: ", r.gdb.warning));
}

void PrintText(const Report& r) {
  if (!r.mount.empty()) {
    // The stats file as it is ("key value" lines: scripts read them), then the kernel.
    for (const std::string& k : r.stats_order) {
      std::printf("%s %s\n", k.c_str(), r.stats.at(k).c_str());
    }
    std::printf("mount point:      %s\n", r.mount.c_str());
  }
  if (r.snap == nullptr) {
    for (const std::string& w : r.warnings) std::printf("warning:          %s\n", w.c_str());
    return;
  }
  const backends::Snapshot& s = *r.snap;
  const kernel::KernelFacts& f = s.facts;
  if (r.backend != nullptr) {
    std::printf("source:           %s (backend %s%s)\n", r.backend->source().c_str(),
                std::string(r.backend->name()).c_str(), r.backend->live() ? ", live" : "");
    std::printf("format:           %s\n", s.format.c_str());
    std::printf("views:            %s\n", elf::ViewNames(&s).c_str());
    std::printf("redaction:        %s\n",
                s.redaction.has_value() ? s.redaction->Describe().c_str() : "off");
  }
  std::printf("arch:             %s\n", std::string(f.arch->name).c_str());
  std::printf("release:          %s\n", f.osrelease.c_str());
  std::printf("build id:         %s\n", f.vmcoreinfo.Get("BUILD-ID").value_or("(none in VMCOREINFO)").c_str());
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
  std::printf("kcore image:      %s\n", std::string(elf::ImageLayoutName(r.gdb.layout)).c_str());
  std::printf("vmcoreinfo:       from %s\n", f.vmcoreinfo_origin.c_str());
  if (f.vmlinux != nullptr) {
    std::printf("vmlinux:          %s (build id matches)\n", f.vmlinux->path.c_str());
  }
  std::printf("notes:            VMCOREINFO, %zu NT_PRSTATUS\n", f.cpus.size());
  std::printf("gdb:              %s\n", r.gdb.command.c_str());
  if (!r.gdb.per_cpu.empty()) std::printf("gdb per-cpu:      %s\n", r.gdb.per_cpu.c_str());
  if (r.backend != nullptr) {
    std::printf("physical memory:  %zu segments, %s bytes\n", s.map.physical().size(),
                Hex(s.map.TotalPhysBytes()).c_str());
    for (const mem::Segment& seg : s.map.physical()) {
      std::printf("  phys [%s, %s)%s\n", Hex(seg.start).c_str(), Hex(seg.end()).c_str(),
                  seg.data_size < seg.size ? " (zero tail)" : "");
    }
    for (const mem::Segment& seg : s.map.virtual_only()) {
      std::printf("  virt [%s, %s)\n", Hex(seg.start).c_str(), Hex(seg.end()).c_str());
    }
  }
  for (const std::string& w : r.warnings) std::printf("warning:          %s\n", w.c_str());
}

Json ToJson(const Report& r) {
  Json j = Json::object();
  if (!r.mount.empty()) {
    j["mountpoint"] = r.mount;
    // The stats file's "key value" lines; counters become numbers.
    for (const std::string& k : r.stats_order) {
      uint64_t n;
      const std::string& v = r.stats.at(k);
      if (absl::SimpleAtoi(v, &n)) j[k] = n; else j[k] = v;
    }
  }
  if (r.snap != nullptr) {
    const backends::Snapshot& s = *r.snap;
    const kernel::KernelFacts& f = s.facts;
    if (r.backend != nullptr) {
      j["source"] = r.backend->source();
      j["backend"] = std::string(r.backend->name());
      j["live"] = r.backend->live();
      j["format"] = s.format;
      Json views = Json::array();
      for (const elf::ViewType* t : elf::ViewTypes()) {
        if (t->applies(s)) views.push_back(std::string(t->name));
      }
      j["views"] = views;
      if (s.redaction.has_value()) {
        const backends::Redaction& red = *s.redaction;
        j["redaction"] = {{"mode", "user"},
                          {"hidden_pages", red.hidden_pages()},
                          {"user_pages", red.user_pages},
                          {"free_pages", red.free_pages},
                          {"unreadable_pages", red.unreadable_pages},
                          {"recheck_on_read", red.recheck_on_read}};
      } else {
        j["redaction"] = nullptr;
      }
    }
    j["arch"] = std::string(f.arch->name);
    j["release"] = f.osrelease;
    auto build_id = f.vmcoreinfo.Get("BUILD-ID");
    j["build_id"] = build_id.has_value() ? Json(*build_id) : Json(nullptr);
    PutAddr(j, "kaslr_offset", f.kaslr_offset);
    j["phys_base"] = f.phys_base;
    j["phys_base_hex"] = SignedHex(f.phys_base);
    j["phys_base_u64_hex"] = Hex(static_cast<uint64_t>(f.phys_base));
    j["paging_levels"] = f.five_level ? 5 : 4;
    PutAddr(j, "direct_map_base", f.direct_map_base);
    j["direct_map_origin"] = f.direct_map_origin;
    Json image = Json::object();
    PutAddr(image, "vaddr", f.image.vaddr);
    PutAddr(image, "paddr", f.image.paddr);
    PutAddr(image, "size", f.image.size);
    PutAddr(image, "link_vaddr", f.image_link_vaddr());
    j["image"] = image;
    j["vmcoreinfo_origin"] = f.vmcoreinfo_origin;
    j["vmlinux"] = f.vmlinux != nullptr ? Json(f.vmlinux->path) : Json(nullptr);
    j["prstatus_notes"] = f.cpus.size();
    Json gdb = Json::object();
    gdb["command"] = r.gdb.command;
    gdb["kcore_image"] = std::string(elf::ImageLayoutName(r.gdb.layout));
    gdb["vmlinux_view"] = r.vmlinux_view;
    gdb["per_cpu"] = r.gdb.per_cpu.empty() ? Json(nullptr) : Json(r.gdb.per_cpu);
    j["gdb"] = gdb;
    if (r.backend != nullptr) {
      Json segs = Json::array();
      for (const mem::Segment& seg : s.map.physical()) {
        Json o = Json::object();
        PutAddr(o, "paddr", seg.start);
        PutAddr(o, "size", seg.size);
        PutAddr(o, "data_size", seg.data_size);
        segs.push_back(o);
      }
      for (const mem::Segment& seg : s.map.virtual_only()) {
        Json o = Json::object();
        PutAddr(o, "vaddr", seg.start);
        PutAddr(o, "size", seg.size);
        segs.push_back(o);
      }
      j["segments"] = segs;
    }
  }
  j["warnings"] = r.warnings;
  return j;
}

void Print(const Report& r, bool json) {
  if (!json) {
    PrintText(r);
    return;
  }
  // Paths and warnings are bytes from the user's file system and the source: invalid
  // UTF-8 becomes U+FFFD, so the output always parses.
  std::string out = ToJson(r).dump(-1, ' ', false, Json::error_handler_t::replace);
  out.push_back('\n');
  std::fputs(out.c_str(), stdout);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A kcorefs mount point: its counters, and the kernel as its vmcore shows it (opened like
// any dump: the facts, hence the gdb command, are those the mount serves).
int InfoMount(const std::string& mount, const std::string& stats, bool json) {
  Report r;
  char real[PATH_MAX];
  r.mount = ::realpath(mount.c_str(), real) ? real : mount;
  for (absl::string_view line : absl::StrSplit(stats, '\n', absl::SkipEmpty())) {
    size_t sp = line.find(' ');
    if (sp == absl::string_view::npos) continue;
    std::string key(line.substr(0, sp));
    if (!r.stats.count(key)) r.stats_order.push_back(key);
    r.stats[key] = std::string(line.substr(sp + 1));
  }
  r.vmlinux_view = IsFile(r.mount + "/vmlinux");
  SourceOptions opts;
  opts.vmlinux_file = "";  // the mount's own vmlinux view is what counts
  auto backend = OpenSource(r.mount + "/vmcore", std::move(opts));
  absl::StatusOr<std::shared_ptr<const backends::Snapshot>> snap =
      backend.ok() ? (*backend)->Current() : backend.status();
  if (snap.ok()) {
    r.snap = snap->get();
    Collect(r);
  } else {
    r.warnings.push_back(absl::StrCat("cannot describe the kernel: ", snap.status().message()));
  }
  Print(r, json);
  return 0;
}

}  // namespace

int InfoCommand(int argc, char** argv) {
  static const struct option kLong[] = {{"json", no_argument, nullptr, 'j'},
                                        {"vmcoreinfo", required_argument, nullptr, 'V'},
                                        {"vmlinux", required_argument, nullptr, 'L'},
                                        {"option", required_argument, nullptr, 'O'},
                                        {"help", no_argument, nullptr, 'h'},
                                        {nullptr, 0, nullptr, 0}};
  bool json = false;
  SourceOptions source_opts;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "O:h", kLong, nullptr)) != -1) {
    absl::Status s;
    switch (c) {
      case 'j': json = true; break;
      case 'V': source_opts.vmcoreinfo_file = optarg; break;
      case 'L': s = SetVmlinuxOption(optarg, source_opts); break;
      case 'O': s = ParseSourceOptionList(optarg, source_opts); break;
      case 'h': std::fputs(kInfoUsage, stdout); return 0;
      default: std::fputs(kInfoUsage, stderr); return 2;
    }
    if (!s.ok()) {
      base::LogError(std::string(s.message()));
      return 2;
    }
  }
  if (argc - optind != 1) {
    std::fprintf(stderr, "kcorefs info: %s\n\n%s",
                 argc - optind == 0 ? "no SOURCE or MOUNTPOINT given" : "more than one SOURCE given",
                 kInfoUsage);
    return 2;
  }
  std::string source = argv[optind];
  struct stat st;
  if (::stat(source.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    // A kcorefs mount point. Any other directory is a source (a region set).
    auto stats = io::ReadSmallFile(source + "/stats");
    if (stats.ok() && absl::StartsWith(*stats, "backend ")) return InfoMount(source, *stats, json);
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
  Report r;
  r.backend = backend->get();
  r.snap = snap->get();
  r.vmlinux_view = (*snap)->facts.vmlinux != nullptr;
  Collect(r);
  Print(r, json);
  return 0;
}

}  // namespace kcorefs::cli
