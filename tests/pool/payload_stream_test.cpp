// Streamed arguments (codec.hpp, "Streamed input"; payload.hpp, lanes): a decoder reads a
// large contiguous run no further than its sender has announced, the bytes around the runs
// come through whole, a gone sender ends the wait with DecodeError, and a lane is free again
// only when both its sender and its receiver are done with it. Threads in one process, so
// ThreadSanitizer checks every access.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <new>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pool.hpp"

namespace {

using namespace std::chrono_literals;
namespace detail = ringpool::pool::detail;
using ringpool::pool::DecodeError;

std::vector<double> stream_ramp(std::size_t n) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.25);
  return v;
}

TEST(StreamedInput, APackedVectorIsNotReadBeyondWhatItsWriterAnnounced) {
  const std::vector<double> source = stream_ramp((std::size_t{3} << 20) / sizeof(double));
  std::vector<std::byte> wire(detail::kLengthPrefix + source.size() * sizeof(double));
  detail::BulkCopies later;
  std::byte* const end = detail::encode_framed_later(source, wire.data(), later);
  ASSERT_EQ(end, wire.data() + wire.size());
  ASSERT_EQ(later.count, 1U);  // the vector's bytes are left for later
  std::atomic<std::uint64_t> written{detail::kLengthPrefix};

  std::vector<double> decoded;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    const detail::InboundStream stream{wire.data(), wire.data() + wire.size(), &written};
    const detail::InboundScope installed(&stream);
    std::span<const std::byte> in(wire);
    decoded = detail::decode_framed<std::vector<double>>(in, typeid(void));
    done.store(true);
  });
  // Nothing of the run announced yet: the reader must still be waiting (a reader that read
  // the unwritten zero bytes would have finished).
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(done.load());
  detail::copy_later(later, wire.data(), 64 << 10, [&](std::size_t n) {
    written.store(n, std::memory_order_release);
    std::this_thread::yield();
  });
  reader.join();
  EXPECT_EQ(decoded, source);
}

using Args =
    detail::ArgsCodec<int, std::vector<double>, std::string, std::string, std::vector<int>, int>;

TEST(StreamedInput, ArgumentsAroundLargeRunsComeThroughWhole) {
  const std::vector<double> doubles = stream_ramp((std::size_t{2} << 20) / sizeof(double) + 3);
  const std::string small = "between the runs";
  const std::string text(std::size_t{1} << 20, 'q');
  const std::vector<int> few{1, 2, 3, 5, 8};
  std::vector<std::byte> wire(
      detail::item_bytes<int, std::vector<double>, std::string, std::string, std::vector<int>, int>(
          7, doubles, small, text, few, -9));
  detail::BulkCopies later;
  detail::write_item_later(wire.data(), later, 7, doubles, small, text, few, -9);
  ASSERT_EQ(later.count, 2U);  // the vector of doubles and the 1 MiB string
  std::atomic<std::uint64_t> written{static_cast<std::uint64_t>(later.runs[0].to - wire.data())};

  std::tuple<int, std::vector<double>, std::string, std::string, std::vector<int>, int> got;
  std::thread reader([&] {
    const detail::InboundStream stream{wire.data(), wire.data() + wire.size(), &written};
    const detail::InboundScope installed(&stream);
    const std::span<const std::byte> item =
        std::span<const std::byte>(wire).subspan(sizeof(std::uint32_t));
    ASSERT_EQ(detail::get_u32(wire.data()), item.size());
    got = Args::decode(item);
  });
  detail::copy_later(later, wire.data(), 32 << 10,
                     [&](std::size_t n) { written.store(n, std::memory_order_release); });
  reader.join();
  EXPECT_EQ(std::get<0>(got), 7);
  EXPECT_EQ(std::get<1>(got), doubles);
  EXPECT_EQ(std::get<2>(got), small);
  EXPECT_EQ(std::get<3>(got), text);
  EXPECT_EQ(std::get<4>(got), few);
  EXPECT_EQ(std::get<5>(got), -9);
}

TEST(StreamedInput, ASenderThatIsGoneEndsTheWaitWithDecodeError) {
  const std::string text(std::size_t{2} << 20, 'g');
  std::vector<std::byte> wire(detail::kLengthPrefix + text.size());
  detail::BulkCopies later;
  (void)detail::encode_framed_later(text, wire.data(), later);
  ASSERT_EQ(later.count, 1U);
  detail::copy_later(later, wire.data(), 64 << 10, [](std::size_t) {});  // in place, unannounced
  std::atomic<std::uint64_t> written{detail::kLengthPrefix + 4096};      // one page announced
  std::atomic<bool> gone{false};
  std::thread death([&] {
    std::this_thread::sleep_for(20ms);
    gone.store(true);
  });
  const detail::InboundStream stream{
      wire.data(), wire.data() + wire.size(), &written,
      [](const void* flag) noexcept { return static_cast<const std::atomic<bool>*>(flag)->load(); },
      &gone};
  const detail::InboundScope installed(&stream);
  std::span<const std::byte> in(wire);
  EXPECT_THROW((void)detail::decode_framed<std::string>(in, typeid(void)), DecodeError);
  death.join();
}

TEST(StreamedInput, ASenderThatWritesNothingMoreForTheStallLimitEndsTheWait) {
  const std::string text(std::size_t{2} << 20, 's');
  std::vector<std::byte> wire(detail::kLengthPrefix + text.size());
  detail::BulkCopies later;
  (void)detail::encode_framed_later(text, wire.data(), later);
  std::atomic<std::uint64_t> written{detail::kLengthPrefix};  // and never more (stopped)
  detail::InboundStream stream{wire.data(), wire.data() + wire.size(), &written};
  stream.stall_limit = 30ms;
  const detail::InboundScope installed(&stream);
  std::span<const std::byte> in(wire);
  try {
    (void)detail::decode_framed<std::string>(in, typeid(void));
    ADD_FAILURE() << "an unwritten value was decoded";
  } catch (const detail::SenderGone&) {
    ADD_FAILURE() << "a live sender was reported gone";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("wrote nothing more"), std::string::npos) << e.what();
  }
}

TEST(StreamedInput, InputOutsideTheInstalledStreamIsNotWaitedFor) {
  std::vector<std::byte> other(std::size_t{1} << 20);
  std::atomic<std::uint64_t> nothing{0};
  const detail::InboundStream stream{other.data(), other.data() + other.size(), &nothing};
  const detail::InboundScope installed(&stream);
  const std::vector<double> v = stream_ramp((std::size_t{2} << 20) / sizeof(double));
  const std::vector<std::byte> bytes = ringpool::pool::to_bytes(v);
  EXPECT_EQ(ringpool::pool::from_bytes<std::vector<double>>(bytes), v);
}

TEST(PayloadLaneStreaming, TheLaneIsFreeAgainOnlyWhenSenderAndReceiverAreBothDone) {
  const detail::PayloadNames names = detail::PayloadNames::fresh();
  {
    detail::PayloadLanes lanes(&names);
    detail::LaneView view;
    const std::size_t n = std::size_t{2} << 20;
    detail::OutgoingPayload sent = detail::OutgoingPayload::create(names, n, &lanes);
    ASSERT_TRUE(sent.in_lane());
    sent.stream_from(0);  // nothing of it written yet
    const detail::PayloadRef ref = sent.ref();
    {
      const detail::IncomingPayload taken = detail::IncomingPayload::take(
          names, {reinterpret_cast<const std::byte*>(&ref), sizeof ref}, n, &view);
      ASSERT_NE(taken.written(), nullptr);
      EXPECT_EQ(taken.written()->load(), 0U);
      // The receiver gives up early (a decode error): it is done, the sender is not.
    }
    const detail::OutgoingPayload while_writing =
        detail::OutgoingPayload::create(names, std::size_t{1} << 20, &lanes);
    EXPECT_FALSE(while_writing.in_lane());  // still being written: a one-off segment instead
    sent.publish(n);
    sent.hand_over();
    const detail::OutgoingPayload after = detail::OutgoingPayload::create(names, n, &lanes);
    EXPECT_TRUE(after.in_lane());  // both done: the lane is reused
    EXPECT_EQ(after.ref().sequence, ref.sequence);
  }
  (void)names.remove_all();
  EXPECT_EQ(names.count(), 0U);
}

// ---- through a Pool (fork start) -----------------------------------------------------------

// An allocator of whole pages of its own, so that a test can make part of a vector unreadable.
template <class T>
struct PageAlloc {
  using value_type = T;
  PageAlloc() = default;
  template <class U>
  explicit PageAlloc(const PageAlloc<U>&) noexcept {}
  static std::size_t rounded(std::size_t n) { return (n * sizeof(T) + 4095) / 4096 * 4096; }
  T* allocate(std::size_t n) {
    void* p = mmap(nullptr, rounded(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept { munmap(p, rounded(n)); }
  friend bool operator==(const PageAlloc&, const PageAlloc&) noexcept { return true; }
};
using PagedBytes = std::vector<char, PageAlloc<char>>;

constexpr std::size_t kPoisonedBytes = std::size_t{8} << 20;

// Runs in the worker: a result whose second half cannot be read, so that the worker dies
// (SIGSEGV) while it streams the value to the parent.
PagedBytes half_unreadable(int) {
  PagedBytes v(kPoisonedBytes, 'h');
  if (mprotect(v.data() + kPoisonedBytes / 2, kPoisonedBytes / 2, PROT_NONE) != 0) {
    throw std::runtime_error("mprotect failed");
  }
  return v;
}
std::string streamed_text(std::size_t n) {
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; i += 4093) s[i] = static_cast<char>('a' + i % 26);
  return s;
}
std::size_t count_marks(std::string s, char mark) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), mark));
}

TEST(StreamedValuesThroughAPool, AWorkerThatDiesWhileStreamingItsResultFailsTheTaskWithWorkerLost) {
  ringpool::pool::PoolOptions o;
  o.workers = 1;
  ringpool::pool::Pool pool(o);
  // The parent has the reference and decodes behind the worker when it dies: the task fails
  // as any task its worker held (no hang, no partial value), and the pool goes on.
  EXPECT_THROW((void)pool.submit(half_unreadable, 1).get(), ringpool::pool::WorkerLost);
  const std::string text = streamed_text(std::size_t{3} << 20);
  EXPECT_EQ(pool.submit(streamed_text, text.size()).get(), text);
  EXPECT_EQ(pool.submit(count_marks, text, 'b').get(), count_marks(text, 'b'));
}

}  // namespace
