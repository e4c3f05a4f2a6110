// POSIX shared-memory segments: shm_open / memfd_create / mmap, the optional prefault,
// mlock and huge-page requests, the trust checks of open() and the tracker hooks.
#include "ringpool/ipc/segment.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ringpool/ipc/detail/tracker.hpp"
#include "ringpool/ipc/errors.hpp"

namespace ringpool::ipc {

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

[[noreturn]] void throw_os(const char* call, int err, const std::string& name) {
  IpcErrc code = IpcErrc::system_error;
  std::string advice;
  switch (err) {
    case EEXIST:
      code = IpcErrc::already_exists;
      advice = "the name is taken: open() it, unlink() it, or choose another name";
      break;
    case ENOENT:
      code = IpcErrc::not_found;
      advice = "no segment has this name: create() it first or check the name";
      break;
    case EACCES:
    case EPERM:
      code = IpcErrc::permission_denied;
      advice = "the segment belongs to another user or its mode forbids access";
      break;
    case ENAMETOOLONG:
    case EINVAL:
      code = IpcErrc::invalid_name;
      advice = "the OS refused the name or size";
      break;
    case ENOSPC:
    case ENOMEM:
      advice = "shared memory is exhausted: free segments in /dev/shm or ask for less";
      break;
    case EMFILE:
    case ENFILE:
      advice = "too many open files: close segments or raise the fd limit";
      break;
    default:
      advice = "see the errno";
      break;
  }
  throw IpcError(code, std::string(call) + " failed: " + errno_text(err) + "; " + advice, name,
                 err);
}

void apply_options(std::byte* data, std::size_t size, const SegmentOptions& options, bool populated,
                   SegmentGrants& grants) {
  if (options.prefault) {
    if (populated) {
      grants.prefaulted = true;
      grants.prefault_note = "MAP_POPULATE";
    } else {
      grants.prefault_note = "MAP_POPULATE refused";
    }
  } else {
    grants.prefault_note = "not requested";
  }
  if (options.huge_pages) {
#ifdef MADV_HUGEPAGE
    if (::madvise(data, size, MADV_HUGEPAGE) == 0) {
      grants.huge_pages = true;
      grants.huge_pages_note =
          "MADV_HUGEPAGE accepted (shared memory uses huge pages only if "
          "/sys/kernel/mm/transparent_hugepage/shmem_enabled allows)";
    } else {
      grants.huge_pages_note = "MADV_HUGEPAGE refused: " + errno_text(errno);
    }
#else
    grants.huge_pages_note = "MADV_HUGEPAGE not available on this platform";
#endif
  } else {
    grants.huge_pages_note = "not requested";
  }
  if (options.lock) {
    if (::mlock(data, size) == 0) {
      grants.locked = true;
      grants.lock_note = "mlock";
    } else {
      grants.lock_note =
          "mlock refused: " + errno_text(errno) + " (raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK)";
    }
  } else {
    grants.lock_note = "not requested";
  }
}

// "uid 65534 (nobody)", or "uid 1234" when the user database does not know it.
std::string user_label(uid_t uid) {
  std::string label = "uid " + std::to_string(uid);
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_name != nullptr) {
    label += " (";
    label += found->pw_name;
    label += ")";
  }
  return label;
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "0%03o", static_cast<unsigned>(mode & 07777));
  return text;
}

const char* file_type(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "directory";
    case S_IFIFO:
      return "FIFO";
    case S_IFSOCK:
      return "socket";
    case S_IFCHR:
      return "character device";
    case S_IFBLK:
      return "block device";
    case S_IFLNK:
      return "symbolic link";
    default:
      return "special file";
  }
}

[[noreturn]] void throw_untrusted(const std::string& name, const std::string& why, int err = 0) {
  throw IpcError(IpcErrc::untrusted_segment,
                 why +
                     "; ringpool refuses it because whoever can write a segment can forge what "
                     "its readers see. Remove the name, create the segment again as this user "
                     "with mode 0600, or pass SegmentOptions::allow_untrusted if every writer "
                     "is trusted",
                 name, err);
}

// Refuses a segment another user could have written (see segment.hpp). Closes fd first.
void check_trusted(int fd, const struct stat& st, const std::string& name, bool allow_untrusted) {
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_untrusted(name,
                    std::string("the name is not a regular file but a ") + file_type(st.st_mode));
  }
  if (allow_untrusted) return;
  const uid_t self = ::geteuid();
  if (st.st_uid != self) {
    ::close(fd);
    throw_untrusted(name, "the segment is owned by " + user_label(st.st_uid) + " with mode " +
                              octal_mode(st.st_mode) + ", not by this process's effective " +
                              user_label(self));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    throw_untrusted(name, "the segment is owned by " + user_label(st.st_uid) + " but has mode " +
                              octal_mode(st.st_mode) +
                              ", which gives group/other access (only 0600-style modes, owner "
                              "bits alone, are trusted)");
  }
}

// Path of a named segment's object, for lstat: glibc's shm_open uses /dev/shm.
bool path_of(const std::string& name, char (&path)[Segment::kMaxNameLength + 16]) noexcept {
  static constexpr char kDir[] = "/dev/shm";
  if (name.size() > Segment::kMaxNameLength) return false;
  std::memcpy(path, kDir, sizeof(kDir) - 1);
  std::memcpy(path + sizeof(kDir) - 1, name.data(), name.size());
  path[sizeof(kDir) - 1 + name.size()] = '\0';
  return true;
}

// Whether `name` still names `object` (not one created under the name after an unlink).
bool names_object(const std::string& name, const struct stat& object) noexcept {
  char path[Segment::kMaxNameLength + 16];
  struct stat by_name {};
  if (!path_of(name, path) || ::lstat(path, &by_name) != 0) return false;
  return by_name.st_ino == object.st_ino && by_name.st_dev == object.st_dev;
}

// Maps `size` bytes of fd (or anonymous memory when fd < 0). Returns MAP_FAILED on error.
void* map(int fd, std::size_t size, bool prefault, bool& populated) {
  int flags = MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0);
  populated = false;
  if (prefault) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags | MAP_POPULATE, fd, 0);
    if (p != MAP_FAILED) {
      populated = true;
      return p;
    }
  }
  return ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
}

}  // namespace

std::string Segment::normalize_name(std::string_view name) {
  if (name.empty()) {
    throw IpcError(IpcErrc::invalid_name,
                   "segment name is empty; pass a name such as \"/ringpool-jobs\"");
  }
  std::string normalized;
  normalized.reserve(name.size() + 1);
  if (name.front() != '/') normalized.push_back('/');
  normalized.append(name);
  if (normalized.size() == 1) {
    throw IpcError(IpcErrc::invalid_name,
                   "segment name \"/\" has nothing after the slash; pass "
                   "a name such as \"/ringpool-jobs\"",
                   normalized);
  }
  if (normalized.find('/', 1) != std::string::npos) {
    throw IpcError(IpcErrc::invalid_name,
                   "segment name contains '/' after the first character; POSIX shm names are "
                   "one path component: remove the inner slashes",
                   normalized);
  }
  if (normalized.find('\0') != std::string::npos) {
    throw IpcError(IpcErrc::invalid_name, "segment name contains a NUL character; remove it");
  }
  if (normalized.size() > kMaxNameLength) {
    throw IpcError(IpcErrc::invalid_name,
                   "segment name is " + std::to_string(normalized.size()) +
                       " characters long; the limit is " + std::to_string(kMaxNameLength) +
                       " including the leading '/': shorten it",
                   normalized.substr(0, 32) + "...");
  }
  return normalized;
}

Segment Segment::create(std::string_view name, std::size_t bytes, SegmentOptions options) {
  std::string normalized = normalize_name(name);
  if (bytes == 0) {
    throw IpcError(IpcErrc::invalid_argument, "segment size 0 requested; pass at least 1 byte",
                   normalized);
  }
  const int fd =
      ::shm_open(normalized.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, options.mode);
  if (fd < 0) throw_os("shm_open(O_CREAT|O_EXCL)", errno, normalized);
  auto fail = [&](const char* call) {
    const int err = errno;
    ::close(fd);
    ::shm_unlink(normalized.c_str());
    throw_os(call, err, normalized);
  };
  // The umask may have cleared bits of options.mode; set exactly what was asked.
  if (::fchmod(fd, options.mode) != 0) fail("fchmod");
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) fail("ftruncate");
  bool populated = false;
  void* p = map(fd, bytes, options.prefault, populated);
  if (p == MAP_FAILED) fail("mmap");
  Segment segment;
  segment.data_ = static_cast<std::byte*>(p);
  segment.size_ = bytes;
  segment.fd_ = fd;
  segment.name_ = std::move(normalized);
  segment.holder_pid_ = ::getpid();
  apply_options(segment.data_, bytes, options, populated, segment.grants_);
  segment.grants_.tracker_note = "not requested (the name is kept)";
  if (options.unlink_on_destroy) segment.unlink_on_destroy(true);
  return segment;
}

Segment Segment::open(std::string_view name, SegmentOptions options) {
  std::string normalized = normalize_name(name);
  // O_NOFOLLOW: a symlink planted at the name must not redirect us to another file.
  const int fd = ::shm_open(normalized.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) {
      throw_untrusted(normalized, "the name is a symbolic link (not followed)", err);
    }
    if (err == EISDIR) throw_untrusted(normalized, "the name is a directory", err);
    throw_os("shm_open", err, normalized);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw_os("fstat", err, normalized);
  }
  check_trusted(fd, st, normalized, options.allow_untrusted);
  if (st.st_size <= 0) {
    ::close(fd);
    throw IpcError(IpcErrc::truncated,
                   "segment is empty (0 bytes): its creator has not sized it yet or it was "
                   "truncated; retry later or recreate it",
                   normalized);
  }
  const auto bytes = static_cast<std::size_t>(st.st_size);
  bool populated = false;
  void* p = map(fd, bytes, options.prefault, populated);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    throw_os("mmap", err, normalized);
  }
  Segment segment;
  segment.data_ = static_cast<std::byte*>(p);
  segment.size_ = bytes;
  segment.fd_ = fd;
  segment.name_ = std::move(normalized);
  segment.holder_pid_ = ::getpid();
  apply_options(segment.data_, bytes, options, populated, segment.grants_);
  segment.grants_.tracker_note = "not requested (open never unlinks)";
  return segment;
}

Segment Segment::anonymous(std::size_t bytes, SegmentOptions options) {
  if (bytes == 0) {
    throw IpcError(IpcErrc::invalid_argument,
                   "anonymous segment size 0 requested; pass at least 1 byte");
  }
  int fd = ::memfd_create("ringpool", MFD_CLOEXEC);
  if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    ::close(fd);
    throw_os("ftruncate(memfd)", err, {});
  }
  bool populated = false;
  void* p = map(fd, bytes, options.prefault, populated);
  if (p == MAP_FAILED) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw_os("mmap", err, {});
  }
  Segment segment;
  segment.data_ = static_cast<std::byte*>(p);
  segment.size_ = bytes;
  segment.fd_ = fd;
  apply_options(segment.data_, bytes, options, populated, segment.grants_);
  segment.grants_.tracker_note = "anonymous: no name to clean up";
  return segment;
}

bool Segment::unlink(std::string_view name) {
  const std::string normalized = normalize_name(name);
  if (::shm_unlink(normalized.c_str()) == 0) {
    detail::untrack_segment(normalized);
    return true;
  }
  if (errno == ENOENT) return false;
  throw_os("shm_unlink", errno, normalized);
}

void Segment::unlink_on_destroy(bool enable) noexcept {
  unlink_on_destroy_ = enable;
  if (enable && !grants_.tracked) track();
  if (!enable && grants_.tracked) untrack();
}

void Segment::track() noexcept {
  if (name_.empty() || fd_ < 0 || holder_pid_ != ::getpid()) return;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    grants_.tracker_note = "not tracked: fstat failed: " + errno_text(errno);
    return;
  }
  std::string why = detail::track_segment(name_, static_cast<std::uint64_t>(st.st_ino),
                                          static_cast<std::uint64_t>(st.st_dev));
  grants_.tracked = why.empty();
  grants_.tracker_note = grants_.tracked ? "tracked (pid " + std::to_string(detail::tracker_pid()) +
                                               " unlinks it if this process dies first)"
                                         : "not tracked: " + why;
}

void Segment::untrack() noexcept {
  struct stat st {};
  if (grants_.tracked && holder_pid_ == ::getpid() && ::fstat(fd_, &st) == 0) {
    detail::untrack_segment(name_, static_cast<std::uint64_t>(st.st_ino),
                            static_cast<std::uint64_t>(st.st_dev));
  }
  grants_.tracked = false;
  grants_.tracker_note = "not requested (the name is kept)";
}

Segment::Segment(Segment&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      fd_(std::exchange(other.fd_, -1)),
      unlink_on_destroy_(std::exchange(other.unlink_on_destroy_, false)),
      holder_pid_(std::exchange(other.holder_pid_, 0)),
      name_(std::move(other.name_)),
      grants_(std::move(other.grants_)) {
  other.name_.clear();
}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    fd_ = std::exchange(other.fd_, -1);
    unlink_on_destroy_ = std::exchange(other.unlink_on_destroy_, false);
    holder_pid_ = std::exchange(other.holder_pid_, 0);
    name_ = std::move(other.name_);
    other.name_.clear();
    grants_ = std::move(other.grants_);
  }
  return *this;
}

Segment::~Segment() {
  reset();
}

void Segment::reset() noexcept {
  // A forked child's copy of the handle (holder_pid_ is the parent's) leaves the name alone.
  struct stat st {};
  if (unlink_on_destroy_ && !name_.empty() && fd_ >= 0 && holder_pid_ == ::getpid() &&
      ::fstat(fd_, &st) == 0) {
    if (names_object(name_, st)) ::shm_unlink(name_.c_str());
    if (grants_.tracked) {
      detail::untrack_segment(name_, static_cast<std::uint64_t>(st.st_ino),
                              static_cast<std::uint64_t>(st.st_dev));
    }
  }
  if (data_ != nullptr) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
  unlink_on_destroy_ = false;
  holder_pid_ = 0;
  grants_.tracked = false;
  name_.clear();
}

}  // namespace ringpool::ipc
