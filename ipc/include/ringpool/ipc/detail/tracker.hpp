#pragma once
// The resource tracker: a helper process that unlinks the named segments a program
// created (with unlink_on_destroy) when the program dies without running their
// destructors — SIGKILL, SIGTERM, SIGINT, a crash, _exit. In the spirit of Python's
// multiprocessing.resource_tracker; see docs/ipc.md ("Resource tracker").
//
// Segment calls these; users do not. Contract:
//  - One tracker per process, started lazily (double fork, so it is nobody's child to
//    reap) by the first track_segment() of that process. It ignores SIGINT, SIGTERM,
//    SIGHUP and SIGQUIT, holds no descriptor of the program but its end of a socket pair,
//    and exits when that socket reaches EOF: the program is gone, however it died. It then
//    unlinks every name still registered whose inode is the one registered and whose
//    owner is its own uid. It never signals any process.
//  - Not inherited: a forked child closes its copy of the socket (pthread_atfork) and
//    forgets the parent's registrations, so it can neither keep the tracker alive nor
//    unregister the parent's names; its own first track_segment() starts its own tracker.
//    exec'd children never see the socket (close-on-exec).
//  - Thread-safe. Registration waits for nothing but the tracker's start (bounded).
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace ringpool::ipc::detail {

// Records that this process will unlink `name` (normalised, "/x") whose object has this
// inode; starts the tracker if needed (and again if it died: registrations are replayed).
// Returns an empty string when the name is tracked, else why not (the segment still
// works; only the cleanup after an abnormal death is missing). Never throws.
[[nodiscard]] std::string track_segment(const std::string& name, std::uint64_t inode,
                                        std::uint64_t device) noexcept;

// Forgets `name` if this process registered it: with inode 0 whatever it registered under
// the name, else only a registration of that inode and device. Never throws.
void untrack_segment(const std::string& name, std::uint64_t inode = 0,
                     std::uint64_t device = 0) noexcept;

// Records that this process owns every name in /dev/shm that starts with `prefix`
// ("/x-", normalised): when the process dies, the tracker unlinks each regular file of its
// uid whose name starts so (names other processes create under an owner's prefix, such
// as a pool's payload segments written by its workers, included). Starts the tracker as
// track_segment() does; returns "" or why not. Never throws.
[[nodiscard]] std::string track_prefix(const std::string& prefix) noexcept;
// Forgets a prefix this process registered (its owner removed its names). Never throws.
void untrack_prefix(const std::string& prefix) noexcept;

// Pid of this process's tracker, 0 when it has none (none started yet, or a forked
// child that has not tracked a name of its own). For tests and diagnostics.
[[nodiscard]] pid_t tracker_pid() noexcept;

}  // namespace ringpool::ipc::detail
