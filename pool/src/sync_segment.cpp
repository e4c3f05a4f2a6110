// SyncSegment (create, open and validate the segment of one synchronisation object), and
// the helpers the parts share: holder liveness, the corruption error, deadlines.

#include <atomic>
#include <climits>
#include <cstring>
#include <new>
#include <string>

#include "ringpool/ipc/segment.hpp"
#include "sync_detail.hpp"

namespace ringpool::pool::detail {

// ---- Holder liveness, errors, deadlines ------------------------------------------------------

bool valid_pid(std::int64_t pid) noexcept {
  return pid >= 1 && pid <= INT_MAX;
}

[[noreturn]] void throw_corrupted(const char* what, const std::string& detail) {
  throw Corrupted(std::string("ringpool: ") + what + ": its shared memory holds " + detail +
                  " (a process wrote garbage into it); it cannot be used any more: recreate it");
}

std::optional<Clock::time_point> deadline_after(std::chrono::nanoseconds timeout) {
  return Clock::now() + timeout;
}

// ---- Segments ----------------------------------------------------------------------------

struct SyncSegment::Impl {
  ipc::Segment segment;
  SyncHeader* header = nullptr;
};

SyncSegment::SyncSegment(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
SyncSegment::~SyncSegment() = default;

std::shared_ptr<SyncSegment> SyncSegment::create(std::string_view name, const Spec& spec,
                                                 const SyncOptions& options,
                                                 const std::function<void(SyncSegment&)>& init) {
  const std::size_t bytes = kSyncTailOffset + spec.tail_bytes;
  auto impl = std::make_unique<Impl>();
  if (name.empty()) {
    impl->segment = ipc::Segment::anonymous(bytes);
  } else {
    ipc::SegmentOptions segment_options;
    segment_options.mode = options.mode;
    segment_options.unlink_on_destroy = options.unlink_on_destroy;
    impl->segment = ipc::Segment::create(name, bytes, segment_options);
  }
  // The mapping is fresh and zero-filled: the idle state of every object.
  impl->header = ::new (impl->segment.data()) SyncHeader();
  std::shared_ptr<SyncSegment> segment(new SyncSegment(std::move(impl)));
  SyncHeader& header = *segment->impl_->header;
  header.version = kSyncVersion;
  header.kind = static_cast<std::uint32_t>(spec.kind);
  header.segment_bytes = bytes;
  header.count = spec.count;
  header.bound = spec.bound;
  header.type_tag = spec.type_tag;
  header.flags = spec.flags;
  if (init) init(*segment);
  // release: pairs with the acquire load of magic in open(); publishes the header and the
  // initial state.
  header.magic.store(kSyncMagic, std::memory_order_release);
  return segment;
}

namespace {
const char* kind_name(std::uint32_t kind) noexcept {
  switch (static_cast<SyncKind>(kind)) {
    case SyncKind::lock:
      return "Lock";
    case SyncKind::rlock:
      return "RLock";
    case SyncKind::semaphore:
      return "Semaphore";
    case SyncKind::bounded_semaphore:
      return "BoundedSemaphore";
    case SyncKind::event:
      return "Event";
    case SyncKind::condition:
      return "Condition";
    case SyncKind::barrier:
      return "Barrier";
    case SyncKind::value:
      return "Value/Array";
  }
  return "unknown object";
}
}  // namespace

std::shared_ptr<SyncSegment> SyncSegment::open(std::string_view name, SyncKind kind,
                                               const char* what, const SyncOptions& options) {
  ipc::SegmentOptions segment_options;
  segment_options.allow_untrusted = options.allow_untrusted;
  auto impl = std::make_unique<Impl>();
  impl->segment = ipc::Segment::open(name, segment_options);
  const auto refuse = [&](const std::string& why) {
    throw InvalidArgument(std::string("ringpool: ") + what + "::open(\"" + std::string(name) +
                          "\"): the segment is not a usable ringpool " + what + ": " + why +
                          "; check the name, or create it with " + what + "::create first");
  };
  if (impl->segment.size() < kSyncTailOffset) {
    refuse("it is " + std::to_string(impl->segment.size()) +
           " bytes, smaller than a synchronisation object");
  }
  auto* header = reinterpret_cast<SyncHeader*>(impl->segment.data());
  // acquire: pairs with the release store of magic in create().
  if (header->magic.load(std::memory_order_acquire) != kSyncMagic) {
    refuse(
        "no synchronisation-object header (another kind of segment, or its creator has not "
        "finished creating it)");
  }
  if (header->version != kSyncVersion) {
    refuse("format version " + std::to_string(header->version) + ", this build reads version " +
           std::to_string(kSyncVersion));
  }
  if (header->kind != static_cast<std::uint32_t>(kind)) {
    refuse(std::string("it holds a ") + kind_name(header->kind));
  }
  if (header->segment_bytes != impl->segment.size()) {
    refuse("its header says " + std::to_string(header->segment_bytes) + " bytes, the segment has " +
           std::to_string(impl->segment.size()));
  }
  impl->header = header;
  return std::shared_ptr<SyncSegment>(new SyncSegment(std::move(impl)));
}

const SyncHeader& SyncSegment::header() const noexcept {
  return *impl_->header;
}
std::byte* SyncSegment::state() const noexcept {
  return impl_->segment.data() + kSyncStateOffset;
}
std::byte* SyncSegment::tail() const noexcept {
  return impl_->segment.data() + kSyncTailOffset;
}
std::size_t SyncSegment::tail_bytes() const noexcept {
  return impl_->segment.size() - kSyncTailOffset;
}
const std::string& SyncSegment::name() const noexcept {
  return impl_->segment.name();
}

}  // namespace ringpool::pool::detail
