#include "ringpool/report/progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>

namespace ringpool::report {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
constexpr double kMinScale = 0.5;
constexpr double kMaxScale = 3.0;
// The plan's own weight in the scale, as if this many planned seconds had run exactly to
// plan: a short first section cannot swing the estimate of everything after it.
constexpr double kPriorSeconds = 5.0;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Columns of the terminal on stderr (80 when unknown): the bar must fit on one line, or
// "\r" would redraw only its last part.
std::size_t terminal_columns() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

// The first `points` code points of UTF-8 text.
std::string first_code_points(std::string_view text, std::size_t points) {
  std::string out;
  std::size_t n = 0;
  for (char c : text) {
    const bool starts_point = (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
    if (starts_point && ++n > points) break;
    out += c;
  }
  return out;
}

// "about 12 s", or "under a second".
std::string about(double seconds) {
  return seconds < 0.5 ? std::string("under a second") : fmt::format("about {:.0f} s", seconds);
}

}  // namespace

Progress::Progress(std::string title, std::vector<Section> plan)
    : Progress(std::move(title), std::move(plan), style_for_stderr(), stderr) {}

Progress::Progress(std::string title, std::vector<Section> plan, Style style, std::FILE* out,
                   Clock clock)
    : title_(std::move(title)),
      plan_(std::move(plan)),
      state_(plan_.size(), State::pending),
      actual_(plan_.size(), 0.0),
      style_(out == nullptr ? Style::off : style),
      out_(out),
      clock_(clock ? std::move(clock) : Clock(steady_seconds)),
      running_(kNone) {
  start_ = now();
  section_start_ = start_;
}

Progress::~Progress() {
  finish();
}

Progress::Style Progress::style_for_stderr() {
  return isatty(STDERR_FILENO) == 1 ? Style::bar : Style::lines;
}

double Progress::now() const {
  return clock_();
}

double Progress::scale() const {
  double planned = 0.0;
  double actual = 0.0;
  for (std::size_t i = 0; i < plan_.size(); ++i) {
    if (state_[i] != State::done) continue;
    planned += plan_[i].expected_seconds;
    actual += actual_[i];
  }
  return std::clamp((actual + kPriorSeconds) / (planned + kPriorSeconds), kMinScale, kMaxScale);
}

double Progress::seconds_left() const {
  const double s = scale();
  double left = 0.0;
  for (std::size_t i = 0; i < plan_.size(); ++i) {
    if (state_[i] == State::pending) left += plan_[i].expected_seconds * s;
  }
  if (running_ != kNone) {
    left += std::max(0.0, plan_[running_].expected_seconds * s - (now() - section_start_));
  }
  return left;
}

double Progress::fraction_done() const {
  double total = 0.0;
  double done = 0.0;
  for (std::size_t i = 0; i < plan_.size(); ++i) {
    total += plan_[i].expected_seconds;
    if (state_[i] == State::done || state_[i] == State::skipped) done += plan_[i].expected_seconds;
    if (i == running_) done += plan_[i].expected_seconds * fraction_;
  }
  return total > 0.0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
}

void Progress::end_running() {
  if (running_ == kNone) return;
  actual_[running_] = now() - section_start_;
  state_[running_] = State::done;
  running_ = kNone;
}

void Progress::begin(std::size_t section) {
  if (finished_ || section >= plan_.size()) return;
  end_running();
  for (std::size_t i = 0; i < section; ++i) {
    if (state_[i] == State::pending) state_[i] = State::skipped;
  }
  running_ = section;
  state_[section] = State::running;
  section_start_ = now();
  fraction_ = 0.0;
  what_ = plan_[section].name;
  if (style_ == Style::lines) {
    const double s = scale();
    std::fprintf(out_, "%s: [%zu/%zu] %s (%s; %s left in all)\n", title_.c_str(), section + 1,
                 plan_.size(), plan_[section].name.c_str(),
                 about(plan_[section].expected_seconds * s).c_str(), about(seconds_left()).c_str());
    std::fflush(out_);
  }
  draw();
}

void Progress::update(double fraction, std::string_view what) {
  if (finished_ || running_ == kNone) return;
  fraction_ = std::max(fraction_, std::clamp(fraction, 0.0, 1.0));
  if (!what.empty()) what_ = what;
  draw();
}

void Progress::finish() {
  if (finished_) return;
  end_running();
  for (auto& s : state_) {
    if (s == State::pending) s = State::skipped;
  }
  finished_ = true;
  if (style_ == Style::bar && drawn_) {
    std::fputs("\r\033[2K", out_);
    std::fflush(out_);
  }
  if (style_ == Style::lines) {
    std::string parts;
    for (std::size_t i = 0; i < plan_.size() && plan_.size() > 1; ++i) {
      if (state_[i] != State::done) continue;
      parts += fmt::format("{}{} {:.1f} s", parts.empty() ? "" : ", ", plan_[i].name, actual_[i]);
    }
    std::fprintf(out_, "%s: done in %.1f s%s%s%s\n", title_.c_str(), now() - start_,
                 parts.empty() ? "" : " (", parts.c_str(), parts.empty() ? "" : ")");
    std::fflush(out_);
  }
}

void Progress::draw() {
  if (style_ != Style::bar) return;
  constexpr std::size_t kWidth = 20;
  const double fraction = fraction_done();
  const auto filled = static_cast<std::size_t>(fraction * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  const std::string head = fmt::format("{}: [{}] {:3.0f}%  ", title_, bar, fraction * 100.0);
  const std::string tail = fmt::format("  ~{:.0f} s left", seconds_left());
  // What runs now gets the columns left over (cut by code points: names carry "↔").
  const std::size_t used = head.size() + tail.size() + 1;
  const std::size_t columns = terminal_columns();
  const std::string what = first_code_points(what_, columns > used ? columns - used : 0);
  std::fprintf(out_, "\r\033[2K%s%s%s", head.c_str(), what.c_str(), tail.c_str());
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace ringpool::report
