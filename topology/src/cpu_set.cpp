#include "ringpool/topology/cpu_set.hpp"

#include <hwloc.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "machine_impl.hpp"
#include "ringpool/topology/errors.hpp"

namespace ringpool::topology {
namespace {

constexpr unsigned kBits = 64;

[[noreturn]] void bad_list(std::string_view list, const std::string& what) {
  throw TopologyError(TopologyErrc::invalid_argument,
                      "invalid CPU list \"" + std::string(list) + "\": " + what +
                          " (expected OS indexes and ranges such as \"0-3,8\")");
}

std::string_view trim_space(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

unsigned check_index(std::string_view list, std::string_view part) {
  unsigned value = 0;
  const auto* end = part.data() + part.size();
  const auto [ptr, ec] = std::from_chars(part.data(), end, value);
  if (part.empty() || ec == std::errc::invalid_argument || ptr != end) {
    bad_list(list, "\"" + std::string(part) + "\" is not a CPU number");
  }
  if (part.size() > 1 && part.front() == '0') {
    bad_list(list,
             "\"" + std::string(part) + "\" has a leading zero (write CPU numbers in decimal)");
  }
  if (ec == std::errc::result_out_of_range || value >= CpuSet::kMaxCpus) {
    bad_list(list, "CPU " + std::string(part) + " is beyond the supported maximum " +
                       std::to_string(CpuSet::kMaxCpus - 1));
  }
  return value;
}

// hwloc_bitmap_list_sscanf reads more than the Linux cpulist, silently: octal and hex
// ("010" is 8, "0x3"), blanks and empty entries as separators ("1 2", "1,,2", "1,"),
// open ranges ("3-" = 3 to infinity), chained ranges ("1-2-3"), backwards ranges (ignored),
// trailing junk ("1x" = the empty set) and any index (allocating for it). So the list is
// checked here first: comma-separated entries, each N or N-M, decimal without leading
// zeros, N <= M < kMaxCpus.
void check_list(std::string_view list, std::string_view body) {
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const std::size_t comma = std::min(body.find(',', pos), body.size());
    const std::string_view part = body.substr(pos, comma - pos);
    if (part.empty()) bad_list(list, "empty entry");
    const std::size_t dash = part.find('-');
    if (dash == std::string_view::npos) {
      check_index(list, part);
    } else {
      const unsigned first = check_index(list, part.substr(0, dash));
      const unsigned last = check_index(list, part.substr(dash + 1));
      if (first > last) bad_list(list, "range \"" + std::string(part) + "\" is backwards");
    }
    pos = comma + 1;
  }
}

}  // namespace

CpuSet::CpuSet(std::initializer_list<unsigned> cpus) {
  for (unsigned cpu : cpus) insert(cpu);
}

CpuSet CpuSet::from_list(std::string_view list) {
  const std::string_view body = trim_space(list);
  if (body.empty()) return {};
  check_list(list, body);
  const Bitmap bitmap(hwloc_bitmap_alloc());
  if (!bitmap) throw std::bad_alloc();
  if (hwloc_bitmap_list_sscanf(bitmap.get(), std::string(body).c_str()) != 0) {
    bad_list(list, "hwloc could not read it");
  }
  return to_cpu_set(bitmap.get());
}

CpuSet CpuSet::range(unsigned first, unsigned last) {
  if (first > last || last >= kMaxCpus) {
    throw TopologyError(TopologyErrc::invalid_argument,
                        "invalid CPU range " + std::to_string(first) + "-" + std::to_string(last) +
                            ": need first <= last < " + std::to_string(kMaxCpus));
  }
  CpuSet set;
  set.words_.assign(last / kBits + 1, 0);
  for (unsigned cpu = first; cpu <= last; ++cpu) {
    set.words_[cpu / kBits] |= std::uint64_t{1} << (cpu % kBits);
  }
  return set;
}

std::string CpuSet::to_list() const {
  if (empty()) return {};
  const Bitmap bitmap(to_hwloc_bitmap(*this));
  char* text = nullptr;
  if (hwloc_bitmap_list_asprintf(&text, bitmap.get()) < 0 || text == nullptr) {
    throw std::bad_alloc();  // hwloc fails here only when it cannot allocate
  }
  const std::unique_ptr<char, decltype(&std::free)> owned(text, &std::free);
  return text;
}

std::vector<unsigned> CpuSet::to_vector() const {
  return {begin(), end()};
}

bool CpuSet::contains(unsigned cpu) const noexcept {
  const std::size_t word = cpu / kBits;
  return word < words_.size() && ((words_[word] >> (cpu % kBits)) & 1U) != 0;
}

std::size_t CpuSet::count() const noexcept {
  std::size_t n = 0;
  for (std::uint64_t w : words_) n += static_cast<std::size_t>(std::popcount(w));
  return n;
}

std::optional<unsigned> CpuSet::first() const noexcept {
  if (empty()) return std::nullopt;
  return next_from(0);
}

std::optional<unsigned> CpuSet::last() const noexcept {
  if (empty()) return std::nullopt;
  const auto top = static_cast<unsigned>(words_.size() - 1);
  return top * kBits + (kBits - 1 - static_cast<unsigned>(std::countl_zero(words_.back())));
}

void CpuSet::insert(unsigned cpu) {
  if (cpu >= kMaxCpus) {
    throw TopologyError(TopologyErrc::invalid_argument, "CPU " + std::to_string(cpu) +
                                                            " is beyond the supported maximum " +
                                                            std::to_string(kMaxCpus - 1));
  }
  const std::size_t word = cpu / kBits;
  if (word >= words_.size()) words_.resize(word + 1, 0);
  words_[word] |= std::uint64_t{1} << (cpu % kBits);
}

void CpuSet::erase(unsigned cpu) noexcept {
  const std::size_t word = cpu / kBits;
  if (word >= words_.size()) return;
  words_[word] &= ~(std::uint64_t{1} << (cpu % kBits));
  trim();
}

bool CpuSet::is_subset_of(const CpuSet& other) const noexcept {
  for (std::size_t i = 0; i < words_.size(); ++i) {
    const std::uint64_t theirs = i < other.words_.size() ? other.words_[i] : 0;
    if ((words_[i] & ~theirs) != 0) return false;
  }
  return true;
}

bool CpuSet::intersects(const CpuSet& other) const noexcept {
  const std::size_t n = std::min(words_.size(), other.words_.size());
  for (std::size_t i = 0; i < n; ++i) {
    if ((words_[i] & other.words_[i]) != 0) return true;
  }
  return false;
}

CpuSet& CpuSet::operator|=(const CpuSet& other) {
  if (other.words_.size() > words_.size()) words_.resize(other.words_.size(), 0);
  for (std::size_t i = 0; i < other.words_.size(); ++i) words_[i] |= other.words_[i];
  return *this;
}

CpuSet& CpuSet::operator&=(const CpuSet& other) {
  if (words_.size() > other.words_.size()) words_.resize(other.words_.size());
  for (std::size_t i = 0; i < words_.size(); ++i) words_[i] &= other.words_[i];
  trim();
  return *this;
}

CpuSet& CpuSet::operator-=(const CpuSet& other) {
  const std::size_t n = std::min(words_.size(), other.words_.size());
  for (std::size_t i = 0; i < n; ++i) words_[i] &= ~other.words_[i];
  trim();
  return *this;
}

CpuSet::const_iterator CpuSet::begin() const noexcept {
  return const_iterator(this, next_from(0));
}

CpuSet::const_iterator& CpuSet::const_iterator::operator++() noexcept {
  cpu_ = set_->next_from(cpu_ + 1);
  return *this;
}

unsigned CpuSet::next_from(unsigned cpu) const noexcept {
  std::size_t word = cpu / kBits;
  if (word >= words_.size()) return kMaxCpus;
  std::uint64_t bits = words_[word] & (~std::uint64_t{0} << (cpu % kBits));
  while (bits == 0) {
    if (++word >= words_.size()) return kMaxCpus;
    bits = words_[word];
  }
  return static_cast<unsigned>(word) * kBits + static_cast<unsigned>(std::countr_zero(bits));
}

void CpuSet::trim() noexcept {
  while (!words_.empty() && words_.back() == 0) words_.pop_back();
}

}  // namespace ringpool::topology
