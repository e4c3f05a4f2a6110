// Fuzz target: the spawn start record (ringpool::detail::decode_start_record), the bytes a
// spawned child reads from its start-data fd before it runs anything, and the payload of the
// built-in task kind inside it (decode_task_start).
//
// Input: the start-data bytes. A decode either throws DecodeError or returns a record that
// encodes back to exactly the input (the wire format is canonical); the same holds for the
// task payload when the kind is the task kind. A crash, a sanitizer report, another exception
// or a mismatch is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/spawn.hpp"

namespace {

void same_or_abort(std::span<const std::byte> in, const std::vector<std::byte>& again) {
  if (again.size() != in.size() ||
      (!in.empty() && std::memcmp(again.data(), in.data(), in.size()) != 0)) {
    std::abort();  // decoded, but does not encode back to the same bytes
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in = std::as_bytes(std::span(data, size));
  try {
    const ringpool::detail::StartRecord record = ringpool::detail::decode_start_record(in);
    same_or_abort(in, ringpool::detail::encode_start_record(record));
    if (record.kind == ringpool::detail::kTaskStartKind) {
      const ringpool::detail::TaskStart task = ringpool::detail::decode_task_start(record.payload);
      same_or_abort(record.payload, ringpool::detail::encode_task_start(task));
    }
  } catch (const ringpool::pool::DecodeError&) {
    // Refused as documented.
  }
  return 0;
}
