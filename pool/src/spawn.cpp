// The spawn start method: task and worker-entry registries, re-executing
// /proc/self/exe with start data in an inherited memfd, serve_if_worker, and the guard.
#include "ringpool/pool/spawn.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ringpool/pool/detail/process_state.hpp"
#include "ringpool/topology/binding.hpp"

extern char** environ;  // NOLINT: POSIX

namespace ringpool::detail {

namespace {

constexpr const char* kEnvFd = "RINGPOOL_SPAWN_FD";
constexpr std::string_view kEnvFdPrefix = "RINGPOOL_SPAWN_FD=";
constexpr const char* kArgvMarker = "--ringpool-spawned-child";
constexpr std::string_view kTaskKind = kTaskStartKind;
constexpr std::uint64_t kStartMagic = 0x52494e47504f4f4cULL;  // "RINGPOOL"

// What the parent writes into the memfd: magic, kind, name, identity, daemon, payload, and
// the parent's own pid and name (this_process::parent() in the child).
using StartData = std::tuple<std::uint64_t, std::string, std::string, std::string, bool,
                             std::vector<std::byte>, std::int32_t, std::string>;
static_assert(sizeof(pid_t) == sizeof(std::int32_t));
// Payload of the built-in "ringpool.task" kind: task name and encoded arguments.
using TaskPayload = std::tuple<std::string, std::vector<std::byte>>;

using TaskEntry = RegisteredTask;

struct Registries {
  std::mutex mutex;
  std::map<std::string, TaskEntry, std::less<>> tasks;
  std::unordered_map<std::uint64_t, TaskEntry> by_key;
  std::unordered_map<void (*)(), TaskEntry> by_fn;  // the first name of a function
  std::map<std::string, WorkerEntry, std::less<>> workers;
};

Registries& registries() {
  static auto* r = new Registries;  // never destroyed: used during static init and at exit
  return *r;
}

// Set by serve_if_worker in a spawned child before it runs the task.
// relaxed: read and written by the main thread at start-up; no data is published with it.
std::atomic<bool> g_served{false};

[[noreturn]] void throw_os_error(const std::string& call, int err) {
  throw pool::PoolError("ringpool: " + call + " failed while spawning a process: " +
                        std::strerror(err) + " (errno " + std::to_string(err) + ")");
}

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::size_t start = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      args.emplace_back(all, start, i - start);
      start = i + 1;
    }
  }
  if (start < all.size()) args.emplace_back(all, start);
  if (args.empty()) args.emplace_back("ringpool-child");
  return args;
}

bool write_all(int fd, const std::byte* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

std::vector<std::byte> read_start_data(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_os_error("fstat of the start-data fd", errno);
  constexpr off_t kMaxStartData = off_t{1} << 30;
  if (st.st_size < 0 || st.st_size > kMaxStartData) {
    throw pool::DecodeError("ringpool: spawned child: start data of " + std::to_string(st.st_size) +
                            " bytes is out of range");
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_os_error("read of the start-data fd", errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

int run_task_entry(std::span<const std::byte> payload) {
  auto [name, args] = decode_task_start(payload);
  TaskEntry entry{};
  {
    auto& reg = registries();
    std::lock_guard lock(reg.mutex);
    const auto it = reg.tasks.find(name);
    if (it == reg.tasks.end()) {
      throw pool::InvalidArgument("ringpool: spawned child: no task named '" + name +
                                  "' is registered in this program; register it with "
                                  "RINGPOOL_TASK(" +
                                  name + ") in a file linked into it");
    }
    entry = it->second;
  }
  entry.thunk(entry.fn, args);
  return 0;
}

}  // namespace

std::vector<std::byte> encode_start_record(const StartRecord& record) {
  return pool::to_bytes(StartData{kStartMagic, record.kind, record.name, record.identity,
                                  record.daemon, record.payload, record.parent_pid,
                                  record.parent_name});
}

StartRecord decode_start_record(std::span<const std::byte> bytes) {
  auto [magic, kind, name, identity, daemon, payload, parent_pid, parent_name] =
      pool::from_bytes<StartData>(bytes);
  if (magic != kStartMagic) {
    throw pool::DecodeError(
        "ringpool: spawned child: the start data does not begin with ringpool's magic; it was "
        "not written by ringpool");
  }
  if (parent_pid <= 0) {
    throw pool::DecodeError("ringpool: spawned child: the start data names parent pid " +
                            std::to_string(parent_pid) + ", which is not a process");
  }
  return {std::move(kind),    std::move(name), std::move(identity),   daemon,
          std::move(payload), parent_pid,      std::move(parent_name)};
}

std::vector<std::byte> encode_task_start(const TaskStart& start) {
  return pool::to_bytes(TaskPayload{start.task, start.args});
}

TaskStart decode_task_start(std::span<const std::byte> payload) {
  auto [task, args] = pool::from_bytes<TaskPayload>(payload);
  return {std::move(task), std::move(args)};
}

void refuse_functor_as_process_target(void (*)(), std::span<const std::byte>) {
  throw pool::InvalidArgument(
      "ringpool: a function object registered with RINGPOOL_FUNCTOR runs in spawn-started "
      "Pool workers only; a Process target is a plain function registered with "
      "RINGPOOL_TASK");
}

void register_task_erased(std::string_view name, void (*fn)(), TaskThunk thunk,
                          ErasedInvoker pool_invoker) {
  if (name.empty()) {
    throw pool::InvalidArgument(
        "ringpool: register_task: the task name is empty; use the "
        "function's name (RINGPOOL_TASK(fn) does)");
  }
  auto& reg = registries();
  std::lock_guard lock(reg.mutex);
  const auto it = reg.tasks.find(name);
  if (it != reg.tasks.end()) {
    if (it->second.fn == fn) return;
    throw pool::InvalidArgument("ringpool: register_task: the name '" + std::string(name) +
                                "' is already registered for another function; task names "
                                "must be unique in a program");
  }
  const TaskEntry entry{task_key(name), fn, thunk, pool_invoker};
  if (reg.by_key.find(entry.key) != reg.by_key.end()) {
    throw pool::InvalidArgument("ringpool: register_task: the name '" + std::string(name) +
                                "' hashes to the same key as another registered task; "
                                "choose another name");
  }
  reg.tasks.emplace(std::string(name), entry);
  reg.by_key.emplace(entry.key, entry);
  reg.by_fn.emplace(fn, entry);
}

std::optional<RegisteredTask> find_registered_task(void (*fn)()) noexcept {
  auto& reg = registries();
  std::lock_guard lock(reg.mutex);
  const auto it = reg.by_fn.find(fn);
  if (it == reg.by_fn.end()) return std::nullopt;
  return it->second;
}

std::optional<RegisteredTask> find_registered_task(std::uint64_t key) noexcept {
  auto& reg = registries();
  std::lock_guard lock(reg.mutex);
  const auto it = reg.by_key.find(key);
  if (it == reg.by_key.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> registered_task_name(void (*fn)()) {
  auto& reg = registries();
  std::lock_guard lock(reg.mutex);
  for (const auto& [name, entry] : reg.tasks) {
    if (entry.fn == fn) return name;
  }
  return std::nullopt;
}

void register_worker_entry(std::string_view kind, WorkerEntry entry) {
  if (kind.empty() || kind == kTaskKind || entry == nullptr) {
    throw pool::InvalidArgument(
        "ringpool: register_worker_entry: the kind must be a non-empty "
        "name other than 'ringpool.task' and the entry non-null");
  }
  auto& reg = registries();
  std::lock_guard lock(reg.mutex);
  const auto it = reg.workers.find(kind);
  if (it != reg.workers.end() && it->second != entry) {
    throw pool::InvalidArgument("ringpool: register_worker_entry: the kind '" + std::string(kind) +
                                "' is already registered to another entry");
  }
  reg.workers.insert_or_assign(std::string(kind), entry);
}

bool is_spawned_child() noexcept {
  return g_served.load(std::memory_order_relaxed) || std::getenv(kEnvFd) != nullptr;
}

void check_spawn_guard(std::string_view attempted) {
  if (std::getenv(kEnvFd) != nullptr && !g_served.load(std::memory_order_relaxed)) {
    throw pool::GuardViolation(std::string(attempted));
  }
}

pid_t spawn_worker(const SpawnRequest& request) {
  check_spawn_guard("starting a spawned process");
  if (request.kind != kTaskKind) {
    auto& reg = registries();
    std::lock_guard lock(reg.mutex);
    if (reg.workers.find(request.kind) == reg.workers.end()) {
      throw pool::InvalidArgument("ringpool: spawn_worker: no worker kind '" + request.kind +
                                  "' is registered (register_worker_entry)");
    }
  }

  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed.
  const auto start_data =
      encode_start_record({request.kind, request.name, request.identity, request.daemon,
                           request.payload, ::getpid(), current_process().name});
  const int data_fd = ::memfd_create("ringpool-spawn", MFD_CLOEXEC);
  if (data_fd < 0) throw_os_error("memfd_create", errno);
  if (!write_all(data_fd, start_data.data(), start_data.size())) {
    const int err = errno;
    ::close(data_fd);
    throw_os_error("write of the start data", err);
  }

  // argv: the parent's argv[0], the marker, then the parent's arguments (as Python's
  // spawn hands sys.argv over), so a main() that forgot the guard sees its usual flags.
  std::vector<std::string> args = own_command_line();
  args.insert(args.begin() + 1, kArgvMarker);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::string_view(*e).substr(0, kEnvFdPrefix.size()) != kEnvFdPrefix) {
      env_strings.emplace_back(*e);
    }
  }
  env_strings.push_back(std::string(kEnvFdPrefix) + std::to_string(data_fd));
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  const std::vector<int> keep = request.inherit_fds;
  int hold[2] = {-1, -1};    // the child waits on it until pinned
  int status[2] = {-1, -1};  // closed by exec; carries errno when exec fails
  auto close_fd = [](int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  };
  if (request.cpus && ::pipe2(hold, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(data_fd);
    throw_os_error("pipe2", err);
  }
  if (::pipe2(status, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(data_fd);
    close_fd(hold[0]);
    close_fd(hold[1]);
    throw_os_error("pipe2", err);
  }
  const pid_t parent = ::getpid();
  std::fflush(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (request.daemon) {
      static_cast<void>(::prctl(PR_SET_PDEATHSIG, SIGKILL));
      // Die as PR_SET_PDEATHSIG would have made us (async-signal-safe).
      if (::getppid() != parent) static_cast<void>(::kill(::getpid(), SIGKILL));
    }
    ::close(status[0]);
    if (hold[0] >= 0) {
      ::close(hold[1]);
      char go = 0;
      ssize_t n = 0;
      do {
        n = ::read(hold[0], &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) _exit(1);
      ::close(hold[0]);
    }
    static_cast<void>(::fcntl(data_fd, F_SETFD, 0));
    for (const int fd : keep) static_cast<void>(::fcntl(fd, F_SETFD, 0));
    ::execve("/proc/self/exe", argv.data(), envp.data());
    const int err = errno;
    static_cast<void>(::write(status[1], &err, sizeof err));
    _exit(127);
  }

  const int fork_errno = errno;
  ::close(data_fd);
  close_fd(status[1]);
  close_fd(hold[0]);
  if (pid < 0) {
    close_fd(status[0]);
    close_fd(hold[1]);
    throw_os_error("fork", fork_errno);
  }
  auto reap = [pid] {
    int ignored = 0;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
  };
  if (hold[1] >= 0) {
    try {
      topology::pin_process(pid, *request.cpus);
    } catch (...) {
      close_fd(hold[1]);  // the child reads EOF and exits
      close_fd(status[0]);
      reap();
      throw;
    }
    const char go = 'g';
    ssize_t n = 0;
    do {
      n = ::write(hold[1], &go, 1);
    } while (n < 0 && errno == EINTR);
    close_fd(hold[1]);
  }
  int exec_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(status[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  close_fd(status[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    reap();
    throw_os_error("execve(/proc/self/exe)", exec_errno);
  }
  return pid;
}

}  // namespace ringpool::detail

namespace ringpool {

int serve_if_worker(int argc, char** argv) {
  using detail::g_served;
  const char* fd_text = std::getenv(detail::kEnvFd);
  const bool marked = argc > 1 && argv != nullptr && argv[1] != nullptr &&
                      std::strcmp(argv[1], detail::kArgvMarker) == 0;
  if (fd_text == nullptr) return 0;
  if (!marked) {
    // Inherited by a program ringpool did not start (e.g. through system()): not ours.
    ::unsetenv(detail::kEnvFd);
    return 0;
  }
  g_served.store(true, std::memory_order_relaxed);

  int code = 1;
  try {
    char* end = nullptr;
    const long fd_long = std::strtol(fd_text, &end, 10);
    if (end == fd_text || *end != '\0' || fd_long < 0 || fd_long > 1'000'000) {
      throw pool::DecodeError(std::string("ringpool: spawned child: ") + detail::kEnvFd + "='" +
                              fd_text + "' is not a file descriptor");
    }
    const int fd = static_cast<int>(fd_long);
    const auto bytes = detail::read_start_data(fd);
    ::close(fd);
    ::unsetenv(detail::kEnvFd);
    auto [kind, name, identity, daemon, payload, parent_pid, parent_name] =
        detail::decode_start_record(bytes);
    detail::become_child(std::move(name), std::move(identity), daemon, false, parent_pid,
                         std::move(parent_name));
    if (kind == detail::kTaskKind) {
      code = detail::run_task_entry(payload);
    } else {
      detail::WorkerEntry entry = nullptr;
      {
        auto& reg = detail::registries();
        std::lock_guard lock(reg.mutex);
        const auto it = reg.workers.find(kind);
        if (it != reg.workers.end()) entry = it->second;
      }
      if (entry == nullptr) {
        throw pool::InvalidArgument("ringpool: spawned child: no worker kind '" + kind +
                                    "' is registered in this program");
      }
      code = entry(payload);
    }
  } catch (...) {
    detail::report_child_exception(std::current_exception());
    code = 1;
  }
  detail::finish_child(code);
}

}  // namespace ringpool
