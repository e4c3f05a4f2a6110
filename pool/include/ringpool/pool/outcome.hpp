#pragma once
// Outcome<R>: one task's result or its error, as map_outcomes() and imap's
// iterator::outcome() hand them out (per-item results, no throw).
#include <exception>
#include <optional>
#include <utility>

namespace ringpool::pool {

// A task's result or its error, for map_outcomes() (per-item results, no throw).
template <class R>
class Outcome {
 public:
  Outcome() = default;
  explicit Outcome(R value) : value_(std::move(value)) {}
  explicit Outcome(std::exception_ptr error) : error_(std::move(error)) {}

  [[nodiscard]] bool ok() const noexcept { return !error_; }
  // The value, or rethrows the item's error.
  [[nodiscard]] const R& value() const& {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  [[nodiscard]] R&& value() && {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

 private:
  std::optional<R> value_;
  std::exception_ptr error_;
};

}  // namespace ringpool::pool
