#include "ringpool/bench/pin.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>

#include "ringpool/bench/errors.hpp"
#include "ringpool/bench/spin.hpp"

namespace ringpool::bench {

namespace {

std::vector<int> mask_to_list(const cpu_set_t& set) {
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

void set_affinity(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0)
    throw BenchError(BenchErrc::system_error,
                     "sched_setaffinity failed restoring CPUs " + format_cpu_list(cpus), errno);
}

}  // namespace

std::vector<int> thread_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    throw BenchError(BenchErrc::system_error, "sched_getaffinity failed", errno);
  return mask_to_list(set);
}

void pin_to_cpu(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE)
    throw BenchError(BenchErrc::invalid_argument, "CPU " + std::to_string(cpu) +
                                                      " is not a valid CPU index (0.." +
                                                      std::to_string(CPU_SETSIZE - 1) + ")");
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) == 0) return;
  const int err = errno;
  if (err == EINVAL)
    throw BenchError(BenchErrc::cpu_not_allowed,
                     "cannot pin to CPU " + std::to_string(cpu) +
                         ": it does not exist or is outside this process's cpuset; use one of "
                         "the online CPUs (see `ringpool topo` or `lscpu`)",
                     err);
  throw BenchError(BenchErrc::system_error, "sched_setaffinity to CPU " + std::to_string(cpu), err);
}

int current_cpu() noexcept {
  return sched_getcpu();
}

namespace detail {
void yield_cpu() noexcept {
  sched_yield();
}
}  // namespace detail

AffinityGuard::AffinityGuard() : saved_(thread_affinity()) {}

AffinityGuard::~AffinityGuard() {
  try {
    set_affinity(saved_);
  } catch (...) {  // a destructor cannot report; the mask was valid when saved
  }
}

std::vector<int> parse_cpu_list(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return BenchError(BenchErrc::invalid_argument,
                      "invalid CPU list \"" + std::string(text) + "\": " + std::string(why) +
                          "; expected comma-separated CPU numbers or ranges, e.g. 0,1 or 0-3");
  };
  auto number = [&](std::string_view item) {
    int value = -1;
    const auto* first = item.data();
    const auto* last = item.data() + item.size();
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (item.empty() || ec != std::errc{} || ptr != last || value < 0)
      throw bad("\"" + std::string(item) + "\" is not a CPU number");
    if (value >= CPU_SETSIZE) throw bad("CPU " + std::string(item) + " is out of range");
    return value;
  };
  if (text.empty()) throw bad("it is empty");
  std::vector<int> cpus;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string_view item = text.substr(pos, comma - pos);
    if (item.empty()) throw bad("an item is empty");
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      cpus.push_back(number(item));
    } else {
      const int lo = number(item.substr(0, dash));
      const int hi = number(item.substr(dash + 1));
      if (hi < lo) throw bad("range " + std::string(item) + " is reversed");
      for (int cpu = lo; cpu <= hi; ++cpu) cpus.push_back(cpu);
    }
    pos = comma + 1;
  }
  return cpus;
}

std::string format_cpu_list(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

void check_cpu_pair(const std::vector<int>& cpus, const std::vector<int>& allowed_in) {
  if (cpus.size() != 2)
    throw BenchError(BenchErrc::invalid_argument,
                     "expected exactly two CPUs (producer,consumer), got " +
                         std::to_string(cpus.size()) + "; e.g. --cpus 0,1");
  if (cpus[0] == cpus[1])
    throw BenchError(BenchErrc::same_cpu,
                     "both sides were given CPU " + std::to_string(cpus[0]) +
                         "; a two-process benchmark needs two different CPUs, e.g. --cpus 0,1");
  const std::vector<int> allowed = allowed_in.empty() ? thread_affinity() : allowed_in;
  for (int cpu : cpus) {
    if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end())
      throw BenchError(
          BenchErrc::cpu_not_allowed,
          "CPU " + std::to_string(cpu) +
              " is not available to this process; allowed CPUs: " + format_cpu_list(allowed));
  }
}

}  // namespace ringpool::bench
