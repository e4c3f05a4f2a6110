#pragma once
// Process-local bookkeeping shared by process.cpp, spawn.cpp and this_process.cpp:
// who this process is (name, identity, daemon flag) and how a ringpool child ends.
// Internal: not part of the public API.
#include <sys/types.h>

#include <exception>
#include <string>
#include <string_view>

namespace ringpool::detail {

struct CurrentProcess {
  std::string name = "MainProcess";
  std::string identity;  // "" in the main process, "1", "1:2", ... in children
  bool daemon = false;
  bool forked_child = false;  // ends with _exit: the parent's atexit state is not ours
  unsigned next_child = 1;    // Python's _process_counter
  // The process that started this one (Python's parent_process()); 0 in the main process.
  pid_t parent_pid = 0;
  std::string parent_name;
  // A pidfd of the parent taken at start-up (O_CLOEXEC, kept for the process's life):
  // readable once the parent has ended. -1 when pidfd_open is unsupported (then
  // getppid() answers) or when the parent had already ended at start-up.
  int parent_pidfd = -1;
  bool parent_gone_at_start = false;
};

// This process's record. Mutated only at child start-up (single-threaded) and by
// next_child_identity() under its lock.
CurrentProcess& current_process();

// Called first thing in a new child (after fork, or in serve_if_worker after exec).
// `parent_pid` and `parent_name` are the starting process's, read there before the fork.
void become_child(std::string name, std::string identity, bool daemon, bool forked,
                  pid_t parent_pid, std::string parent_name);

// The identity and default name for the next child this process creates.
struct ChildIdentity {
  std::string identity;
  std::string default_name;
};
ChildIdentity next_child_identity();

// pidfd_open(pid, 0): a pidfd (close-on-exec) that becomes readable once the process has
// ended, or -1 with the errno in `error` (ENOSYS before Linux 5.3). pid must be > 0.
[[nodiscard]] int open_pidfd(pid_t pid, int& error) noexcept;

// Forgets the children inherited in the parent's bookkeeping (fork child).
void reset_children_after_fork();

// Python's _exit_function: terminate daemon children, join the rest.
void join_children_at_exit() noexcept;

// Writes "Process <name>:\n<type>: <what>" to stderr for an exception that escaped
// a child's target.
void report_child_exception(const std::exception_ptr& error) noexcept;

// Ends a ringpool child with `code`: joins its children, flushes stdio, then _exit
// (forked child) or std::exit (spawned child, a program of its own).
[[noreturn]] void finish_child(int code) noexcept;

}  // namespace ringpool::detail
