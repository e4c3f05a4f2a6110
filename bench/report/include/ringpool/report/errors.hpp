#pragma once
// Errors of the report library: one typed exception, with a code saying which kind
// of input or environment was wrong. Messages say what was wrong and what to do.
#include <stdexcept>
#include <string>

namespace ringpool::report {

enum class ReportErrc {
  invalid_argument,  // a bad option value (CPU list, rounds, workers)
  cpu_not_usable,    // a requested CPU is outside this process's usable set
  io,                // an output file could not be written
  measurement,       // a measurement child failed or returned nothing
};

class ReportError : public std::runtime_error {
 public:
  ReportError(ReportErrc code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  [[nodiscard]] ReportErrc code() const noexcept { return code_; }

 private:
  ReportErrc code_;
};

}  // namespace ringpool::report
