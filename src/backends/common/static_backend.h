// A backend whose map never changes after opening (a dump file, a physical-memory device
// whose RAM ranges are read once): one snapshot for its whole life.
#ifndef KCOREFS_BACKENDS_COMMON_STATIC_BACKEND_H_
#define KCOREFS_BACKENDS_COMMON_STATIC_BACKEND_H_

#include <memory>
#include <string>

#include "kcorefs/backends/backend.h"
#include "kcorefs/io/byte_source.h"

namespace kcorefs::backends {

class StaticBackend final : public Backend {
 public:
  // `name`: the registry name; `bytes`: the source whose reads are counted.
  StaticBackend(absl::string_view name, std::string source, Capabilities caps,
                std::shared_ptr<const io::ByteSource> bytes, std::shared_ptr<const Snapshot> snap)
      : name_(name), source_(std::move(source)), caps_(caps), bytes_(std::move(bytes)),
        snap_(std::move(snap)) {}
  absl::string_view name() const override { return name_; }
  const std::string& source() const override { return source_; }
  Capabilities capabilities() const override { return caps_; }
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current() override { return snap_; }
  uint64_t bytes_read() const override { return bytes_->bytes_read(); }

 private:
  absl::string_view name_;
  std::string source_;
  Capabilities caps_;
  std::shared_ptr<const io::ByteSource> bytes_;
  std::shared_ptr<const Snapshot> snap_;
};

}  // namespace kcorefs::backends

#endif  // KCOREFS_BACKENDS_COMMON_STATIC_BACKEND_H_
