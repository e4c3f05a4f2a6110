#pragma once
// The records of started children and the registry that joins non-daemon children at
// exit (child_registry.cpp), shared by Process and ChildProcess (process.cpp).
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ringpool/pool/process.hpp"

namespace ringpool::pool::detail {

// One started child. Lives as long as its Process object or the registry holds it.
struct ChildRecord {
  pid_t pid = -1;
  pid_t creator = -1;
  bool daemon = false;
  std::string name;     // the Process's name (ChildProcess::name())
  int pidfd = -1;       // readable once the child has exited; -1 when pidfd_open failed
  int pidfd_error = 0;  // pidfd_open's errno when pidfd is -1
  std::mutex mutex;
  bool reaped = false;          // guarded by mutex
  std::optional<int> exitcode;  // guarded by mutex

  ChildRecord() = default;
  ChildRecord(const ChildRecord&) = delete;
  ChildRecord& operator=(const ChildRecord&) = delete;
  // The pidfd is closed only here, so a thread polling it never sees it reused.
  ~ChildRecord() {
    if (pidfd >= 0) ::close(pidfd);
  }
};

struct Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<ChildRecord>> children;  // started, maybe not yet reaped
  Registry* abandoned = nullptr;  // the parent's registry, kept reachable in a fork child
};

// Never destroyed (atexit handlers use it); replaced, not reset, in a forked child
// because another thread of the parent may have held its mutex at the fork.
Registry*& registry_slot();
Registry& registry();

// Reaps the child if it has exited; true when it is known to have ended.
bool reap_if_exited(ChildRecord& r);
// Waits until the child has ended or the timeout passed; true when ended.
bool wait_exit(ChildRecord& r, std::optional<std::chrono::nanoseconds> timeout);
// Sends `signal` to the child unless it has been reaped.
void signal_child(ChildRecord& r, int signal);
// The record of a child just started (pid > 0), registered so that exit joins it.
std::shared_ptr<ChildRecord> make_record(pid_t pid, const ProcessOptions& options);
// Drops an ended child from the registry, so the record (and its pidfd) goes away with
// the last Process handle instead of at the next start(), active_children() or exit.
void forget_child(const std::shared_ptr<ChildRecord>& record);
// The pidfd of `r`, or Unsupported naming `who` when pidfd_open failed.
int sentinel_of(const ChildRecord& r, const std::string& who);
// InvalidArgument naming `who` unless `signal` is a signal number.
void check_signal(int signal, const char* who);

}  // namespace ringpool::pool::detail
