// Any size travels: arguments, map items, results larger than a ring slot go through
// one-off payload segments (detail/payload.hpp); the limit (max_payload); nothing is left
// in /dev/shm, also when a worker dies mid-transfer; forged references are refused.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/mpmc_byte_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/segment_scan.hpp"
#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::DecodeError;
using ringpool::pool::kQueueArenaStep;
using ringpool::pool::PayloadTooLarge;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::Process;
using ringpool::pool::Queue;
using ringpool::pool::QueueOptions;
using ringpool::pool::TaskFailed;
using ringpool::pool::WorkerLost;
namespace detail = ringpool::pool::detail;

// Under ASan/TSan every byte copied and every page touched costs many times more: the
// "64 MiB" cases move 33 MiB there (just above the 32 MiB lanes: the same one-off path).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t k64MiB = std::size_t{33} << 20;
#else
constexpr std::size_t k64MiB = std::size_t{64} << 20;
#endif

// Payload segments of owners (pools, queues) created by this test process: the test's
// own prefix, never all of /dev/shm.
std::size_t own_payload_segments() {
  const std::string stem = "ringpool-blob-" + std::to_string(getpid()) + "-";
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return 0;
  std::size_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (std::string_view(e->d_name).substr(0, stem.size()) == stem) ++n;
  }
  closedir(dir);
  return n;
}

PoolOptions payload_opts(std::size_t workers) {
  PoolOptions o;
  o.workers = workers;
  return o;
}

std::vector<double> ramp(std::size_t n) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.5);
  return v;
}

std::vector<double> echo_doubles(std::vector<double> v) {
  return v;
}
std::vector<double> make_doubles(std::size_t n) {
  return ramp(n);
}
double sum_doubles(std::vector<double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}
std::size_t string_length(std::string s) {
  return s.size();
}
std::string text_of(std::size_t n) {
  return std::string(n, 'r');
}

struct Leg {
  std::string venue;
  std::vector<double> sizes;
};
struct Book {
  std::string symbol;
  std::vector<Leg> legs;
  std::map<std::string, std::vector<int>> limits;
};

Book big_book() {
  Book b;
  b.symbol = std::string(20000, 'S');
  for (int i = 0; i < 40; ++i) {
    b.legs.push_back({"venue-" + std::to_string(i), std::vector<double>(500, i * 1.5)});
  }
  for (int i = 0; i < 30; ++i) b.limits["k" + std::to_string(i)] = std::vector<int>(300, i);
  return b;
}
bool same(const Book& a, const Book& b) {
  if (a.symbol != b.symbol || a.legs.size() != b.legs.size() || a.limits != b.limits) return false;
  for (std::size_t i = 0; i < a.legs.size(); ++i) {
    if (a.legs[i].venue != b.legs[i].venue || a.legs[i].sizes != b.legs[i].sizes) return false;
  }
  return true;
}
Book touch_book(Book b) {
  b.symbol += "!";
  b.legs.push_back({"extra", {1.0}});
  return b;
}

TEST(LargePayload, VectorOf64MiBBothWaysThroughAForkPool) {
  const std::size_t before = own_payload_segments();
  {
    Pool pool(payload_opts(1));
    const std::vector<double> v = ramp(k64MiB / sizeof(double));
    const std::vector<double> back = pool.submit(echo_doubles, v).get();
    EXPECT_EQ(back, v);
    EXPECT_EQ(own_payload_segments(), before) << "every segment was taken and unlinked";
    EXPECT_EQ(pool.apply(sum_doubles, ramp(300'000)), sum_doubles(ramp(300'000)));
    EXPECT_EQ(pool.apply(make_doubles, std::size_t{500'000}), ramp(500'000));
    EXPECT_EQ(pool.stats().tasks_sent, 3u);
  }
  EXPECT_EQ(own_payload_segments(), before);
}

TEST(LargePayload, AStructOfStringsVectorsAndAMapLargerThanASlot) {
  Pool pool(payload_opts(1));
  const Book b = big_book();
  ASSERT_GT(ringpool::pool::Codec<Book>::size(b), std::size_t{16384});
  Book expected = b;
  expected.symbol += "!";
  expected.legs.push_back({"extra", {1.0}});
  EXPECT_TRUE(same(pool.apply(touch_book, b), expected));
}

TEST(LargePayload, MapAndImapWithOneItemLargerThanASlot) {
  Pool pool(payload_opts(2));
  std::vector<std::string> in(50, "small");
  in[17] = std::string(300'000, 'x');
  std::vector<std::size_t> expected(50, 5);
  expected[17] = 300'000;
  EXPECT_EQ(pool.map(string_length, in), expected);
  EXPECT_EQ(pool.map(string_length, in, 8), expected);
  std::vector<std::size_t> got;
  for (std::size_t n : pool.imap(string_length, in, 4)) got.push_back(n);
  EXPECT_EQ(got, expected);
  // Results larger than a slot in a batch.
  const std::vector<std::size_t> sizes{10, 100'000, 20, 70'000};
  const auto texts = pool.map(text_of, sizes, 2);
  ASSERT_EQ(texts.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) EXPECT_EQ(texts[i], text_of(sizes[i]));
}

TEST(LargePayload, ACapturingLambdaWithLargeStateAndArguments) {
  Pool pool(payload_opts(1));
  std::array<char, 40000> big{};
  big[123] = 'q';
  const auto f = [big](std::string s) { return std::string(1, big.at(123)) + s.substr(0, 3); };
  EXPECT_EQ(pool.apply(f, std::string(50'000, 'z')), "qzzz");
  EXPECT_EQ(pool.map(f, std::vector<std::string>{"abc", "defg"}),
            (std::vector<std::string>{"qabc", "qdef"}));
}

TEST(LargePayload, TheLimitRefusesArgumentsAndResultsAboveIt) {
  PoolOptions o = payload_opts(1);
  o.max_payload = 100'000;
  Pool pool(o);
  try {
    (void)pool.submit(string_length, std::string(200'000, 'x'));
    FAIL() << "expected PayloadTooLarge";
  } catch (const PayloadTooLarge& e) {
    EXPECT_GE(e.size(), 200'000u);
    EXPECT_EQ(e.limit(), 100'000u);
    EXPECT_NE(std::string(e.what()).find("max_payload"), std::string::npos) << e.what();
  }
  std::vector<std::string> in{"a", std::string(200'000, 'y'), "b"};
  EXPECT_THROW((void)pool.map(string_length, in), PayloadTooLarge);
  EXPECT_EQ(pool.stats().tasks_sent, 0u) << "nothing was sent";
  // Under the limit, over the slot: travels.
  EXPECT_EQ(pool.apply(string_length, std::string(90'000, 'x')), 90'000u);
  // A result above the limit fails its own task only.
  auto big = pool.submit(text_of, std::size_t{200'000});
  try {
    (void)big.get();
    FAIL() << "expected the result to be refused";
  } catch (const TaskFailed& e) {
    EXPECT_NE(e.type_name().find("PayloadTooLarge"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("max_payload"), std::string::npos) << e.what();
  } catch (const PayloadTooLarge& e) {
    EXPECT_EQ(e.limit(), 100'000u);
  }
  EXPECT_EQ(pool.apply(text_of, std::size_t{50'000}).size(), 50'000u);
  EXPECT_THROW(
      {
        PoolOptions bad = payload_opts(1);
        bad.max_payload = 100;
        Pool p(bad);
      },
      ringpool::pool::InvalidArgument);
}

// A result whose encoder kills its own worker: the worker dies after it created the
// result's payload segment (and wrote half of it), before it sent the reference.
struct Suicidal {
  std::vector<char> bytes;
};
}  // namespace

template <>
struct ringpool::pool::Codec<Suicidal> {
  static std::size_t size(const Suicidal& s) { return s.bytes.size(); }
  static void encode(const Suicidal& s, std::span<std::byte> out) {
    std::memcpy(out.data(), s.bytes.data(), out.size() / 2);
    ::raise(SIGKILL);
  }
  static Suicidal decode(std::span<const std::byte> in) {
    Suicidal s;
    s.bytes.resize(in.size());
    std::memcpy(s.bytes.data(), in.data(), in.size());
    return s;
  }
};

namespace {

Suicidal die_while_sending(std::size_t n) {
  return Suicidal{std::vector<char>(n, 'd')};
}
double slow_sum(std::vector<double> v) {
  std::this_thread::sleep_for(10s);
  return sum_doubles(std::move(v));
}
int quick(int x) {
  return x + 1;
}

TEST(LargePayload, AWorkerKilledMidTransferLeavesNothingBehind) {
  const std::size_t before = own_payload_segments();
  {
    Pool pool(payload_opts(1));
    // Dies after creating its result's segment.
    auto lost = pool.submit(die_while_sending, std::size_t{1} << 20);
    EXPECT_THROW((void)lost.get(), WorkerLost);
    EXPECT_EQ(own_payload_segments(), before) << "the dead worker's segment is removed";
    EXPECT_EQ(pool.apply(quick, 1), 2) << "the pool goes on";

    // Killed while it runs a large task; a second large task waits in its ring.
    auto running = pool.submit(slow_sum, ramp(1 << 20));
    auto queued = pool.submit(sum_doubles, ramp(1 << 20));
    std::this_thread::sleep_for(300ms);
    const auto pid = pool.worker_pid(0);
    ASSERT_TRUE(pid.has_value());
    ASSERT_GT(*pid, 0);
    ASSERT_EQ(::kill(*pid, SIGKILL), 0);
    EXPECT_THROW((void)running.get(), WorkerLost);
    EXPECT_EQ(queued.get(), sum_doubles(ramp(1 << 20))) << "the queued one is requeued intact";
    EXPECT_EQ(own_payload_segments(), before + 1) << "only the pool's own lane is left";
    // The lost task's lane was freed: the next large task reuses it.
    EXPECT_EQ(pool.apply(sum_doubles, ramp(1 << 20)), sum_doubles(ramp(1 << 20)));
    EXPECT_EQ(own_payload_segments(), before + 1);

    // Terminated with a large task never taken: the pool removes its segment.
    auto blocker = pool.submit(slow_sum, ramp(10));
    auto never = pool.submit(sum_doubles, ramp(1 << 20));
    std::this_thread::sleep_for(50ms);
    pool.terminate();
    EXPECT_THROW((void)never.get(), ringpool::pool::Closed);
  }
  EXPECT_EQ(own_payload_segments(), before);
}

// Killed by its first run (a marker file says whether it ran before): the rerun must find
// the task's arguments again.
std::string g_die_once_marker;
double sum_or_die_once(std::vector<double> v) {
  if (::access(g_die_once_marker.c_str(), F_OK) != 0) {
    const int fd = ::open(g_die_once_marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    ::raise(SIGKILL);
  }
  return sum_doubles(std::move(v));
}

// own_payload_segments() once it is `n`, or what it is after 5 s (a task's record may be
// retired just after its future became ready, by the thread that collected its result).
std::size_t own_payload_segments_become(std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::size_t now = own_payload_segments();
  while (now != n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    now = own_payload_segments();
  }
  return now;
}

TEST(LargePayload, ARetriedTaskReadsItsOneOffArgumentsAgain) {
  g_die_once_marker = "/tmp/ringpool-die-once-" + std::to_string(::getpid());
  ::unlink(g_die_once_marker.c_str());
  const std::size_t before = own_payload_segments();
  {
    PoolOptions o = payload_opts(1);
    o.retries = 1;
    Pool pool(o);
    // Larger than a lane: a one-off segment, which the first worker read before it died.
    const std::vector<double> v = ramp(k64MiB / sizeof(double));
    ASSERT_GT(v.size() * sizeof(double), detail::kLaneMax);
    EXPECT_EQ(pool.apply(sum_or_die_once, v), sum_doubles(v));
    EXPECT_EQ(::access(g_die_once_marker.c_str(), F_OK), 0) << "the first run died";
    EXPECT_EQ(pool.stats().retried, 1U);
    EXPECT_EQ(own_payload_segments_become(before), before)
        << "the settled task's segment is removed";
    // Without a death the kept segment goes the same way.
    EXPECT_EQ(pool.apply(sum_or_die_once, v), sum_doubles(v));
    EXPECT_EQ(own_payload_segments_become(before), before);
  }
  EXPECT_EQ(own_payload_segments(), before);
  ::unlink(g_die_once_marker.c_str());
}

// The pool's process killed with payload segments in flight (its lane, its worker's lane,
// a one-off argument not taken yet): `ringpool shm list` shows them (scan_segments), and
// the resource tracker removes them once the process is gone.
TEST(LargePayload, AKilledOwnersSegmentsAreListedThenRemovedByItsTracker) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      Pool pool(payload_opts(1));
      (void)pool.apply(echo_doubles, ramp((std::size_t{2} << 20) / sizeof(double)));  // lanes
      auto running = pool.submit(slow_sum, ramp(10));
      auto queued = pool.submit(sum_doubles, ramp((detail::kLaneMax + 8) / sizeof(double)));
      const char c = 1;
      if (::write(ready[1], &c, 1) != 1) ::_exit(2);
      ::pause();  // until killed
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  const bool started = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  const std::string prefix = "/ringpool-blob-" + std::to_string(child) + "-";
  std::vector<ringpool::ipc::SegmentEntry> listed;
  if (started) listed = ringpool::ipc::scan_segments(prefix);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(started) << "the child could not set up its pool";
  EXPECT_EQ(listed.size(), 3U) << "the pool's lane, its worker's lane, the queued argument";
  for (const auto& e : listed) {
    EXPECT_EQ(e.ring_kind, "payload") << e.name;
    EXPECT_EQ(e.creator_pid, child) << e.name;
    EXPECT_EQ(e.creator, ringpool::ipc::CreatorState::alive) << e.name;
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!ringpool::ipc::scan_segments(prefix).empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(ringpool::ipc::scan_segments(prefix).empty())
      << "the tracker removes every segment of the killed process's pool";
}

TEST(LargePayload, LanesAreReusedAndGoWithThePool) {
  const std::size_t before = own_payload_segments();
  {
    Pool pool(payload_opts(1));
    for (int round = 0; round < 20; ++round) {
      const std::size_t n = round % 3 == 1 ? 3'000'000 : 1'000'000;  // grows, then fits
      const std::vector<double> v = ramp(n / sizeof(double));
      ASSERT_EQ(pool.apply(echo_doubles, v), v) << round;
    }
    // The pool's lane and its worker's lane, nothing else: values of at most kLaneMax
    // reuse them.
    EXPECT_EQ(own_payload_segments(), before + 2);
    // Larger than a lane: a one-off segment each way, gone once read.
    const std::vector<double> big = ramp((detail::kLaneMax + 8) / sizeof(double));
    EXPECT_EQ(pool.apply(echo_doubles, big).size(), big.size());
    EXPECT_EQ(own_payload_segments(), before + 2);
  }
  EXPECT_EQ(own_payload_segments(), before);
}

// ---- thread workers (one process: ThreadSanitizer sees every access) ----------------------

PoolOptions thread_workers(std::size_t workers, ringpool::pool::WaitMode wait) {
  PoolOptions o = payload_opts(workers);
  o.start_method = ringpool::pool::StartMethod::thread;
  o.wait = wait;
  return o;
}

// Lanes both ways (reused: the lane's busy word hands each value over), one-off segments
// above kLaneMax, several submitting threads (a busy lane sends the next value one-off),
// and get() on an rvalue moving each value out.
TEST(LargePayloadThreads, LanesAndOneOffSegmentsBetweenThreads) {
  for (const auto wait : {ringpool::pool::WaitMode::spin, ringpool::pool::WaitMode::block}) {
    const std::size_t before = own_payload_segments();
    {
      Pool pool(thread_workers(2, wait));
      std::vector<std::thread> submitters;
      std::atomic<int> wrong{0};
      for (int t = 0; t < 3; ++t) {
        submitters.emplace_back([&, t] {
          for (int round = 0; round < 6; ++round) {
            const std::size_t n = (std::size_t{1} << 20) * static_cast<std::size_t>(1 + t + round);
            const std::vector<double> v = ramp(n / sizeof(double));
            if (pool.submit(echo_doubles, v).get() != v) wrong.fetch_add(1);
          }
        });
      }
      for (auto& t : submitters) t.join();
      EXPECT_EQ(wrong.load(), 0);
      const std::vector<double> big = ramp((detail::kLaneMax + 8) / sizeof(double));
      EXPECT_EQ(pool.submit(echo_doubles, big).get(), big);
    }
    EXPECT_EQ(own_payload_segments(), before);
  }
}

// ---- forged references -------------------------------------------------------------------

detail::PayloadRef ref_of(const detail::OutgoingPayload& p) {
  return p.ref();
}
std::span<const std::byte> bytes_of(const detail::PayloadRef& r) {
  return {reinterpret_cast<const std::byte*>(&r), sizeof r};
}

TEST(LargePayload, ForgedOrStaleReferencesAreRefusedWithDecodeError) {
  const detail::PayloadNames names = detail::PayloadNames::fresh();
  const detail::PayloadNames other = detail::PayloadNames::fresh();
  auto make = [&](std::size_t n) {
    auto p = detail::OutgoingPayload::create(names, n);
    std::memset(p.bytes().data(), 7, n);
    return p;
  };
  // The genuine article first.
  {
    auto p = make(100'000);
    const detail::PayloadRef r = ref_of(p);
    p.hand_over();
    EXPECT_EQ(names.count(), 1u);
    const auto in = detail::IncomingPayload::take(names, bytes_of(r), 1 << 20);
    EXPECT_EQ(in.bytes().size(), 100'000u);
    EXPECT_EQ(in.bytes()[99'999], std::byte{7});
    EXPECT_EQ(names.count(), 0u) << "taking unlinks";
    // Taken once: a replay finds nothing.
    EXPECT_THROW((void)detail::IncomingPayload::take(names, bytes_of(r), 1 << 20), DecodeError);
  }
  auto p = make(4096);
  const detail::PayloadRef good = ref_of(p);
  p.hand_over();
  auto refused = [&](detail::PayloadRef r, std::size_t limit = 1 << 20,
                     const detail::PayloadNames* n = nullptr) {
    try {
      (void)detail::IncomingPayload::take(n ? *n : names, bytes_of(r), limit);
      return false;
    } catch (const DecodeError&) {
      return true;
    }
  };
  detail::PayloadRef r = good;
  r.magic ^= 1;
  EXPECT_TRUE(refused(r));
  r = good;
  r.sender = 0;
  EXPECT_TRUE(refused(r));
  r.sender = -1;
  EXPECT_TRUE(refused(r));
  r = good;
  r.bytes = 0;
  EXPECT_TRUE(refused(r));
  r.bytes = std::uint64_t{1} << 62;
  EXPECT_TRUE(refused(r));
  r = good;
  EXPECT_TRUE(refused(r, 1000)) << "above the limit";
  r.sequence += 1000;
  EXPECT_TRUE(refused(r)) << "no such segment";
  EXPECT_TRUE(refused(good, 1 << 20, &other)) << "another owner's names";
  EXPECT_THROW((void)detail::IncomingPayload::take(names, bytes_of(good).first(16), 1 << 20),
               DecodeError);
  EXPECT_EQ(names.count(), 1u) << "refusals before opening leave the segment";
  r = good;
  r.bytes = 8192;
  EXPECT_TRUE(refused(r)) << "size differs from the announced one";
  EXPECT_EQ(names.count(), 0u) << "an opened segment is unlinked even when refused";

  // A segment open to group/other is refused (and removed).
  const std::string name = names.name_of(getpid(), 999'999);
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0644), 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  ::close(fd);
  r = good;
  r.sender = getpid();
  r.sequence = 999'999;
  EXPECT_TRUE(refused(r));
  EXPECT_EQ(names.count(), 0u);
  EXPECT_EQ(names.remove_all(), 0u);
}

// ---- Queue -------------------------------------------------------------------------------

TEST(LargePayloadQueue, VectorOf64MiBBothWaysBetweenProcesses) {
  const std::size_t before = own_payload_segments();
  {
    Queue<std::vector<double>> to_child(2);
    Queue<std::vector<double>> to_parent(2);
    Process child([to_child, to_parent]() mutable {
      std::vector<double> v = to_child.get();
      for (double& x : v) x *= 2;
      to_parent.put(v);
    });
    child.start();
    const std::vector<double> v = ramp(k64MiB / sizeof(double));
    to_child.put(v);
    const std::vector<double> back = to_parent.get(30s);
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    ASSERT_EQ(back.size(), v.size());
    EXPECT_EQ(back.front(), 1.0);
    EXPECT_EQ(back.back(), 2 * v.back());
    EXPECT_EQ(own_payload_segments(), before);
  }
  EXPECT_EQ(own_payload_segments(), before);
}

TEST(LargePayloadQueue, LargeAndSmallItemsKeepTheirOrder) {
  Queue<std::string> q(8);  // default slot: 1 KiB
  q.put("a");
  q.put(std::string(5000, 'b'));
  EXPECT_TRUE(q.try_put("c"));
  EXPECT_TRUE(q.try_put(std::string(100'000, 'd')));
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), std::string(5000, 'b'));
  EXPECT_EQ(q.try_get(), std::optional<std::string>("c"));
  EXPECT_EQ(q.get(1s), std::string(100'000, 'd'));
  // A struct with strings, vectors and a map.
  Queue<Book> books(1);
  const Book b = big_book();
  books.put(b);
  EXPECT_TRUE(same(books.get(), b));
}

TEST(LargePayloadQueue, NamedQueueCarriesLargeItemsToAnotherProcess) {
  const std::string name = "/rp-large-" + std::to_string(getpid());
  const std::size_t before = own_payload_segments();
  {
    // A one-word arena: items of 3 MiB travel through payload segments.
    auto q = Queue<std::string>::create(name, 4, QueueOptions{.arena_bytes = kQueueArenaStep});
    Process child([name] {
      auto peer = Queue<std::string>::open(name);
      peer.put(std::string(3 << 20, 'n'));
    });
    child.start();
    EXPECT_EQ(q.get(30s), std::string(3 << 20, 'n'));
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    // An item left in the queue when its creator goes away is removed with it (larger than
    // the arena: a payload segment).
    q.put(std::string(3 << 20, 'l'));
    EXPECT_EQ(own_payload_segments(), before + 1);
  }
  EXPECT_EQ(own_payload_segments(), before);
}

TEST(LargePayloadQueue, JoinableAndSimpleQueuesTooAndTheLimit) {
  ringpool::pool::JoinableQueue<std::string> jq(2);
  jq.put(std::string(50'000, 'j'));
  EXPECT_EQ(jq.get(), std::string(50'000, 'j'));
  jq.task_done();
  EXPECT_TRUE(jq.join(0s));
  ringpool::pool::SimpleQueue<std::vector<int>> sq;
  sq.put(std::vector<int>(100'000, 3));
  EXPECT_EQ(sq.get(), std::vector<int>(100'000, 3));

  Queue<std::string> q(2, QueueOptions{.slot_size = 64, .max_payload = 1000});
  try {
    q.put(std::string(5000, 'x'));
    FAIL() << "expected PayloadTooLarge";
  } catch (const PayloadTooLarge& e) {
    EXPECT_EQ(e.size(), 5000u);
    EXPECT_EQ(e.limit(), 1000u);
    EXPECT_NE(std::string(e.what()).find("QueueOptions::max_payload"), std::string::npos);
  }
  EXPECT_THROW((void)q.try_put(std::string(5000, 'x')), PayloadTooLarge);
  EXPECT_EQ(q.size_approx(), 0u) << "nothing was enqueued";
  q.put(std::string(900, 'y'));
  EXPECT_EQ(q.get(), std::string(900, 'y'));
}

TEST(LargePayloadQueue, AnItemThatLooksLikeAReferenceTravelsAsItself) {
  // 65 bytes = slot + 1, the length of a reference message, holding a reference's bytes:
  // an item larger than the slot travels by reference itself and arrives intact.
  Queue<std::string> q(4, QueueOptions{.slot_size = 64});
  const detail::PayloadRef lookalike{detail::kPayloadRefMagic, 65, 1, 12345};
  std::string item(65, '\0');
  std::memcpy(item.data(), &lookalike, sizeof lookalike);
  q.put(item);
  EXPECT_EQ(q.get(), item);
  std::string small(64, '\0');
  std::memcpy(small.data(), &lookalike, sizeof lookalike);
  q.put(small);
  EXPECT_EQ(q.get(), small);
}

TEST(LargePayloadQueue, AForgedReferenceInTheRingIsADecodeErrorNotACrash) {
  const std::string name = "rp-large-forged-" + std::to_string(getpid());
  auto q = Queue<std::string>::create(name, 8, QueueOptions{.slot_size = 64});
  ringpool::test::RingForger evil(name);
  const auto push = [&](const detail::PayloadRef& r) { evil.push(r, 65); };
  const detail::PayloadRef forged[] = {
      {0, 65, 1, 1},                                             // no magic
      {detail::kPayloadRefMagic, 65, 0, 1},                      // sender pid 0
      {detail::kPayloadRefMagic, std::uint64_t{1} << 40, 1, 1},  // above the limit
      {detail::kPayloadRefMagic, 100, getpid(), 987654},         // names no segment
  };
  for (const auto& r : forged) {
    push(r);
    EXPECT_THROW((void)q.get(1s), DecodeError);
  }
}

}  // namespace
