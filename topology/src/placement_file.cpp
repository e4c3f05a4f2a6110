// Saved placements: a small key=value text file, and RINGPOOL_PLACEMENT.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "ringpool/topology/errors.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::topology {
namespace {

constexpr std::string_view kFormat = "ringpool-placement-1";

[[noreturn]] void bad_file(const std::string& path, std::size_t line, const std::string& what) {
  throw TopologyError(TopologyErrc::invalid_argument,
                      "placement file \"" + path + "\"" +
                          (line > 0 ? ", line " + std::to_string(line) : std::string()) + ": " +
                          what);
}

}  // namespace

void save_placement(const std::string& path, const Placement& placement, std::string_view note) {
  if (note.find_first_of("\r\n") != std::string_view::npos) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "placement note must be a single line (it contains a line break)");
  }
  if (placement.policy == Policy::list && placement.cpus.empty()) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "cannot save a list placement without CPUs");
  }
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    const int err = errno;
    throw TopologyError(TopologyErrc::invalid_argument,
                        "cannot write placement file \"" + path + "\": " + std::strerror(err), err);
  }
  out << "format=" << kFormat << '\n' << "policy=" << to_string(placement.policy) << '\n';
  if (placement.policy == Policy::list) out << "cpus=" << placement.cpus.to_list() << '\n';
  if (!note.empty()) out << "note=" << note << '\n';
  out.flush();
  if (!out) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "writing placement file \"" + path + "\" failed");
  }
}

Placement load_placement(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    throw TopologyError(TopologyErrc::invalid_argument,
                        "cannot read placement file \"" + path + "\": " + std::strerror(err) +
                            " (write one with `ringpool tune` or save_placement())",
                        err);
  }
  Placement placement;
  bool have_format = false, have_policy = false, have_cpus = false, have_note = false;
  std::size_t cpus_line = 0;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) bad_file(path, number, "expected key=value, got \"" + line + "\"");
    const std::string key = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    const auto once = [&](bool& seen) {
      if (seen) bad_file(path, number, "duplicate key \"" + key + "\"");
      seen = true;
    };
    if (key != "format" && !have_format) {
      bad_file(path, number,
               "the first line must be format=" + std::string(kFormat) + ", got \"" + line + "\"");
    }
    if (key == "format") {
      once(have_format);
      if (value != kFormat) {
        bad_file(path, number,
                 "unsupported format \"" + value + "\" (expected " + std::string(kFormat) + ")");
      }
    } else if (key == "policy") {
      once(have_policy);
      try {
        placement.policy = parse_policy(value);
      } catch (const TopologyError& e) {
        throw TopologyError(
            TopologyErrc::unknown_policy,
            "placement file \"" + path + "\", line " + std::to_string(number) + ": " + e.what());
      }
    } else if (key == "cpus") {
      once(have_cpus);
      cpus_line = number;
      try {
        placement.cpus = CpuSet::from_list(value);
      } catch (const TopologyError& e) {
        bad_file(path, number, e.what());
      }
      if (placement.cpus.empty()) bad_file(path, number, "cpus= is empty");
    } else if (key == "note") {
      once(have_note);
    } else {
      bad_file(path, number,
               "unknown key \"" + key + "\" (valid keys: format, policy, cpus, note)");
    }
  }
  if (!have_format) bad_file(path, 0, "missing format=" + std::string(kFormat) + " line");
  if (!have_policy) bad_file(path, 0, "missing policy= line");
  if (placement.policy == Policy::list && !have_cpus) {
    bad_file(path, 0, "policy=list needs a cpus= line");
  }
  if (placement.policy != Policy::list && have_cpus) {
    bad_file(path, cpus_line, "cpus= is only valid with policy=list");
  }
  return placement;
}

std::optional<Placement> placement_from_env() {
  const char* file = std::getenv("RINGPOOL_PLACEMENT");
  if (file == nullptr || *file == '\0') return std::nullopt;
  return load_placement(file);
}

}  // namespace ringpool::topology
