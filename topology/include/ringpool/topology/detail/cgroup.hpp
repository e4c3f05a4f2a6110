#pragma once
// Parsers for the cgroup files behind Usable (exposed for tests; not a stable API).
#include <optional>
#include <string>
#include <string_view>

namespace ringpool::topology::detail {

// cgroup v2 cpu.max content "QUOTA PERIOD" ("max 100000" = unlimited) → quota/period
// in cores, nullopt when unlimited. Throws TopologyError(invalid_argument) when
// malformed.
[[nodiscard]] std::optional<double> parse_cpu_max(std::string_view content);
// cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us contents (quota -1 = unlimited).
[[nodiscard]] std::optional<double> parse_cfs_quota(std::string_view quota_us,
                                                    std::string_view period_us);
// The path of this process's cgroup for `controller` in /proc/self/cgroup content:
// the v2 line "0::/a/b" when controller is empty, else the v1 line naming it.
[[nodiscard]] std::optional<std::string> cgroup_path(std::string_view proc_self_cgroup,
                                                     std::string_view controller);

}  // namespace ringpool::topology::detail
