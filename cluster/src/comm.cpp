// MPI calls behind comm.hpp.
#include "comm.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>

#include "ringpool/cluster/errors.hpp"
#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/detail/process_probe.hpp"

namespace ringpool::cluster::detail {

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
  int flag = 0;
  MPI_Status status;
  check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm(), &flag, &status), "MPI_Iprobe");
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
