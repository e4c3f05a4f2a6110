#pragma once
// Helpers for the pool tests: pipes, stderr capture, bounded polling, the tasks and options
// several files use (test_helpers.hpp says why they live in one place).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

#include "ringpool/ipc/detail/ring_header.hpp"
#include "ringpool/ipc/mpmc_byte_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/pool.hpp"
#include "ringpool/topology/machine.hpp"
#include "test_helpers.hpp"

namespace ringpool::test {

// A pipe closed on destruction. Without O_CLOEXEC when `inheritable` so a spawned
// (re-executed) child keeps it.
class Pipe {
 public:
  explicit Pipe(bool inheritable = false) {
    if (::pipe2(fds_, inheritable ? 0 : O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_read();
    close_write();
  }
  [[nodiscard]] int read_fd() const noexcept { return fds_[0]; }
  [[nodiscard]] int write_fd() const noexcept { return fds_[1]; }
  void close_read() noexcept {
    if (fds_[0] >= 0) ::close(fds_[0]);
    fds_[0] = -1;
  }
  void close_write() noexcept {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  // Reads up to and without the first '\n' (or EOF). For writers that may keep the pipe
  // open (a daemon that inherited it).
  [[nodiscard]] std::string read_line() const {
    std::string out;
    char c = 0;
    for (;;) {
      const ssize_t n = ::read(fds_[0], &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == '\n') break;
      out.push_back(c);
    }
    return out;
  }
  // Reads until EOF (every writer closed).
  [[nodiscard]] std::string read_all() const {
    std::string out;
    char buf[256];
    for (;;) {
      const ssize_t n = ::read(fds_[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
};

inline void write_text(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// Redirects this process's fd 2 into a memfd until text() or destruction.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    file_ = ::memfd_create("ringpool-test-stderr", MFD_CLOEXEC);
    saved_ = ::dup(2);
    ::dup2(file_, 2);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() {
    restore();
    ::close(file_);
  }
  // Restores stderr and returns everything written to it meanwhile (also by children
  // that inherited the redirected fd 2).
  std::string text() {
    restore();
    std::string out;
    char buf[512];
    off_t offset = 0;
    for (;;) {
      const ssize_t n = ::pread(file_, buf, sizeof buf, offset);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      offset += n;
    }
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  int file_ = -1;
  int saved_ = -1;
};

// Polls `done` until it returns true or `limit` passes; a generous bound that turns a
// hang into a failure, not a timing assertion.
template <class Done>
bool eventually(Done&& done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

[[nodiscard]] inline int square(int x) {
  return x * x;
}

// PoolOptions with `n` workers, pinned as the defaults say.
[[nodiscard]] inline pool::PoolOptions workers(std::size_t n) {
  pool::PoolOptions o;
  o.workers = n;
  return o;
}

// PoolOptions with `n` workers, not pinned (tests that must not depend on free cores).
[[nodiscard]] inline pool::PoolOptions unpinned_workers(std::size_t n) {
  pool::PoolOptions o;
  o.workers = n;
  o.pin = false;
  return o;
}

// Blocks the calling process until a signal ends it.
[[noreturn]] inline void wait_forever() {
  for (;;) ::pause();
}

// Encodes and decodes `v` with its Codec, checking the encoded size on the way.
template <class T>
T round_trip(const T& v) {
  const auto bytes = pool::to_bytes(v);
  EXPECT_EQ(bytes.size(), pool::Codec<T>::size(v));
  return pool::from_bytes<T>(bytes);
}

// SIGKILLs the child `pid` (> 0) and reaps it, checking that the signal ended it.
inline void kill_and_reap(pid_t pid) {
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
}

// Payload segments (docs/codec.md, "Any size") in /dev/shm whose owner (a Pool, a Queue) was
// created by this process: "ringpool-blob-<this pid>-...".
inline std::size_t payload_segments_of_this_process() {
  const std::string stem = "ringpool-blob-" + std::to_string(::getpid()) + "-";
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return 0;
  std::size_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (std::string_view(e->d_name).substr(0, stem.size()) == stem) ++n;
  }
  ::closedir(dir);
  return n;
}

// Where a queue's ring starts in a mapping of its segment (the offset of its control
// block), found by the ring magic at a 128-byte boundary so that tests do not depend on the
// queue header's size; 0 when there is none (the queue header comes first).
inline std::size_t queue_ring_offset(const ipc::Segment& segment) {
  for (std::size_t off = 128; off + sizeof(ipc::detail::RingControl) <= segment.size();
       off += 128) {
    std::uint64_t magic = 0;
    std::memcpy(&magic, segment.data() + off, sizeof magic);
    if (magic == ipc::detail::kRingMagic) return off;
  }
  return 0;
}

// Pushes raw messages into a named queue's ring through a second mapping of its segment, as
// a hostile process could: a message of `bytes` bytes that starts with `head`, zeros after.
class RingForger {
 public:
  explicit RingForger(const std::string& queue_name)
      : segment_(ipc::Segment::open(queue_name)), producer_(attach(segment_)) {}
  template <class Head>
  void push(const Head& head, std::size_t bytes) {
    static_assert(std::is_trivially_copyable_v<Head>);
    const std::span<std::byte> room = producer_.claim(bytes);
    ASSERT_EQ(room.size(), bytes);
    ASSERT_GE(bytes, sizeof head);
    std::memset(room.data(), 0, room.size());
    std::memcpy(room.data(), &head, sizeof head);
    producer_.commit(bytes);
  }

 private:
  static ipc::MpmcByteProducer attach(const ipc::Segment& segment) {
    const std::size_t ring = queue_ring_offset(segment);
    if (ring == 0) throw std::runtime_error("RingForger: no ring in the queue's segment");
    return ipc::MpmcByteProducer::attach(segment.bytes().subspan(ring));
  }
  ipc::Segment segment_;
  ipc::MpmcByteProducer producer_;
};

// Confines the calling thread (and the threads and processes it starts from now on) to
// one usable CPU, the first; restores the mask it had on destruction.
class ConfinedToOneCpu {
 public:
  ConfinedToOneCpu() {
    if (::sched_getaffinity(0, sizeof saved_, &saved_) != 0) {
      throw std::runtime_error("sched_getaffinity failed");
    }
    const auto first = topology::Machine::live().usable().cpus.first();
    if (!first) throw std::runtime_error("no usable CPU");
    cpu_ = *first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu_, &one);
    if (::sched_setaffinity(0, sizeof one, &one) != 0) {
      throw std::runtime_error("sched_setaffinity failed");
    }
  }
  ConfinedToOneCpu(const ConfinedToOneCpu&) = delete;
  ConfinedToOneCpu& operator=(const ConfinedToOneCpu&) = delete;
  ~ConfinedToOneCpu() { (void)::sched_setaffinity(0, sizeof saved_, &saved_); }
  [[nodiscard]] unsigned cpu() const noexcept { return cpu_; }

 private:
  cpu_set_t saved_{};
  unsigned cpu_ = 0;
};

// The state letter of process `pid` in /proc/<pid>/stat ('R' running or runnable, 'S'
// sleeping, ...); '?' when it cannot be read.
inline char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto paren = line.rfind(')');  // the command name may hold spaces and parentheses
  return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
}

// How many of `samples` looks at process `pid`, 5 ms apart, find it sleeping ('S').
inline int sleeping_samples(pid_t pid, int samples) {
  int sleeping = 0;
  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    sleeping += process_state(pid) == 'S' ? 1 : 0;
  }
  return sleeping;
}

// Size and resident size in KiB of process `pid`'s largest mapping of a pool's rings (the
// memfd "ringpool"); {0, 0} when it has none.
struct MappingKib {
  std::size_t size = 0;
  std::size_t rss = 0;
};
inline MappingKib pool_mapping_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  MappingKib best;
  MappingKib current;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    const bool header = !line.empty() && line.find(':') > line.find(' ');
    if (header) {
      if (inside && current.size > best.size) best = current;
      inside = line.find("/memfd:ringpool ") != std::string::npos;
      current = {};
    } else if (inside) {
      if (line.rfind("Size:", 0) == 0) current.size = std::stoul(line.substr(5));
      if (line.rfind("Rss:", 0) == 0) current.rss = std::stoul(line.substr(4));
    }
  }
  if (inside && current.size > best.size) best = current;
  return best;
}

}  // namespace ringpool::test
