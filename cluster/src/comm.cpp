// MPI calls behind comm.hpp.
#include "comm.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "ringpool/cluster/errors.hpp"
#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/process_probe.hpp"

namespace ringpool::cluster::detail {

namespace {

std::mutex g_mpi_mu;
// Under g_mpi_mu:
std::uint32_t g_next_id = 1;  // pool id 0 is the heartbeat's and the stop message's
std::unordered_map<std::uint32_t, std::deque<Message>> g_boxes;  // by live pool id
std::vector<Clock::time_point> g_heard;                          // by rank

// MPI_Iprobe + MPI_Recv of one message. Under g_mpi_mu.
std::optional<Message> receive_locked(std::size_t& malformed) {
  int flag = 0;
  MPI_Status status;
  // Open MPI's MPI_Iprobe (pml ob1) looks for a match first and runs the progress engine
  // only after a miss: a message that this progress brings in is reported by the next
  // probe, not this one. Between polls that give the CPU away (yields, another process on
  // the core) that is a whole lap late, so a miss is probed once more at once.
  for (int probe = 0; probe < 2 && flag == 0; ++probe) {
    check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm(), &flag, &status), "MPI_Iprobe");
  }
  if (flag == 0) return std::nullopt;
  int count = 0;
  check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  std::vector<std::byte> buffer(static_cast<std::size_t>(std::max(count, 0)));
  check_mpi(MPI_Recv(buffer.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, comm(),
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
  Message m;
  m.source = status.MPI_SOURCE;
  std::span<const std::byte> in(buffer);
  const auto h = take<Header>(in);
  if (!h || h->magic != kMagic || h->kind == 0 || h->kind > kMaxKind ||
      static_cast<int>(h->kind) != status.MPI_TAG) {
    ++malformed;
    m.header.kind = 0;  // the caller ignores kind 0
    return m;
  }
  m.header = *h;
  m.body.assign(in.begin(), in.end());
  return m;
}

}  // namespace

std::mutex& mpi_mutex() noexcept {
  return g_mpi_mu;
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw ClusterError(std::string("ringpool: ") + what + " failed: " +
                     std::string(text, static_cast<std::size_t>(std::max(length, 0))));
}

std::vector<std::byte> begin_message(Kind kind, std::uint32_t pool_id) {
  std::vector<std::byte> out;
  out.reserve(256);
  Header h;
  h.kind = static_cast<std::uint32_t>(kind);
  h.pool_id = pool_id;
  put(out, h);
  return out;
}

void set_frames(std::vector<std::byte>& message, std::uint32_t frames) noexcept {
  std::memcpy(message.data() + offsetof(Header, frames), &frames, sizeof frames);
}

void Outbox::send(int dest, std::vector<std::byte> message) {
  if (message.size() > static_cast<std::size_t>(INT32_MAX)) {
    throw ClusterError("ringpool: a cluster message of " + std::to_string(message.size()) +
                       " bytes is larger than MPI can send at once");
  }
  Header h;
  std::memcpy(&h, message.data(), sizeof h);
  std::lock_guard lock(g_mpi_mu);
  sends_.push_back(Pending{dest, MPI_REQUEST_NULL, std::move(message)});
  Pending& p = sends_.back();
  const int rc = MPI_Isend(p.buffer.data(), static_cast<int>(p.buffer.size()), MPI_BYTE, dest,
                           static_cast<int>(h.kind), comm(), &p.request);
  if (rc != MPI_SUCCESS) {
    sends_.pop_back();
    check_mpi(rc, "MPI_Isend");
  }
}

std::size_t Outbox::poll() {
  std::size_t done = 0;
  if (sends_.empty()) return 0;
  std::lock_guard lock(g_mpi_mu);
  for (auto it = sends_.begin(); it != sends_.end();) {
    int flag = 0;
    const int rc = MPI_Test(&it->request, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || flag != 0) {
      it = sends_.erase(it);
      ++done;
    } else {
      ++it;
    }
  }
  return done;
}

bool Outbox::drain(Clock::time_point deadline) {
  Backoff backoff(false, std::chrono::microseconds(1000));
  while (!sends_.empty()) {
    if (poll() > 0) backoff.reset();
    if (sends_.empty()) break;
    if (Clock::now() >= deadline) return false;
    backoff.pause();
  }
  return true;
}

void Outbox::abandon(int dest) noexcept {
  std::lock_guard lock(g_mpi_mu);
  for (auto it = sends_.begin(); it != sends_.end();) {
    if (it->dest == dest) {
      MPI_Cancel(&it->request);
      MPI_Request_free(&it->request);
      it = sends_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<Message> try_receive(std::size_t& malformed) {
  std::lock_guard lock(g_mpi_mu);
  return receive_locked(malformed);
}

Mailbox::Mailbox() {
  std::lock_guard lock(g_mpi_mu);
  do {
    id_ = g_next_id++;
  } while (id_ == 0 || g_boxes.count(id_) != 0);  // after 2^32 pools, ids wrap
  g_boxes.emplace(id_, std::deque<Message>{});
}

Mailbox::~Mailbox() {
  std::lock_guard lock(g_mpi_mu);
  g_boxes.erase(id_);  // later messages for this id are dropped
}

std::optional<Message> Mailbox::receive(std::size_t& malformed) {
  std::lock_guard lock(g_mpi_mu);
  auto& mine = g_boxes.at(id_);
  if (!mine.empty()) {
    Message m = std::move(mine.front());
    mine.pop_front();
    return m;
  }
  // Bounded: a thread does not stay here sorting other pools' messages for ever.
  for (int k = 0; k < 64; ++k) {
    auto m = receive_locked(malformed);
    if (!m) return std::nullopt;
    if (m->header.kind == 0) continue;
    const auto source = static_cast<std::size_t>(std::max(m->source, 0));
    if (source >= g_heard.size()) g_heard.resize(source + 1);
    g_heard[source] = Clock::now();
    if (m->header.pool_id == id_) return m;
    const auto other = g_boxes.find(m->header.pool_id);
    if (other != g_boxes.end()) other->second.push_back(std::move(*m));
    // else: a heartbeat (noted above), or a late answer to a pool that is gone: dropped.
  }
  return std::nullopt;
}

Clock::time_point heard_from(int rank) {
  std::lock_guard lock(g_mpi_mu);
  const auto r = static_cast<std::size_t>(std::max(rank, 0));
  return r < g_heard.size() ? g_heard[r] : Clock::time_point{};
}

void Backoff::pause() noexcept {
  if (idle_++ == 0) {
    idle_since_ = Clock::now();
    sleep_ = std::chrono::microseconds(10);
  }
  const auto idle_for = Clock::now() - idle_since_;
  if (idle_ <= 4) {
    for (int i = 0; i < 16; ++i) ipc::detail::cpu_relax();
    return;
  }
  if (spin_ || idle_for < yield_for_) {
    ::sched_yield();
    return;
  }
  std::this_thread::sleep_for(sleep_);
  sleep_ = std::min(sleep_ * 2, max_sleep_);
}

bool pid_gone(std::int64_t pid) noexcept {
  return pid > 0 && ipc::detail::process_gone(pid);
}

}  // namespace ringpool::cluster::detail
