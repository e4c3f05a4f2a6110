#include "ringpool/report/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ringpool::report {

Progress::Progress(std::size_t total, double expected_seconds)
    : Progress(total, expected_seconds, isatty(STDERR_FILENO) == 1) {}

Progress::Progress(std::size_t total, double expected_seconds, bool enabled)
    : total_(std::max<std::size_t>(total, 1)),
      expected_seconds_(expected_seconds),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  finish();
}

void Progress::running(std::string_view what) {
  what_ = what;
  draw();
}

void Progress::advance(std::size_t units) {
  done_ = std::min(total_, done_ + units);
  draw();
}

void Progress::set_done(std::size_t units) {
  done_ = std::max(done_, std::min(total_, units));
  draw();
}

void Progress::finish() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\033[2K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void Progress::draw() {
  if (!enabled_) return;
  constexpr std::size_t kWidth = 24;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = static_cast<double>(done_) / static_cast<double>(total_);
  const double left =
      done_ == 0 ? std::max(0.0, expected_seconds_ - elapsed) : elapsed / fraction - elapsed;
  const auto filled = static_cast<std::size_t>(fraction * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::string what = what_.substr(0, 48);
  std::fprintf(stderr, "\r\033[2K[%s] %3.0f%%  %-48s  ~%.0f s left", bar.c_str(), fraction * 100.0,
               what.c_str(), left);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace ringpool::report
