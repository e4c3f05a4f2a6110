// Error bodies between ranks (see wire.hpp).
#include "wire.hpp"

#include <string>
#include <utility>

#include "ringpool/pool/errors.hpp"

namespace ringpool::cluster::detail {

void put_error(std::vector<std::byte>& out, const std::exception_ptr& error) {
  pool::detail::CapturedError captured = pool::detail::capture_error(error);
  try {
    std::rethrow_exception(error);
  } catch (const pool::TaskFailed& failed) {
    // The local pool rebuilt a type that does not travel as TaskFailed: send what it
    // stands for, not TaskFailed itself.
    captured.head = pool::detail::ErrorHead{};
    captured.type_name = failed.type_name();
    captured.what = failed.original_what();
  } catch (...) {
  }
  ErrorWire wire;
  wire.kind = captured.head.kind;
  wire.category = captured.head.category;
  wire.code = captured.head.code;
  wire.key = captured.head.key;
  wire.type_length = captured.type_name.size();
  put(out, wire);
  const auto* type = reinterpret_cast<const std::byte*>(captured.type_name.data());
  out.insert(out.end(), type, type + captured.type_name.size());
  const auto* what = reinterpret_cast<const std::byte*>(captured.what.data());
  out.insert(out.end(), what, what + captured.what.size());
}

std::exception_ptr error_of(std::span<const std::byte> body) noexcept {
  try {
    const auto wire = take<ErrorWire>(body);
    if (!wire || wire->type_length > body.size()) {
      throw pool::DecodeError("ringpool: a rank sent a malformed error record");
    }
    pool::detail::ErrorHead head;
    head.kind = wire->kind;
    head.category = wire->category;
    head.code = wire->code;
    head.key = wire->key;
    const auto length = static_cast<std::size_t>(wire->type_length);
    std::string type(reinterpret_cast<const char*>(body.data()), length);
    std::string what(reinterpret_cast<const char*>(body.data()) + length, body.size() - length);
    return pool::detail::rebuild_error(head, std::move(type), std::move(what));
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace ringpool::cluster::detail
