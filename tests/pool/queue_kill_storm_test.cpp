// Queue<T> kill storms (ringpool issue #10, the Queue campaign): forked producers and
// consumers on one queue (anonymous, inherited across fork; or named, opened by name in
// each child) are SIGKILLed at random, one every ~2 ms or ~20 ms, and respawned. Every item
// carries (producer incarnation, seq, checksum). Children report through one pipe, in
// records of at most PIPE_BUF bytes (written whole or not at all):
//   P  a producer's put() returned for the item;
//   D  a consumer decoded the item (inside get, before its slot is released);
//   G  a consumer's get() returned the item;
//   X  a consumer decoded an item whose checksum is wrong.
// What the queue promises (queue.hpp, "Crash safety"; docs/ipc.md) and is asserted here:
//  - no item is delivered twice and none is corrupted;
//  - every item whose put() returned is delivered exactly once, except one that a consumer
//    had already decoded when it was killed (a D from a killed consumer, no G anywhere):
//    such an item is counted apart, as lost in a killed consumer's hands;
//  - no consumer is wedged: once the storm stops, the queue drains within a deadline.
// Units of maxsize lost to kills in the documented few-instruction windows are reported,
// not asserted.
// The Bulk variants send items of 40 KiB to 1 MiB, which go through the queue's payload
// arena (and through one-off payload segments while it is full), and a few above
// kQueueArenaMaxItem, which always go through payload segments. There, besides the above:
//  - arena runs left claimed once the queue has drained are those lost in the documented
//    windows, at most one run per kill (a process holds at most one run at a time);
//  - payload segments left once it has drained (the queue still alive) are at most one per
//    killed producer (one killed between the segment's creation and the publication of its
//    reference); a consumer killed between the release of its slot and the unlink of the
//    name leaves its claim record naming the segment, and the drain's gets unlink it. None
//    is left once the queue is gone.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace {
using ::ringpool::test::stress_scale;

struct StormItem {
  std::uint32_t producer = 0;  // the producer incarnation (unique in a run)
  std::uint32_t seq = 0;
  std::uint64_t check = 0;
};

std::uint64_t checksum(std::uint32_t producer, std::uint32_t seq) {
  std::uint64_t z = (std::uint64_t{producer} << 32 | seq) + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Record {
  char kind = 0;  // 'P', 'D', 'G', 'X'
  char pad[3] = {};
  std::uint32_t who = 0;  // the writer's incarnation
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;
};
static_assert(sizeof(Record) <= PIPE_BUF);

// In a forked child: the report pipe and this incarnation (-1 in the test process).
int g_report_fd = -1;
std::uint32_t g_self = 0;

void report(char kind, std::uint32_t producer, std::uint32_t seq) noexcept {
  Record r;
  r.kind = kind;
  r.who = g_self;
  r.producer = producer;
  r.seq = seq;
  for (;;) {
    const ssize_t n = ::write(g_report_fd, &r, sizeof r);
    if (n == static_cast<ssize_t>(sizeof r)) return;
    if (n < 0 && errno == EINTR) continue;
    ::_exit(5);
  }
}

}  // namespace

template <>
struct ringpool::pool::Codec<StormItem> {
  static constexpr std::size_t fixed_size = 16;
  static std::size_t size(const StormItem&) { return fixed_size; }
  static void encode(const StormItem& item, std::span<std::byte> out) noexcept {
    std::memcpy(out.data(), &item.producer, 4);
    std::memcpy(out.data() + 4, &item.seq, 4);
    std::memcpy(out.data() + 8, &item.check, 8);
  }
  static StormItem decode(std::span<const std::byte> in) {
    if (in.size() != fixed_size) throw DecodeError("StormItem: wrong size");
    StormItem item;
    std::memcpy(&item.producer, in.data(), 4);
    std::memcpy(&item.seq, in.data() + 4, 4);
    std::memcpy(&item.check, in.data() + 8, 8);
    if (g_report_fd >= 0) {
      report(item.check == checksum(item.producer, item.seq) ? 'D' : 'X', item.producer, item.seq);
    }
    return item;
  }
};

namespace {

// A Bulk storm's item: (producer incarnation, seq) and a size drawn from them: 40 KiB to 96
// KiB mostly, up to 1 MiB one time in eight (all through the arena while it has room), one
// time in 48 above kQueueArenaMaxItem (through a payload segment). Encoded: a header
// {producer, seq, size, checksum} and a body of one byte value; decoding checks every byte.
struct StormBulk {
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;
  std::uint64_t size = 0;
  bool intact = true;  // set by decode
};

constexpr std::size_t kBulkHeader = 24;

std::uint64_t bulk_size(std::uint32_t producer, std::uint32_t seq) {
  const std::uint64_t h = checksum(producer, seq);
  if (h % 48 == 0)
    return ringpool::pool::kQueueArenaMaxItem + 1 + (h >> 8) % (std::size_t{1} << 20);
  if (h % 8 == 0) return (std::size_t{96} << 10) + (h >> 8) % (std::size_t{928} << 10);
  return (std::size_t{40} << 10) + (h >> 8) % (std::size_t{56} << 10);
}

}  // namespace

template <>
struct ringpool::pool::Codec<StormBulk> {
  static std::size_t size(const StormBulk& item) { return static_cast<std::size_t>(item.size); }
  static void encode(const StormBulk& item, std::span<std::byte> out) noexcept {
    const std::uint64_t check = checksum(item.producer, item.seq) ^ item.size;
    std::memcpy(out.data(), &item.producer, 4);
    std::memcpy(out.data() + 4, &item.seq, 4);
    std::memcpy(out.data() + 8, &item.size, 8);
    std::memcpy(out.data() + 16, &check, 8);
    std::memset(out.data() + kBulkHeader, static_cast<int>(check & 0xff), out.size() - kBulkHeader);
  }
  static StormBulk decode(std::span<const std::byte> in) {
    if (in.size() < kBulkHeader) throw DecodeError("StormBulk: shorter than its header");
    StormBulk item;
    std::uint64_t check = 0;
    std::memcpy(&item.producer, in.data(), 4);
    std::memcpy(&item.seq, in.data() + 4, 4);
    std::memcpy(&item.size, in.data() + 8, 8);
    std::memcpy(&check, in.data() + 16, 8);
    item.intact = item.size == in.size() && item.size == bulk_size(item.producer, item.seq) &&
                  check == (checksum(item.producer, item.seq) ^ item.size);
    const auto fill = static_cast<std::byte>(check & 0xff);
    std::size_t bad = 0;
    for (const std::byte b : in.subspan(kBulkHeader)) bad += b != fill ? 1 : 0;
    item.intact = item.intact && bad == 0;
    if (g_report_fd >= 0) report(item.intact ? 'D' : 'X', item.producer, item.seq);
    return item;
  }
};

namespace ringpool::pool {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

template <class Item>
Item storm_item(std::uint32_t producer, std::uint32_t seq);
template <>
StormItem storm_item<StormItem>(std::uint32_t producer, std::uint32_t seq) {
  return StormItem{producer, seq, checksum(producer, seq)};
}
template <>
StormBulk storm_item<StormBulk>(std::uint32_t producer, std::uint32_t seq) {
  return StormBulk{producer, seq, bulk_size(producer, seq), true};
}
bool storm_intact(const StormItem& item) {
  return item.check == checksum(item.producer, item.seq);
}
bool storm_intact(const StormBulk& item) {
  return item.intact;
}

// The sender pids of this process's payload segments in /dev/shm (their names are
// "ringpool-blob-<owner pid>-<owner serial>-<sender pid>-<sequence>").
std::vector<std::int64_t> payload_senders_of_this_process() {
  const std::string stem = "ringpool-blob-" + std::to_string(::getpid()) + "-";
  std::vector<std::int64_t> senders;
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return senders;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name(e->d_name);
    if (name.substr(0, stem.size()) != stem) continue;
    const std::string_view rest = name.substr(stem.size());  // serial-sender-sequence
    const std::size_t a = rest.find('-');
    const std::size_t b = a == std::string_view::npos ? a : rest.find('-', a + 1);
    if (b == std::string_view::npos) continue;
    senders.push_back(std::stoll(std::string(rest.substr(a + 1, b - a - 1))));
  }
  ::closedir(dir);
  return senders;
}

// A page shared with every child: set to 1 when the storm is over.
class StopFlag {
 public:
  StopFlag() {
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    flag_ = ::new (p) std::atomic<int>(0);
  }
  ~StopFlag() { ::munmap(flag_, 4096); }
  StopFlag(const StopFlag&) = delete;
  StopFlag& operator=(const StopFlag&) = delete;
  void set() noexcept { flag_->store(1); }
  [[nodiscard]] bool is_set() const noexcept { return flag_->load() != 0; }

 private:
  std::atomic<int>* flag_ = nullptr;
};

struct StormConfig {
  bool named = false;
  std::chrono::milliseconds period{2};
  const char* label = "";
  std::size_t maxsize = 64;
  std::size_t arena_bytes = kDefaultQueueArenaBytes;
};

struct Child {
  pid_t pid = 0;
  bool producer = false;
  std::uint32_t who = 0;
};

template <class Item>
class QueueKillStorm {
 public:
  explicit QueueKillStorm(StormConfig config) : config_(config) {}

  void run() {
    ASSERT_EQ(::pipe2(fds_, O_CLOEXEC), 0);
    // Room for the children to run ahead of the test's reads; non-blocking reads only.
    (void)::fcntl(fds_[0], F_SETPIPE_SZ, 1 << 20);
    ASSERT_EQ(::fcntl(fds_[0], F_SETFL, O_NONBLOCK), 0);

    const QueueOptions options{.arena_bytes = config_.arena_bytes};
    if (config_.named) {
      name_ = "/rp-qstorm-" + std::to_string(::getpid()) + "-" +
              std::to_string(config_.period.count()) + "-" + std::to_string(config_.maxsize);
      static_cast<void>(Queue<Item>::unlink(name_));
      queue_.emplace(Queue<Item>::create(name_, config_.maxsize, options));
    } else {
      queue_.emplace(config_.maxsize, options);
    }

    std::vector<Child> kids;
    for (int i = 0; i < kProducers; ++i) kids.push_back(spawn(true));
    for (int i = 0; i < kConsumers; ++i) kids.push_back(spawn(false));
    for (const Child& k : kids) ASSERT_GT(k.pid, 0) << "fork failed";

    std::mt19937 rng(static_cast<unsigned>(config_.period.count()) * 7919U + config_.named);
    const auto storm = std::chrono::milliseconds(2000) * stress_scale<int>();
    const Clock::time_point end = Clock::now() + storm;
    Clock::time_point next_kill = Clock::now() + config_.period;
    while (Clock::now() < end) {
      read_records(std::min(next_kill, Clock::now() + 1ms));
      arena_peak_ = std::max(arena_peak_, queue_->arena_used_approx());
      if (Clock::now() < next_kill) continue;
      next_kill = Clock::now() + config_.period;
      Child& victim = kids[rng() % kids.size()];
      ASSERT_GT(victim.pid, 0);
      ASSERT_EQ(::kill(victim.pid, SIGKILL), 0);
      // Reaped later (reap_dying): its replacement starts now, while it may still be a
      // zombie, which the queue's recovery treats as dead.
      dying_.push_back(victim);
      (victim.producer ? producer_kills_ : consumer_kills_) += 1;
      (victim.producer ? killed_producers_ : killed_consumers_).insert(victim.who);
      if (victim.producer) killed_producer_pids_.insert(victim.pid);
      victim = spawn(victim.producer);
      ASSERT_GT(victim.pid, 0) << "fork failed";
      reap_dying(false);
    }

    // The storm is over: children stop at their next loop turn.
    stop_.set();
    reap_dying(true);
    const Clock::time_point reap_deadline = Clock::now() + 30s;
    for (Child& k : kids) {
      ASSERT_GT(k.pid, 0);
      int status = 0;
      pid_t r = 0;
      while ((r = ::waitpid(k.pid, &status, WNOHANG)) == 0 && Clock::now() < reap_deadline) {
        read_records(Clock::now() + 5ms);
      }
      if (r == 0) {
        ADD_FAILURE() << (k.producer ? "a producer" : "a consumer")
                      << " did not stop within 30 s of the end of the storm (wedged)";
        ASSERT_EQ(::kill(k.pid, SIGKILL), 0);
        ASSERT_EQ(::waitpid(k.pid, &status, 0), k.pid);
      } else {
        ASSERT_EQ(r, k.pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << (k.producer ? "producer" : "consumer") << " exit status " << status;
      }
    }
    ::close(fds_[1]);
    fds_[1] = -1;
    read_records(std::nullopt);  // every writer is gone: read every record, up to EOF

    // Drain: dead consumers' claims and dead producers' tickets are settled by a get that
    // finds the queue empty. A wedged queue shows as items left behind at the deadline.
    const Clock::time_point drain_deadline = Clock::now() + 20s;
    for (;;) {
      ASSERT_LT(Clock::now(), drain_deadline) << "the queue did not drain within 20 s";
      try {
        const Item item = queue_->get(1s);
        if (!storm_intact(item)) {
          ++corrupted_;
        } else {
          delivered(item.producer, item.seq);
        }
      } catch (const Empty&) {
        break;
      }
    }
    const std::size_t units_left = queue_->size_approx();
    queue_arena_bytes_ = queue_->arena_bytes();
    const std::size_t arena_left = queue_->arena_used_approx();
    const std::size_t segments_left = test::payload_segments_of_this_process();
    const std::vector<std::int64_t> senders_left = payload_senders_of_this_process();
    queue_.reset();
    if (config_.named) static_cast<void>(Queue<Item>::unlink(name_));
    ::close(fds_[0]);

    tally(units_left);
    if (queue_arena_bytes_ != 0) {
      std::printf(
          "[ campaign ] arena: at most %zu of %zu blocks in use (sampled); left after the drain: "
          "%zu arena blocks, %zu payload segments\n",
          arena_peak_ / kQueueArenaBlock, queue_arena_bytes_ / kQueueArenaBlock,
          arena_left / kQueueArenaBlock, segments_left);
      EXPECT_GT(arena_peak_, 0u) << "no item went through the arena";
    }
    const std::size_t kills = static_cast<std::size_t>(producer_kills_ + consumer_kills_);
    // At most one run per kill, of at most 1 MiB + its header (33 blocks).
    EXPECT_LE(arena_left, kills * 33 * kQueueArenaBlock);
    // Consumers' segments are unlinked by recovery; only killed producers' can be left, one
    // each at most.
    EXPECT_LE(segments_left, static_cast<std::size_t>(producer_kills_));
    std::set<std::int64_t> per_sender;
    for (const std::int64_t sender : senders_left) {
      EXPECT_EQ(killed_producer_pids_.count(sender), 1u)
          << "a payload segment of sender " << sender
          << " is left after the drain, and no producer of that pid was killed";
      EXPECT_TRUE(per_sender.insert(sender).second)
          << "two payload segments of killed producer " << sender << " are left";
    }
    EXPECT_EQ(test::payload_segments_of_this_process(), 0u)
        << "payload segments left in /dev/shm once the queue is gone";
  }

  ~QueueKillStorm() {
    if (fds_[0] >= 0) ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  QueueKillStorm(const QueueKillStorm&) = delete;
  QueueKillStorm& operator=(const QueueKillStorm&) = delete;

 private:
  static constexpr int kProducers = 3;
  static constexpr int kConsumers = 3;
  // A producer incarnation puts at most this many items (bounds the test's memory).
  static constexpr std::uint32_t kMaxSeq = 50000;

  static std::uint64_t key(std::uint32_t producer, std::uint32_t seq) {
    return std::uint64_t{producer} << 32 | seq;
  }

  Child spawn(bool producer) {
    Child c;
    c.producer = producer;
    c.who = ++incarnations_;
    const pid_t pid = ::fork();
    if (pid != 0) {
      c.pid = pid;
      return c;
    }
    // Child: report, never return into GoogleTest.
    ::close(fds_[0]);
    g_report_fd = fds_[1];
    g_self = c.who;
    // Below the test process, which must keep its rhythm of kills on a busy machine.
    static_cast<void>(::nice(10));
    try {
      Queue<Item> q = config_.named ? Queue<Item>::open(name_) : Queue<Item>(*queue_);
      if (producer) {
        for (std::uint32_t seq = 0; seq < kMaxSeq && !stop_.is_set(); ++seq) {
          const Item item = storm_item<Item>(c.who, seq);
          for (;;) {
            try {
              q.put(item, 50ms);
              break;
            } catch (const Full&) {
              if (stop_.is_set()) ::_exit(0);
            }
          }
          report('P', c.who, seq);
        }
        while (!stop_.is_set()) ::usleep(1000);
      } else {
        while (!stop_.is_set()) {
          try {
            const Item item = q.get(50ms);
            report('G', item.producer, item.seq);
          } catch (const Empty&) {
          }
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "storm child %u: %s\n", c.who, e.what());
      ::_exit(4);
    }
    ::_exit(0);
  }

  // Reaps killed children (all of them when `all`, else those already gone); each must have
  // died of its SIGKILL, not ended on its own before it.
  void reap_dying(bool all) {
    for (auto it = dying_.begin(); it != dying_.end();) {
      ASSERT_GT(it->pid, 0);
      int status = 0;
      const pid_t r = ::waitpid(it->pid, &status, all ? 0 : WNOHANG);
      if (r == 0) {
        ++it;
        continue;
      }
      ASSERT_EQ(r, it->pid);
      if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        ADD_FAILURE() << (it->producer ? "a producer" : "a consumer")
                      << " ended on its own before its kill (status " << status << ")";
      }
      it = dying_.erase(it);
    }
  }

  // Reads records until `until` (at least one non-blocking pass), or until EOF (nullopt:
  // until EOF only).
  void read_records(std::optional<Clock::time_point> until) {
    std::vector<Record> batch(4096);
    const std::span<std::byte> room = std::as_writable_bytes(std::span<Record>(batch));
    for (;;) {
      const ssize_t n = ::read(fds_[0], room.data() + partial_, room.size() - partial_);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        // Whole records are taken; a record cut by the read's size limit waits for the rest
        // (each was written whole: a pipe write of at most PIPE_BUF bytes is atomic).
        const std::size_t bytes = partial_ + static_cast<std::size_t>(n);
        const std::size_t whole = bytes / sizeof(Record);
        for (std::size_t i = 0; i < whole; ++i) take(batch[i]);
        partial_ = bytes % sizeof(Record);
        if (partial_ != 0)
          std::memmove(room.data(), room.data() + whole * sizeof(Record), partial_);
      }
      if (n == 0) {
        EXPECT_EQ(partial_, 0U) << "the pipe ended inside a record";
        return;  // EOF: every writer closed
      }
      if (!until) continue;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*until - Clock::now());
      if (left.count() <= 0) return;
      if (n < 0) {
        pollfd pfd{fds_[0], POLLIN, 0};
        static_cast<void>(::poll(&pfd, 1, static_cast<int>(left.count())));
      }
    }
  }

  void take(const Record& r) {
    switch (r.kind) {
      case 'P':
        put_returned_.insert(key(r.producer, r.seq));
        break;
      case 'D':
        decoded_by_[key(r.producer, r.seq)].push_back(r.who);
        break;
      case 'G':
        delivered(r.producer, r.seq);
        break;
      case 'X':
        ++corrupted_;
        break;
      default:
        ADD_FAILURE() << "unknown record kind " << static_cast<int>(r.kind);
    }
  }

  void delivered(std::uint32_t producer, std::uint32_t seq) {
    if (!delivered_.insert(key(producer, seq)).second) {
      ++duplicated_;
      ADD_FAILURE() << "item (" << producer << ", " << seq << ") was delivered twice";
    }
  }

  void tally(std::size_t units_left) {
    std::size_t held = 0;
    std::size_t in_killed_hands = 0;
    std::size_t lost = 0;
    for (const std::uint64_t k : put_returned_) {
      if (delivered_.count(k) != 0) {
        ++held;
        continue;
      }
      bool killed_holder = false;
      if (const auto it = decoded_by_.find(k); it != decoded_by_.end()) {
        for (const std::uint32_t who : it->second) {
          killed_holder = killed_holder || killed_consumers_.count(who) != 0;
        }
      }
      if (killed_holder) {
        ++in_killed_hands;
      } else {
        ++lost;
        if (lost <= 5) {
          std::string decoders;
          if (const auto it = decoded_by_.find(k); it != decoded_by_.end()) {
            for (const std::uint32_t who : it->second) decoders += " " + std::to_string(who);
          }
          ADD_FAILURE() << "item (" << (k >> 32) << ", " << (k & 0xffffffffU)
                        << ") was put and never delivered, and no killed consumer had it"
                        << " (decoded by:" << decoders << "; producer killed: "
                        << killed_producers_.count(static_cast<std::uint32_t>(k >> 32)) << ")";
        }
      }
    }
    std::size_t unreported = 0;  // delivered, its producer killed before reporting the put
    for (const std::uint64_t k : delivered_) unreported += put_returned_.count(k) == 0 ? 1 : 0;
    std::printf(
        "[ campaign ] queue kill storm, %s, kill every %lld ms: %d kills (%d producers, %d "
        "consumers); tried %zu, held %zu, lost %zu (+%zu decoded by a consumer killed before "
        "get returned), duplicated %zu, corrupted %zu, delivered with the put unreported %zu, "
        "units of maxsize lost %zu of %zu\n",
        config_.label, static_cast<long long>(config_.period.count()),
        producer_kills_ + consumer_kills_, producer_kills_, consumer_kills_, put_returned_.size(),
        held, lost, in_killed_hands, duplicated_, corrupted_, unreported, units_left,
        config_.maxsize);
    EXPECT_GT(put_returned_.size(), 0U);
    EXPECT_EQ(lost, 0U);
    EXPECT_EQ(duplicated_, 0U);
    EXPECT_EQ(corrupted_, 0U);
    // A consumer holds at most one decoded item at a time.
    EXPECT_LE(in_killed_hands, static_cast<std::size_t>(consumer_kills_));
  }

  StormConfig config_;
  int fds_[2] = {-1, -1};
  std::string name_;
  std::optional<Queue<Item>> queue_;
  std::size_t queue_arena_bytes_ = 0;
  std::size_t arena_peak_ = 0;  // the most arena bytes in use seen during the storm
  StopFlag stop_;
  std::uint32_t incarnations_ = 0;
  std::vector<Child> dying_;  // killed, not reaped yet
  std::size_t partial_ = 0;   // bytes of a record read in part
  int producer_kills_ = 0;
  int consumer_kills_ = 0;
  std::unordered_set<std::uint32_t> killed_consumers_;
  std::unordered_set<std::uint32_t> killed_producers_;
  std::unordered_set<std::int64_t> killed_producer_pids_;
  std::unordered_set<std::uint64_t> put_returned_;
  std::unordered_set<std::uint64_t> delivered_;
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> decoded_by_;
  std::size_t duplicated_ = 0;
  std::size_t corrupted_ = 0;
};

TEST(QueueKillStorm, AnonymousQueueKillEvery2ms) {
  QueueKillStorm<StormItem>({false, 2ms, "anonymous queue"}).run();
}

TEST(QueueKillStorm, AnonymousQueueKillEvery20ms) {
  QueueKillStorm<StormItem>({false, 20ms, "anonymous queue"}).run();
}

TEST(QueueKillStorm, NamedQueueKillEvery2ms) {
  QueueKillStorm<StormItem>({true, 2ms, "named queue"}).run();
}

TEST(QueueKillStorm, NamedQueueKillEvery20ms) {
  QueueKillStorm<StormItem>({true, 20ms, "named queue"}).run();
}

// Items through the payload arena and payload segments. Every child maps the arena anew
// and pays a page fault per page it touches (about 40 us each on the development VM), so the
// arena is one word (2 MiB) and the items small: maxsize 16 holds about 2 MiB of items on
// average, so some go through payload segments while the arena is full.
TEST(QueueKillStorm, BulkItemsAnonymousQueueKillEvery2ms) {
  QueueKillStorm<StormBulk>({false, 2ms, "bulk items, anonymous queue", 16, kQueueArenaStep}).run();
}

TEST(QueueKillStorm, BulkItemsNamedQueueKillEvery20ms) {
  QueueKillStorm<StormBulk>({true, 20ms, "bulk items, named queue", 16, kQueueArenaStep}).run();
}

}  // namespace
}  // namespace ringpool::pool
