// The type-independent part of Value and Array (shared_value.hpp): their segment, created,
// opened and checked against the element type, and its optional lock.
#include "ringpool/pool/shared_value.hpp"

#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "sync_detail.hpp"

namespace ringpool::pool::detail {

std::shared_ptr<SyncSegment> create_shared_values(std::string_view name,
                                                  const SharedValuesSpec& spec, const void* initial,
                                                  const SyncOptions& options) {
  if (spec.element_size == 0 || spec.count > (SIZE_MAX / 2) / spec.element_size) {
    throw InvalidArgument("ringpool: Array of " + std::to_string(spec.count) + " " +
                          spec.type_name + ": too many elements");
  }
  const std::size_t bytes = spec.count * spec.element_size;
  return SyncSegment::create(name,
                             {.kind = SyncKind::value,
                              .tail_bytes = bytes,
                              .count = spec.count,
                              .bound = spec.element_size,
                              .type_tag = spec.type_tag,
                              .flags = spec.lock ? kSyncHasLock : 0U},
                             options, [&](SyncSegment& segment) {
                               ::new (segment.state()) ValueState();
                               if (initial != nullptr && bytes > 0)
                                 std::memcpy(segment.tail(), initial, bytes);
                             });
}

std::shared_ptr<SyncSegment> open_shared_values(std::string_view name, const SharedValuesSpec& spec,
                                                const char* what, const SyncOptions& options) {
  auto segment = SyncSegment::open(name, SyncKind::value, what, options);
  const SyncHeader& header = segment->header();
  const auto refuse = [&](const std::string& why) {
    throw InvalidArgument(std::string("ringpool: ") + what + "<" + spec.type_name + ">::open(\"" +
                          std::string(name) + "\"): " + why);
  };
  if (header.type_tag != spec.type_tag || header.bound != spec.element_size) {
    refuse("it holds elements of another type (" + std::to_string(header.bound) +
           " bytes each); open it with the type it was created with");
  }
  if ((header.flags & ~kSyncHasLock) != 0 ||
      header.count > segment->tail_bytes() / spec.element_size) {
    refuse("its header is inconsistent (" + std::to_string(header.count) + " elements in " +
           std::to_string(segment->tail_bytes()) + " bytes)");
  }
  if (std::string_view(what) == "Value" && header.count != 1) {
    refuse("it is an Array of " + std::to_string(header.count) + " elements, not a Value");
  }
  return segment;
}

std::optional<LockRef> shared_values_lock(const std::shared_ptr<SyncSegment>& segment) {
  if ((segment->header().flags & kSyncHasLock) == 0) return std::nullopt;
  return LockRef{segment, &state_of<ValueState>(*segment)->lock};
}

}  // namespace ringpool::pool::detail
