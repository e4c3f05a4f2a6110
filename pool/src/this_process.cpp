// ringpool::this_process and the process-local identity of ringpool children.
#include "ringpool/pool/this_process.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>

#include "ringpool/pool/detail/process_state.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::detail {

namespace {
std::mutex& identity_mutex() {
  static std::mutex mutex;
  return mutex;
}
}  // namespace

CurrentProcess& current_process() {
  // Never destroyed: read by atexit handlers and children ending with _exit.
  static auto* current = new CurrentProcess;
  return *current;
}

void become_child(std::string name, std::string identity, bool daemon, bool forked) {
  auto& self = current_process();
  self.name = std::move(name);
  self.identity = std::move(identity);
  self.daemon = daemon;
  self.forked_child = forked;
  self.next_child = 1;
}

ChildIdentity next_child_identity() {
  std::lock_guard lock(identity_mutex());
  auto& self = current_process();
  const unsigned n = self.next_child++;
  std::string identity =
      self.identity.empty() ? std::to_string(n) : self.identity + ":" + std::to_string(n);
  return {identity, "Process-" + identity};
}

void report_child_exception(const std::exception_ptr& error) noexcept {
  try {
    const auto d = pool::detail::describe_exception(error);
    const std::string text =
        "Process " + current_process().name + ":\n" + d.type_name + ": " + d.what + "\n";
    std::fflush(stdout);
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  } catch (...) {
    std::fputs("ringpool: a child's target raised an exception (describing it failed)\n", stderr);
  }
}

void finish_child(int code) noexcept {
  join_children_at_exit();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  if (current_process().forked_child) _exit(code);
  std::exit(code);
}

}  // namespace ringpool::detail

namespace ringpool::this_process {

pid_t pid() noexcept {
  return ::getpid();
}
pid_t ppid() noexcept {
  return ::getppid();
}
std::string name() {
  return detail::current_process().name;
}
bool is_daemon() noexcept {
  return detail::current_process().daemon;
}

void exit(int code) {
  if (detail::current_process().identity.empty()) std::exit(code);
  detail::finish_child(code);
}

}  // namespace ringpool::this_process
