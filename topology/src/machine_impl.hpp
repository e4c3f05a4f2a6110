#pragma once
// Private to src/: the hwloc-backed representation behind Machine.
#include <hwloc.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ringpool/topology/machine.hpp"

namespace ringpool::topology {

inline constexpr std::size_t kLevelCount = 6;  // Level::package .. Level::pu

struct Machine::Impl {
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (topology != nullptr) hwloc_topology_destroy(topology);
  }

  // A node of the placement tree: hwloc's normal objects from the root down to the
  // cores (the leaves). Single-child chains are kept; they do not change any order.
  struct Node {
    std::vector<std::size_t> children;  // indexes into tree
    std::optional<std::size_t> core;    // index into levels[core] for a leaf
  };

  hwloc_topology_t topology = nullptr;
  std::string source;
  bool live = false;
  std::array<std::vector<Domain>, kLevelCount> levels;
  std::vector<CpuKind> kinds;
  CpuSet all;
  CpuSet allowed;  // hwloc's allowed cpuset (cgroup cpuset on the live machine)
  // pu_levels[os index][level] = index into levels[level]; only for OS indexes in `all`.
  std::vector<std::array<std::optional<std::size_t>, kLevelCount>> pu_levels;
  std::vector<Node> tree;  // tree[0] is the root
};

struct MachineAccess {
  static const Machine::Impl& impl(const Machine& machine) noexcept { return *machine.impl_; }
};

// Owns an hwloc bitmap.
struct BitmapDeleter {
  void operator()(hwloc_bitmap_s* bitmap) const noexcept { hwloc_bitmap_free(bitmap); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapDeleter>;

// Converts between hwloc bitmaps and CpuSet (src/ only).
CpuSet to_cpu_set(hwloc_const_bitmap_t bitmap);
// Caller owns the result (hwloc_bitmap_free).
hwloc_bitmap_t to_hwloc_bitmap(const CpuSet& set);

}  // namespace ringpool::topology
