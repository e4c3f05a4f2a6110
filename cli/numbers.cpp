// Range-checked integer options (see numbers.hpp).
#include "numbers.hpp"

#include <charconv>
#include <string>
#include <system_error>

namespace ringpool::cli {

CLI::Validator integer_in(std::uint64_t lo, std::uint64_t hi) {
  const std::string range = std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        const std::string wanted =
            "expects a whole number from " + range + ", got \"" + text + "\"";
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
          return wanted;
        }
        std::uint64_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error == std::errc::result_out_of_range) return wanted + " (too large)";
        if (error != std::errc() || end != text.data() + text.size()) return wanted;
        if (value < lo) return wanted + " (too small)";
        if (value > hi) return wanted + " (too large)";
        return {};
      },
      "INT in " + std::to_string(lo) + ".." + std::to_string(hi));
}

}  // namespace ringpool::cli
