// Future support: the recycled shared-state slab.

#include <mutex>
#include <new>
#include <vector>

#include "ringpool/pool/future.hpp"

namespace ringpool::pool::detail {

namespace {

constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = kMaxPooledState / kGranule;

struct Slab {
  std::mutex mu;
  std::vector<void*> free[kClasses];
  std::size_t allocated[kClasses] = {};
};

Slab& slab() {
  // Never destroyed: futures may be released during static destruction.
  static Slab* s = new Slab();
  return *s;
}

std::size_t class_of(std::size_t bytes) noexcept {
  return (bytes + kGranule - 1) / kGranule - 1;
}

}  // namespace

void* state_allocate(std::size_t bytes) {
  if (bytes > kMaxPooledState) return ::operator new (bytes, std::align_val_t{kGranule});
  const std::size_t c = class_of(bytes);
  Slab& s = slab();
  {
    std::lock_guard lock(s.mu);
    if (!s.free[c].empty()) {
      void* p = s.free[c].back();
      s.free[c].pop_back();
      return p;
    }
    // Make room in the free list now, so that deallocate never allocates.
    ++s.allocated[c];
    if (s.free[c].capacity() < s.allocated[c]) s.free[c].reserve(2 * s.allocated[c] + 16);
  }
  return ::operator new ((c + 1) * kGranule, std::align_val_t{kGranule});
}

void state_deallocate(void* block, std::size_t bytes) noexcept {
  if (bytes > kMaxPooledState) {
    ::operator delete (block, std::align_val_t{kGranule});
    return;
  }
  Slab& s = slab();
  std::lock_guard lock(s.mu);
  s.free[class_of(bytes)].push_back(block);  // capacity reserved in state_allocate
}

}  // namespace ringpool::pool::detail
