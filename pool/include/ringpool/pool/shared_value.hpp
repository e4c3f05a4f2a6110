#pragma once
// Value<T> and Array<T>: Python's multiprocessing.Value and multiprocessing.Array, for
// trivially copyable T, in shared memory.
//
//   ringpool::pool::Value<int> counter(0);            // before fork: children inherit it
//   Process p([counter]() mutable {
//     std::scoped_lock hold(counter.get_lock());      // an RLock, robust as every Lock
//     counter.get_obj() += 1;
//   });
//   counter.store(5);                                  // value()/store() take the lock
//
// As Python's: value()/store() (Array: get()/set()) take the object's RLock for the
// access; a read-modify-write (`+= 1`) needs get_lock() held around it. With
// `.lock = false` there is no lock (get_lock() throws InvalidState) and concurrent access
// is the caller's business. Elements start zero-filled unless given.
//
// Handing over to other processes: as Lock (sync.hpp): copies of a handle captured before
// fork, or create("name") / open("name"); open refuses (InvalidArgument) another element
// type or size, and a segment of another kind.
//
// Shared memory is hostile: the elements are whatever bytes are there. A T whose every
// bit pattern is valid (integers, floating point, arrays and aggregates of them) is safe;
// one with invariants (bool, enums, pointers) can be handed a value no C++ code wrote.
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/sync.hpp"

namespace ringpool::pool {

// Every member has an initialiser, so designated initialisers may name any subset.
struct SharedOptions {
  bool lock = true;       // false: no RLock (Python's lock=False)
  SyncOptions sync = {};  // named objects: unlink, mode, trust (see SyncOptions)
};

namespace detail {

// The type-independent part (shared_value.cpp).
struct SharedValuesSpec {
  std::size_t count = 0;
  std::size_t element_size = 0;
  std::uint64_t type_tag = 0;
  std::string type_name;  // for error messages
  bool lock = true;
};
// Creates the segment: header, lock, `initial` (count * element_size bytes, or nullptr
// for zeros) copied into the elements before the header is published.
std::shared_ptr<SyncSegment> create_shared_values(std::string_view name,
                                                  const SharedValuesSpec& spec, const void* initial,
                                                  const SyncOptions& options);
// Opens and validates: element type and size as in spec (count is read from the segment,
// and so is whether there is a lock: spec.lock is ignored).
// `what` is "Value" or "Array".
std::shared_ptr<SyncSegment> open_shared_values(std::string_view name, const SharedValuesSpec& spec,
                                                const char* what, const SyncOptions& options);
// The object's lock, when it has one.
std::optional<LockRef> shared_values_lock(const std::shared_ptr<SyncSegment>& segment);

template <class T>
SharedValuesSpec shared_values_spec(std::size_t count, bool lock) {
  return {.count = count,
          .element_size = sizeof(T),
          .type_tag = type_tag<T>(),
          .type_name = demangle(typeid(T).name()),
          .lock = lock};
}

// The elements and the optional lock of one Value or Array handle.
template <class T>
class SharedValues {
  static_assert(std::is_trivially_copyable_v<T>,
                "Value<T> / Array<T> hold T in shared memory as raw bytes: T must be trivially "
                "copyable (no pointers to process-local memory, no owning members)");
  static_assert(alignof(T) <= kSyncTailOffset, "T's alignment exceeds 256 bytes");

 public:
  explicit SharedValues(std::shared_ptr<SyncSegment> segment) : segment_(std::move(segment)) {
    count_ = static_cast<std::size_t>(segment_->header().count);
    if (auto ref = shared_values_lock(segment_)) lock_.emplace(RLock(std::move(*ref)));
  }

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] T* data() const noexcept {
    return std::launder(reinterpret_cast<T*>(segment_->tail()));
  }
  [[nodiscard]] bool has_lock() const noexcept { return lock_.has_value(); }
  [[nodiscard]] RLock& get_lock(const char* what) const {
    if (!lock_) {
      throw InvalidState(std::string("ringpool: ") + what +
                         "::get_lock: created with lock = false, so it has no lock");
    }
    return *lock_;
  }
  // Copies element i out (under the lock, when there is one).
  [[nodiscard]] T load(std::size_t i) const {
    T out;
    with_lock([&] { std::memcpy(&out, segment_->tail() + i * sizeof(T), sizeof(T)); });
    return out;
  }
  void store(std::size_t i, const T& value) {
    with_lock([&] { std::memcpy(segment_->tail() + i * sizeof(T), &value, sizeof(T)); });
  }
  [[nodiscard]] const std::string& name() const noexcept { return segment_->name(); }

 private:
  template <class F>
  void with_lock(F&& f) const {
    if (lock_) {
      std::scoped_lock hold(*lock_);
      f();
    } else {
      f();
    }
  }

  std::shared_ptr<SyncSegment> segment_;
  std::size_t count_ = 0;
  mutable std::optional<RLock> lock_;
};

}  // namespace detail

// multiprocessing.Value: one T in shared memory.
template <class T>
class Value {
 public:
  using value_type = T;

  // An anonymous value holding `initial`.
  explicit Value(const T& initial = T{}, SharedOptions options = {})
      : values_(detail::create_shared_values({}, detail::shared_values_spec<T>(1, options.lock),
                                             &initial, {})) {}
  // Named (O_EXCL).
  [[nodiscard]] static Value create(std::string_view name, const T& initial = T{},
                                    SharedOptions options = {}) {
    if (name.empty()) throw InvalidArgument("ringpool: Value::create: the name is empty");
    return Value(detail::create_shared_values(name, detail::shared_values_spec<T>(1, options.lock),
                                              &initial, options.sync));
  }
  // InvalidArgument when the segment holds another type, an Array or another object.
  [[nodiscard]] static Value open(std::string_view name, SharedOptions options = {}) {
    return Value(detail::open_shared_values(name, detail::shared_values_spec<T>(1, options.lock),
                                            "Value", options.sync));
  }
  static bool unlink(std::string_view name) { return ipc::Segment::unlink(name); }

  // Python's .value: a copy, read under the lock.
  [[nodiscard]] T value() const { return values_.load(0); }
  // Python's .value = x: written under the lock.
  void store(const T& value) { values_.store(0, value); }
  // Python's get_obj(): the shared T itself, for access under get_lock().
  [[nodiscard]] T& get_obj() const noexcept { return *values_.data(); }
  // The RLock (`std::scoped_lock hold(v.get_lock());`, Python's `with v.get_lock():`);
  // InvalidState when created with lock = false.
  [[nodiscard]] RLock& get_lock() const { return values_.get_lock("Value"); }
  [[nodiscard]] bool has_lock() const noexcept { return values_.has_lock(); }
  [[nodiscard]] const std::string& name() const noexcept { return values_.name(); }

 private:
  explicit Value(std::shared_ptr<detail::SyncSegment> segment) : values_(std::move(segment)) {}
  detail::SharedValues<T> values_;
};

// multiprocessing.Array: n elements of T in shared memory.
template <class T>
class Array {
 public:
  using value_type = T;

  // n zero-filled elements.
  explicit Array(std::size_t n, SharedOptions options = {})
      : values_(detail::create_shared_values({}, detail::shared_values_spec<T>(n, options.lock),
                                             nullptr, {})) {}
  // The given elements.
  Array(std::initializer_list<T> init, SharedOptions options = {})
      : values_(detail::create_shared_values(
            {}, detail::shared_values_spec<T>(init.size(), options.lock), init.begin(), {})) {}
  [[nodiscard]] static Array create(std::string_view name, std::size_t n,
                                    SharedOptions options = {}) {
    if (name.empty()) throw InvalidArgument("ringpool: Array::create: the name is empty");
    return Array(detail::create_shared_values(name, detail::shared_values_spec<T>(n, options.lock),
                                              nullptr, options.sync));
  }
  // Any length; InvalidArgument when the segment holds another type or another object.
  [[nodiscard]] static Array open(std::string_view name, SharedOptions options = {}) {
    return Array(detail::open_shared_values(name, detail::shared_values_spec<T>(0, options.lock),
                                            "Array", options.sync));
  }
  static bool unlink(std::string_view name) { return ipc::Segment::unlink(name); }

  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  // Element i, copied under the lock; InvalidArgument when i >= size() (Python's IndexError).
  [[nodiscard]] T get(std::size_t i) const { return values_.load(checked(i)); }
  // Writes element i under the lock; InvalidArgument when i >= size().
  void set(std::size_t i, const T& value) { values_.store(checked(i), value); }
  // Unchecked, unlocked access (hold get_lock() when other processes write).
  [[nodiscard]] T& operator[](std::size_t i) const noexcept { return values_.data()[i]; }
  [[nodiscard]] std::span<T> span() const noexcept { return {values_.data(), values_.size()}; }
  // The RLock; InvalidState when created with lock = false.
  [[nodiscard]] RLock& get_lock() const { return values_.get_lock("Array"); }
  [[nodiscard]] bool has_lock() const noexcept { return values_.has_lock(); }
  [[nodiscard]] const std::string& name() const noexcept { return values_.name(); }

 private:
  explicit Array(std::shared_ptr<detail::SyncSegment> segment) : values_(std::move(segment)) {}
  std::size_t checked(std::size_t i) const {
    if (i >= size()) {
      throw InvalidArgument("ringpool: Array index " + std::to_string(i) + " out of range (size " +
                            std::to_string(size()) + ")");
    }
    return i;
  }
  detail::SharedValues<T> values_;
};

}  // namespace ringpool::pool
