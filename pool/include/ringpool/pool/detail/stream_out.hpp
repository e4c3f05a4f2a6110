#pragma once
// The sending side of streamed values (internal to ringpool::pool; docs/codec.md,
// "Streaming"): which values stream, how their large runs are left out of the first
// encoding, and the copy that follows once the reference is sent. The receiving side is
// detail/stream_in.hpp.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "ringpool/pool/codec.hpp"

namespace ringpool::pool::detail {

// How much of a streamed value its sender copies between two announcements.
inline constexpr std::size_t kStreamStep = std::size_t{128} << 10;

// The contiguous bytes of a value that the sender copies after sending the reference.
struct BulkCopy {
  std::byte* to = nullptr;
  const std::byte* from = nullptr;
  std::size_t bytes = 0;
};
// The runs one message's encoding left for later, in the order of their places (`to`).
struct BulkCopies {
  static constexpr std::size_t kMost = 8;  // further large arguments are written at once
  std::array<BulkCopy, kMost> runs{};
  std::size_t count = 0;
};

// Copies the runs `later` lists, in order and `step` bytes at a time; after each piece calls
// publish(n), n = the bytes from `base` (the value's first) then in place: to the piece's end,
// or to the next run's start once a run is done (the bytes between runs were written with the
// rest of the value), the last run's end at the end.
template <class Publish>
void copy_later(const BulkCopies& later, const std::byte* base, std::size_t step,
                Publish&& publish) {
  for (std::size_t i = 0; i < later.count; ++i) {
    const BulkCopy& run = later.runs[i];
    for (std::size_t done = 0; done < run.bytes;) {
      const std::size_t k = std::min(step, run.bytes - done);
      std::memcpy(run.to + done, run.from + done, k);
      done += k;
      const std::byte* const upto =
          done < run.bytes || i + 1 == later.count ? run.to + done : later.runs[i + 1].to;
      publish(static_cast<std::size_t>(upto - base));
    }
  }
}

// Types whose encoding is one contiguous copy of their data (Codec<std::string>, and of a
// packed std::vector): the ones whose decoders read streamed input.
template <class T>
inline constexpr bool kBulk = false;
template <>
inline constexpr bool kBulk<std::string> = true;
template <class T, class Alloc>
inline constexpr bool kBulk<std::vector<T, Alloc>> = Codec<std::vector<T, Alloc>>::kPacked;

// As encode_framed, except that the bytes of a kBulk value of at least kStreamMin bytes are
// listed in `later` (while there is room) instead of copied: the value must stay alive and
// unchanged until the caller has copied them.
template <Encodable T>
std::byte* encode_framed_later(const T& v, std::byte* out, BulkCopies& later) {
  if constexpr (kBulk<T>) {
    const std::size_t n = Codec<T>::size(v);
    if (n >= kStreamMin && later.count < BulkCopies::kMost) {
      store_u64(out, n);
      later.runs[later.count++] =
          BulkCopy{out + kLengthPrefix, reinterpret_cast<const std::byte*>(v.data()), n};
      return out + kLengthPrefix + n;
    }
  }
  return encode_framed<T>(v, out);
}

}  // namespace ringpool::pool::detail
