// The non-template halves of the Pool's wire format (see task_wire.hpp): the worker's
// ResultWriter and the parent's ResultReader.
#include "ringpool/pool/detail/task_wire.hpp"

#include <cstring>

namespace ringpool::pool::detail {

// ---- worker side ---------------------------------------------------------------------

void ResultWriter::error(std::string_view type_name, std::string_view what) {
  // Keep the error within one message: truncate the text if it is huge.
  const std::size_t room = max_value_size() - sizeof(std::uint32_t);
  if (type_name.size() > room / 2) type_name = type_name.substr(0, room / 2);
  if (what.size() > room - type_name.size()) what = what.substr(0, room - type_name.size());
  const std::size_t n = sizeof(std::uint32_t) + type_name.size() + what.size();
  if (used_ + kResultItemHeader + n > buf_.size()) flush();
  std::byte* p = buf_.data() + used_;
  p[0] = std::byte{kResultError};
  put_u32(p + 1, static_cast<std::uint32_t>(n));
  put_u32(p + kResultItemHeader, static_cast<std::uint32_t>(type_name.size()));
  std::memcpy(p + kResultItemHeader + 4, type_name.data(), type_name.size());
  std::memcpy(p + kResultItemHeader + 4 + type_name.size(), what.data(), what.size());
  used_ += kResultItemHeader + n;
  ++count_;
}

void ResultWriter::current_exception_as_error() {
  try {
    const ExceptionDescription d = describe_exception(std::current_exception());
    error(d.type_name, d.what);
  } catch (...) {
    error("unknown", "ringpool: could not describe the task's exception");
  }
}

void ResultWriter::flush() {
  if (count_ == 0) return;
  const ResultHeader h{task_id_, first_, count_};
  std::memcpy(buf_.data(), &h, sizeof h);
  push_(context_, buf_.first(used_));
  first_ += count_;
  count_ = 0;
  used_ = sizeof(ResultHeader);
}

// ---- parent side ---------------------------------------------------------------------

ResultReader::ErrorText ResultReader::error_of(std::span<const std::byte> body) {
  ErrorText text{"unknown", {}};
  if (body.size() < sizeof(std::uint32_t)) return text;
  const std::uint32_t type_len = get_u32(body.data());  // read once
  if (body.size() - sizeof(std::uint32_t) < type_len) return text;
  const auto* chars = reinterpret_cast<const char*>(body.data() + sizeof(std::uint32_t));
  text.type_name.assign(chars, type_len);
  text.what.assign(chars + type_len, body.size() - sizeof(std::uint32_t) - type_len);
  return text;
}

}  // namespace ringpool::pool::detail
