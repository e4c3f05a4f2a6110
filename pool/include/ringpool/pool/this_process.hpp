#pragma once
// The calling process, as Python's os.getpid(), os.getppid() and
// multiprocessing.current_process() see it.
#include <sys/types.h>

#include <string>

namespace ringpool::this_process {

// os.getpid()
[[nodiscard]] pid_t pid() noexcept;
// os.getppid(): the current parent (init or a subreaper once the parent died).
[[nodiscard]] pid_t ppid() noexcept;
// current_process().name: "MainProcess" in the main process; in a child the name given
// in ProcessOptions, else "Process-<n>" ("Process-1:2" for the second child of
// Process-1), as Python names them.
[[nodiscard]] std::string name();
// current_process().daemon: true in a daemon child (which may not start children).
[[nodiscard]] bool is_daemon() noexcept;

// sys.exit(code) for a ringpool child: joins this process's own non-daemon children,
// terminates its daemon children, flushes stdio and ends the process with `code`
// without running the parent's atexit handlers or static destructors (in a forked
// child they belong to the parent's copy). In the main process it calls std::exit.
[[noreturn]] void exit(int code);

}  // namespace ringpool::this_process
