#pragma once
// Is a process (named by a pid read from shared memory) still running? One answer for
// every owner check in ringpool: a Queue's claim records, a Pipe end's owner, a Lock's
// holder, a Barrier's parties. Never signals anyone: a pid <= 0 (or above INT_MAX) is
// refused before kill(pid, 0) is ever called.
#include <sys/types.h>

#include <chrono>
#include <cstdint>

namespace ringpool::ipc::detail {

// /proc/<pid>/stat's state letter and start time (clock ticks after boot).
struct ProcStat {
  char state = '?';
  std::uint64_t start_time = 0;
};

// Reads /proc/<pid>/stat; false when it cannot (no such process, no /proc, or pid out of
// 1..INT_MAX).
[[nodiscard]] bool read_proc_stat(std::int64_t pid, ProcStat& out) noexcept;

// True only when no running process has `pid`: kill(pid, 0) fails with ESRCH, or the
// process is a zombie (it has exited; only its parent's waitpid is missing — a parent that
// waits on its own unreaped child must see it as gone). False for an invalid pid and when
// it cannot tell (no /proc mounted and kill says the pid exists).
[[nodiscard]] bool process_gone(std::int64_t pid) noexcept;

// process_gone() for scans that run often (a Queue's empty path looks at every claim
// record's owner on every empty get): kill(pid, 0) on every call, so a process that is
// gone and reaped is seen at once, but /proc/<pid>/stat (the zombie check) is read again
// for a pid only once `recheck` has passed since /proc last showed it running. A process
// that becomes a zombie is therefore seen gone at most `recheck` after that read. The memo
// is process-wide, lock-free and fork-safe (a small table indexed by pid).
[[nodiscard]] bool process_gone_cached(std::int64_t pid,
                                       std::chrono::milliseconds recheck) noexcept;

// This process's pid without a system call (getpid() costs one): cached, and refreshed in
// the child after fork() (pthread_atfork). A child made by a raw clone() system call that
// bypasses fork() would see its parent's pid; ringpool makes none.
[[nodiscard]] pid_t current_pid() noexcept;

}  // namespace ringpool::ipc::detail
