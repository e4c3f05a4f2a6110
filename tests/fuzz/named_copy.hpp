#pragma once
// NamedCopy: a named segment holding a fuzz input's bytes, for the targets that attach or
// open by name. Removed on destruction, and by the resource tracker when a crash or a
// libFuzzer timeout ends the process first.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "ringpool/ipc/segment.hpp"

namespace ringpool::fuzz {

class NamedCopy {
 public:
  // Throws ipc::IpcError (for instance for an empty input: a segment has a size).
  explicit NamedCopy(std::span<const std::uint8_t> bytes)
      : segment_(ipc::Segment::create(fresh_name(), bytes.size(),
                                      ipc::SegmentOptions{.unlink_on_destroy = true})) {
    std::memcpy(segment_.data(), bytes.data(), bytes.size());
  }
  [[nodiscard]] const std::string& name() const { return segment_.name(); }

 private:
  static std::string fresh_name() {
    std::string name = "/ringpool-fuzz-" + std::to_string(::getpid());
    static_cast<void>(ipc::Segment::unlink(name));  // left by an earlier process with our pid
    return name;
  }
  ipc::Segment segment_;
};

}  // namespace ringpool::fuzz
