#include "backends/kmemdump/region_parsers.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "nlohmann/json.hpp"

namespace kcorefs::backends::kmemdump {
namespace {

using base::Hex;

absl::Status Bad(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

// "0x1f", "1f" with 0x only; decimal otherwise.
bool ParseNumber(absl::string_view s, uint64_t* out, bool hex_default) {
  s = absl::StripAsciiWhitespace(s);
  if (absl::StartsWith(s, "0x") || absl::StartsWith(s, "0X")) {
    s.remove_prefix(2);
    return !s.empty() && absl::SimpleHexAtoi(s, out);
  }
  return !s.empty() && (hex_default ? absl::SimpleHexAtoi(s, out) : absl::SimpleAtoi(s, out));
}

template <typename T>
T Load(absl::string_view bytes, uint64_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  return v;
}

// Region names are kept as given, but a name that would make a bad message or section name
// (control bytes) is refused.
bool Printable(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kElfHeader: return "elf_header";
    case Role::kVmcoreinfo: return "vmcoreinfo";
    case Role::kLoad: return "load";
    case Role::kAux: return "aux";
  }
  return "?";
}

std::optional<RegionFileName> ParseRegionFileName(absl::string_view file) {
  if (file.size() < 9 || !absl::StartsWith(file, "md_K")) return std::nullopt;
  if (!absl::EndsWithIgnoreCase(file, ".bin")) return std::nullopt;
  absl::string_view mid = file.substr(4, file.size() - 8);
  size_t digits = 0;
  while (digits < mid.size() && absl::ascii_isdigit(mid[mid.size() - 1 - digits])) ++digits;
  // An id is what QDL appends to the (at most 8-character) region name.
  if (digits == 0 || digits > 9 || digits == mid.size()) return std::nullopt;
  RegionFileName out;
  out.name = std::string(mid.substr(0, mid.size() - digits));
  if (!absl::SimpleAtoi(mid.substr(mid.size() - digits), &out.id)) return std::nullopt;
  return out;
}

absl::StatusOr<HeaderRegion> ParseHeaderRegion(absl::string_view bytes, bool whole_file,
                                               absl::string_view what) {
  if (bytes.size() < sizeof(Elf64_Ehdr)) {
    return Bad(what, absl::StrCat(bytes.size(), " bytes, shorter than an ELF header: not a coreimage header region"));
  }
  const auto eh = Load<Elf64_Ehdr>(bytes, 0);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return Bad(what, "no ELF magic at offset 0: not a coreimage header region");
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Bad(what, "not a 64-bit little-endian ELF header (only those are read)");
  }
  if (eh.e_type != ET_CORE) return Bad(what, absl::StrCat("e_type ", eh.e_type, ", not ET_CORE"));
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return Bad(what, absl::StrCat("e_phentsize ", eh.e_phentsize, ", not ", sizeof(Elf64_Phdr)));
  }
  if (eh.e_phnum == 0 || eh.e_phnum == PN_XNUM) {
    return Bad(what, absl::StrCat("e_phnum ", eh.e_phnum, ": a coreimage header has 1 to 65534"));
  }
  const uint64_t table = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff < sizeof(Elf64_Ehdr) || !base::RangeWithin(eh.e_phoff, table, bytes.size())) {
    return Bad(what, absl::StrCat("program headers at ", Hex(eh.e_phoff), " (", eh.e_phnum,
                                  " of them) do not lie within its ", bytes.size(), " bytes"));
  }
  HeaderRegion out;
  out.e_machine = eh.e_machine;
  out.phoff = eh.e_phoff;
  bool have_note = false;
  for (uint64_t i = 0; i < eh.e_phnum; ++i) {
    const auto ph = Load<Elf64_Phdr>(bytes, eh.e_phoff + i * sizeof(Elf64_Phdr));
    if (ph.p_type == PT_NOTE && !have_note) {
      have_note = true;
      out.note_offset = ph.p_offset;
      out.note_size = ph.p_filesz;
    } else if (ph.p_type == PT_LOAD) {
      if (!base::CheckedAdd(ph.p_paddr, ph.p_memsz) || ph.p_filesz > ph.p_memsz) {
        return Bad(what, absl::StrCat("program header ", i, " (physical ", Hex(ph.p_paddr), ", ",
                                      Hex(ph.p_memsz), " bytes) is malformed"));
      }
      out.loads.push_back(HeaderLoad{i, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz,
                                     ph.p_memsz, ph.p_flags});
    }
  }
  if (!have_note) return Bad(what, "no PT_NOTE program header: not a coreimage header region");
  if (out.note_offset < eh.e_phoff + table) {
    return Bad(what, absl::StrCat("PT_NOTE at ", Hex(out.note_offset), " overlaps the program headers"));
  }
  auto note_end = base::CheckedAdd(out.note_offset, out.note_size);
  if (!note_end || out.note_offset >= bytes.size()) {
    return Bad(what, absl::StrCat("PT_NOTE at ", Hex(out.note_offset), " lies past its ",
                                  bytes.size(), " bytes"));
  }
  // Walk the notes up to VMCOREINFO, whose descriptor is region 2.
  uint64_t pos = out.note_offset;
  while (true) {
    if (pos + sizeof(Elf64_Nhdr) > *note_end || pos + sizeof(Elf64_Nhdr) > bytes.size()) {
      return Bad(what, "its notes hold no VMCOREINFO note header");
    }
    const auto nh = Load<Elf64_Nhdr>(bytes, pos);
    const uint64_t name_at = pos + sizeof(nh);
    const uint64_t desc_at = name_at + base::AlignUp(nh.n_namesz, 4);
    if (desc_at > *note_end || desc_at > bytes.size()) {
      return Bad(what, absl::StrCat("note at ", Hex(pos), " runs past the notes"));
    }
    absl::string_view name = bytes.substr(name_at, nh.n_namesz);
    if (absl::StartsWith(name, "VMCOREINFO")) {
      if (desc_at + uint64_t{nh.n_descsz} != *note_end) {
        return Bad(what, absl::StrCat("VMCOREINFO's descriptor (", nh.n_descsz, " bytes at ", Hex(desc_at),
                                      ") does not end where PT_NOTE ends (", Hex(*note_end), ")"));
      }
      out.size = desc_at;
      out.vmcoreinfo_size = nh.n_descsz;
      break;
    }
    const uint64_t next = desc_at + base::AlignUp(nh.n_descsz, 4);
    if (next > *note_end || next > bytes.size()) {
      return Bad(what, absl::StrCat("note at ", Hex(pos), " runs past the notes"));
    }
    pos = next;
  }
  if (!whole_file && bytes.size() != out.size) {
    return Bad(what, absl::StrCat(bytes.size(), " bytes, but its notes say the header region is ",
                                  out.size, " (VMCOREINFO's descriptor, region 2, starts there)"));
  }
  out.phdr_slots = (out.note_offset - eh.e_phoff) / sizeof(Elf64_Phdr);
  return out;
}

absl::StatusOr<std::vector<RegionSpec>> ParseDumpInfo(absl::string_view text,
                                                      absl::string_view what) {
  std::vector<RegionSpec> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat(what, " line ", line_no);
    if (f.size() != 5) {
      return Bad(where, absl::StrCat("expected 5 fields (valid paddr size name filename), found ", f.size()));
    }
    uint64_t valid = 0, paddr = 0, size = 0;
    if (!ParseNumber(f[0], &valid, false) || valid > 1) return Bad(where, absl::StrCat("valid \"", f[0], "\" is not 0 or 1"));
    if (!ParseNumber(f[1], &paddr, true)) return Bad(where, absl::StrCat("paddr \"", f[1], "\" is not a number"));
    if (!ParseNumber(f[2], &size, false)) return Bad(where, absl::StrCat("size \"", f[2], "\" is not a decimal number"));
    if (!Printable(f[3]) || !Printable(f[4]) || absl::StrContains(f[4], '/')) {
      return Bad(where, "region name or file name holds a control character or '/'");
    }
    if (valid == 0) continue;
    if (!base::CheckedAdd(paddr, size)) return Bad(where, "paddr + size wraps around");
    RegionSpec r;
    r.paddr = paddr;
    r.size = size;
    r.name = std::string(f[3]);
    r.file = std::string(f[4]);
    r.origin = where;
    if (auto parsed = ParseRegionFileName(r.file)) r.id = parsed->id;
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<RegionSpec>> ParseLoadCmm(absl::string_view text,
                                                     absl::string_view what) {
  std::vector<RegionSpec> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (!absl::StartsWithIgnoreCase(line, "d.load.binary")) continue;
    line.remove_prefix(13);
    line = absl::StripLeadingAsciiWhitespace(line);
    const std::string where = absl::StrCat(what, " line ", line_no);
    std::string file;
    if (!line.empty() && line[0] == '"') {
      size_t close = line.find('"', 1);
      if (close == absl::string_view::npos) return Bad(where, "unterminated quoted file name");
      file = std::string(line.substr(1, close - 1));
      line.remove_prefix(close + 1);
    } else {
      size_t sp = line.find_first_of(" \t");
      file = std::string(line.substr(0, sp));
      line.remove_prefix(sp == absl::string_view::npos ? line.size() : sp);
    }
    std::vector<absl::string_view> rest = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    uint64_t paddr = 0;
    if (rest.empty()) return Bad(where, "no address after the file name");
    // Trace32 addresses may carry an access class ("a:0x80000000").
    absl::string_view addr = rest[0];
    if (size_t colon = addr.rfind(':'); colon != absl::string_view::npos) addr.remove_prefix(colon + 1);
    if (!ParseNumber(addr, &paddr, true)) return Bad(where, absl::StrCat("address \"", rest[0], "\" is not a number"));
    // Paths are taken by their base name: the set is the directory the script sits in.
    if (size_t slash = file.find_last_of("/\\"); slash != std::string::npos) file = file.substr(slash + 1);
    if (file.empty() || !Printable(file)) return Bad(where, "empty or unprintable file name");
    RegionSpec r;
    r.file = file;
    r.paddr = paddr;
    r.origin = where;
    if (auto parsed = ParseRegionFileName(file)) {
      r.id = parsed->id;
      r.name = parsed->name;
    }
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

using nlohmann::json;

// A number given as a JSON unsigned integer or as a string ("0x1000", "4096"): addresses
// past 2^53 lose precision in many JSON writers, so strings are the documented form.
absl::Status GetU64(const json& obj, const char* key, const std::string& where, bool required,
                    std::optional<uint64_t>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Bad(where, absl::StrCat("\"", key, "\" is missing"));
    return absl::OkStatus();
  }
  uint64_t v = 0;
  if (it->is_number_unsigned()) {
    v = it->get<uint64_t>();
  } else if (it->is_string()) {
    if (!ParseNumber(it->get_ref<const std::string&>(), &v, false)) {
      return Bad(where, absl::StrCat("\"", key, "\" is \"", it->get_ref<const std::string&>(),
                                     "\", not a number (\"0x...\" or decimal)"));
    }
  } else {
    return Bad(where, absl::StrCat("\"", key, "\" is a ", it->type_name(),
                                   ", not a non-negative integer or a string such as \"0x1000\""));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status GetString(const json& obj, const char* key, const std::string& where,
                       std::optional<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) {
    return Bad(where, absl::StrCat("\"", key, "\" is a ", it->type_name(), ", not a string"));
  }
  if (!Printable(it->get_ref<const std::string&>())) {
    return Bad(where, absl::StrCat("\"", key, "\" holds a control character"));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

}  // namespace

namespace {

// One element of "regions".
absl::StatusOr<RegionSpec> ParseRegion(const json& r, size_t i, absl::string_view what) {
  const std::string where = absl::StrCat(what, " regions[", i, "]");
  if (!r.is_object()) return Bad(where, absl::StrCat("a ", r.type_name(), ", not an object"));
  RegionSpec spec;
  spec.origin = where;
  std::optional<std::string> file, name, role, sha;
  if (auto s = GetString(r, "file", where, &file); !s.ok()) return s;
  if (auto s = GetString(r, "name", where, &name); !s.ok()) return s;
  if (auto s = GetString(r, "role", where, &role); !s.ok()) return s;
  if (auto s = GetString(r, "sha256", where, &sha); !s.ok()) return s;
  if (auto s = GetU64(r, "id", where, true, &spec.id); !s.ok()) return s;
  if (auto s = GetU64(r, "paddr", where, false, &spec.paddr); !s.ok()) return s;
  if (auto s = GetU64(r, "vaddr", where, false, &spec.vaddr); !s.ok()) return s;
  if (auto s = GetU64(r, "size", where, false, &spec.size); !s.ok()) return s;
  if (file) {
    if (file->empty() || absl::StrContains(*file, '/') || *file == "." || *file == "..") {
      return Bad(where, absl::StrCat("\"file\" \"", *file, "\" is not a file name in the set's directory"));
    }
    spec.file = *file;
  }
  if (name) spec.name = *name;
  if (sha) {
    if (sha->size() != 64 || !std::all_of(sha->begin(), sha->end(), absl::ascii_isxdigit)) {
      return Bad(where, "\"sha256\" is not 64 hex digits");
    }
    spec.sha256 = absl::AsciiStrToLower(*sha);
  }
  if (role) {
    if (*role == "elf_header") spec.role = Role::kElfHeader;
    else if (*role == "vmcoreinfo") spec.role = Role::kVmcoreinfo;
    else if (*role == "load") spec.role = Role::kLoad;
    else if (*role == "aux") spec.role = Role::kAux;
    else return Bad(where, absl::StrCat("\"role\" \"", *role, "\" is not elf_header, vmcoreinfo, load or aux"));
  }
  if (spec.paddr && spec.size && !base::CheckedAdd(*spec.paddr, *spec.size)) {
    return Bad(where, "paddr + size wraps around");
  }
  return spec;
}

}  // namespace

absl::StatusOr<Manifest> ParseManifest(absl::string_view text, absl::string_view what) {
  // Each element of "regions" is turned into a RegionSpec as soon as it is parsed and then
  // dropped from the document (the callback returns false): a 10,000-region manifest never
  // sits in memory as a tree, which made most of a large set's mount time.
  Manifest m;
  // Every region is an object: the braces bound their number (a RegionSpec moved on each
  // growth of the vector cost a tenth of a 10,000-region mount).
  m.regions.reserve(std::count(text.begin(), text.end(), '{'));
  std::string top_key;
  bool in_regions = false;
  size_t index = 0;
  absl::Status region_error;
  json::parser_callback_t take_regions = [&](int depth, json::parse_event_t event, json& parsed) {
    using Event = json::parse_event_t;
    if (depth == 1 && event == Event::key) {
      top_key = parsed.get<std::string>();
    } else if (depth == 1 && event == Event::array_start) {
      in_regions = top_key == "regions";
      if (in_regions) {  // a repeated key: the last one counts, as for every other key
        m.regions.clear();
        index = 0;
        region_error = absl::OkStatus();
      }
    } else if (depth == 1 && event == Event::array_end) {
      in_regions = false;
    } else if (in_regions && depth == 2 &&
               (event == Event::object_end || event == Event::array_end || event == Event::value)) {
      if (region_error.ok()) {
        absl::StatusOr<RegionSpec> spec = ParseRegion(parsed, index, what);
        if (spec.ok()) m.regions.push_back(std::move(*spec));
        else region_error = spec.status();
      }
      ++index;
      return false;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), take_regions);
  } catch (const json::parse_error& e) {
    return Bad(what, absl::StrCat("not JSON: byte ", e.byte, ": ", e.what()));
  } catch (const json::exception& e) {
    // A number past 64 bits is out_of_range, not a parse_error (found by fuzz_kmemdump_manifest).
    return Bad(what, absl::StrCat("not usable JSON: ", e.what()));
  }
  const std::string top(what);
  if (!doc.is_object()) return Bad(what, absl::StrCat("the top level is a ", doc.type_name(), ", not an object"));
  std::optional<std::string> format;
  if (auto s = GetString(doc, "format", top, &format); !s.ok()) return s;
  if (format && *format != "kcorefs-regions") {
    return Bad(what, absl::StrCat("\"format\" is \"", *format, "\", not \"kcorefs-regions\""));
  }
  std::optional<uint64_t> version;
  if (auto s = GetU64(doc, "version", top, false, &version); !s.ok()) return s;
  if (version && *version != 1) {
    return Bad(what, absl::StrCat("version ", *version, " is newer than this kcorefs reads (1)"));
  }
  if (auto s = GetString(doc, "machine", top, &m.machine); !s.ok()) return s;
  if (auto k = doc.find("kernel"); k != doc.end() && !k->is_null()) {
    if (!k->is_object()) return Bad(what, absl::StrCat("\"kernel\" is a ", k->type_name(), ", not an object"));
    if (auto s = GetString(*k, "osrelease", top + " kernel", &m.osrelease); !s.ok()) return s;
  }
  auto regions = doc.find("regions");
  if (regions == doc.end() || !regions->is_array()) {
    return Bad(what, "\"regions\" is missing or not an array");
  }
  if (!region_error.ok()) return region_error;
  return m;
}

}  // namespace kcorefs::backends::kmemdump
