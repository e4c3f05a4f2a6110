// The non-template halves of the Pool's wire format (see task_wire.hpp): the worker's
// ResultWriter and the parent's ResultReader.
#include "ringpool/pool/detail/task_wire.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ringpool::pool::detail {

// ---- worker side ---------------------------------------------------------------------

std::span<std::byte> ResultWriter::begin_large(std::size_t n) {
  large_ = OutgoingPayload();  // one left by an encoder that threw: unlinked
  if (payloads_ == nullptr || n > payload_limit_) return {};
  // The reference item must fit the message the value would have gone in.
  if (used_ + kResultItemHeader + sizeof(PayloadRef) > buf_.size()) flush();
  large_ = OutgoingPayload::create(*payloads_, n, lanes_);
  return large_.bytes();
}

void ResultWriter::put_reference() noexcept {
  std::byte* p = buf_.data() + used_;
  p[0] = std::byte{kResultValueRef};
  put_u32(p + 1, static_cast<std::uint32_t>(sizeof(PayloadRef)));
  std::memcpy(p + kResultItemHeader, &large_.ref(), sizeof(PayloadRef));
  used_ += kResultItemHeader + sizeof(PayloadRef);
  ++count_;
}

void ResultWriter::end_large() noexcept {
  put_reference();
  // The reference travels with this message; the name is the parent's to unlink.
  large_.hand_over();
}

void ResultWriter::end_value_streamed(const std::byte* from) {
  std::byte* const base = large_.bytes().data();
  const std::size_t n = large_.bytes().size();
  large_.stream_from(0);
  put_reference();
  flush();  // the parent decodes while we copy
  BulkCopies run;
  run.runs[0] = BulkCopy{base, from, n};
  run.count = 1;
  copy_later(run, base, kStreamStep, [this](std::size_t k) { large_.publish(k); });
  large_.hand_over();
}

void ResultWriter::error(const ErrorHead& head, std::string_view type_name, std::string_view what) {
  large_ = OutgoingPayload();  // a value whose encoder threw: its segment is unlinked
  constexpr std::size_t kMaxTypeName = 4096;
  if (type_name.size() > kMaxTypeName) type_name = type_name.substr(0, kMaxTypeName);
  const std::size_t text_room = kMaxErrorBody - kErrorBodyPrefix - type_name.size();
  if (what.size() > text_room) what = what.substr(0, text_room);

  std::array<std::byte, kErrorBodyPrefix> prefix{};
  prefix[0] = std::byte{head.kind};
  prefix[1] = std::byte{head.category};
  std::memcpy(prefix.data() + 4, &head.code, sizeof head.code);
  std::memcpy(prefix.data() + 8, &head.key, sizeof head.key);
  put_u32(prefix.data() + 16, static_cast<std::uint32_t>(type_name.size()));
  // The body is the concatenation of three pieces; `copy` takes the next n bytes of it.
  const std::array<std::span<const std::byte>, 3> pieces{std::span<const std::byte>(prefix),
                                                         std::as_bytes(std::span(type_name)),
                                                         std::as_bytes(std::span(what))};
  std::size_t piece = 0;
  std::size_t within = 0;
  const auto copy = [&](std::byte* out, std::size_t n) {
    while (n > 0) {
      const std::size_t k = std::min(n, pieces[piece].size() - within);
      if (k > 0) std::memcpy(out, pieces[piece].data() + within, k);
      out += k;
      n -= k;
      within += k;
      if (within == pieces[piece].size()) {
        ++piece;
        within = 0;
      }
    }
  };

  std::size_t left = kErrorBodyPrefix + type_name.size() + what.size();
  for (;;) {
    const std::size_t free = buf_.size() - used_;
    const std::size_t room = free > kResultItemHeader ? free - kResultItemHeader : 0;
    std::byte* p = buf_.data() + used_;
    if (left <= room) {
      p[0] = std::byte{kResultError};
      put_u32(p + 1, static_cast<std::uint32_t>(left));
      copy(p + kResultItemHeader, left);
      used_ += kResultItemHeader + left;
      ++count_;
      return;
    }
    // A body that fits an empty message is not split; nor is a sliver of a part sent.
    if (left <= max_value_size() || (room < 256 && used_ > sizeof(ResultHeader))) {
      flush();
      continue;
    }
    p[0] = std::byte{kResultErrorPart};
    put_u32(p + 1, static_cast<std::uint32_t>(room));
    copy(p + kResultItemHeader, room);
    used_ += kResultItemHeader + room;
    left -= room;
    flush();
  }
}

void ResultWriter::current_exception_as_error() {
  const CapturedError e = capture_error(std::current_exception());
  error(e.head, e.type_name, e.what);
}

void ResultWriter::flush() {
  if (used_ == sizeof(ResultHeader)) return;  // nothing, not even an error part
  const ResultHeader h{task_id_, first_, count_};
  std::memcpy(buf_.data(), &h, sizeof h);
  push_(context_, buf_.first(used_));
  first_ += count_;
  count_ = 0;
  used_ = sizeof(ResultHeader);
}

// ---- parent side ---------------------------------------------------------------------

std::exception_ptr ResultReader::error_of(std::span<const std::byte> body) noexcept {
  if (body.size() < kErrorBodyPrefix) {
    return std::make_exception_ptr(
        DecodeError("ringpool: a worker sent an error record shorter than its header"));
  }
  ErrorHead head;
  head.kind = std::to_integer<std::uint8_t>(body[0]);
  head.category = std::to_integer<std::uint8_t>(body[1]);
  std::memcpy(&head.code, body.data() + 4, sizeof head.code);
  std::memcpy(&head.key, body.data() + 8, sizeof head.key);
  const std::uint32_t type_len = get_u32(body.data() + 16);  // read once
  if (body.size() - kErrorBodyPrefix < type_len) {
    return std::make_exception_ptr(
        DecodeError("ringpool: a worker sent an error record whose type name overruns it"));
  }
  try {
    const auto* chars = reinterpret_cast<const char*>(body.data() + kErrorBodyPrefix);
    std::string type_name(chars, type_len);
    std::string what(chars + type_len, body.size() - kErrorBodyPrefix - type_len);
    return rebuild_error(head, std::move(type_name), std::move(what));
  } catch (...) {
    return std::current_exception();  // out of memory
  }
}

}  // namespace ringpool::pool::detail
