// The resource tracker (see ringpool/ipc/detail/tracker.hpp and docs/ipc.md): the client
// side (registrations, lazy start, fork handling) and the tracker process itself.
//
// Wire: a SOCK_SEQPACKET socket pair (message boundaries kept, EOF when every copy of the
// program's end is closed, MSG_NOSIGNAL instead of SIGPIPE). Every message is one Record.
// The tracker answers once, with a hello carrying its pid, and never again.
#include "ringpool/ipc/detail/tracker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace ringpool::ipc::detail {

namespace {

constexpr std::uint32_t kOpHello = 0x4F4C4548;       // "HELO"
constexpr std::uint32_t kOpRegister = 0x31474552;    // "REG1"
constexpr std::uint32_t kOpUnregister = 0x31474E55;  // "UNG1"
constexpr std::uint32_t kOpPrefix = 0x31584650;      // "PFX1": every name starting so
constexpr std::size_t kNameBytes = 256;              // Segment::kMaxNameLength + 1
constexpr int kStartTimeoutMs = 5000;
constexpr std::uint64_t kPidMaxLimit = std::uint64_t{1} << 22;  // Linux PID_MAX_LIMIT
constexpr char kShmDir[] = "/dev/shm";                          // where glibc's shm_open puts names

struct Record {
  std::uint32_t op;
  std::uint32_t name_length;  // bytes of name used, 2 .. kNameBytes - 1
  std::uint64_t inode;        // register: st_ino; hello: the tracker's pid
  std::uint64_t device;       // register: st_dev
  char name[kNameBytes];      // "/x", not NUL-terminated
};
static_assert(std::is_standard_layout_v<Record>);
static_assert(std::is_trivially_copyable_v<Record>);
static_assert(sizeof(Record) <= 512);

// ---- the tracker process -------------------------------------------------------------
// Runs in a child forked from a possibly multi-threaded program: only system calls from
// here on (no allocation, no locks, no stdio), then _exit.

bool valid_name(const Record& r) noexcept {
  if (r.name_length < 2 || r.name_length >= kNameBytes || r.name[0] != '/') return false;
  for (std::uint32_t i = 1; i < r.name_length; ++i) {
    if (r.name[i] == '/' || r.name[i] == '\0') return false;
  }
  return true;
}

bool same_name(const Record& a, const Record& b) noexcept {
  return a.name_length == b.name_length && std::memcmp(a.name, b.name, a.name_length) == 0;
}

// Registered names, in an anonymous mapping that grows by doubling.
struct Table {
  Record* rows = nullptr;
  std::size_t count = 0;
  std::size_t capacity = 0;

  Record* find(const Record& r) noexcept {
    for (std::size_t i = 0; i < count; ++i) {
      if (same_name(rows[i], r)) return &rows[i];
    }
    return nullptr;
  }
  void put(const Record& r) noexcept {
    if (Record* row = find(r)) {
      *row = r;
      return;
    }
    if (count == capacity) {
      const std::size_t grown = capacity == 0 ? 64 : capacity * 2;
      void* p = ::mmap(nullptr, grown * sizeof(Record), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return;  // out of memory: this name is not cleaned up
      if (rows != nullptr) {
        std::memcpy(p, rows, count * sizeof(Record));
        ::munmap(rows, capacity * sizeof(Record));
      }
      rows = static_cast<Record*>(p);
      capacity = grown;
    }
    rows[count++] = r;
  }
  void remove(const Record& r) noexcept {
    if (Record* row = find(r)) *row = rows[--count];
  }
};

// Unlinks the regular files of our uid in /dev/shm whose names start with `r`'s prefix
// (without its '/'). getdents64 into a stack buffer: no allocation. An unlink may make the
// directory listing skip an entry, so the sweep repeats until a pass removes nothing (at
// most 8 passes).
void unlink_prefix(const Record& r) noexcept {
  const int dir = ::open(kShmDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  const char* stem = r.name + 1;
  const std::size_t stem_length = r.name_length - 1;
  for (int pass = 0; pass < 8; ++pass) {
    if (::lseek(dir, 0, SEEK_SET) != 0) break;
    bool removed = false;
    alignas(8) char buffer[4096];
    for (;;) {
      const long n = ::syscall(SYS_getdents64, dir, buffer, sizeof buffer);
      if (n <= 0) break;
      for (long at = 0; at < n;) {
        // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
        std::uint16_t reclen = 0;
        std::memcpy(&reclen, buffer + at + 16, sizeof reclen);
        if (reclen < 20 || at + reclen > n) break;
        const char* name = buffer + at + 19;
        const std::size_t length = ::strnlen(name, static_cast<std::size_t>(reclen) - 19);
        at += reclen;
        if (length < stem_length || length >= kNameBytes ||
            std::memcmp(name, stem, stem_length) != 0) {
          continue;
        }
        struct stat st {};
        if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != ::geteuid()) {
          continue;
        }
        if (::unlinkat(dir, name, 0) == 0) removed = true;
      }
    }
    if (!removed) break;
  }
  ::close(dir);
}

// Unlinks the name if it still is the object registered, owned by us. The check and the
// unlink are two calls: a name replaced in between by another object of ours is the one
// race left, and only our own objects can be involved.
void unlink_if_ours(const Record& r) noexcept {
  char path[sizeof(kShmDir) + kNameBytes];
  std::memcpy(path, kShmDir, sizeof(kShmDir) - 1);
  std::memcpy(path + sizeof(kShmDir) - 1, r.name, r.name_length);
  path[sizeof(kShmDir) - 1 + r.name_length] = '\0';
  struct stat st {};
  if (::lstat(path, &st) != 0) return;
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) return;
  if (static_cast<std::uint64_t>(st.st_ino) != r.inode ||
      static_cast<std::uint64_t>(st.st_dev) != r.device) {
    return;
  }
  ::unlink(path);
}

void close_from(int first) noexcept {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
#endif
  const long limit = std::min(::sysconf(_SC_OPEN_MAX), 1L << 16);
  for (long fd = first; fd < limit; ++fd) ::close(static_cast<int>(fd));
}

// Points stdin, stdout and stderr at /dev/null (system calls only).
void silence_standard_streams() noexcept {
  const int null = ::open("/dev/null", O_RDWR);
  if (null < 0) return;
  for (int fd = 0; fd < 3; ++fd) {
    if (fd != null) ::dup2(null, fd);
  }
  if (null > 2) ::close(null);
}

[[noreturn]] void run_tracker(int sock) noexcept {
  // Default dispositions (the program's handlers are not ours), then ignore what a
  // terminal or a polite kill sends: the tracker must outlive the program to clean up.
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &action, nullptr);
  action.sa_handler = SIG_IGN;
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) {
    ::sigaction(sig, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Out of the program's session and process group, off its directory and terminal.
  ::setsid();
  if (::chdir("/") != 0) {
    // Harmless: only keeps a directory busy.
  }
  // Keep only the socket (>= 3, see start()) as fd 3; 0-2 are /dev/null already, so
  // nobody waiting for EOF on the program's stdout or stderr waits for us.
  if (sock != 3 && ::dup2(sock, 3) != 3) ::_exit(1);
  close_from(4);
  sock = 3;
  ::prctl(PR_SET_NAME, "ringpool-track", 0, 0, 0);

  Record hello{};
  hello.op = kOpHello;
  hello.inode = static_cast<std::uint64_t>(::getpid());
  if (::send(sock, &hello, sizeof(hello), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(hello))) {
    ::_exit(1);
  }

  Table table;
  for (;;) {
    Record r{};
    const ssize_t n = ::recv(sock, &r, sizeof(r), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: every holder of the program's end is gone
    if (n != static_cast<ssize_t>(sizeof(r)) || !valid_name(r)) continue;
    if (r.op == kOpRegister || r.op == kOpPrefix) {
      table.put(r);
    } else if (r.op == kOpUnregister) {
      table.remove(r);
    }
  }
  for (std::size_t i = 0; i < table.count; ++i) {
    if (table.rows[i].op == kOpPrefix) {
      unlink_prefix(table.rows[i]);
    } else {
      unlink_if_ours(table.rows[i]);
    }
  }
  ::_exit(0);
}

// ---- the client (in the program) ----------------------------------------------------

struct Entry {
  std::string name;
  std::uint64_t inode;
  std::uint64_t device;
  std::uint32_t op = kOpRegister;  // kOpPrefix: every name starting with `name`
};

struct Client {
  std::mutex mutex;  // guards everything below, and is held across fork()
  int fd = -1;       // our end of the socket pair; -1 when no tracker runs
  pid_t tracker = 0;
  std::vector<Entry> entries;  // what this process registered (replayed on restart)
};

Client* g_client = nullptr;
// True while this thread starts a tracker: its own fork() must not take the mutex it holds.
thread_local bool t_starting = false;

void before_fork() noexcept {
  if (!t_starting) g_client->mutex.lock();
}
void after_fork_in_parent() noexcept {
  if (!t_starting) g_client->mutex.unlock();
}
void after_fork_in_child() noexcept {
  if (t_starting) return;  // the intermediate process of start(): it only forks and exits
  // The parent's tracker is not ours: drop the socket (so the tracker still sees EOF when
  // the parent dies) and the parent's names (so we can never unregister them).
  if (g_client->fd >= 0) ::close(g_client->fd);
  g_client->fd = -1;
  g_client->tracker = 0;
  g_client->entries.clear();
  g_client->mutex.unlock();
}

Client& client() {
  static Client* const instance = [] {
    // Never destroyed: segments destroyed during static destruction still unregister.
    auto* c = new Client;
    g_client = c;
    ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
    return c;
  }();
  return *instance;
}

std::string errno_text(const char* call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

bool send_record(int fd, const Record& r) noexcept {
  for (;;) {
    const ssize_t n = ::send(fd, &r, sizeof(r), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof(r))) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

Record make_record(std::uint32_t op, const std::string& name, std::uint64_t inode,
                   std::uint64_t device) noexcept {
  Record r{};
  r.op = op;
  r.name_length = static_cast<std::uint32_t>(std::min(name.size(), kNameBytes - 1));
  std::memcpy(r.name, name.data(), r.name_length);
  r.inode = inode;
  r.device = device;
  return r;
}

// Waits for the tracker's hello; returns its pid, or 0.
pid_t await_hello(int fd) noexcept {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return 0;
    Record hello{};
    const ssize_t n = ::recv(fd, &hello, sizeof(hello), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n != static_cast<ssize_t>(sizeof(hello)) || hello.op != kOpHello) return 0;
    if (hello.inode == 0 || hello.inode > kPidMaxLimit) return 0;
    return static_cast<pid_t>(hello.inode);
  }
}

// Starts a tracker and sends it every registration. Mutex held. Returns "" or why not.
std::string start(Client& c) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno_text("socketpair", errno);
  }
  struct StartingGuard {
    StartingGuard() noexcept { t_starting = true; }
    ~StartingGuard() { t_starting = false; }
  } guard;
  const pid_t middle = ::fork();
  if (middle < 0) {
    const int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return errno_text("fork", err);
  }
  if (middle == 0) {
    // Fork again and exit, so the tracker is reparented to init (or a subreaper) and
    // never shows up in the program's waitpid(). Standard streams go to /dev/null first:
    // a runtime that flushes stdio in _exit (ThreadSanitizer's does) must not print the
    // program's buffered output a second time.
    const int sock = ::fcntl(sv[1], F_DUPFD, 3);  // out of 0-2, which are overwritten now
    if (sock < 0) ::_exit(1);
    silence_standard_streams();
    const pid_t tracker = ::fork();
    if (tracker == 0) run_tracker(sock);
    ::_exit(tracker > 0 ? 0 : 1);
  }
  ::close(sv[1]);
  int status = 0;
  // middle > 0 here. ECHILD: someone else reaped it (SIGCHLD ignored, a waitpid(-1)); the
  // hello below decides whether the tracker runs.
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  const pid_t tracker = await_hello(sv[0]);
  if (tracker == 0) {
    ::close(sv[0]);
    return "the tracker process did not start (fork refused, or no hello within " +
           std::to_string(kStartTimeoutMs) + " ms)";
  }
  c.fd = sv[0];
  c.tracker = tracker;
  for (const Entry& e : c.entries) {
    if (!send_record(c.fd, make_record(e.op, e.name, e.inode, e.device))) {
      ::close(c.fd);
      c.fd = -1;
      c.tracker = 0;
      return errno_text("send to the tracker", errno);
    }
  }
  return {};
}

// Sends `r` to the running tracker, or (re)starts one, which replays `entries`.
std::string deliver(Client& c, const Record& r) {
  if (c.fd >= 0) {
    if (send_record(c.fd, r)) return {};
    ::close(c.fd);  // the tracker died: start another and replay
    c.fd = -1;
    c.tracker = 0;
  }
  if (r.op == kOpUnregister && c.entries.empty()) return {};
  return start(c);
}

}  // namespace

std::string track_segment(const std::string& name, std::uint64_t inode,
                          std::uint64_t device) noexcept {
  try {
    if (name.size() < 2 || name.size() >= kNameBytes) return "name out of range";
    Client& c = client();
    const std::lock_guard lock(c.mutex);
    auto it = std::find_if(c.entries.begin(), c.entries.end(),
                           [&](const Entry& e) { return e.name == name; });
    if (it != c.entries.end()) {
      it->inode = inode;
      it->device = device;
      it->op = kOpRegister;
    } else {
      c.entries.push_back(Entry{name, inode, device, kOpRegister});
    }
    // A (re)start replays `entries`, which already hold this one.
    return deliver(c, make_record(kOpRegister, name, inode, device));
  } catch (const std::exception& e) {
    return e.what();
  }
}

void untrack_segment(const std::string& name, std::uint64_t inode, std::uint64_t device) noexcept {
  try {
    Client& c = client();
    const std::lock_guard lock(c.mutex);
    auto it = std::find_if(c.entries.begin(), c.entries.end(), [&](const Entry& e) {
      return e.name == name && (inode == 0 || (e.inode == inode && e.device == device));
    });
    if (it == c.entries.end()) return;
    c.entries.erase(it);
    if (c.fd < 0) return;  // no tracker: the next track_segment() replays what is left
    static_cast<void>(deliver(c, make_record(kOpUnregister, name, 0, 0)));
  } catch (...) {
    // Only allocation can fail here; the name stays registered and the tracker checks
    // the inode before it unlinks anything.
  }
}

std::string track_prefix(const std::string& prefix) noexcept {
  try {
    // At least "/x", no other '/': the tracker checks the same (valid_name).
    if (prefix.size() < 2 || prefix.size() >= kNameBytes || prefix.front() != '/' ||
        prefix.find('/', 1) != std::string::npos) {
      return "prefix out of range";
    }
    Client& c = client();
    const std::lock_guard lock(c.mutex);
    auto it = std::find_if(c.entries.begin(), c.entries.end(),
                           [&](const Entry& e) { return e.name == prefix; });
    if (it != c.entries.end()) {
      it->op = kOpPrefix;
    } else {
      c.entries.push_back(Entry{prefix, 0, 0, kOpPrefix});
    }
    return deliver(c, make_record(kOpPrefix, prefix, 0, 0));
  } catch (const std::exception& e) {
    return e.what();
  }
}

void untrack_prefix(const std::string& prefix) noexcept {
  untrack_segment(prefix);
}

pid_t tracker_pid() noexcept {
  try {
    Client& c = client();
    const std::lock_guard lock(c.mutex);
    return c.tracker;
  } catch (...) {
    return 0;  // the client could not even be allocated: no tracker
  }
}

}  // namespace ringpool::ipc::detail
