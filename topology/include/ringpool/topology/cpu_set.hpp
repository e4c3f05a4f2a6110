#pragma once
// CpuSet: a set of processing units (PUs) named by their OS index, the number
// the kernel, taskset and /proc use. Value type; not thread-safe for concurrent
// mutation, safe to share read-only.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::topology {

class CpuSet {
 public:
  // Largest OS index accepted + 1. Guards against "0-4000000000" allocating gigabytes.
  static constexpr unsigned kMaxCpus = 1u << 16;

  CpuSet() = default;
  // Throws TopologyError(invalid_argument) for an index >= kMaxCpus.
  CpuSet(std::initializer_list<unsigned> cpus);

  // Parses the Linux cpulist syntax: "0-3,8", "5", "" (empty set), decimal indexes.
  // Surrounding whitespace is ignored. Throws TopologyError(invalid_argument) naming the
  // bad part for anything else ("3-1", "a", "1,,2", "3-", "010", an index >= kMaxCpus).
  [[nodiscard]] static CpuSet from_list(std::string_view list);
  // {first, ..., last}; throws TopologyError(invalid_argument) when first > last.
  [[nodiscard]] static CpuSet range(unsigned first, unsigned last);

  // The shortest cpulist: "0-3,8"; "" for the empty set.
  [[nodiscard]] std::string to_list() const;
  [[nodiscard]] std::vector<unsigned> to_vector() const;

  [[nodiscard]] bool contains(unsigned cpu) const noexcept;
  [[nodiscard]] std::size_t count() const noexcept;
  [[nodiscard]] bool empty() const noexcept { return words_.empty(); }
  // Lowest / highest OS index; nullopt for the empty set.
  [[nodiscard]] std::optional<unsigned> first() const noexcept;
  [[nodiscard]] std::optional<unsigned> last() const noexcept;

  void insert(unsigned cpu);  // throws TopologyError(invalid_argument) when cpu >= kMaxCpus
  void erase(unsigned cpu) noexcept;

  [[nodiscard]] bool is_subset_of(const CpuSet& other) const noexcept;
  [[nodiscard]] bool intersects(const CpuSet& other) const noexcept;

  CpuSet& operator|=(const CpuSet& other);  // union
  CpuSet& operator&=(const CpuSet& other);  // intersection
  CpuSet& operator-=(const CpuSet& other);  // difference
  friend CpuSet operator|(CpuSet a, const CpuSet& b) { return a |= b; }
  friend CpuSet operator&(CpuSet a, const CpuSet& b) { return a &= b; }
  friend CpuSet operator-(CpuSet a, const CpuSet& b) { return a -= b; }
  friend bool operator==(const CpuSet&, const CpuSet&) = default;

  // Forward iteration over the OS indexes in ascending order.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = unsigned;
    using difference_type = std::ptrdiff_t;
    using pointer = const unsigned*;
    using reference = unsigned;

    const_iterator() = default;
    unsigned operator*() const noexcept { return cpu_; }
    const_iterator& operator++() noexcept;
    const_iterator operator++(int) noexcept {
      auto old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
      return a.cpu_ == b.cpu_;
    }

   private:
    friend class CpuSet;
    const_iterator(const CpuSet* set, unsigned cpu) noexcept : set_(set), cpu_(cpu) {}
    const CpuSet* set_ = nullptr;
    unsigned cpu_ = kMaxCpus;  // kMaxCpus marks end()
  };
  [[nodiscard]] const_iterator begin() const noexcept;
  [[nodiscard]] const_iterator end() const noexcept { return const_iterator(this, kMaxCpus); }

  // Raw 64-bit words, bit i of word w = OS index 64*w + i; no trailing zero words.
  [[nodiscard]] const std::vector<std::uint64_t>& words() const noexcept { return words_; }

 private:
  // Index of the first member >= cpu, or kMaxCpus.
  [[nodiscard]] unsigned next_from(unsigned cpu) const noexcept;
  void trim() noexcept;

  std::vector<std::uint64_t> words_;  // invariant: empty or words_.back() != 0
};

}  // namespace ringpool::topology
