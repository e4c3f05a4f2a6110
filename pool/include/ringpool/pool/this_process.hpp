#pragma once
// The calling process, as Python's os.getpid(), os.getppid() and
// multiprocessing.current_process() see it.
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

namespace ringpool::this_process {

// multiprocessing.parent_process(): the process that started this one. A plain value;
// is_alive() asks the kernel each time.
class ParentProcess {
 public:
  // The parent's pid, kept after it has ended (never <= 0; the pid may be reused once the
  // parent is gone: signal it only while is_alive()).
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Its this_process::name() when it started this process ("MainProcess", "Process-1", ...).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // True while the parent runs: a pidfd of the parent, opened when this process started,
  // is polled (no pid-reuse race); without pidfd_open (Linux < 5.3), getppid() is compared.
  // A parent that ended before this process's start-up reads as not alive. Throws
  // InvalidState when called in another ringpool process than the one that called parent().
  // Thread-safe.
  [[nodiscard]] bool is_alive() const;

 private:
  friend std::optional<ParentProcess> parent();
  ParentProcess(pid_t pid, std::string name) : pid_(pid), name_(std::move(name)) {}
  pid_t pid_;
  std::string name_;
};

// multiprocessing.parent_process(): the process that started this one through ringpool
// (Process, either start method, or a spawn-started Pool worker); nullopt in the main
// process (also in a process ringpool did not start).
[[nodiscard]] std::optional<ParentProcess> parent();

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
