#pragma once
// Numeric options of the `ringpool` command. CLI11 converts out-of-range text by wrapping
// or saturating (`--tasks 18446744073709551616` became 0), so every numeric option is
// checked as text first: a plain decimal integer inside the option's range, or a clear
// error naming the range.
#include <CLI/CLI.hpp>
#include <cstdint>

namespace ringpool::cli {

// A CLI11 check: the option's text is a decimal integer (digits only: no sign, spaces,
// hex, exponent or fraction) from `lo` to `hi` inclusive.
[[nodiscard]] CLI::Validator integer_in(std::uint64_t lo, std::uint64_t hi);

}  // namespace ringpool::cli
