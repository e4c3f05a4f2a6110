#pragma once
// A one-line progress bar on stderr: what is running, how far, and the time left.
// Drawn only when stderr is a terminal; otherwise every call is a no-op, so logs and
// pipes stay clean. Use from one thread.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace ringpool::report {

class Progress {
 public:
  // `total` units of work expected to take about `expected_seconds` (the first estimate
  // of the time left, replaced by the measured rate once work is done).
  Progress(std::size_t total, double expected_seconds);
  // Forces the bar on or off (tests; `enabled` defaults to isatty(stderr)).
  Progress(std::size_t total, double expected_seconds, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Says what runs now and redraws.
  void running(std::string_view what);
  // Marks `units` more units done and redraws.
  void advance(std::size_t units = 1);
  // Sets the units done (clamped to the total; never moves backwards) and redraws.
  void set_done(std::size_t units);
  // Clears the line.
  void finish();

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  [[nodiscard]] std::size_t done() const noexcept { return done_; }

 private:
  void draw();

  std::size_t total_;
  std::size_t done_ = 0;
  double expected_seconds_;
  bool enabled_;
  bool drawn_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ringpool::report
