#pragma once
// Is a process (named by a pid read from shared memory) still running? One answer for
// every owner check in ringpool: a Queue's claim records, a Pipe end's owner, a Lock's
// holder, a Barrier's parties. Never signals anyone: a pid <= 0 (or above INT_MAX) is
// refused before kill(pid, 0) is ever called.
#include <sys/types.h>

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

}  // namespace ringpool::ipc::detail
