// Worker death: a worker SIGKILLed at any moment never hangs the pool; the task it held
// fails with WorkerLost (or is rerun when retries allow); the worker is respawned; the
// parent's death takes the workers with it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/queue.hpp"
#include "test_support.hpp"

namespace {

using ::ringpool::test::in_dev_shm;
using ::ringpool::test::square;
using ::ringpool::test::stress_scale;

using namespace std::chrono_literals;
using ringpool::pool::Outcome;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::WaitMode;
using ringpool::pool::WorkerLost;

// Shared with the workers (MAP_SHARED, created before any pool forks).
struct Shared {
  std::atomic<int> running_pid;
  std::atomic<int> attempts;
};
Shared* shared() {
  static Shared* s = [] {
    void* p =
        mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    return new (p) Shared{};
  }();
  return s;
}

int hang_when_first(int x) {
  // The first attempt announces itself and waits to be killed; a rerun returns at once.
  if (shared()->attempts.fetch_add(1) == 0) {
    shared()->running_pid.store(static_cast<int>(getpid()));
    std::this_thread::sleep_for(30s);
  }
  return x * 2;
}

int spin_work(int x) {
  // A few microseconds of work, so kills land mid-task, mid-pop and mid-push.
  volatile std::uint64_t acc = static_cast<std::uint64_t>(x);
  for (int i = 0; i < 2000; ++i) acc = acc * 6364136223846793005ULL + 1442695040888963407ULL;
  (void)acc;
  return x + 1;
}

// The pid of the worker running hang_when_first, or 0 when it never started within
// `limit`. Callers ASSERT_GT(pid, 0) before signalling it: kill(0, ...) would signal the
// test's own process group.
[[maybe_unused]] pid_t wait_for_running(std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (shared()->running_pid.load() == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(1ms);
  }
  return static_cast<pid_t>(shared()->running_pid.load());
}

void reset_shared() {
  shared()->running_pid.store(0);
  shared()->attempts.store(0);
}

PoolOptions death_opts(std::size_t workers, std::uint32_t retries = 0,
                       WaitMode mode = WaitMode::block) {
  PoolOptions o;
  o.workers = workers;
  o.retries = retries;
  o.wait = mode;
  return o;
}

TEST(WorkerDeath, TaskHeldByAKilledWorkerFailsWithWorkerLost) {
  reset_shared();
  Pool pool(death_opts(1));
  auto f = pool.submit(hang_when_first, 21);
  const pid_t victim = wait_for_running();
  ASSERT_GT(victim, 0) << "the task never started";
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  try {
    (void)f.get(20s);
    FAIL() << "expected WorkerLost";
  } catch (const WorkerLost& e) {
    EXPECT_EQ(e.pid(), victim);
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_NE(std::string(e.what()).find("signal 9"), std::string::npos);
  }
  // The pool keeps serving with a new worker.
  EXPECT_EQ(pool.apply(square, 12), 144);
  ASSERT_TRUE(pool.worker_pid(0).has_value());
  EXPECT_NE(*pool.worker_pid(0), victim);
  EXPECT_EQ(pool.stats().workers_lost, 1u);
  EXPECT_EQ(pool.stats().respawns, 1u);
}

TEST(WorkerDeath, RetriesRerunTheTaskOnTheReplacement) {
  reset_shared();
  Pool pool(death_opts(1, 1));
  auto f = pool.submit(hang_when_first, 21);
  const pid_t victim = wait_for_running();
  ASSERT_GT(victim, 0) << "the task never started";
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  EXPECT_EQ(f.get(20s), 42);
  EXPECT_EQ(pool.stats().retried, 1u);
}

TEST(WorkerDeath, QueuedTasksBehindTheKilledOneStillRun) {
  reset_shared();
  Pool pool(death_opts(1));
  auto held = pool.submit(hang_when_first, 1);
  std::vector<ringpool::pool::Future<int>> queued;
  for (int i = 0; i < 20; ++i) queued.push_back(pool.submit(square, i));
  const pid_t victim = wait_for_running();
  ASSERT_GT(victim, 0) << "the task never started";
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  EXPECT_THROW((void)held.get(20s), WorkerLost);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(queued[i].get(20s), i * i);
}

// Issue #10 item 0: a dead, not yet respawned or retired worker used to show as pid -1,
// and kill(-1, SIGKILL) as root signals every process on the machine.
TEST(WorkerDeath, WorkerPidsNeverHandsOutANonPositivePid) {
  PoolOptions o = death_opts(1);
  o.initializer = [] { throw std::runtime_error("this initializer always fails"); };
  Pool pool(o);
  // The worker dies three times before its initializer returns, then is retired.
  for (int i = 0; i < 30000 && pool.stats().workers_lost < 3; ++i) {
    for (const pid_t pid : pool.worker_pids()) ASSERT_GT(pid, 0);
    if (const auto pid = pool.worker_pid(0)) {
      ASSERT_GT(*pid, 0);
    }
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(pool.stats().workers_lost, 3u);
  EXPECT_TRUE(pool.worker_pids().empty());
  EXPECT_FALSE(pool.worker_pid(0).has_value());
  EXPECT_FALSE(pool.worker_pid(7).has_value());
}

TEST(WorkerDeath, IdleWorkerKilledIsRespawnedOnTheSameCpus) {
  Pool pool(death_opts(2));
  (void)pool.apply(square, 1);
  const std::optional<pid_t> before0 = pool.worker_pid(0);
  const std::optional<pid_t> before1 = pool.worker_pid(1);
  ASSERT_TRUE(before0 && before1);
  ASSERT_EQ(kill(*before0, SIGKILL), 0);
  // Noticed by the supervisor even with nothing in flight.
  std::optional<pid_t> after0;
  for (int i = 0; i < 5000; ++i) {
    after0 = pool.worker_pid(0);
    if (after0 && *after0 != *before0) break;
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(after0.has_value());
  ASSERT_NE(*after0, *before0);
  ASSERT_GT(*after0, 0);
  EXPECT_EQ(pool.worker_pid(1), before1);
  EXPECT_EQ(pool.worker_cpus()[0], pool.worker_cpus()[0]);
  const auto out = pool.map(square, std::vector<int>{1, 2, 3, 4, 5});
  EXPECT_EQ(out, (std::vector<int>{1, 4, 9, 16, 25}));
}

// The kill -9 test: a large map while another thread SIGKILLs random workers at random
// moments. Every result is correct or WorkerLost (without retries) / correct (with).
void kill_storm(std::uint32_t retries, WaitMode mode, std::optional<std::size_t> chunksize) {
  Pool pool(death_opts(2, retries, mode));
  const int n = 20000 * stress_scale<int>();
  std::vector<int> in(static_cast<std::size_t>(n));
  std::iota(in.begin(), in.end(), 0);
  std::atomic<bool> done{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> pause_us(500, 8000);
    std::uniform_int_distribution<std::size_t> which(0, 1);
    while (!done.load() && kills.load() < 6 * stress_scale<int>()) {
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
      const std::optional<pid_t> pid = pool.worker_pid(which(rng));
      if (pid && *pid > 0 && kill(*pid, SIGKILL) == 0) ++kills;
    }
  });
  auto run =
      std::async(std::launch::async, [&] { return pool.map_outcomes(spin_work, in, chunksize); });
  if (run.wait_for(120s) != std::future_status::ready) {
    ADD_FAILURE() << "map did not finish within 120 s after " << kills.load() << " kills";
    std::fflush(nullptr);
    std::_Exit(1);  // a hang is the failure; do not wait for it
  }
  done = true;
  killer.join();
  const std::vector<Outcome<int>> out = run.get();
  ASSERT_EQ(out.size(), in.size());
  std::size_t lost = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].ok()) {
      ASSERT_EQ(out[i].value(), in[i] + 1) << i;
      continue;
    }
    ++lost;
    try {
      std::rethrow_exception(out[i].error());
    } catch (const WorkerLost& e) {
      EXPECT_EQ(e.signal(), SIGKILL);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "item " << i << " failed with something else: " << e.what();
    }
  }
  if (retries > 0) {
    EXPECT_EQ(lost, 0u);
  }
  const auto stats = pool.stats();
  ::testing::Test::RecordProperty("kills", kills.load());
  ::testing::Test::RecordProperty("lost_items", static_cast<int>(lost));
  EXPECT_EQ(stats.failed_lost, lost);
  std::printf("kills=%d noticed=%llu lost_items=%zu retried=%llu\n", kills.load(),
              static_cast<unsigned long long>(stats.workers_lost), lost,
              static_cast<unsigned long long>(stats.retried));
  // The pool still works afterwards.
  EXPECT_EQ(pool.apply(square, 9), 81);
}

TEST(WorkerDeathStress, MapSurvivesRandomKillsItemsCorrectOrWorkerLost) {
  kill_storm(0, WaitMode::block, 8);
}

TEST(WorkerDeathStress, MapSurvivesRandomKillsWithRetriesEveryItemCorrect) {
  kill_storm(50, WaitMode::block, 8);
}

TEST(WorkerDeathStress, SpinModeDefaultChunksWithRetries) {
  kill_storm(50, WaitMode::spin, std::nullopt);
}

TEST(WorkerDeathStress, SingleSubmitsSurviveRandomKills) {
  Pool pool(death_opts(2, 50));
  std::atomic<bool> done{false};
  std::thread killer([&] {
    std::mt19937 rng(777);
    for (int k = 0; k < 5 && !done.load(); ++k) {
      std::this_thread::sleep_for(std::chrono::microseconds(1000 + rng() % 5000));
      const std::optional<pid_t> pid = pool.worker_pid(rng() % 2);
      if (pid && *pid > 0) kill(*pid, SIGKILL);
    }
  });
  std::vector<ringpool::pool::Future<int>> fs;
  for (int i = 0; i < 3000; ++i) fs.push_back(pool.submit(spin_work, i));
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(fs[i].get(60s), i + 1);
  done = true;
  killer.join();
}

// The files under /dev/shm that process `pid` has mapped (its /proc/<pid>/maps).
std::set<std::string> dev_shm_files_mapped_by(pid_t pid) {
  std::set<std::string> files;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto at = line.find(" /dev/shm/");
    if (at != std::string::npos) files.insert(line.substr(at + 1));
  }
  return files;
}

bool gone(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  // A zombie waiting for init to reap it is gone too.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');
  return close == std::string::npos || (close + 2 < stat.size() && stat[close + 2] == 'Z');
}

// The parent of a pool, holding a named Queue its workers inherited, is SIGKILLed: the
// workers exit, the queue's name is removed (docs/ipc.md, "Resource tracker": a named
// segment is unlinked when its creator dies by any signal), and a process that had the
// queue open keeps a consistent queue: the dead parent's item is there once, and puts and
// gets still work. The pool itself names nothing in /dev/shm (its memory is anonymous).
TEST(WorkerDeath, ParentKilledTakesTheWorkersWithIt) {
  const std::string name = "ringpool-test-parent-kill-" + std::to_string(getpid());
  ringpool::test::Pipe pipe;
  const pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    pipe.close_read();
    auto queue = ringpool::pool::Queue<int>::create(name, 4);  // unlink_on_destroy: default
    queue.put(41);
    Pool pool(death_opts(2));
    (void)pool.apply(square, 2);
    std::string pids;
    for (pid_t p : pool.worker_pids()) pids += std::to_string(p) + "\n";
    ringpool::test::write_text(pipe.write_fd(), pids);
    pipe.close_write();
    for (;;) pause();
  }
  pipe.close_write();
  // Not read_all(): the workers inherited the write end, so EOF comes only when they die.
  std::string text;
  while (std::count(text.begin(), text.end(), '\n') < 2) {
    char c = 0;
    if (read(pipe.read_fd(), &c, 1) != 1) break;
    text.push_back(c);
  }
  std::vector<pid_t> workers;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto nl = text.find('\n', pos);
    workers.push_back(static_cast<pid_t>(std::stol(text.substr(pos, nl - pos))));
    pos = nl + 1;
  }
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_TRUE(in_dev_shm(name));
  auto queue = ringpool::pool::Queue<int>::open(name);
  // Before the kill: the only /dev/shm file the parent and its workers map is the queue.
  const std::set<std::string> only_the_queue{"/dev/shm/" + name};
  for (pid_t p : {parent, workers[0], workers[1]}) {
    const std::set<std::string> mapped = dev_shm_files_mapped_by(p);
    EXPECT_TRUE(
        std::includes(only_the_queue.begin(), only_the_queue.end(), mapped.begin(), mapped.end()))
        << "process " << p << " maps " << mapped.size() << " files under /dev/shm";
  }
  ASSERT_GT(parent, 0);
  ASSERT_EQ(kill(parent, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(parent, &status, 0), parent);
  for (pid_t w : workers) {
    bool ok = false;
    for (int i = 0; i < 5000 && !ok; ++i) {
      ok = gone(w);
      if (!ok) std::this_thread::sleep_for(1ms);
    }
    EXPECT_TRUE(ok) << "worker " << w << " outlived its SIGKILLed parent";
  }
  bool unlinked = false;
  for (int i = 0; i < 5000 && !unlinked; ++i) {
    unlinked = !in_dev_shm(name);
    if (!unlinked) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(unlinked) << name << " outlived its SIGKILLed creator";
  if (!unlinked) ringpool::pool::Queue<int>::unlink(name);
  // The opener's queue is intact: the item once, then puts and gets as before.
  EXPECT_EQ(queue.get(10s), 41);
  EXPECT_FALSE(queue.try_get().has_value());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(queue.try_put(i));
  EXPECT_FALSE(queue.try_put(4));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(queue.get(10s), i);
}

}  // namespace
