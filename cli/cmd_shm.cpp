// ringpool shm list, ringpool shm clean: the ringpool segments in /dev/shm, and removal of
// the stale ones (creator gone) that belong to the caller. A thin CLI11 layer over
// ringpool::ipc::scan_segments / remove_if_stale.
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ringpool/ipc/segment_scan.hpp"

namespace ringpool::cli {
namespace {

using nlohmann::json;

struct ShmArgs {
  std::string prefix;
  bool json = false;
  bool dry_run = false;
};

// File names are chosen by whoever created them: print only plain characters.
std::string printable(const std::string& name) {
  std::string out;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

std::string kind_of(const ipc::SegmentEntry& e) {
  if (e.ring_offset == 0) return e.ring_kind;
  return fmt::format("{} at +{}{}", e.ring_kind, e.ring_offset,
                     e.outer_magic.empty() ? "" : " in " + e.outer_magic);
}

json entry_json(const ipc::SegmentEntry& e) {
  json j = {{"name", printable(e.name)},
            {"bytes", e.bytes},
            {"owner_uid", e.owner_uid},
            {"mode", fmt::format("{:04o}", e.mode)},
            {"ring_kind", e.ring_kind},
            {"ring_offset", e.ring_offset},
            {"capacity", e.capacity},
            {"creator_pid", e.creator_pid},
            {"creator", std::string(ipc::to_string(e.creator))},
            {"stale", e.stale()}};
  j["creator_alive"] = e.creator == ipc::CreatorState::unknown
                           ? json(nullptr)
                           : json(e.creator == ipc::CreatorState::alive);
  j["outer_magic"] = e.outer_magic.empty() ? json(nullptr) : json(e.outer_magic);
  return j;
}

void run_list(const ShmArgs& args) {
  const auto entries = ipc::scan_segments(args.prefix);
  if (args.json) {
    json out = json::array();
    for (const auto& e : entries) out.push_back(entry_json(e));
    std::cout << out.dump(2) << '\n';
    return;
  }
  std::size_t stale = 0;
  fmt::print("{:<40} {:>12} {:>6} {:>5}  {:<28} {:>8}  {}\n", "NAME", "BYTES", "OWNER", "MODE",
             "KIND", "CREATOR", "STATE");
  for (const auto& e : entries) {
    if (e.stale()) ++stale;
    fmt::print("{:<40} {:>12} {:>6} {:>5}  {:<28} {:>8}  {}\n", printable(e.name), e.bytes,
               e.owner_uid, fmt::format("{:04o}", e.mode), kind_of(e), e.creator_pid,
               e.stale() ? "stale (creator gone)" : std::string(ipc::to_string(e.creator)));
  }
  fmt::print("{} ringpool segment(s), {} stale\n", entries.size(), stale);
}

void run_clean(const ShmArgs& args) {
  const auto entries = ipc::scan_segments(args.prefix);
  const uid_t self = ::geteuid();
  std::size_t removed = 0;
  std::size_t kept = 0;
  for (const auto& e : entries) {
    if (!e.stale()) continue;
    const std::string name = printable(e.name);
    if (e.owner_uid != self) {
      fmt::print("kept {}: owned by uid {}, not by this user (uid {})\n", name, e.owner_uid, self);
      ++kept;
      continue;
    }
    if (args.dry_run) {
      fmt::print("would remove {} ({} bytes; creator pid {} is gone)\n", name, e.bytes,
                 e.creator_pid);
      ++removed;
      continue;
    }
    const ipc::RemoveOutcome outcome = ipc::remove_if_stale(e);
    if (outcome == ipc::RemoveOutcome::removed) {
      fmt::print("removed {} ({} bytes; creator pid {} is gone)\n", name, e.bytes, e.creator_pid);
      ++removed;
    } else {
      fmt::print("kept {}: {}\n", name, ipc::to_string(outcome));
      ++kept;
    }
  }
  fmt::print("{} {} stale segment(s), kept {}\n", args.dry_run ? "would remove" : "removed",
             removed, kept);
}

}  // namespace

void add_shm_command(CLI::App& app) {
  auto args = std::make_shared<ShmArgs>();
  auto* shm = app.add_subcommand(
      "shm", "Named ringpool segments in /dev/shm: list them, remove the stale ones");
  shm->require_subcommand(1);

  auto* list = shm->add_subcommand("list",
                                   "List ringpool segments (found by their ring header, or named "
                                   "as payload segments) with size, owner, creator pid and "
                                   "whether the creator is alive");
  list->add_option("--prefix", args->prefix, "Only names starting with this, e.g. /myapp-");
  list->add_flag("--json", args->json,
                 "Print one JSON array of {name, bytes, owner_uid, mode, ring_kind, "
                 "ring_offset, capacity, creator_pid, creator, creator_alive, stale}");
  list->callback([args] { run_list(*args); });

  auto* clean = shm->add_subcommand(
      "clean",
      "Remove stale ringpool segments (creator process gone) owned by this user; nothing else");
  clean->add_option("--prefix", args->prefix, "Only names starting with this, e.g. /myapp-");
  clean->add_flag("--dry-run", args->dry_run, "Say what would be removed; remove nothing");
  clean->callback([args] { run_clean(*args); });
}

}  // namespace ringpool::cli
