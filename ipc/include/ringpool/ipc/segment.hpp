#pragma once
// Shared-memory segments: named POSIX shm (shm_open) and anonymous shared mappings.
//
// A Segment is raw bytes; the structures placed in it (rings) carry their own validated
// header. Segments are move-only RAII handles: the destructor unmaps. Names live in
// /dev/shm and outlive processes, so who removes a name is explicit:
//  - Segment::create(name, ...) never removes the name on destruction unless
//    SegmentOptions::unlink_on_destroy is set or unlink_on_destroy(true) was called;
//    such a name is also registered with the resource tracker (detail/tracker.hpp),
//    which unlinks it if the process dies without running the destructor (any signal,
//    SIGKILL included);
//  - only the process that made the handle unlinks: a forked child's copy of it does not;
//  - the destructor unlinks the name only while it still names this segment's object;
//  - Segment::unlink(name) removes a name (returns false if it did not exist);
//  - Segment::open(name) never removes the name.
// Trust: open() refuses (IpcErrc::untrusted_segment) a name that is a symbolic link or
// not a regular file, and, unless SegmentOptions::allow_untrusted, a segment owned by
// another uid than the effective one or with any group/other permission bit: whoever
// can write a segment can forge everything a reader will see.
// Anonymous segments (memfd, or MAP_SHARED|MAP_ANONYMOUS when memfd is unavailable) have
// no name, leave nothing in /dev/shm and are inherited by children across fork().
#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace ringpool::ipc {

struct SegmentOptions {
  mode_t mode = 0600;              // permission bits of a named segment (create only)
  bool prefault = false;           // populate every page now (MAP_POPULATE / touch)
  bool lock = false;               // mlock the mapping (needs RLIMIT_MEMLOCK or CAP_IPC_LOCK)
  bool huge_pages = false;         // ask for transparent huge pages (madvise MADV_HUGEPAGE)
  bool unlink_on_destroy = false;  // create only: the creator's destructor unlinks the name
  // open only: accept a segment owned by another uid or with group/other permission bits
  // (only when every user who can write it is trusted). Symlinks are refused regardless.
  bool allow_untrusted = false;
};

// What the OS granted for the optional features. Never a failure: a refused feature is
// reported here with the reason (strerror text or "not requested").
struct SegmentGrants {
  bool prefaulted = false;
  bool locked = false;
  bool huge_pages = false;
  std::string prefault_note;
  std::string lock_note;
  std::string huge_pages_note;
  // Named segments created with unlink_on_destroy: the resource tracker will unlink the
  // name if this process dies first. tracker_note says why not when tracked is false.
  bool tracked = false;
  std::string tracker_note;
};

class Segment {
 public:
  // Longest accepted name including the leading '/'.
  static constexpr std::size_t kMaxNameLength = 255;

  // Creates a new named segment of `bytes` bytes (O_CREAT|O_EXCL, options.mode) and maps
  // it read/write. `name` may start with '/' (added if absent) and contains no other '/'.
  // Throws IpcError: invalid_name, invalid_argument (bytes == 0), already_exists,
  // permission_denied, system_error (e.g. ENOSPC when /dev/shm is full).
  [[nodiscard]] static Segment create(std::string_view name, std::size_t bytes,
                                      SegmentOptions options = {});

  // Maps an existing named segment, whole, read/write. The name is opened with O_NOFOLLOW.
  // Throws IpcError: invalid_name, not_found, permission_denied, truncated (size 0),
  // untrusted_segment (a symlink, not a regular file, another owner, group/other mode bits;
  // the message names the owner and the mode), system_error.
  [[nodiscard]] static Segment open(std::string_view name, SegmentOptions options = {});

  // A shared mapping with no name, inherited across fork(). Throws IpcError:
  // invalid_argument (bytes == 0), system_error.
  [[nodiscard]] static Segment anonymous(std::size_t bytes, SegmentOptions options = {});

  // Removes `name` from the namespace (existing mappings stay valid). Returns false if it
  // did not exist. Throws IpcError: invalid_name, permission_denied, system_error.
  static bool unlink(std::string_view name);

  // Checks a name the way create/open do; returns the normalised name ("/x").
  // Throws IpcError(invalid_name) saying what is wrong.
  [[nodiscard]] static std::string normalize_name(std::string_view name);

  Segment() noexcept = default;
  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
  // Normalised name ("/x"); empty for anonymous segments.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool is_anonymous() const noexcept { return name_.empty(); }
  // File descriptor of the shm object or memfd; -1 for MAP_ANONYMOUS or a moved-from
  // segment. Owned by the Segment.
  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const SegmentGrants& grants() const noexcept { return grants_; }

  // Makes this (creating) handle unlink its name when destroyed, or not; registers the
  // name with the resource tracker, or withdraws it.
  void unlink_on_destroy(bool enable) noexcept;

 private:
  void reset() noexcept;
  void track() noexcept;
  void untrack() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
  bool unlink_on_destroy_ = false;
  pid_t holder_pid_ = 0;  // the process that made this handle (0: anonymous)
  std::string name_;
  SegmentGrants grants_;
};

}  // namespace ringpool::ipc
