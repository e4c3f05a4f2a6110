#pragma once
// Progress of a run made of planned sections, written to stderr:
//  - Style::bar (stderr is a terminal): one line redrawn in place, cleared at the end;
//  - Style::lines (stderr is a file or a pipe): one line as each section starts and one at
//    the end, so a log shows where the time went;
//  - Style::off: nothing.
// The time left comes from the fixed plan: the expected seconds of the sections still to
// run, scaled by how long the finished sections took against their plan (the plan itself
// counting as 5 s run to plan, so a short first section cannot swing it; the scale kept
// within [0.5, 3]). Within a section the estimate counts down with the clock and stops at
// the plan's end, so it only moves up when a section boundary corrects the scale.
// Use from one thread.
#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ringpool::report {

class Progress {
 public:
  enum class Style { bar, lines, off };
  struct Section {
    std::string name;               // e.g. "core-to-core latency"
    double expected_seconds = 0.0;  // the plan
  };
  using Clock = std::function<double()>;  // monotonic seconds; tests pass their own

  // The style follows stderr: bar on a terminal, lines otherwise.
  Progress(std::string title, std::vector<Section> plan);
  Progress(std::string title, std::vector<Section> plan, Style style, std::FILE* out,
           Clock clock = {});
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Ends the running section and starts plan[section]. Sections run in plan order;
  // sections passed over are skipped (their plan no longer counts). An index past the
  // plan is ignored.
  void begin(std::size_t section);
  // Marks the running section `fraction` done (0..1; never moves back) while `what` runs.
  void update(double fraction, std::string_view what);
  // Ends the running section, skips what is left, clears the bar or writes the last line.
  // Called by the destructor when not called before.
  void finish();

  // Seconds the rest of the plan should take, from the plan and the time spent so far.
  [[nodiscard]] double seconds_left() const;
  // Share of the plan done, 0..1, by expected seconds (monotone).
  [[nodiscard]] double fraction_done() const;
  [[nodiscard]] Style style() const noexcept { return style_; }
  // Style::bar when stderr is a terminal, else Style::lines.
  [[nodiscard]] static Style style_for_stderr();

 private:
  enum class State { pending, running, done, skipped };
  [[nodiscard]] double now() const;
  [[nodiscard]] double scale() const;
  void end_running();
  void draw();

  std::string title_;
  std::vector<Section> plan_;
  std::vector<State> state_;
  std::vector<double> actual_;  // seconds each finished section took
  Style style_;
  std::FILE* out_;
  Clock clock_;
  double start_ = 0.0;
  double section_start_ = 0.0;
  double fraction_ = 0.0;  // of the running section
  std::size_t running_;
  bool finished_ = false;
  bool drawn_ = false;
  std::string what_;
};

}  // namespace ringpool::report
