// Usable CPUs: affinity mask ∩ cgroup cpuset, and the cgroup CPU quota.
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "machine_impl.hpp"
#include "ringpool/topology/detail/cgroup.hpp"
#include "ringpool/topology/errors.hpp"
#include "ringpool/topology/machine.hpp"

namespace ringpool::topology {
namespace detail {
namespace {

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<long long> parse_integer(std::string_view text) {
  long long value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

[[noreturn]] void bad_cgroup_file(std::string_view what, std::string_view content) {
  throw TopologyError(
      TopologyErrc::invalid_argument,
      "unexpected cgroup " + std::string(what) + " content \"" + std::string(content) + "\"");
}

}  // namespace

std::optional<double> parse_cpu_max(std::string_view content) {
  const std::string_view body = trim(content);
  const std::size_t space = body.find(' ');
  if (space == std::string_view::npos) bad_cgroup_file("cpu.max", content);
  const std::string_view quota = body.substr(0, space);
  const auto period = parse_integer(trim(body.substr(space + 1)));
  if (!period || *period <= 0) bad_cgroup_file("cpu.max", content);
  if (quota == "max") return std::nullopt;
  const auto q = parse_integer(quota);
  if (!q || *q <= 0) bad_cgroup_file("cpu.max", content);
  return static_cast<double>(*q) / static_cast<double>(*period);
}

std::optional<double> parse_cfs_quota(std::string_view quota_us, std::string_view period_us) {
  const auto quota = parse_integer(trim(quota_us));
  const auto period = parse_integer(trim(period_us));
  if (!quota || *quota == 0 || *quota < -1) bad_cgroup_file("cpu.cfs_quota_us", quota_us);
  if (!period || *period <= 0) bad_cgroup_file("cpu.cfs_period_us", period_us);
  if (*quota == -1) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::optional<std::string> cgroup_path(std::string_view proc_self_cgroup,
                                       std::string_view controller) {
  std::istringstream in{std::string(proc_self_cgroup)};
  std::string line;
  while (std::getline(in, line)) {
    // hierarchy-ID:controller-list:path
    const std::size_t c1 = line.find(':');
    const std::size_t c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string_view controllers = std::string_view(line).substr(c1 + 1, c2 - c1 - 1);
    const std::string path = line.substr(c2 + 1);
    if (controller.empty()) {
      if (line.compare(0, c1, "0") == 0 && controllers.empty()) return path;
      continue;
    }
    std::size_t pos = 0;
    while (pos <= controllers.size()) {
      const std::size_t comma = std::min(controllers.find(',', pos), controllers.size());
      if (controllers.substr(pos, comma - pos) == controller) return path;
      pos = comma + 1;
    }
  }
  return std::nullopt;
}

}  // namespace detail

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Parent directories of `path` under `mount`, deepest first, ending at `mount` itself.
std::vector<std::string> cgroup_dirs(const std::string& mount, std::string path) {
  std::vector<std::string> dirs;
  while (!path.empty() && path != "/") {
    dirs.push_back(mount + path);
    path.erase(path.rfind('/'));
  }
  dirs.push_back(mount);
  return dirs;
}

struct Quota {
  double cores = 0;
  std::string source;  // the file it came from
};

// The tightest CPU quota on this process's cgroup or its ancestors; nullopt when
// unlimited or when no cgroup CPU controller is visible. Malformed files are skipped:
// a quota is a hint for the worker count, never worth failing over.
std::optional<Quota> cgroup_quota() {
  const auto self = read_file("/proc/self/cgroup");
  if (!self) return std::nullopt;
  std::optional<Quota> best;
  const auto consider = [&best](std::optional<double> cores, const std::string& file) {
    if (cores && (!best || *cores < best->cores)) best = Quota{*cores, file};
  };
  if (const auto v2 = detail::cgroup_path(*self, "")) {
    for (const auto& dir : cgroup_dirs("/sys/fs/cgroup", *v2)) {
      const std::string file = dir + "/cpu.max";
      if (const auto content = read_file(file)) {
        try {
          consider(detail::parse_cpu_max(*content), file);
        } catch (const TopologyError&) {
        }
      }
    }
  }
  if (const auto v1 = detail::cgroup_path(*self, "cpu")) {
    for (const char* mount :
         {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu"}) {
      for (const auto& dir : cgroup_dirs(mount, *v1)) {
        const auto quota = read_file(dir + "/cpu.cfs_quota_us");
        const auto period = read_file(dir + "/cpu.cfs_period_us");
        if (!quota || !period) continue;
        try {
          consider(detail::parse_cfs_quota(*quota, *period), dir + "/cpu.cfs_quota_us");
        } catch (const TopologyError&) {
        }
      }
    }
  }
  return best;
}

CpuSet affinity_mask() {
  const int ncpus = static_cast<int>(CpuSet::kMaxCpus);
  struct Free {
    void operator()(cpu_set_t* set) const noexcept { CPU_FREE(set); }
  };
  std::unique_ptr<cpu_set_t, Free> mask(CPU_ALLOC(ncpus));
  const std::size_t size = CPU_ALLOC_SIZE(ncpus);
  if (!mask) throw std::bad_alloc();
  CPU_ZERO_S(size, mask.get());
  if (sched_getaffinity(0, size, mask.get()) != 0) {
    const int err = errno;
    throw TopologyError(TopologyErrc::unsupported,
                        std::string("sched_getaffinity failed: ") + std::strerror(err), err);
  }
  CpuSet out;
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    if (CPU_ISSET_S(static_cast<std::size_t>(cpu), size, mask.get())) {
      out.insert(static_cast<unsigned>(cpu));
    }
  }
  return out;
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

Usable Machine::usable() const {
  const Impl& m = *impl_;
  Usable u;
  u.cpus = m.all & m.allowed;
  std::optional<Quota> quota;
  if (m.live) {
    const CpuSet affinity = affinity_mask();
    u.reasons.push_back("affinity mask (sched_getaffinity): " + affinity.to_list() +
                        (m.all.is_subset_of(affinity) ? " (every PU)" : ""));
    u.reasons.push_back("cgroup cpuset: " + u.cpus.to_list() +
                        (u.cpus == m.all ? " (every PU)" : " of " + m.all.to_list()));
    u.cpus &= affinity;
    quota = cgroup_quota();
  } else {
    u.reasons.push_back("allowed by the topology: " + u.cpus.to_list() +
                        (u.cpus == m.all ? " (every PU)" : " of " + m.all.to_list()));
  }
  const auto& cores = m.levels[static_cast<std::size_t>(Level::core)];
  std::size_t core_count = 0;
  for (const auto& core : cores) core_count += core.cpus.intersects(u.cpus) ? 1 : 0;
  u.cores = core_count;
  if (quota) {
    u.quota_cores = quota->cores;
    const auto cap =
        std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(quota->cores - 1e-9)));
    std::ostringstream q;
    q << "cgroup CPU quota: " << quota->cores << " cores (" << quota->source << ")";
    if (cap < u.cores) {
      q << ", caps " << plural(u.cores, "core") << " at " << cap;
      u.cores = cap;
    }
    u.reasons.push_back(q.str());
  } else if (m.live) {
    u.reasons.push_back("cgroup CPU quota: none");
  }
  return u;
}

std::size_t usable_cores() {
  return std::max<std::size_t>(Machine::live().usable().cores, 1);
}

}  // namespace ringpool::topology
