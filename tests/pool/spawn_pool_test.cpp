// Pool with the spawn start method: workers are re-executed copies of this test binary
// (its main() begins with serve_if_worker), get the rings through an inherited memfd,
// run registered tasks found by key, and are respawned the same way after a kill -9.
// Also initialize_with() (Python's initializer + initargs) under both start methods,
// and the checks a spawned worker makes on its start data.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "kill_storm.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/this_process.hpp"
#include "ringpool/topology/machine.hpp"
#include "ringpool/topology/placement.hpp"
#include "test_support.hpp"
#include "worker_loop.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::InvalidArgument;
using ringpool::pool::Pool;
using ringpool::pool::PoolOptions;
using ringpool::pool::StartMethod;
using ringpool::pool::TaskFailed;
using ringpool::pool::WorkerLost;
using ringpool::test::Pipe;
using ringpool::test::StderrCapture;

constexpr const char* kSkipServeEnv = "RINGPOOL_TEST_SKIP_SERVE";

// Set by the test process before it creates a pool: a forked worker sees it, a spawned
// one (a fresh program) does not.
int g_marker = 0;
int read_marker(int add) {
  return g_marker + add;
}
RINGPOOL_TASK(read_marker);

int square(int x) {
  return x * x;
}
RINGPOOL_TASK(square);

// A few microseconds of work, so that kills land mid-task.
int busy_square(int x) {
  volatile std::uint64_t acc = static_cast<std::uint64_t>(x);
  for (int i = 0; i < 3000; ++i) acc = acc * 6364136223846793005ULL + 1442695040888963407ULL;
  (void)acc;
  return x * x;
}
RINGPOOL_TASK(busy_square);

int add(int a, int b) {
  return a + b;
}
RINGPOOL_TASK(add);

std::string shout(std::string s) {
  for (char& c : s) c = static_cast<char>(c - 'a' + 'A');
  return s + "!";
}
RINGPOOL_TASK(shout);

// Large payloads (larger than a slot) both ways through spawn-started workers.
std::vector<double> double_all(std::vector<double> v) {
  for (double& x : v) x *= 2;
  return v;
}
RINGPOOL_TASK(double_all);

int fail_on(int x) {
  if (x == 3) throw std::out_of_range("three is not allowed");
  return x;
}
RINGPOOL_TASK(fail_on);

// Exceptions for the error tests: one registered to travel, one not.
struct SpawnBadInput : std::runtime_error {
  explicit SpawnBadInput(const std::string& m) : std::runtime_error(m) {}
};
RINGPOOL_EXCEPTION(SpawnBadInput);
struct SpawnUnregistered : std::logic_error {
  explicit SpawnUnregistered(const std::string& m) : std::logic_error(m) {}
};
int raise_in_worker(int kind, std::string message) {
  if (kind == 0) throw SpawnBadInput(message);
  if (kind == 1) throw SpawnUnregistered(message);
  if (kind == 2) throw std::system_error(ENOENT, std::system_category(), message);
  throw std::invalid_argument(std::string(std::size_t{1} << 20, 'q'));  // more than a slot
}
RINGPOOL_TASK(raise_in_worker);

// Function objects for the spawn start method: registered types whose state travels.
struct Offset {
  int by;
  int operator()(int x) const { return x + by; }
};
RINGPOOL_FUNCTOR(Offset);
const auto add_four = [k = 4](int x) { return x + k; };
RINGPOOL_FUNCTOR(decltype(add_four));
const auto triple = [](int x) { return 3 * x; };
RINGPOOL_FUNCTOR(decltype(triple));
struct NotRegisteredFunctor {
  int by;
  int operator()(int x) const { return x - by; }
};
struct Weights {
  double w;
  [[nodiscard]] double times(double x) const { return w * x; }
};

int my_pid(int) {
  return static_cast<int>(::getpid());
}
RINGPOOL_TASK(my_pid);

// Tells the test it runs (its pid on the inherited pipe), then waits to be killed.
int report_and_hang(int fd) {
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::write(fd, pid.data(), pid.size()) < 0) return -1;
  for (;;) ::pause();
}
RINGPOOL_TASK(report_and_hang);

std::string g_tag;
int g_init_runs = 0;
void set_tag(std::string tag, int n) {
  g_tag = tag + "/" + std::to_string(n);
  ++g_init_runs;
}
RINGPOOL_TASK(set_tag);
std::string read_tag(int) {
  return g_tag + "#" + std::to_string(g_init_runs);
}
RINGPOOL_TASK(read_tag);

// "<name> daemon=<0|1> <pid> <name> <alive|gone>" of this worker and its parent().
std::string describe_worker(int) {
  const auto parent = ringpool::this_process::parent();
  std::string text = ringpool::this_process::name() +
                     " daemon=" + std::to_string(ringpool::this_process::is_daemon()) + " ";
  if (!parent) return text + "none";
  return text + std::to_string(parent->pid()) + " " + parent->name() + " " +
         (parent->is_alive() ? "alive" : "gone");
}
RINGPOOL_TASK(describe_worker);

int unregistered(int x) {
  return x;
}
void unregistered_init(int) {}

PoolOptions spawn_opts(std::size_t workers) {
  PoolOptions o;
  o.workers = workers;
  o.start_method = StartMethod::spawn;
  return o;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool was_reexecuted(pid_t pid) {
  return read_file("/proc/" + std::to_string(pid) + "/cmdline").find("--ringpool-spawned-child") !=
         std::string::npos;
}

std::string cpus_allowed_list(pid_t pid) {
  const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("Cpus_allowed_list:");
  if (at == std::string::npos) return "";
  std::string v = status.substr(at + 18, status.find('\n', at) - at - 18);
  v.erase(0, v.find_first_not_of(" \t"));
  return v;
}

TEST(SpawnPool, WorkersAreFreshCopiesOfTheProgram) {
  g_marker = 1000;
  {
    Pool pool(spawn_opts(2));
    EXPECT_EQ(pool.apply(read_marker, 5), 5) << "a spawned worker must not inherit globals";
    for (const pid_t pid : pool.worker_pids()) EXPECT_TRUE(was_reexecuted(pid)) << pid;
  }
  {
    PoolOptions o;
    o.workers = 1;
    Pool forked(o);
    EXPECT_EQ(forked.apply(read_marker, 5), 1005) << "a forked worker is a copy of the parent";
    EXPECT_FALSE(was_reexecuted(forked.worker_pids()[0]));
  }
  g_marker = 0;
}

// Python's parent_process() in a spawn Pool worker: the pool's process.
// A spawned worker learns from its start data that it shares the confined parent's one CPU
// (shared_cpu_test.cpp has the forked and thread cases): idle, it sleeps in spin mode too.
TEST(SpawnPool, WorkersOfAPoolConfinedToOneCpuSleepWhenIdle) {
  ringpool::test::ConfinedToOneCpu confined;
  PoolOptions o = spawn_opts(1);
  o.wait = ringpool::pool::WaitMode::spin;
  Pool pool(o);
  EXPECT_EQ(pool.submit(square, 6).get(), 36);
  const auto pid = pool.worker_pid(0);
  ASSERT_TRUE(pid.has_value());
  ASSERT_GT(*pid, 0);
  EXPECT_GE(ringpool::test::sleeping_samples(*pid, 20), 18);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past a 100 ms sleep
  for (int i = 0; i < 100; ++i) ASSERT_EQ(pool.apply(square, i), i * i);
  pool.close();
  pool.join();
}

// A re-executed worker maps the rings' memfd itself and populates its view before its
// first task (as a forked one does): the mapping is resident but for its unused head.
TEST(SpawnPool, AWorkersViewOfItsRingsIsResident) {
  Pool pool(spawn_opts(1));
  EXPECT_EQ(pool.submit(square, 5).get(), 25);
  const auto pid = pool.worker_pid(0);
  ASSERT_TRUE(pid.has_value());
  ASSERT_GT(*pid, 0);
  const auto m = ringpool::test::pool_mapping_kib(*pid);
  ASSERT_GT(m.size, 1024U);
  EXPECT_GE(m.rss + 64, m.size);
}

TEST(SpawnPool, WorkersSeeThePoolsProcessAsTheirParent) {
  Pool pool(spawn_opts(2));
  const std::string parent = std::to_string(::getpid()) + " MainProcess alive";
  for (const std::string& s : pool.map(describe_worker, std::vector<int>(16, 0), 1)) {
    EXPECT_TRUE(s == "SpawnPoolWorker-1 daemon=1 " + parent ||
                s == "SpawnPoolWorker-2 daemon=1 " + parent)
        << s;
  }
}

TEST(SpawnPool, A64MiBVectorTravelsBothWays) {
  Pool pool(spawn_opts(1));
  std::vector<double> v((std::size_t{64} << 20) / sizeof(double));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  const std::vector<double> back = pool.submit(double_all, v).get();
  ASSERT_EQ(back.size(), v.size());
  EXPECT_EQ(back[12345], 2.0 * 12345);
  EXPECT_EQ(back.back(), 2.0 * v.back());
  // A map with one item larger than a slot.
  std::vector<std::vector<double>> in(6, std::vector<double>{1.0});
  in[3].assign(100'000, 0.5);
  const auto out = pool.map(double_all, in);
  EXPECT_EQ(out[3], std::vector<double>(100'000, 1.0));
  EXPECT_EQ(out[5], std::vector<double>{2.0});
}

TEST(SpawnPool, EveryCallFormWorks) {
  Pool pool(spawn_opts(2));
  EXPECT_EQ(pool.submit(square, 9).get(), 81);
  EXPECT_EQ(pool.apply(add, 2, 3), 5);
  EXPECT_EQ(pool.apply(shout, std::string("abc")), "ABC!");

  std::vector<int> in(2000);
  for (int i = 0; i < 2000; ++i) in[static_cast<std::size_t>(i)] = i;
  const auto squares = pool.map(square, in);  // concurrent path, default chunksize
  ASSERT_EQ(squares.size(), in.size());
  for (int i = 0; i < 2000; ++i) EXPECT_EQ(squares[static_cast<std::size_t>(i)], i * i);
  const auto two = pool.map(square, std::vector<int>{4, 5});  // parallel path
  EXPECT_EQ(two, (std::vector<int>{16, 25}));

  std::vector<std::string> words{"ab", "cd", "ef", "gh", "ij"};
  std::vector<std::string> got;
  for (auto s : pool.imap(shout, words)) got.push_back(s);
  EXPECT_EQ(got, (std::vector<std::string>{"AB!", "CD!", "EF!", "GH!", "IJ!"}));

  std::multiset<int> unordered;
  for (int v : pool.imap_unordered(square, in)) unordered.insert(v);
  EXPECT_EQ(unordered, std::multiset<int>(squares.begin(), squares.end()));

  std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap(add, pairs), (std::vector<int>{3, 7, 11}));
  pool.close();
  pool.join();
}

TEST(SpawnPool, StandardTaskExceptionsComeBackAsThemselves) {
  Pool pool(spawn_opts(1));
  try {
    (void)pool.apply(fail_on, 3);
    FAIL() << "expected std::out_of_range";
  } catch (const std::out_of_range& e) {
    EXPECT_EQ(typeid(e), typeid(std::out_of_range));
    EXPECT_STREQ(e.what(), "three is not allowed");
  }
  EXPECT_EQ(pool.apply(fail_on, 4), 4);
}

TEST(SpawnPool, RegisteredSystemAndLongErrorsComeBackAsThemselves) {
  Pool pool(spawn_opts(1));
  try {
    (void)pool.apply(raise_in_worker, 0, std::string("bad row"));
    FAIL() << "expected SpawnBadInput";
  } catch (const SpawnBadInput& e) {
    EXPECT_STREQ(e.what(), "bad row");
  }
  try {
    (void)pool.apply(raise_in_worker, 2, std::string("open"));
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::error_code(ENOENT, std::system_category()));
  }
  const std::string big(std::size_t{1} << 20, 'q');
  try {
    (void)pool.apply(raise_in_worker, 3, std::string());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(std::string(e.what()) == big);
  }
}

TEST(SpawnPool, UnregisteredErrorTypeIsTaskFailedWithItsName) {
  Pool pool(spawn_opts(1));
  try {
    (void)pool.apply(raise_in_worker, 1, std::string("not here"));
    FAIL() << "expected TaskFailed";
  } catch (const TaskFailed& e) {
    EXPECT_EQ(e.type_name(), "(anonymous namespace)::SpawnUnregistered");
    EXPECT_EQ(e.original_what(), "not here");
  }
}

TEST(SpawnPool, RegisteredFunctionObjectsCarryTheirState) {
  Pool pool(spawn_opts(2));
  EXPECT_EQ(pool.apply(Offset{5}, 1), 6);
  EXPECT_EQ(pool.map(Offset{10}, std::vector<int>{1, 2, 3}), (std::vector<int>{11, 12, 13}));
  std::vector<int> got;
  for (int v : pool.imap(Offset{-1}, std::vector<int>{1, 2})) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{0, 1}));
  EXPECT_EQ(pool.apply(add_four, 1), 5);
  EXPECT_EQ(pool.apply(triple, 2), 6);
}

TEST(SpawnPool, UnregisteredFunctionObjectsAndMemberFunctionsAreRefusedAtSubmit) {
  Pool pool(spawn_opts(1));
  try {
    (void)pool.submit(NotRegisteredFunctor{1}, 1);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("RINGPOOL_FUNCTOR"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)pool.submit(&Weights::times, Weights{2.0}, 1.0), InvalidArgument);
  EXPECT_EQ(pool.stats().tasks_sent, 0u);
}

TEST(SpawnPool, UnregisteredTaskIsRefusedAtSubmitAndNothingIsSent) {
  Pool pool(spawn_opts(1));
  const auto sent = pool.stats().tasks_sent;
  try {
    (void)pool.submit(unregistered, 1);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("RINGPOOL_TASK"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)pool.map(unregistered, std::vector<int>{1, 2, 3}), InvalidArgument);
  EXPECT_EQ(pool.stats().tasks_sent, sent);
  EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST(SpawnPool, InitializeWithRunsOnceInEveryWorkerWithItsArguments) {
  PoolOptions o = spawn_opts(2);
  o.initialize_with(set_tag, std::string("spawned"), 7);
  Pool pool(o);
  for (const auto& tag : pool.map(read_tag, std::vector<int>(50, 0), 1)) {
    EXPECT_EQ(tag, "spawned/7#1");
  }
  EXPECT_EQ(g_init_runs, 0);  // never in the parent
}

TEST(SpawnPool, InitializeWithWorksUnderForkToo) {
  PoolOptions o;
  o.workers = 2;
  o.initialize_with(set_tag, std::string("forked"), 3);
  Pool pool(o);
  for (const auto& tag : pool.map(read_tag, std::vector<int>(50, 0), 1)) {
    EXPECT_EQ(tag, "forked/3#1");
  }
  EXPECT_EQ(g_init_runs, 0);
}

TEST(SpawnPool, InitializersThatCannotReachAReexecutedWorkerAreRefused) {
  PoolOptions with_function = spawn_opts(1);
  with_function.initializer = [] { set_tag("x", 1); };
  EXPECT_THROW(Pool{with_function}, InvalidArgument);

  PoolOptions with_unregistered = spawn_opts(1);
  with_unregistered.initialize_with(unregistered_init, 1);
  try {
    Pool pool(with_unregistered);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("RINGPOOL_TASK"), std::string::npos) << e.what();
  }

  PoolOptions both;
  both.workers = 1;
  both.initializer = [] {};
  both.initialize_with(set_tag, std::string("y"), 2);
  EXPECT_THROW(Pool{both}, InvalidArgument);
}

TEST(SpawnPool, KilledWorkerFailsItsTaskAndIsRespawnedByReexec) {
  Pipe started(true);
  Pool pool(spawn_opts(1));
  auto held = pool.submit(report_and_hang, started.write_fd());
  const pid_t victim = static_cast<pid_t>(std::stol(started.read_line()));
  ASSERT_EQ(victim, pool.worker_pids()[0]);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  try {
    (void)held.get(20s);
    FAIL() << "expected WorkerLost";
  } catch (const WorkerLost& e) {
    EXPECT_EQ(e.pid(), victim);
    EXPECT_EQ(e.signal(), SIGKILL);
  }
  EXPECT_EQ(pool.apply(square, 12), 144);
  const pid_t replacement = pool.worker_pids()[0];
  EXPECT_NE(replacement, victim);
  EXPECT_TRUE(was_reexecuted(replacement));
  EXPECT_EQ(pool.stats().respawns, 1u);
}

TEST(SpawnPool, MaxTasksPerChildReplacesWorkersByReexec) {
  PoolOptions o = spawn_opts(1);
  o.max_tasks_per_child = 2;
  Pool pool(o);
  std::set<int> pids;
  for (int i = 0; i < 6; ++i) pids.insert(pool.apply(my_pid, 0));
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(pool.stats().workers_lost, 0u);
}

TEST(SpawnPool, WorkersArePinnedBeforeTheyRun) {
  Pool pool(spawn_opts(2));
  const auto expected = ringpool::topology::place(ringpool::topology::Machine::live(), 2, {});
  const auto pids = pool.worker_pids();
  const auto cpus = pool.worker_cpus();
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(cpus[i], expected[i]);
    // spawn_worker pins the child before exec: no waiting needed.
    EXPECT_EQ(cpus_allowed_list(pids[i]), cpus[i].to_list()) << "worker " << i;
  }
}

// A program whose main() does not begin with serve_if_worker: its re-executed workers
// run main() instead of serving. The pool says so instead of waiting for them forever.
TEST(SpawnPool, MainWithoutServeIfWorkerIsAClearErrorNotAHang) {
  ASSERT_EQ(::setenv(kSkipServeEnv, "1", 1), 0);
  try {
    Pool pool(spawn_opts(1));
    ::unsetenv(kSkipServeEnv);
    FAIL() << "expected PoolError";
  } catch (const ringpool::pool::PoolError& e) {
    ::unsetenv(kSkipServeEnv);
    const std::string what = e.what();
    EXPECT_NE(what.find("exited with code 3"), std::string::npos) << what;
    EXPECT_NE(what.find("serve_if_worker"), std::string::npos) << what;
  }
  EXPECT_EQ(std::getenv(kSkipServeEnv), nullptr);
}

// ---- kill storms ------------------------------------------------------------------------
// Workers SIGKILLed every `period` (at most `max_kills` times) during a map with retries:
// every item comes back right. Spawn-started replacements re-execute the program, so each
// kill costs an exec (a few ms): at 2 ms the workers barely run between kills, hence the cap.
void spawn_kill_storm(std::chrono::milliseconds period, int items, int max_kills) {
  PoolOptions o = spawn_opts(2);
  o.retries = 1000;
  Pool pool(o);
  ringpool::test::KillStorm storm(pool, period, static_cast<unsigned>(period.count()), max_kills);
  std::vector<int> in(static_cast<std::size_t>(items));
  std::iota(in.begin(), in.end(), 0);
  const auto out = pool.map(busy_square, in, 4);
  const int kills = storm.stop();
  std::size_t right = 0;
  for (std::size_t i = 0; i < in.size(); ++i) right += out[i] == in[i] * in[i] ? 1 : 0;
  EXPECT_EQ(right, in.size());
  std::printf(
      "[ campaign ] spawn pool map %d items, kill every %lld ms: %d kills, %zu of %zu "
      "results correct\n",
      items, static_cast<long long>(period.count()), kills, right, in.size());
}

TEST(SpawnPoolKills, KillEvery20msDuringMap) {
  spawn_kill_storm(20ms, 100000 / ringpool::test::kStormScale, 60 / ringpool::test::kStormScale);
}

TEST(SpawnPoolKills, KillEvery2msDuringMap) {
  spawn_kill_storm(2ms, 20000 / ringpool::test::kStormScale, 60 / ringpool::test::kStormScale);
}

// ---- start data checks ------------------------------------------------------------------
// A spawned pool worker given start data that does not describe a pool's mapping must
// refuse it (exit code 1, a message on stderr) before it follows any offset.

// Runs a spawned pool worker with `payload`; returns its exit code and its stderr.
std::pair<int, std::string> run_worker_with(const std::vector<std::byte>& payload,
                                            std::vector<int> fds = {}) {
  ringpool::detail::SpawnRequest request;
  request.kind = std::string(ringpool::pool::detail::kSpawnWorkerKind);
  request.payload = payload;
  request.inherit_fds = std::move(fds);
  StderrCapture capture;
  const pid_t pid = ringpool::detail::spawn_worker(request);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return {code, capture.text()};
}

ringpool::pool::detail::SpawnLayout plausible_layout(int fd, std::uint64_t bytes) {
  using namespace ringpool::pool::detail;
  SpawnLayout l{};
  l.magic = kSpawnLayoutMagic;
  l.index = 0;
  l.parent = ::getpid();
  l.wait = 1;
  l.fd = fd;
  l.slot_size = 4096;
  l.max_payload = std::uint64_t{1} << 30;
  l.payload_serial = 1;
  l.bytes = bytes;
  l.self_offset = 4 * kLine;
  l.task_offset = 8 * kLine;
  l.task_bytes = kLine;
  l.result_offset = 12 * kLine;
  l.result_bytes = kLine;
  l.shared_offset = 16 * kLine;
  l.shared_bytes = kLine;
  l.words_offset = 20 * kLine;
  l.words_count = kLine / sizeof(TaskWord);
  return l;
}

void expect_refused(const std::vector<std::byte>& payload, std::vector<int> fds,
                    const std::string& reason) {
  const auto [code, text] = run_worker_with(payload, std::move(fds));
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find(reason), std::string::npos) << "expected '" << reason << "' in: " << text;
}

TEST(SpawnPoolStartData, GarbageAndLiesAreRefused) {
  using namespace ringpool::pool::detail;
  const int fd = ::memfd_create("spawn-pool-test", 0);  // inheritable on purpose
  ASSERT_GE(fd, 0);
  constexpr std::uint64_t kBytes = 64 * kLine;
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kBytes)), 0);  // zeros: no pool magic
  auto encode = [](const SpawnLayout& l) { return ringpool::pool::to_bytes(SpawnPayload{l, {}}); };
  expect_refused({std::byte{1}, std::byte{2}, std::byte{3}}, {}, "truncated");

  SpawnLayout l = plausible_layout(fd, kBytes);
  l.magic = 42;
  expect_refused(encode(l), {fd}, "layout magic is wrong");
  l = plausible_layout(fd, kBytes);
  l.task_offset = kBytes;
  expect_refused(encode(l), {fd}, "outside the mapping");
  l = plausible_layout(fd, kBytes);
  l.shared_bytes = ~std::uint64_t{0};
  expect_refused(encode(l), {fd}, "outside the mapping");
  l = plausible_layout(fd, kBytes);
  l.words_count = ~std::uint64_t{0} / sizeof(TaskWord);
  expect_refused(encode(l), {fd}, "outside the mapping");
  l = plausible_layout(fd, kBytes);
  l.words_offset = kBytes;
  expect_refused(encode(l), {fd}, "outside the mapping");
  l = plausible_layout(fd, kBytes);
  l.result_offset += 8;
  expect_refused(encode(l), {fd}, "misaligned");
  l = plausible_layout(fd, kBytes);
  l.slot_size = 1;
  expect_refused(encode(l), {fd}, "slot size 1 is out of range");
  l = plausible_layout(fd, kBytes);
  l.max_payload = 100;
  expect_refused(encode(l), {fd}, "max_payload 100 is out of range");
  l = plausible_layout(fd, kBytes);
  l.shares_parent_cpu = 2;
  expect_refused(encode(l), {fd}, "shares_parent_cpu is not 0 or 1");
  l = plausible_layout(fd, kBytes * 2);
  expect_refused(encode(l), {fd}, "is not the pool's mapping");
  l = plausible_layout(fd + 100, kBytes);
  expect_refused(encode(l), {}, "is not the pool's mapping");
  l = plausible_layout(fd, kBytes);
  expect_refused(encode(l), {fd}, "is not a pool's");
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv(kSkipServeEnv) != nullptr && ringpool::detail::is_spawned_child()) {
    return 3;  // a main() that forgot serve_if_worker and did something else
  }
  ringpool::serve_if_worker(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
