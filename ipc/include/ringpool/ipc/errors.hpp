#pragma once
// Errors of the ipc module: one enum, one exception type.
//
// Hot paths never throw: try_* return bool / std::optional and blocking calls return
// OpStatus. IpcError is thrown when acquiring or validating resources (segments, ring
// headers), for a message larger than a ring's slot, and by blocking calls that find the
// shared state corrupted.
#include <cstdint>
#include <string>
#include <string_view>

#include "ringpool/error.hpp"

namespace ringpool::ipc {

enum class IpcErrc : std::uint8_t {
  invalid_name,       // segment name empty, too long, or with '/' past the first character
  invalid_argument,   // a parameter out of range (e.g. zero bytes, slot size 0, bad option)
  already_exists,     // Segment::create on a name that exists (O_EXCL)
  not_found,          // Segment::open on a name that does not exist
  permission_denied,  // EACCES / EPERM from the OS
  untrusted_segment,  // open of a name that is a symlink, not a regular file, owned by another
                      // uid or open to group/other: anyone who can write it can forge it
  truncated,          // region smaller than the header, or than the size the header declares
  bad_magic,          // region does not start with a ringpool ring header
  abi_mismatch,       // header written by another ABI version of ringpool
  layout_mismatch,    // other ring type, element size/alignment or slot layout
  size_mismatch,      // element or slot size differs from what the attaching handle expects
  capacity_mismatch,  // capacity differs from the one required (fixed-capacity backends)
  invalid_capacity,   // capacity 0 or too large
  corrupt_indices,    // shared indices or a length prefix are impossible (peer bug or attack)
  payload_too_large,  // message larger than the ring's slot (max_message_size())
  closed,             // operation on a closed ring where closing is an error
  system_error,       // any other OS failure; see sys_errno()
};

// Stable lower-case name of the code, e.g. "already_exists".
[[nodiscard]] std::string_view to_string(IpcErrc code) noexcept;

// What went wrong, the OS errno if any (0 otherwise) and the segment name involved (may
// be empty). what() says what was wrong and what to do about it.
class IpcError : public ringpool::Error {
 public:
  IpcError(IpcErrc code, std::string message, std::string name = {}, int sys_errno = 0);

  [[nodiscard]] IpcErrc code() const noexcept { return code_; }
  [[nodiscard]] int sys_errno() const noexcept { return sys_errno_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  IpcErrc code_;
  int sys_errno_;
  std::string name_;
};

}  // namespace ringpool::ipc
