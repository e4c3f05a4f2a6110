#include "ringpool/ipc/errors.hpp"

#include <utility>

namespace ringpool::ipc {

std::string_view to_string(IpcErrc code) noexcept {
  switch (code) {
    case IpcErrc::invalid_name:
      return "invalid_name";
    case IpcErrc::invalid_argument:
      return "invalid_argument";
    case IpcErrc::already_exists:
      return "already_exists";
    case IpcErrc::not_found:
      return "not_found";
    case IpcErrc::permission_denied:
      return "permission_denied";
    case IpcErrc::untrusted_segment:
      return "untrusted_segment";
    case IpcErrc::truncated:
      return "truncated";
    case IpcErrc::bad_magic:
      return "bad_magic";
    case IpcErrc::abi_mismatch:
      return "abi_mismatch";
    case IpcErrc::layout_mismatch:
      return "layout_mismatch";
    case IpcErrc::size_mismatch:
      return "size_mismatch";
    case IpcErrc::capacity_mismatch:
      return "capacity_mismatch";
    case IpcErrc::invalid_capacity:
      return "invalid_capacity";
    case IpcErrc::corrupt_indices:
      return "corrupt_indices";
    case IpcErrc::payload_too_large:
      return "payload_too_large";
    case IpcErrc::closed:
      return "closed";
    case IpcErrc::system_error:
      return "system_error";
  }
  return "unknown";
}

namespace {
std::string compose(IpcErrc code, const std::string& message, const std::string& name) {
  std::string text = "ringpool::ipc ";
  text += to_string(code);
  if (!name.empty()) {
    text += " [";
    text += name;
    text += "]";
  }
  text += ": ";
  text += message;
  return text;
}
}  // namespace

IpcError::IpcError(IpcErrc code, std::string message, std::string name, int sys_errno)
    : ringpool::Error(compose(code, message, name)),
      code_(code),
      sys_errno_(sys_errno),
      name_(std::move(name)) {}

}  // namespace ringpool::ipc
