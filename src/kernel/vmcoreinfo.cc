#include "kcorefs/base/byte_order.h"
#include "kcorefs/kernel/vmcoreinfo.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "kcorefs/base/checked_math.h"
#include "kcorefs/base/errors.h"
#include "kcorefs/base/status_macros.h"

namespace kcorefs::kernel {
namespace {

using base::Hex;

bool Printable(absl::string_view text) {
  for (unsigned char c : text) {
    if (c == '\n' || c == '\t') continue;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}


}  // namespace

absl::StatusOr<Vmcoreinfo> Vmcoreinfo::Parse(absl::string_view text) {
  // The kernel's buffer is NUL-padded; stop at the first NUL.
  text = text.substr(0, text.find('\0'));
  if (text.empty()) return absl::InvalidArgumentError("VMCOREINFO is empty");
  if (!Printable(text)) return absl::InvalidArgumentError("VMCOREINFO holds non-text bytes");
  Vmcoreinfo v;
  v.text_ = std::string(text);
  if (v.text_.back() != '\n') v.text_.push_back('\n');
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(v.text_, '\n', absl::SkipEmpty())) {
    ++line_no;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("VMCOREINFO line ", line_no, " is not key=value: \"", line, "\""));
    }
    // The first value wins, as in crash and makedumpfile.
    v.values_.try_emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return v;
}

std::optional<std::string> Vmcoreinfo::Get(absl::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> Vmcoreinfo::GetDecimal(absl::string_view key) const {
  auto s = Get(key);
  int64_t v;
  if (!s || !absl::SimpleAtoi(*s, &v)) return std::nullopt;
  return v;
}

std::optional<uint64_t> Vmcoreinfo::GetHex(absl::string_view key) const {
  auto s = Get(key);
  uint64_t v;
  if (!s || !absl::SimpleHexAtoi(*s, &v)) return std::nullopt;
  return v;
}

std::vector<std::string> Vmcoreinfo::Missing(absl::Span<const absl::string_view> required) const {
  std::vector<std::string> out;
  for (absl::string_view k : required) {
    if (!Has(k)) out.emplace_back(k);
  }
  return out;
}

void Vmcoreinfo::AppendIfMissing(absl::string_view key, absl::string_view value) {
  if (Has(key)) return;
  absl::StrAppend(&text_, key, "=", value, "\n");
  values_.emplace(std::string(key), std::string(value));
}

absl::StatusOr<std::vector<Note>> ParseNotes(absl::string_view notes) {
  std::vector<Note> out;
  uint64_t off = 0;
  while (off + 12 <= notes.size()) {
    uint32_t namesz = base::LoadLe32(notes.data() + off);
    uint32_t descsz = base::LoadLe32(notes.data() + off + 4);
    uint32_t type = base::LoadLe32(notes.data() + off + 8);
    if (namesz == 0 && descsz == 0 && type == 0) break;  // padding, as in /proc/vmcore
    uint64_t name_off = off + 12;
    uint64_t desc_off = name_off + base::AlignUp(namesz, 4);
    uint64_t next = desc_off + base::AlignUp(descsz, 4);
    if (next > notes.size()) {
      return absl::InvalidArgumentError(absl::StrCat("note at offset ", Hex(off), " (namesz ",
                                                     namesz, ", descsz ", descsz,
                                                     ") runs past the end of the note segment"));
    }
    Note n;
    n.name = std::string(notes.substr(name_off, namesz));
    while (!n.name.empty() && n.name.back() == '\0') n.name.pop_back();
    n.type = type;
    n.desc = std::string(notes.substr(desc_off, descsz));
    n.offset = off;
    out.push_back(std::move(n));
    off = next;
  }
  return out;
}

std::string SerializeNotes(const std::vector<Note>& notes) {
  std::string out;
  for (const Note& n : notes) {
    uint32_t hdr[3] = {static_cast<uint32_t>(n.name.size() + 1),
                       static_cast<uint32_t>(n.desc.size()), n.type};
    out.append(reinterpret_cast<const char*>(hdr), sizeof(hdr));
    out.append(n.name);
    out.push_back('\0');
    out.resize(base::AlignUp(out.size(), 4), '\0');
    out.append(n.desc);
    out.resize(base::AlignUp(out.size(), 4), '\0');
  }
  return out;
}

}  // namespace kcorefs::kernel
