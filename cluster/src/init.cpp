// init(): MPI start-up, every rank's RankInfo gathered on rank 0, the serving loop of
// ranks 1..n-1, and the end of the job when rank 0's program ends.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "comm.hpp"
#include "ringpool/cluster/cluster.hpp"
#include "ringpool/cluster/errors.hpp"
#include "ringpool/pool/detail/pool_core.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/topology/machine.hpp"
#include "wire.hpp"

namespace ringpool::cluster {
namespace detail {
namespace {

MPI_Comm g_comm = MPI_COMM_NULL;
int g_rank = 0;
std::vector<RankInfo> g_ranks;
bool g_initialized = false;
pid_t g_init_pid = 0;  // the rank's own process: a forked child must not end the job
std::mutex g_lost_mu;
std::vector<int> g_lost;  // ranks a cluster pool lost (rank 0), under g_lost_mu

// Fixed-size record each rank sends to rank 0 in MPI_Gather.
struct InfoWire {
  std::int64_t pid = 0;
  std::uint64_t usable_cores = 0;
  std::array<char, 64> host{};
  std::array<char, 256> cpus{};
  std::array<char, 192> machine{};
};
static_assert(std::is_trivially_copyable_v<InfoWire>);

template <std::size_t N>
void copy_text(std::array<char, N>& out, const std::string& text) {
  const std::size_t n = std::min(text.size(), N - 1);
  std::memcpy(out.data(), text.data(), n);
  out[n] = '\0';
}
template <std::size_t N>
std::string read_text(const std::array<char, N>& in) {
  return std::string(in.data(), strnlen(in.data(), N));
}

InfoWire describe_this_rank() {
  InfoWire w;
  w.pid = ::getpid();
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) std::strcpy(host.data(), "?");
  copy_text(w.host, std::string(host.data()));
  try {
    const auto& machine = topology::Machine::live();
    const topology::Usable usable = machine.usable();
    w.usable_cores = usable.cores;
    copy_text(w.cpus, usable.cpus.to_list());
    copy_text(w.machine, std::to_string(machine.packages().size()) + " package(s), " +
                             std::to_string(machine.cores().size()) + " cores, " +
                             std::to_string(machine.pus().size()) + " PUs");
  } catch (const std::exception& e) {
    w.usable_cores = 1;
    copy_text(w.machine, std::string("hwloc failed: ") + e.what());
  }
  return w;
}

// ---- serving ranks ---------------------------------------------------------------------

// Chunks of one local pool whose results are all in, waiting to go back to rank 0. The
// local pool settles chunks from whichever thread collects (the serving loop, or the pool's
// supervisor thread when nobody waits), so the list has its own lock.
struct DoneList {
  std::mutex mu;
  std::vector<std::uint64_t> ids;  // under mu
  // relaxed: a hint for the serving loop's idle wait (the list is read under mu).
  std::atomic<std::size_t> size{0};

  void push(std::uint64_t id) {
    std::lock_guard lock(mu);
    ids.push_back(id);
    size.store(ids.size(), std::memory_order_relaxed);
  }
  std::vector<std::uint64_t> take() {
    std::lock_guard lock(mu);
    size.store(0, std::memory_order_relaxed);
    return std::exchange(ids, {});
  }
};

// Collects one chunk's results from the local pool, framed for rank 0. deliver/fail/settled
// are called with the local pool's lock held (one collector at a time); the serving loop
// reads the items only after settled() has put the chunk in the DoneList (its lock orders
// the two).
class RelaySink final : public pool::detail::ResultSink {
 public:
  RelaySink(std::uint64_t chunk_id, std::uint32_t count, DoneList& done)
      : chunk_id_(chunk_id), count_(count), done_(&done) {}

  void deliver(std::uint64_t index, std::span<const std::byte> value) override {
    ItemHead h;
    h.index = static_cast<std::uint32_t>(index);
    h.status = kOk;
    h.bytes = value.size();
    put(items_, h);
    items_.insert(items_.end(), value.begin(), value.end());
  }
  void fail(std::uint64_t index, std::exception_ptr error) noexcept override {
    try {
      const std::size_t at = items_.size();
      put(items_, ItemHead{});
      put_error(items_, error);
      ItemHead h;
      h.index = static_cast<std::uint32_t>(index);
      h.status = kError;
      h.bytes = items_.size() - at - sizeof(ItemHead);
      std::memcpy(items_.data() + at, &h, sizeof h);
    } catch (...) {
      // Out of memory: rank 0 sees a short chunk and fails the missing items.
    }
  }
  void settled(std::size_t items) noexcept override {
    settled_ += items;
    if (settled_ >= count_) {
      try {
        done_->push(chunk_id_);
      } catch (...) {
      }
    }
  }

  // Appends this chunk's result frame to `message`. Only after settled().
  void write(std::vector<std::byte>& message) const {
    ResultFrame f;
    f.chunk_id = chunk_id_;
    f.count = count_;
    f.bytes = items_.size();
    put(message, f);
    message.insert(message.end(), items_.begin(), items_.end());
  }
  // Fails every item with `error` (the task cannot run here).
  void fail_all(const std::exception_ptr& error) {
    for (std::uint32_t i = 0; i < count_; ++i) fail(i, error);
    settled(count_);
  }

 private:
  std::uint64_t chunk_id_;
  std::uint32_t count_;
  std::size_t settled_ = 0;
  DoneList* done_;
  std::vector<std::byte> items_;
};

struct LocalPool {
  std::unique_ptr<pool::detail::PoolCore> core;
  // Chunks handed to `core`, by id. Only the serving loop adds and removes entries.
  std::map<std::uint64_t, std::unique_ptr<RelaySink>> chunks;
  DoneList done;
  bool spin = false;
};

// MPI_Finalize, bounded when a rank was lost: Open MPI 4.1.4 under --enable-recovery
// sometimes waits forever in it for the dead rank. After 3 s this process ends with
// `status` without it (mpirun then reports that it did not finalise).
void finalize(bool after_loss, int status) noexcept {
  if (after_loss) {
    try {
      std::thread([status] {
        std::this_thread::sleep_for(std::chrono::seconds(3));
        std::fprintf(stderr,
                     "ringpool: rank %d: MPI_Finalize did not return within 3 s after a rank "
                     "was lost; ending without it\n",
                     g_rank);
        std::fflush(stderr);
        std::_Exit(status);
      }).detach();
    } catch (...) {
    }
  }
  MPI_Finalize();
}

bool never_ready(const void*) noexcept {
  return false;
}
bool has_done(const void* pool) noexcept {
  // relaxed: a hint; send_results() reads the list under its lock.
  return static_cast<const LocalPool*>(pool)->done.size.load(std::memory_order_relaxed) != 0;
}

class Server {
 public:
  // The serving loop. It never sleeps within kHotWait of its last message or result, nor
  // while a local chunk is out and younger than that (it spins, then yields, polling MPI
  // and the local pools in turn): a round trip meets no sleep and no extra hand-off here.
  // Past that, block mode sleeps: on a local pool's wake-up while it holds chunks (a result
  // ends the sleep at once; MPI is looked at again after 200 us), else in a back-off up to
  // 200 us (the latency a new task sees at worst from this loop after a quiet spell).
  [[noreturn]] void run() {
    constexpr auto kHotWait = std::chrono::milliseconds(1);
    std::size_t malformed = 0;
    Backoff backoff(false, std::chrono::microseconds(200), kHotWait);
    Backoff spinning(true, std::chrono::microseconds(200));
    last_send_ = Clock::now();
    for (;;) {
      bool busy = false;
      for (int k = 0; k < 64; ++k) {
        auto m = try_receive(malformed);
        if (!m) break;
        busy = true;
        if (m->source != 0 || m->header.kind == 0) continue;  // only rank 0 commands
        if (handle(*m)) finish();
      }
      for (auto& [id, p] : pools_) {
        p->core->wait_until(&never_ready, nullptr, Clock::now());  // collects, never sleeps
        if (has_done(p.get())) {
          send_results(id, *p);
          busy = true;
        }
      }
      outbox_.poll();
      if (heartbeat_ms_ > 0 &&
          Clock::now() - last_send_ > std::chrono::milliseconds(heartbeat_ms_)) {
        outbox_.send(0, begin_message(Kind::heartbeat, 0));
        last_send_ = Clock::now();
      }
      if (busy) {
        backoff.reset();
        spinning.reset();
        continue;
      }
      LocalPool* waiting = nullptr;
      bool spin = false;
      for (auto& [id, p] : pools_) {
        if (!p->chunks.empty()) waiting = p.get();
        spin = spin || p->spin;
      }
      if (spin) {
        spinning.pause();  // a spin-mode pool is open: never sleep (it yields)
      } else if (waiting != nullptr && backoff.idle_for() >= kHotWait) {
        waiting->core->wait_until(&has_done, waiting,
                                  Clock::now() + std::chrono::microseconds(200));
      } else {
        backoff.pause();
      }
    }
  }

 private:
  // True when rank 0 said stop.
  bool handle(const Message& m) {
    switch (static_cast<Kind>(m.header.kind)) {
      case Kind::open:
        open(m);
        break;
      case Kind::tasks:
        tasks(m);
        break;
      case Kind::close:
      case Kind::terminate: {
        auto it = pools_.find(m.header.pool_id);
        if (it != pools_.end()) {
          try {
            if (static_cast<Kind>(m.header.kind) == Kind::terminate) {
              it->second->core->terminate();
            } else {
              it->second->core->close();
              it->second->core->join();
            }
          } catch (const std::exception& e) {
            std::fprintf(stderr, "ringpool: rank %d: closing pool %u: %s\n", g_rank,
                         m.header.pool_id, e.what());
          }
          pools_.erase(it);
        }
        outbox_.send(0, begin_message(Kind::closed, m.header.pool_id));
        last_send_ = Clock::now();
        break;
      }
      case Kind::echo: {
        auto reply = begin_message(Kind::echo, m.header.pool_id);
        reply.insert(reply.end(), m.body.begin(), m.body.end());
        outbox_.send(0, std::move(reply));
        last_send_ = Clock::now();
        break;
      }
      case Kind::stop:
        stop_after_loss_ = m.header.frames > 0;  // rank 0 counts the ranks it lost there
        return true;
      default:
        break;
    }
    return false;
  }

  void open(const Message& m) {
    std::span<const std::byte> in(m.body);
    const auto body = take<OpenBody>(in);
    auto reply = begin_message(Kind::opened, m.header.pool_id);
    OpenedBody out;
    std::string error;
    if (!body) {
      error = "malformed open request";
    } else {
      try {
        pool::PoolOptions o;
        if (body->workers > 0) o.workers = static_cast<std::size_t>(body->workers);
        o.slot_size = static_cast<std::size_t>(body->slot_size);
        o.ring_depth = static_cast<std::size_t>(body->ring_depth);
        o.wait = body->spin != 0 ? pool::WaitMode::spin : pool::WaitMode::block;
        auto p = std::make_unique<LocalPool>();
        p->core = std::make_unique<pool::detail::PoolCore>(o);
        p->spin = body->spin != 0;
        out.workers = p->core->workers();
        out.max_payload = p->core->max_payload();
        out.ring_messages = p->core->ring_messages();
        out.ok = 1;
        // One heartbeat serves every pool open here: the shortest interval asked for.
        if (body->heartbeat_ms > 0 && (heartbeat_ms_ == 0 || body->heartbeat_ms < heartbeat_ms_)) {
          heartbeat_ms_ = body->heartbeat_ms;
        }
        pools_[m.header.pool_id] = std::move(p);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    put(reply, out);
    reply.insert(reply.end(), reinterpret_cast<const std::byte*>(error.data()),
                 reinterpret_cast<const std::byte*>(error.data()) + error.size());
    outbox_.send(0, std::move(reply));
    last_send_ = Clock::now();
  }

  void tasks(const Message& m) {
    auto it = pools_.find(m.header.pool_id);
    if (it == pools_.end()) return;
    LocalPool& p = *it->second;
    std::span<const std::byte> in(m.body);
    for (std::uint32_t k = 0; k < m.header.frames; ++k) {
      const auto f = take<TaskFrame>(in);
      if (!f || f->payload_bytes > in.size()) {
        std::fprintf(stderr,
                     "ringpool: rank %d: a malformed task message from rank 0 was dropped\n",
                     g_rank);
        return;
      }
      const std::span<const std::byte> payload =
          in.first(static_cast<std::size_t>(f->payload_bytes));
      in = in.subspan(payload.size());
      auto sink = std::make_unique<RelaySink>(f->chunk_id, f->count, p.done);
      RelaySink* relay = sink.get();
      p.chunks[f->chunk_id] = std::move(sink);
      const auto task = ringpool::detail::find_registered_task(f->key);
      if (!task || task->pool_invoker == nullptr) {
        relay->fail_all(std::make_exception_ptr(pool::InvalidArgument(
            "ringpool: rank " + std::to_string(g_rank) +
            " has no registered task with this key: every rank must run the same binary")));
        continue;
      }
      pool::detail::SendRequest req;
      req.invoker = reinterpret_cast<pool::detail::Invoker>(task->pool_invoker);
      req.fn = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(task->fn));
      req.count = f->count;
      req.item_size = f->item_size;
      req.payload_bytes = payload.size();
      req.encode = [](const void* ctx, std::byte* out) {
        const auto& bytes = *static_cast<const std::span<const std::byte>*>(ctx);
        if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
      };
      req.context = &payload;
      req.sink = relay;
      req.route = pool::detail::kRouteShared;
      try {
        p.core->send(req);
      } catch (...) {
        relay->fail_all(std::current_exception());
      }
    }
  }

  void send_results(std::uint32_t pool_id, LocalPool& p) {
    auto message = begin_message(Kind::results, pool_id);
    std::uint32_t frames = 0;
    for (const std::uint64_t id : p.done.take()) {
      auto it = p.chunks.find(id);
      if (it == p.chunks.end()) continue;
      it->second->write(message);
      p.chunks.erase(it);
      ++frames;
    }
    set_frames(message, frames);
    outbox_.send(0, std::move(message));
    last_send_ = Clock::now();
  }

  [[noreturn]] void finish() {
    for (auto& [id, p] : pools_) {
      try {
        p->core->terminate();
      } catch (...) {
      }
    }
    pools_.clear();
    outbox_.drain(Clock::now() + std::chrono::seconds(2));
    {
      std::lock_guard lock(mpi_mutex());
      MPI_Comm_free(&g_comm);
      finalize(stop_after_loss_, 0);
    }
    std::exit(0);
  }

  std::map<std::uint32_t, std::unique_ptr<LocalPool>> pools_;
  Outbox outbox_;
  std::uint32_t heartbeat_ms_ = 0;
  Clock::time_point last_send_{};
  bool stop_after_loss_ = false;
};

// ---- rank 0 ----------------------------------------------------------------------------

void end_job() noexcept {
  // A child forked after init (a user's Process calling exit()) inherits this handler; only
  // the rank's own process may talk MPI.
  if (g_comm == MPI_COMM_NULL || ::getpid() != g_init_pid) return;
  int finalized = 0;
  {
    std::lock_guard lock(mpi_mutex());
    MPI_Finalized(&finalized);
  }
  if (finalized != 0) return;
  std::vector<int> lost;
  {
    std::lock_guard lock(g_lost_mu);
    lost = g_lost;
  }
  try {
    Outbox outbox;
    for (int r = 1; r < static_cast<int>(g_ranks.size()); ++r) {
      if (std::find(lost.begin(), lost.end(), r) != lost.end()) continue;
      auto stop = begin_message(Kind::stop, 0);
      set_frames(stop, static_cast<std::uint32_t>(lost.size()));
      outbox.send(r, std::move(stop));
    }
    (void)outbox.drain(Clock::now() + std::chrono::seconds(2));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ringpool: telling the ranks to stop failed: %s\n", e.what());
  }
  std::lock_guard lock(mpi_mutex());
  MPI_Comm_free(&g_comm);
  finalize(!lost.empty(), 1);
}

}  // namespace

MPI_Comm comm() noexcept {
  return g_comm;
}

void note_rank_lost(int rank) noexcept {
  try {
    std::lock_guard lock(g_lost_mu);
    if (std::find(g_lost.begin(), g_lost.end(), rank) == g_lost.end()) g_lost.push_back(rank);
  } catch (...) {
  }
}
int this_rank() noexcept {
  return g_rank;
}

}  // namespace detail

void init(int argc, char** argv) {
  (void)serve_if_worker(argc, argv);  // a spawned child runs its task and exits here
  if (detail::g_initialized) return;
  int already = 0;
  MPI_Initialized(&already);
  if (already == 0) {
    int provided = 0;
    detail::check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided),
                      "MPI_Init_thread");
    if (provided < MPI_THREAD_SERIALIZED) {
      throw ClusterError(
          "ringpool: this MPI library cannot serialise calls from several threads "
          "(MPI_THREAD_SERIALIZED); cluster::Pool needs it");
    }
  }
  detail::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &detail::g_comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(detail::g_comm, MPI_ERRORS_RETURN);
  int size = 1;
  MPI_Comm_rank(detail::g_comm, &detail::g_rank);
  MPI_Comm_size(detail::g_comm, &size);

  const detail::InfoWire mine = detail::describe_this_rank();
  std::vector<detail::InfoWire> all(detail::g_rank == 0 ? static_cast<std::size_t>(size) : 0);
  detail::check_mpi(MPI_Gather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, 0,
                               detail::g_comm),
                    "MPI_Gather");
  if (detail::g_rank != 0) detail::Server().run();

  detail::g_ranks.clear();
  for (int r = 0; r < size; ++r) {
    const auto& w = all[static_cast<std::size_t>(r)];
    RankInfo info;
    info.rank = r;
    info.pid = static_cast<pid_t>(w.pid);
    info.host = detail::read_text(w.host);
    info.usable_cores = static_cast<std::size_t>(w.usable_cores);
    info.cpus = detail::read_text(w.cpus);
    info.machine = detail::read_text(w.machine);
    detail::g_ranks.push_back(std::move(info));
  }
  detail::g_initialized = true;
  detail::g_init_pid = ::getpid();
  std::atexit(&detail::end_job);
}

bool initialized() noexcept {
  return detail::g_initialized;
}

const std::vector<RankInfo>& ranks() {
  if (!detail::g_initialized) {
    throw ClusterError("ringpool: cluster::ranks() before cluster::init(argc, argv)");
  }
  return detail::g_ranks;
}

std::size_t world_size() {
  return ranks().size();
}

}  // namespace ringpool::cluster
