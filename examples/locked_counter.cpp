// A counter in shared memory (Value<int>) incremented by 4 processes, first without a
// lock (increments get lost: read, add and write of two processes interleave), then under
// a Lock (exact). Last, a process is killed while it holds the lock: Python's Lock would
// block every later acquirer forever; ringpool's hands the lock to the next one and says
// that the holder died.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ringpool/pool/process.hpp"
#include "ringpool/pool/shared_value.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/sync.hpp"

namespace {

using ringpool::pool::Event;
using ringpool::pool::Lock;
using ringpool::pool::Process;
using ringpool::pool::Value;

constexpr int kProcesses = 4;
constexpr int kIncrements = 10000;

// Runs `body` in kProcesses processes and waits for them.
template <class Body>
void in_processes(Body body) {
  std::vector<Process> processes;
  for (int p = 0; p < kProcesses; ++p) processes.emplace_back(body);
  for (auto& p : processes) p.start();
  for (auto& p : processes) p.join();
}

}  // namespace

int main(int argc, char** argv) {
  ringpool::serve_if_worker(argc, argv);

  Value<int> racy(0, {.lock = false});
  in_processes([racy]() mutable {
    for (int i = 0; i < kIncrements; ++i) {
      volatile int seen = racy.get_obj();  // read ...
      if (i % 128 == 0) std::this_thread::yield();
      racy.get_obj() = seen + 1;  // ... write: another process may have written meanwhile
    }
  });
  std::cout << "without a lock: " << racy.value() << " of " << kProcesses * kIncrements
            << " increments counted\n";

  Value<int> counter(0, {.lock = false});
  Lock lock;
  in_processes([counter, lock]() mutable {
    for (int i = 0; i < kIncrements; ++i) {
      std::scoped_lock hold(lock);
      volatile int seen = counter.get_obj();
      if (i % 128 == 0) std::this_thread::yield();
      counter.get_obj() = seen + 1;
    }
  });
  std::cout << "with a Lock: " << counter.value() << " of " << kProcesses * kIncrements
            << " increments counted\n";

  Event holding;
  Process holder([lock, holding]() mutable {
    lock.acquire();
    holding.set();
    for (;;) ::pause();  // holds the lock until killed
  });
  holder.start();
  holding.wait();
  holder.kill();
  std::cout << "the holder (pid " << holder.pid() << ") was killed while holding the lock\n";
  if (lock.acquire(std::chrono::seconds(30))) {
    std::cout << "the next acquirer got the lock; holder_died() = " << std::boolalpha
              << lock.holder_died() << '\n';
    lock.release();
  } else {
    std::cout << "the lock was never handed over\n";
  }
  holder.join();
  return 0;
}
