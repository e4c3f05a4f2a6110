// Loading the hwloc topology and flattening it into Machine::Impl.
#include "ringpool/topology/machine.hpp"

#include <hwloc.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "machine_impl.hpp"
#include "ringpool/topology/errors.hpp"

namespace ringpool::topology {
namespace {

constexpr std::size_t index(Level level) {
  return static_cast<std::size_t>(level);
}

hwloc_obj_type_t hwloc_type(Level level) {
  switch (level) {
    case Level::package:
      return HWLOC_OBJ_PACKAGE;
    case Level::numa_node:
      return HWLOC_OBJ_NUMANODE;
    case Level::l3:
      return HWLOC_OBJ_L3CACHE;
    case Level::l2:
      return HWLOC_OBJ_L2CACHE;
    case Level::core:
      return HWLOC_OBJ_CORE;
    case Level::pu:
      return HWLOC_OBJ_PU;
  }
  return HWLOC_OBJ_PU;
}

Domain make_domain(hwloc_obj_t obj, Level level) {
  Domain d;
  d.logical_index = obj->logical_index;
  if (level != Level::l3 && level != Level::l2 && obj->os_index != HWLOC_UNKNOWN_INDEX) {
    d.os_index = obj->os_index;
  }
  if (obj->cpuset != nullptr) d.cpus = to_cpu_set(obj->cpuset);
  if (level == Level::l3 || level == Level::l2) {
    d.bytes = obj->attr->cache.size;
  } else if (level == Level::numa_node) {
    d.bytes = obj->attr->numanode.local_memory;
  }
  return d;
}

// The ancestor (or obj itself) of type `type`, nullptr when none.
hwloc_obj_t ancestor_of_type(hwloc_obj_t obj, hwloc_obj_type_t type) {
  for (; obj != nullptr; obj = obj->parent) {
    if (obj->type == type) return obj;
  }
  return nullptr;
}

void flatten(Machine::Impl& m) {
  hwloc_topology_t topo = m.topology;
  for (Level level :
       {Level::package, Level::numa_node, Level::l3, Level::l2, Level::core, Level::pu}) {
    const hwloc_obj_type_t type = hwloc_type(level);
    const int n = hwloc_get_nbobjs_by_type(topo, type);
    for (int i = 0; i < n; ++i) {
      m.levels[index(level)].push_back(
          make_domain(hwloc_get_obj_by_type(topo, type, static_cast<unsigned>(i)), level));
    }
  }
  m.all = to_cpu_set(hwloc_topology_get_topology_cpuset(topo));
  m.allowed = to_cpu_set(hwloc_topology_get_allowed_cpuset(topo));
  if (m.levels[index(Level::pu)].empty() || m.all.empty()) {
    throw TopologyError(TopologyErrc::invalid_topology,
                        "topology from " + m.source + " has no processing units");
  }

  // Per-PU lookup tables. PUs without a core ancestor (hwloc found no cores) get a
  // pseudo-core each so "one PU per core" still means something.
  auto& cores = m.levels[index(Level::core)];
  m.pu_levels.assign(static_cast<std::size_t>(*m.all.last()) + 1, {});
  const int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  for (int i = 0; i < npu; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
    auto& row = m.pu_levels[pu->os_index];
    row[index(Level::pu)] = static_cast<std::size_t>(i);
    for (Level level : {Level::package, Level::l3, Level::l2, Level::core}) {
      if (hwloc_obj_t a = ancestor_of_type(pu, hwloc_type(level)); a != nullptr) {
        row[index(level)] = a->logical_index;
      }
    }
    if (!row[index(Level::core)]) {
      Domain pseudo;
      pseudo.logical_index = static_cast<unsigned>(cores.size());
      pseudo.cpus.insert(pu->os_index);
      row[index(Level::core)] = cores.size();
      cores.push_back(std::move(pseudo));
    }
  }
  // NUMA nodes are memory children, not ancestors: match them by local CPUs.
  const auto& numas = m.levels[index(Level::numa_node)];
  for (std::size_t n = 0; n < numas.size(); ++n) {
    for (unsigned cpu : numas[n].cpus) {
      if (cpu < m.pu_levels.size() && !m.pu_levels[cpu][index(Level::numa_node)]) {
        m.pu_levels[cpu][index(Level::numa_node)] = n;
      }
    }
  }

  // Placement tree: normal objects down to the cores (or pseudo-cores).
  m.tree.clear();
  m.tree.emplace_back();
  struct Walk {
    Machine::Impl& m;
    void visit(hwloc_obj_t obj, std::size_t node) {
      if (obj->type == HWLOC_OBJ_CORE) {
        m.tree[node].core = obj->logical_index;
        return;
      }
      if (obj->type == HWLOC_OBJ_PU) {  // a PU with no core above it
        m.tree[node].core = m.pu_levels[obj->os_index][index(Level::core)];
        return;
      }
      for (hwloc_obj_t child = obj->first_child; child != nullptr; child = child->next_sibling) {
        if (child->cpuset == nullptr || hwloc_bitmap_iszero(child->cpuset)) continue;
        const std::size_t id = m.tree.size();
        m.tree.emplace_back();
        m.tree[node].children.push_back(id);
        visit(child, id);
      }
    }
  };
  Walk{m}.visit(hwloc_get_root_obj(topo), 0);

  // Hybrid machines.
  const int nkinds = hwloc_cpukinds_get_nr(topo, 0);
  if (nkinds >= 2) {
    Bitmap set(hwloc_bitmap_alloc());
    for (int k = 0; k < nkinds; ++k) {
      int efficiency = -1;
      unsigned ninfos = 0;
      hwloc_info_s* infos = nullptr;
      if (hwloc_cpukinds_get_info(topo, static_cast<unsigned>(k), set.get(), &efficiency, &ninfos,
                                  &infos, 0) != 0) {
        continue;
      }
      CpuKind kind;
      kind.cpus = to_cpu_set(set.get());
      kind.efficiency = efficiency;
      for (unsigned i = 0; i < ninfos; ++i) {
        if (std::strcmp(infos[i].name, "CoreType") == 0) kind.core_type = infos[i].value;
      }
      m.kinds.push_back(std::move(kind));
    }
  }
}

// Creates an hwloc topology, lets `configure` pick the source, loads and flattens it.
template <class Configure>
std::shared_ptr<Machine::Impl> load(std::string source, bool live, Configure configure) {
  auto m = std::make_shared<Machine::Impl>();
  m->source = std::move(source);
  m->live = live;
  if (hwloc_topology_init(&m->topology) != 0) {
    m->topology = nullptr;
    throw TopologyError(TopologyErrc::unsupported, "hwloc_topology_init failed", errno);
  }
  // Keep PUs outside our cgroup in the tree; usable() reports them as not usable.
  hwloc_topology_set_flags(m->topology, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  hwloc_topology_set_io_types_filter(m->topology, HWLOC_TYPE_FILTER_KEEP_NONE);
  hwloc_topology_set_icache_types_filter(m->topology, HWLOC_TYPE_FILTER_KEEP_NONE);
  configure(*m);
  if (hwloc_topology_load(m->topology) != 0) {
    const int err = errno;
    throw TopologyError(
        live ? TopologyErrc::unsupported : TopologyErrc::invalid_topology,
        "hwloc could not load the topology from " + m->source + ": " + std::strerror(err), err);
  }
  flatten(*m);
  return m;
}

}  // namespace

CpuSet to_cpu_set(hwloc_const_bitmap_t bitmap) {
  CpuSet set;
  if (bitmap == nullptr || hwloc_bitmap_weight(bitmap) < 0) return set;
  for (int cpu = hwloc_bitmap_first(bitmap); cpu >= 0; cpu = hwloc_bitmap_next(bitmap, cpu)) {
    set.insert(static_cast<unsigned>(cpu));
  }
  return set;
}

hwloc_bitmap_t to_hwloc_bitmap(const CpuSet& set) {
  hwloc_bitmap_t bitmap = hwloc_bitmap_alloc();
  if (bitmap == nullptr) throw std::bad_alloc();
  for (unsigned cpu : set) hwloc_bitmap_set(bitmap, cpu);
  return bitmap;
}

std::string_view to_string(Level level) noexcept {
  switch (level) {
    case Level::package:
      return "package";
    case Level::numa_node:
      return "numa_node";
    case Level::l3:
      return "l3";
    case Level::l2:
      return "l2";
    case Level::core:
      return "core";
    case Level::pu:
      return "pu";
  }
  return "unknown";
}

std::string_view to_string(Relation relation) noexcept {
  switch (relation) {
    case Relation::same_pu:
      return "same_pu";
    case Relation::smt_siblings:
      return "smt_siblings";
    case Relation::same_l2:
      return "same_l2";
    case Relation::same_l3:
      return "same_l3";
    case Relation::same_package:
      return "same_package";
    case Relation::cross_package:
      return "cross_package";
  }
  return "unknown";
}

const Machine& Machine::live() {
  // Function-local static: initialised once, thread-safe (C++11 magic statics).
  static const Machine machine(load("live", true, [](Machine::Impl&) {}));
  return machine;
}

Machine Machine::from_xml(const std::string& path) {
  return Machine(load("xml " + path, false, [&path](Machine::Impl& m) {
    if (hwloc_topology_set_xml(m.topology, path.c_str()) != 0) {
      const int err = errno;
      throw TopologyError(
          TopologyErrc::invalid_topology,
          "cannot load hwloc XML topology \"" + path + "\": " + std::strerror(err) +
              " (give a file written by `lstopo FILE.xml` or `hwloc-gather-topology`)",
          err);
    }
  }));
}

Machine Machine::from_synthetic(std::string_view description) {
  const std::string desc(description);
  return Machine(load("synthetic " + desc, false, [&desc](Machine::Impl& m) {
    if (hwloc_topology_set_synthetic(m.topology, desc.c_str()) != 0) {
      const int err = errno;
      throw TopologyError(TopologyErrc::invalid_topology,
                          "invalid hwloc synthetic topology \"" + desc +
                              "\" (expected levels from the top down ending with pu, e.g. "
                              "\"pack:2 l3:4 core:8 pu:2\")",
                          err);
    }
  }));
}

const std::string& Machine::source() const noexcept {
  return impl_->source;
}
bool Machine::is_live() const noexcept {
  return impl_->live;
}

const std::vector<Domain>& Machine::packages() const noexcept {
  return domains(Level::package);
}
const std::vector<Domain>& Machine::numa_nodes() const noexcept {
  return domains(Level::numa_node);
}
const std::vector<Domain>& Machine::l3_groups() const noexcept {
  return domains(Level::l3);
}
const std::vector<Domain>& Machine::l2_groups() const noexcept {
  return domains(Level::l2);
}
const std::vector<Domain>& Machine::cores() const noexcept {
  return domains(Level::core);
}
const std::vector<Domain>& Machine::pus() const noexcept {
  return domains(Level::pu);
}
const std::vector<Domain>& Machine::domains(Level level) const noexcept {
  return impl_->levels[index(level)];
}
const std::vector<CpuKind>& Machine::cpu_kinds() const noexcept {
  return impl_->kinds;
}
const CpuSet& Machine::all_cpus() const noexcept {
  return impl_->all;
}

std::optional<std::size_t> Machine::index_of(Level level, unsigned pu) const {
  if (!impl_->all.contains(pu)) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "PU " + std::to_string(pu) + " does not exist on this machine (" +
                            impl_->source + ", PUs " + impl_->all.to_list() + ")");
  }
  return impl_->pu_levels[pu][index(level)];
}

CpuSet Machine::siblings(unsigned pu) const {
  const auto core = index_of(Level::core, pu);
  CpuSet out = impl_->levels[index(Level::core)][*core].cpus;
  out.erase(pu);
  return out;
}

Relation Machine::relation(unsigned a, unsigned b) const {
  const auto same = [&](Level level) {
    const auto ia = index_of(level, a);
    const auto ib = index_of(level, b);
    return ia.has_value() && ia == ib;
  };
  if (a == b) {
    (void)index_of(Level::pu, a);  // validates a
    return Relation::same_pu;
  }
  if (same(Level::core)) return Relation::smt_siblings;
  if (same(Level::l2)) return Relation::same_l2;
  if (same(Level::l3)) return Relation::same_l3;
  if (same(Level::package) || packages().empty()) return Relation::same_package;
  return Relation::cross_package;
}

}  // namespace ringpool::topology
