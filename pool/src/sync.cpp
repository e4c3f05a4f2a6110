// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier over the plain
// shared data of detail/sync_layout.hpp. Every wait is an ipc::EventCount wait (its
// ordering argument is in ipc/event_count.hpp: each "publish" below is a seq_cst store or
// RMW followed by notify_*(), each waiter re-checks its condition after prepare_wait()).
//
// The lock: LockState::owner is 0 (free) or pid << 32 | tid of the holder. Taking it is a
// CAS 0 -> me; releasing is a seq_cst store of 0 and a notify_one of `released`. A waiter
// sleeps in slices of kSyncLivenessPeriod; between slices it reads the holder's pid and,
// when that process is gone, CASes the owner word from the dead holder to itself, so
// exactly one waiter takes a dead holder's lock over and no state exists in which the lock
// is held by nobody identifiable (the owner is the only word). Waiters all wait for the
// same unit (a free lock) and try to take it whenever they wake, so notify_one suffices.
//
// The Barrier is Python's threading.Barrier algorithm (phases filling / draining /
// resetting / broken, a count of parties inside wait()) under an embedded robust lock,
// plus one slot per party holding the pid of each party inside wait(): waiters wake every
// kSyncLivenessPeriod and drop the slots of processes that are gone, which breaks a
// filling barrier.
#include "ringpool/pool/sync.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>
#include <span>
#include <string>

#include "ringpool/ipc/detail/cpu_relax.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/shared_value.hpp"

namespace ringpool::pool {

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kSpinBeforeSleep = 100;
constexpr std::size_t kMaxBarrierParties = 65536;

// ---- Who is calling: pid << 32 | tid, cached per thread, renewed in a forked child -----

std::atomic<std::uint64_t> g_fork_generation{0};

void on_fork_child() noexcept {
  // relaxed: read by this (the only) thread of the new child right after fork returns.
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

struct IdentityCache {
  std::uint64_t generation = ~std::uint64_t{0};
  std::uint64_t id = 0;
};
thread_local IdentityCache t_identity;

std::uint64_t self_id() noexcept {
  static const int registered = ::pthread_atfork(nullptr, nullptr, on_fork_child);
  (void)registered;
  // relaxed: only on_fork_child() writes it, in the thread that reads it next.
  const std::uint64_t generation = g_fork_generation.load(std::memory_order_relaxed);
  if (t_identity.generation != generation || t_identity.id == 0) {
    t_identity.id = (static_cast<std::uint64_t>(::getpid()) << 32) |
                    static_cast<std::uint64_t>(static_cast<std::uint32_t>(::gettid()));
    t_identity.generation = generation;
  }
  return t_identity.id;
}

std::int64_t pid_of(std::uint64_t id) noexcept {
  return static_cast<std::int64_t>(id >> 32);
}

bool valid_pid(std::int64_t pid) noexcept {
  return pid >= 1 && pid <= INT_MAX;
}

bool valid_owner(std::uint64_t owner) noexcept {
  const std::uint64_t tid = owner & 0xffffffffULL;
  return valid_pid(pid_of(owner)) && tid >= 1 && tid <= static_cast<std::uint64_t>(INT_MAX);
}

// True when no running process has `pid`: kill(pid, 0) fails with ESRCH, or the process is
// a zombie (it has exited; only its parent's waitpid is missing). Precondition: pid >= 1.
bool process_gone(std::int64_t pid) noexcept {
  if (!valid_pid(pid)) return false;  // never passed to kill()
  const auto p = static_cast<pid_t>(pid);
  if (::kill(p, 0) == -1 && errno == ESRCH) return true;
  char path[40];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(p));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  // No /proc entry: reaped just now (kill says so now), or no /proc mounted (then a live
  // holder must not look dead).
  if (fd < 0) return ::kill(p, 0) == -1 && errno == ESRCH;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) S ...": comm may contain ')' and spaces; the state follows the last ')'.
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] != ' ') return false;
  const char state = close_paren[2];
  return state == 'Z' || state == 'X';
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

[[noreturn]] void throw_corrupted(const char* what, const std::string& detail) {
  throw Corrupted(std::string("ringpool: ") + what + ": its shared memory holds " + detail +
                  " (a process wrote garbage into it); it cannot be used any more: recreate it");
}

// ---- The lock ------------------------------------------------------------------------

void became_holder(LockState& s) noexcept {
  // relaxed: the depth is read and written by the holding thread only; the next holder
  // reads it after the seq_cst release and its acquire CAS.
  s.depth.store(1, std::memory_order_relaxed);
}

// One CAS 0 -> me.
bool take_free(LockState& s, std::uint64_t me) noexcept {
  std::uint64_t expected = 0;
  // acquire: pairs with the seq_cst store of 0 in lock_release(): the previous holder's
  // writes to what the lock guards are visible to us.
  if (s.owner.compare_exchange_strong(expected, me, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    became_holder(s);
    return true;
  }
  return false;
}

// Takes a free lock, or the lock of a holder whose process is gone.
bool take(LockState& s, std::uint64_t me, const char* what) {
  std::uint64_t current = 0;
  // acquire: as in take_free().
  if (s.owner.compare_exchange_strong(current, me, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    became_holder(s);
    return true;
  }
  if (!valid_owner(current)) throw_corrupted(what, "an impossible owner word " + hex(current));
  if (pid_of(current) == pid_of(me) || !process_gone(pid_of(current))) return false;
  // acquire: the dead holder's writes (what it managed to do) become visible. Exactly one
  // waiter wins this CAS; the others see `me` and keep waiting.
  if (!s.owner.compare_exchange_strong(current, me, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
    return false;
  }
  became_holder(s);
  // relaxed: read by the new holder (this thread) through holder_died(); cleared before
  // the seq_cst release.
  s.holder_died.store(1, std::memory_order_relaxed);
  return true;
}

bool reenter(LockState& s, std::uint64_t me, const char* what) {
  // relaxed: only this thread can have stored `me`, and it stores 0 before letting go.
  if (s.owner.load(std::memory_order_relaxed) != me) return false;
  // relaxed: written by the holder (this thread) only.
  const std::uint32_t depth = s.depth.load(std::memory_order_relaxed);
  if (depth == 0) throw_corrupted(what, "a recursion depth of 0 while held");
  if (depth == UINT32_MAX) {
    throw InvalidState(std::string("ringpool: ") + what + "::acquire: recursion depth " +
                       std::to_string(depth) + " reached; release it first");
  }
  s.depth.store(depth + 1, std::memory_order_relaxed);
  return true;
}

}  // namespace

bool lock_try_acquire(LockState& state, bool recursive, const char* what) {
  const std::uint64_t me = self_id();
  if (recursive && reenter(state, me, what)) return true;
  return take(state, me, what);
}

bool lock_acquire(LockState& state, SyncDeadline deadline, bool recursive, const char* what) {
  const std::uint64_t me = self_id();
  if (recursive && reenter(state, me, what)) return true;
  for (std::uint32_t spin = 0; spin < kSpinBeforeSleep; ++spin) {
    if (take_free(state, me)) return true;
    ipc::detail::cpu_relax();
  }
  for (;;) {
    if (take(state, me, what)) return true;
    const auto now = Clock::now();
    if (deadline && now >= *deadline) return false;
    auto slice_end = now + kSyncLivenessPeriod;
    if (deadline) slice_end = std::min(slice_end, *deadline);
    const ipc::EventCount::Key key = state.released.prepare_wait();
    // seq_cst: the re-check of the EventCount argument; pairs with the seq_cst store of 0
    // in lock_release() (the publish).
    if (state.owner.load(std::memory_order_seq_cst) == 0) {
      state.released.cancel_wait();
      continue;
    }
    (void)state.released.wait_until(key, slice_end);
  }
}

void lock_release(LockState& state, bool recursive, const char* what) {
  const std::uint64_t me = self_id();
  if (recursive) {
    // relaxed: as in reenter().
    if (state.owner.load(std::memory_order_relaxed) != me) {
      throw InvalidState(std::string("ringpool: ") + what +
                         "::release: the calling thread does not hold it (cannot release an "
                         "un-acquired lock)");
    }
    // relaxed: written by the holder (this thread) only.
    const std::uint32_t depth = state.depth.load(std::memory_order_relaxed);
    if (depth == 0) throw_corrupted(what, "a recursion depth of 0 while held");
    if (depth > 1) {
      state.depth.store(depth - 1, std::memory_order_relaxed);
      return;
    }
  }
  // relaxed (both): ordered before the seq_cst release below, which the next holder's
  // acquire CAS reads.
  state.depth.store(0, std::memory_order_relaxed);
  state.holder_died.store(0, std::memory_order_relaxed);
  // seq_cst: the publish of the EventCount argument for waiters in lock_acquire(); its
  // release half pairs with the acquire CAS of the next holder.
  const std::uint64_t previous = state.owner.exchange(0, std::memory_order_seq_cst);
  if (previous == 0) {
    throw InvalidState(std::string("ringpool: ") + what +
                       "::release: the lock is not locked (release without acquire)");
  }
  state.released.notify_one();
}

bool lock_held_by_caller(const LockState& state) noexcept {
  // relaxed: only this thread can have stored its own id (see reenter()).
  return state.owner.load(std::memory_order_relaxed) == self_id();
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

namespace {

template <class State>
State* state_of(const SyncSegment& segment) noexcept {
  return std::launder(reinterpret_cast<State*>(segment.state()));
}

template <class State>
std::shared_ptr<SyncSegment> make_segment(std::string_view name, SyncSegment::Spec spec,
                                          const SyncOptions& options,
                                          const std::function<void(State&)>& init = {}) {
  return SyncSegment::create(name, spec, options, [&](SyncSegment& segment) {
    State* state = ::new (segment.state()) State();
    if (init) init(*state);
  });
}

LockRef lock_ref(std::shared_ptr<SyncSegment> segment) {
  LockState* state = state_of<LockState>(*segment);
  return LockRef{std::move(segment), state};
}

std::optional<Clock::time_point> deadline_after(std::chrono::nanoseconds timeout) {
  return Clock::now() + timeout;
}

}  // namespace
}  // namespace detail

using detail::Clock;

// ---- Lock ----------------------------------------------------------------------------------

Lock::Lock()
    : ref_(detail::lock_ref(detail::make_segment<detail::LockState>(
          {}, {.kind = detail::SyncKind::lock}, SyncOptions{}))) {}

Lock Lock::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Lock::create: the name is empty");
  return Lock(detail::lock_ref(
      detail::make_segment<detail::LockState>(name, {.kind = detail::SyncKind::lock}, options)));
}

Lock Lock::open(std::string_view name, SyncOptions options) {
  return Lock(
      detail::lock_ref(detail::SyncSegment::open(name, detail::SyncKind::lock, "Lock", options)));
}

bool Lock::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

bool Lock::acquire() {
  return detail::lock_acquire(*ref_.state, std::nullopt, false, "Lock");
}

bool Lock::acquire(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return try_acquire();
  return detail::lock_acquire(*ref_.state, detail::deadline_after(timeout), false, "Lock");
}

bool Lock::try_acquire() {
  return detail::lock_try_acquire(*ref_.state, false, "Lock");
}

void Lock::release() {
  detail::lock_release(*ref_.state, false, "Lock");
}

bool Lock::holder_died() const noexcept {
  // relaxed: meant for the holder, which wrote it (or its reset) itself; see take().
  return ref_.state->holder_died.load(std::memory_order_relaxed) != 0;
}

bool Lock::locked() const noexcept {
  // relaxed: an observation only.
  return ref_.state->owner.load(std::memory_order_relaxed) != 0;
}

const std::string& Lock::name() const noexcept {
  return ref_.segment->name();
}

// ---- RLock ---------------------------------------------------------------------------------

RLock::RLock()
    : ref_(detail::lock_ref(detail::make_segment<detail::LockState>(
          {}, {.kind = detail::SyncKind::rlock}, SyncOptions{}))) {}

RLock RLock::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: RLock::create: the name is empty");
  return RLock(detail::lock_ref(
      detail::make_segment<detail::LockState>(name, {.kind = detail::SyncKind::rlock}, options)));
}

RLock RLock::open(std::string_view name, SyncOptions options) {
  return RLock(
      detail::lock_ref(detail::SyncSegment::open(name, detail::SyncKind::rlock, "RLock", options)));
}

bool RLock::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

bool RLock::acquire() {
  return detail::lock_acquire(*ref_.state, std::nullopt, true, "RLock");
}

bool RLock::acquire(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return try_acquire();
  return detail::lock_acquire(*ref_.state, detail::deadline_after(timeout), true, "RLock");
}

bool RLock::try_acquire() {
  return detail::lock_try_acquire(*ref_.state, true, "RLock");
}

void RLock::release() {
  detail::lock_release(*ref_.state, true, "RLock");
}

bool RLock::holder_died() const noexcept {
  // relaxed: as Lock::holder_died().
  return ref_.state->holder_died.load(std::memory_order_relaxed) != 0;
}

bool RLock::is_owned() const noexcept {
  return detail::lock_held_by_caller(*ref_.state);
}

const std::string& RLock::name() const noexcept {
  return ref_.segment->name();
}

// ---- Semaphore, BoundedSemaphore -----------------------------------------------------------

namespace {
std::shared_ptr<detail::SyncSegment> semaphore_segment(std::string_view name, std::uint64_t value,
                                                       bool bounded, const SyncOptions& options) {
  detail::SyncSegment::Spec spec{
      .kind = bounded ? detail::SyncKind::bounded_semaphore : detail::SyncKind::semaphore,
      .bound = bounded ? value : 0};
  return detail::make_segment<detail::SemaphoreState>(
      name, spec, options, [value](detail::SemaphoreState& s) {
        // relaxed: published with the header by the release store of its magic (named) or
        // by the fork that hands the mapping over (anonymous).
        s.value.store(value, std::memory_order_relaxed);
      });
}
}  // namespace

Semaphore::Semaphore(std::shared_ptr<detail::SyncSegment> segment, bool bounded) noexcept
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::SemaphoreState>(*segment_)),
      bounded_(bounded),
      bound_(segment_->header().bound) {}

Semaphore::Semaphore(std::uint64_t value)
    : Semaphore(semaphore_segment({}, value, false, {}), false) {}

Semaphore Semaphore::create(std::string_view name, std::uint64_t value, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Semaphore::create: the name is empty");
  return Semaphore(semaphore_segment(name, value, false, options), false);
}

Semaphore Semaphore::open(std::string_view name, SyncOptions options) {
  return Semaphore(
      detail::SyncSegment::open(name, detail::SyncKind::semaphore, "Semaphore", options), false);
}

bool Semaphore::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

bool Semaphore::try_acquire() {
  // relaxed: a first guess; the CAS decides.
  std::uint64_t v = state_->value.load(std::memory_order_relaxed);
  while (v > 0) {
    // acquire: pairs with the seq_cst CAS in release(): what the releaser did before is
    // visible to the taker of its unit.
    if (state_->value.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool Semaphore::acquire() {
  // An empty ready() loop on the EventCount: try_acquire takes a unit when it can.
  return state_->posted.await([this] { return try_acquire(); });
}

bool Semaphore::acquire(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return try_acquire();
  return state_->posted.await([this] { return try_acquire(); }, detail::deadline_after(timeout));
}

void Semaphore::release(std::uint64_t n) {
  const char* what = bounded_ ? "BoundedSemaphore" : "Semaphore";
  if (n == 0) throw InvalidArgument(std::string("ringpool: ") + what + "::release(0)");
  // relaxed: a first guess; the CAS decides.
  std::uint64_t v = state_->value.load(std::memory_order_relaxed);
  for (;;) {
    if (bounded_ && v > bound_) {
      detail::throw_corrupted(
          what, "a value of " + std::to_string(v) + " above its bound " + std::to_string(bound_));
    }
    if (bounded_ && n > bound_ - v) {
      throw SemaphoreOverflow(
          "ringpool: BoundedSemaphore::release: released too many times "
          "(value " +
          std::to_string(v) + " + " + std::to_string(n) + " would exceed its initial value " +
          std::to_string(bound_) + ")");
    }
    if (n > UINT64_MAX - v) detail::throw_corrupted(what, "a value about to overflow");
    // seq_cst: the publish of the EventCount argument for waiters in acquire(); its release
    // half pairs with the acquire CAS in try_acquire().
    if (state_->value.compare_exchange_weak(v, v + n, std::memory_order_seq_cst,
                                            std::memory_order_relaxed)) {
      break;
    }
  }
  // Each unit can be taken by one waiter, and every waiter tries to take one when woken.
  if (n == 1) {
    state_->posted.notify_one();
  } else {
    state_->posted.notify_all();
  }
}

std::uint64_t Semaphore::value_approx() const noexcept {
  // relaxed: an observation only.
  return state_->value.load(std::memory_order_relaxed);
}

BoundedSemaphore::BoundedSemaphore(std::uint64_t value)
    : Semaphore(semaphore_segment({}, value, true, {}), true) {}

BoundedSemaphore BoundedSemaphore::create(std::string_view name, std::uint64_t value,
                                          SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: BoundedSemaphore::create: the name is empty");
  return BoundedSemaphore(semaphore_segment(name, value, true, options), true);
}

BoundedSemaphore BoundedSemaphore::open(std::string_view name, SyncOptions options) {
  return BoundedSemaphore(detail::SyncSegment::open(name, detail::SyncKind::bounded_semaphore,
                                                    "BoundedSemaphore", options),
                          true);
}

// ---- Event ---------------------------------------------------------------------------------

Event::Event(std::shared_ptr<detail::SyncSegment> segment) noexcept
    : segment_(std::move(segment)), state_(detail::state_of<detail::EventState>(*segment_)) {}

Event::Event()
    : Event(detail::make_segment<detail::EventState>({}, {.kind = detail::SyncKind::event}, {})) {}

Event Event::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Event::create: the name is empty");
  return Event(
      detail::make_segment<detail::EventState>(name, {.kind = detail::SyncKind::event}, options));
}

Event Event::open(std::string_view name, SyncOptions options) {
  return Event(detail::SyncSegment::open(name, detail::SyncKind::event, "Event", options));
}

bool Event::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

void Event::set() {
  // seq_cst: the publish of the EventCount argument for waiters in wait(); its release
  // half pairs with the acquire load in is_set().
  state_->flag.store(1, std::memory_order_seq_cst);
  state_->changed.notify_all();
}

void Event::clear() {
  // relaxed: clearing publishes nothing; a waiter that reads 0 waits for the next set().
  state_->flag.store(0, std::memory_order_relaxed);
}

bool Event::is_set() const {
  // acquire: pairs with the seq_cst store in set(): what the setter did before set() is
  // visible to a caller that sees the flag.
  const std::uint32_t flag = state_->flag.load(std::memory_order_acquire);
  if (flag > 1) detail::throw_corrupted("Event", "a flag of " + std::to_string(flag));
  return flag == 1;
}

bool Event::wait_until(detail::SyncDeadline deadline) {
  return state_->changed.await([this] { return is_set(); }, deadline);
}

bool Event::wait() {
  return wait_until(std::nullopt);
}

bool Event::wait(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return is_set();
  return wait_until(detail::deadline_after(timeout));
}

// ---- Condition -----------------------------------------------------------------------------

Condition::Condition(std::shared_ptr<detail::SyncSegment> segment, Lock lock) noexcept
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::ConditionState>(*segment_)),
      lock_(std::move(lock)) {}

Condition::Condition(std::shared_ptr<detail::SyncSegment> segment)
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::ConditionState>(*segment_)),
      lock_(detail::LockRef{segment_, &state_->lock}) {}

Condition::Condition()
    : Condition(detail::make_segment<detail::ConditionState>(
          {}, {.kind = detail::SyncKind::condition}, {})) {}

Condition::Condition(Lock lock)
    : Condition(detail::make_segment<detail::ConditionState>(
                    {}, {.kind = detail::SyncKind::condition}, {}),
                std::move(lock)) {}

Condition Condition::create(std::string_view name, SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Condition::create: the name is empty");
  return Condition(detail::make_segment<detail::ConditionState>(
      name, {.kind = detail::SyncKind::condition}, options));
}

Condition Condition::open(std::string_view name, SyncOptions options) {
  return Condition(
      detail::SyncSegment::open(name, detail::SyncKind::condition, "Condition", options));
}

bool Condition::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

void Condition::check_owned(const char* operation) const {
  if (!detail::lock_held_by_caller(*lock_.ref_.state)) {
    throw InvalidState(std::string("ringpool: Condition::") + operation +
                       ": the calling thread does not hold the condition's lock (cannot " +
                       operation + " on an un-acquired lock); acquire it first");
  }
}

bool Condition::wait_impl(detail::SyncDeadline deadline) {
  check_owned("wait");
  // Registered before the lock is released: a notify by whoever takes the lock next
  // moves the epoch past this key (the lock's release/acquire orders the registration
  // before that notifier's load of the waiter count).
  ipc::EventCount::Key key = state_->notified.prepare_wait();
  try {
    lock_.release();
  } catch (...) {
    state_->notified.cancel_wait();
    throw;
  }
  bool notified = false;
  for (;;) {
    notified = deadline ? state_->notified.wait_until(key, *deadline) : state_->notified.wait(key);
    if (notified || (deadline && Clock::now() >= *deadline)) break;
    // A signal or a spurious wake-up: register again. A notify since the first key moved
    // the epoch, which the new key shows.
    const ipc::EventCount::Key again = state_->notified.prepare_wait();
    if (again.epoch() != key.epoch()) {
      state_->notified.cancel_wait();
      notified = true;
      break;
    }
    key = again;
  }
  lock_.acquire();
  return notified;
}

bool Condition::wait() {
  return wait_impl(std::nullopt);
}

bool Condition::wait(std::chrono::nanoseconds timeout) {
  return wait_impl(detail::deadline_after(std::max(timeout, std::chrono::nanoseconds::zero())));
}

void Condition::notify(std::size_t n) {
  check_owned("notify");
  if (n == 0) return;
  if (n == 1) {
    state_->notified.notify_one();
  } else {
    state_->notified.notify_all();
  }
}

void Condition::notify_all() {
  check_owned("notify_all");
  state_->notified.notify_all();
}

// ---- Barrier -------------------------------------------------------------------------------

namespace {

using detail::BarrierPhase;

// The barrier's embedded lock, held for the guard's lifetime (except inside wait_change),
// with the shared state validated and dead parties dropped on every (re)acquire.
class BarrierGuard {
 public:
  BarrierGuard(detail::BarrierState& state, std::span<detail::BarrierSlot> slots)
      : state_(state), slots_(slots), me_(static_cast<std::int64_t>(::getpid())) {
    relock();
  }
  BarrierGuard(const BarrierGuard&) = delete;
  BarrierGuard& operator=(const BarrierGuard&) = delete;
  ~BarrierGuard() {
    if (!held_) return;
    try {
      detail::lock_release(state_.lock, false, "Barrier");
    } catch (...) {  // only when a peer scribbled over the owner word; nothing to undo
    }
  }

  [[nodiscard]] BarrierPhase phase() const {
    // relaxed (all fields below): written under the lock only; the lock's acquire CAS and
    // seq_cst release order them between holders.
    const std::int32_t p = state_.phase.load(std::memory_order_relaxed);
    if (p < -2 || p > 1) detail::throw_corrupted("Barrier", "a phase of " + std::to_string(p));
    return static_cast<BarrierPhase>(p);
  }
  void set_phase(BarrierPhase p) noexcept {
    state_.phase.store(static_cast<std::int32_t>(p), std::memory_order_relaxed);
    state_.changed.notify_all();
  }
  [[nodiscard]] std::size_t inside() const noexcept {
    return state_.inside.load(std::memory_order_relaxed);
  }

  // Registers this party (its pid in a free slot); returns its arrival index.
  std::size_t enter() {
    const std::size_t index = inside();
    for (detail::BarrierSlot& slot : slots_) {
      if (slot.load(std::memory_order_relaxed) == 0) {
        slot.store(me_, std::memory_order_relaxed);
        state_.inside.store(static_cast<std::uint32_t>(index + 1), std::memory_order_relaxed);
        return index;
      }
    }
    detail::throw_corrupted("Barrier", "no free party slot while filling");
  }

  // Python's _exit: the last party out of a draining or resetting barrier refills it.
  void leave() noexcept {
    for (detail::BarrierSlot& slot : slots_) {
      if (slot.load(std::memory_order_relaxed) == me_) {
        slot.store(0, std::memory_order_relaxed);
        break;
      }
    }
    const std::size_t n = inside();
    state_.inside.store(n > 0 ? static_cast<std::uint32_t>(n - 1) : 0, std::memory_order_relaxed);
    state_.changed.notify_all();
    refill_if_empty();
  }

  // Releases the lock, sleeps until a change is notified or kSyncLivenessPeriod (or the
  // deadline) passed, takes the lock again.
  // No lost wake-up: the caller checked its condition under the lock and registers before
  // releasing it; whoever changes the state takes the lock after that release, so its
  // notify sees this registration (happens-before through the lock) and moves the epoch
  // past this key.
  void wait_change(const detail::SyncDeadline& deadline) {
    const ipc::EventCount::Key key = state_.changed.prepare_wait();
    held_ = false;
    detail::lock_release(state_.lock, false, "Barrier");
    auto slice_end = Clock::now() + kSyncLivenessPeriod;
    if (deadline) slice_end = std::min(slice_end, *deadline);
    (void)state_.changed.wait_until(key, slice_end);
    relock();
  }

 private:
  // Takes the lock and checks the state; on Corrupted the lock is released again (the
  // constructor's throw runs no destructor).
  void relock() {
    (void)detail::lock_acquire(state_.lock, std::nullopt, false, "Barrier");
    held_ = true;
    try {
      check_and_repair();
    } catch (...) {
      held_ = false;
      try {
        detail::lock_release(state_.lock, false, "Barrier");
      } catch (...) {  // as in the destructor
      }
      throw;
    }
  }

  void check_and_repair() {
    // relaxed: read by this thread, the holder (see take() in the lock).
    const bool died = state_.lock.holder_died.load(std::memory_order_relaxed) != 0;
    if (died) {
      // A party died inside the barrier's critical section: recount from the slots and
      // break the barrier (its state may be half-updated).
      state_.lock.holder_died.store(0, std::memory_order_relaxed);
      std::uint32_t n = 0;
      for (const detail::BarrierSlot& slot : slots_) {
        if (slot.load(std::memory_order_relaxed) != 0) ++n;
      }
      state_.inside.store(n, std::memory_order_relaxed);
      set_phase(BarrierPhase::broken);
    }
    (void)phase();  // validates
    if (inside() > slots_.size()) {
      detail::throw_corrupted("Barrier", std::to_string(inside()) +
                                             " parties inside a barrier of " +
                                             std::to_string(slots_.size()));
    }
    drop_dead_parties();
  }

  void drop_dead_parties() {
    bool dropped = false;
    for (detail::BarrierSlot& slot : slots_) {
      const std::int64_t pid = slot.load(std::memory_order_relaxed);
      if (pid == 0 || pid == me_) continue;
      if (!detail::valid_pid(pid)) {
        detail::throw_corrupted("Barrier", "a party slot holding pid " + std::to_string(pid));
      }
      if (!detail::process_gone(pid)) continue;
      slot.store(0, std::memory_order_relaxed);
      const std::size_t n = inside();
      state_.inside.store(n > 0 ? static_cast<std::uint32_t>(n - 1) : 0, std::memory_order_relaxed);
      dropped = true;
    }
    if (!dropped) return;
    if (phase() == BarrierPhase::filling) set_phase(BarrierPhase::broken);
    refill_if_empty();
    state_.changed.notify_all();
  }

  void refill_if_empty() noexcept {
    const std::int32_t p = state_.phase.load(std::memory_order_relaxed);
    if (inside() == 0 && (p == static_cast<std::int32_t>(BarrierPhase::draining) ||
                          p == static_cast<std::int32_t>(BarrierPhase::resetting))) {
      set_phase(BarrierPhase::filling);
    }
  }

  detail::BarrierState& state_;
  std::span<detail::BarrierSlot> slots_;
  std::int64_t me_;
  bool held_ = false;
};

std::span<detail::BarrierSlot> barrier_slots(const detail::SyncSegment& segment,
                                             std::size_t parties) {
  return {std::launder(reinterpret_cast<detail::BarrierSlot*>(segment.tail())), parties};
}

std::shared_ptr<detail::SyncSegment> barrier_segment(std::string_view name, std::size_t parties,
                                                     const SyncOptions& options) {
  if (parties == 0 || parties > detail::kMaxBarrierParties) {
    throw InvalidArgument("ringpool: Barrier: parties must be in [1, " +
                          std::to_string(detail::kMaxBarrierParties) + "], not " +
                          std::to_string(parties));
  }
  return detail::SyncSegment::create(name,
                                     {.kind = detail::SyncKind::barrier,
                                      .tail_bytes = parties * sizeof(detail::BarrierSlot),
                                      .count = parties},
                                     options, [parties](detail::SyncSegment& segment) {
                                       ::new (segment.state()) detail::BarrierState();
                                       auto* slots = segment.tail();
                                       for (std::size_t i = 0; i < parties; ++i) {
                                         ::new (slots + i * sizeof(detail::BarrierSlot))
                                             detail::BarrierSlot(0);
                                       }
                                     });
}

}  // namespace

Barrier::Barrier(std::shared_ptr<detail::SyncSegment> segment, std::function<void()> action)
    : segment_(std::move(segment)),
      state_(detail::state_of<detail::BarrierState>(*segment_)),
      action_(std::move(action)) {
  const std::uint64_t parties = segment_->header().count;
  if (parties == 0 || parties > detail::kMaxBarrierParties ||
      parties * sizeof(detail::BarrierSlot) > segment_->tail_bytes()) {
    throw InvalidArgument("ringpool: Barrier::open(\"" + segment_->name() +
                          "\"): the segment's header is inconsistent (" + std::to_string(parties) +
                          " parties in " + std::to_string(segment_->tail_bytes()) +
                          " bytes of slots)");
  }
  parties_ = static_cast<std::size_t>(parties);
}

Barrier::Barrier(std::size_t parties, std::function<void()> action)
    : Barrier(barrier_segment({}, parties, {}), std::move(action)) {}

Barrier Barrier::create(std::string_view name, std::size_t parties, std::function<void()> action,
                        SyncOptions options) {
  if (name.empty()) throw InvalidArgument("ringpool: Barrier::create: the name is empty");
  return Barrier(barrier_segment(name, parties, options), std::move(action));
}

Barrier Barrier::open(std::string_view name, std::function<void()> action, SyncOptions options) {
  return Barrier(detail::SyncSegment::open(name, detail::SyncKind::barrier, "Barrier", options),
                 std::move(action));
}

bool Barrier::unlink(std::string_view name) {
  return ipc::Segment::unlink(name);
}

std::size_t Barrier::wait_impl(detail::SyncDeadline deadline) {
  BarrierGuard guard(*state_, barrier_slots(*segment_, parties_));
  const auto timed_out = [&] { return deadline && Clock::now() >= *deadline; };
  const auto broken_error = [](const char* why) {
    return BrokenBarrier(std::string("ringpool: Barrier::wait: the barrier is broken (") + why +
                         "); reset() it to use it again");
  };
  // Python's _enter: wait until the previous cycle has drained or a reset has finished.
  while (guard.phase() == BarrierPhase::draining || guard.phase() == BarrierPhase::resetting) {
    if (timed_out()) {
      guard.set_phase(BarrierPhase::broken);
      throw broken_error("the timeout expired");
    }
    guard.wait_change(deadline);
  }
  if (guard.phase() == BarrierPhase::broken) {
    throw broken_error("aborted, reset, timed out, failed action or dead party");
  }
  const std::size_t index = guard.enter();
  try {
    if (index + 1 == parties_) {
      if (action_) {
        try {
          action_();
        } catch (...) {
          guard.set_phase(BarrierPhase::broken);
          throw;
        }
      }
      // relaxed: under the lock, as the other fields.
      state_->generation.fetch_add(1, std::memory_order_relaxed);
      guard.set_phase(BarrierPhase::draining);
    } else {
      while (guard.phase() == BarrierPhase::filling) {
        if (timed_out()) {
          guard.set_phase(BarrierPhase::broken);
          throw broken_error("the timeout expired");
        }
        guard.wait_change(deadline);
      }
      if (guard.phase() == BarrierPhase::resetting) throw broken_error("reset while waiting");
      if (guard.phase() == BarrierPhase::broken) {
        throw broken_error("aborted, timed out, failed action or dead party");
      }
    }
  } catch (...) {
    guard.leave();
    throw;
  }
  guard.leave();
  return index;
}

std::size_t Barrier::wait() {
  return wait_impl(std::nullopt);
}

std::size_t Barrier::wait(std::chrono::nanoseconds timeout) {
  return wait_impl(detail::deadline_after(std::max(timeout, std::chrono::nanoseconds::zero())));
}

void Barrier::reset() {
  BarrierGuard guard(*state_, barrier_slots(*segment_, parties_));
  if (guard.inside() > 0) {
    const BarrierPhase p = guard.phase();
    if (p == BarrierPhase::filling || p == BarrierPhase::broken) {
      guard.set_phase(BarrierPhase::resetting);
    }
  } else {
    guard.set_phase(BarrierPhase::filling);
  }
}

void Barrier::abort() {
  BarrierGuard guard(*state_, barrier_slots(*segment_, parties_));
  guard.set_phase(BarrierPhase::broken);
}

std::size_t Barrier::n_waiting() const {
  // relaxed (both): a racy observation, as Python's.
  if (state_->phase.load(std::memory_order_relaxed) !=
      static_cast<std::int32_t>(BarrierPhase::filling)) {
    return 0;
  }
  return std::min<std::size_t>(state_->inside.load(std::memory_order_relaxed), parties_);
}

bool Barrier::broken() const {
  // relaxed: a racy observation, as Python's.
  return state_->phase.load(std::memory_order_relaxed) ==
         static_cast<std::int32_t>(BarrierPhase::broken);
}

// ---- Value, Array ----------------------------------------------------------------------------

namespace detail {

std::shared_ptr<SyncSegment> create_shared_values(std::string_view name,
                                                  const SharedValuesSpec& spec, const void* initial,
                                                  const SyncOptions& options) {
  if (spec.element_size == 0 || spec.count > (SIZE_MAX / 2) / spec.element_size) {
    throw InvalidArgument("ringpool: Array of " + std::to_string(spec.count) + " " +
                          spec.type_name + ": too many elements");
  }
  const std::size_t bytes = spec.count * spec.element_size;
  return SyncSegment::create(name,
                             {.kind = SyncKind::value,
                              .tail_bytes = bytes,
                              .count = spec.count,
                              .bound = spec.element_size,
                              .type_tag = spec.type_tag,
                              .flags = spec.lock ? kSyncHasLock : 0U},
                             options, [&](SyncSegment& segment) {
                               ::new (segment.state()) ValueState();
                               if (initial != nullptr && bytes > 0)
                                 std::memcpy(segment.tail(), initial, bytes);
                             });
}

std::shared_ptr<SyncSegment> open_shared_values(std::string_view name, const SharedValuesSpec& spec,
                                                const char* what, const SyncOptions& options) {
  auto segment = SyncSegment::open(name, SyncKind::value, what, options);
  const SyncHeader& header = segment->header();
  const auto refuse = [&](const std::string& why) {
    throw InvalidArgument(std::string("ringpool: ") + what + "<" + spec.type_name + ">::open(\"" +
                          std::string(name) + "\"): " + why);
  };
  if (header.type_tag != spec.type_tag || header.bound != spec.element_size) {
    refuse("it holds elements of another type (" + std::to_string(header.bound) +
           " bytes each); open it with the type it was created with");
  }
  if ((header.flags & ~kSyncHasLock) != 0 ||
      header.count > segment->tail_bytes() / spec.element_size) {
    refuse("its header is inconsistent (" + std::to_string(header.count) + " elements in " +
           std::to_string(segment->tail_bytes()) + " bytes)");
  }
  if (std::string_view(what) == "Value" && header.count != 1) {
    refuse("it is an Array of " + std::to_string(header.count) + " elements, not a Value");
  }
  return segment;
}

std::optional<LockRef> shared_values_lock(const std::shared_ptr<SyncSegment>& segment) {
  if ((segment->header().flags & kSyncHasLock) == 0) return std::nullopt;
  return LockRef{segment, &state_of<ValueState>(*segment)->lock};
}

}  // namespace detail

}  // namespace ringpool::pool
