#pragma once
// Finding ringpool segments left in /dev/shm (`ringpool shm list` / `ringpool shm clean`).
//
// A file is a ringpool segment when a valid ring header (magic, ABI, kind, capacity,
// layout fingerprint, declared size within the file) starts at offset 0 or at a 128-byte
// boundary within its first 4 KiB (a pool::Queue keeps its own header first and its ring
// at +1024), or when its name is that of a large-payload segment of ringpool::pool,
// "/ringpool-blob-<owner pid>-<owner serial>-<sender pid>-<sequence>" (no header: ring_kind
// "payload", creator_pid the owner's, which removes it). Files are untrusted: they are opened
// without following links, read with pread (never mapped, so a concurrent truncate cannot fault
// us), only regular files are read, and every field is range-checked. A file that cannot be read is
// not listed.
//
// Staleness is decided from the creator pid in the ring header: dead (no such process, or
// a zombie) means stale. A reused pid makes a stale segment look alive; such a segment is
// kept, never the other way round. Pids are only meaningful in this pid namespace.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::ipc {

enum class CreatorState : std::uint8_t {
  alive,    // a process with the creator pid exists
  dead,     // it does not (or is a zombie): the segment is stale
  unknown,  // no usable pid in the header, or /proc is not mounted
};

[[nodiscard]] std::string_view to_string(CreatorState state) noexcept;

struct SegmentEntry {
  std::string name;  // "/x": the file name with a leading '/'
  std::uint64_t bytes = 0;
  uid_t owner_uid = 0;
  mode_t mode = 0;  // permission bits
  std::uint64_t inode = 0;
  std::uint64_t device = 0;
  std::string ring_kind;          // e.g. "MpmcByteRing"; "payload" for a payload segment
  std::uint64_t ring_offset = 0;  // where the ring header is
  std::string outer_magic;  // the 8 bytes before a ring at offset > 0 when printable, e.g. RPQUEUE1
  std::uint64_t capacity = 0;
  std::int64_t creator_pid = 0;
  CreatorState creator = CreatorState::unknown;

  [[nodiscard]] bool stale() const noexcept { return creator == CreatorState::dead; }
};

// Every ringpool segment in `dir` whose name (with its leading '/') starts with `prefix`,
// sorted by name. Throws IpcError(system_error) when `dir` cannot be listed.
[[nodiscard]] std::vector<SegmentEntry> scan_segments(std::string_view prefix = {},
                                                      const std::string& dir = "/dev/shm");

enum class RemoveOutcome : std::uint8_t {
  removed,    // unlinked
  not_owner,  // owned by another uid than this process's effective one: left alone
  not_stale,  // its creator is alive (or unknown) now: left alone
  changed,    // the name now holds another object (or no ringpool segment): left alone
  gone,       // the name no longer exists
};

[[nodiscard]] std::string_view to_string(RemoveOutcome outcome) noexcept;

// Unlinks `entry` if it is owned by this process's effective uid, the name still holds
// the same object (inode and device), and that object still reads as a stale ringpool
// segment. Throws IpcError(permission_denied / system_error) when the unlink fails.
RemoveOutcome remove_if_stale(const SegmentEntry& entry, const std::string& dir = "/dev/shm");

}  // namespace ringpool::ipc
