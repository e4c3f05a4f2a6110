// The progress display: a time-left estimate from a fixed plan that counts down within a
// section and is corrected only at section boundaries, one line per section when stderr
// is not a terminal, and nothing when it is off. A fake clock drives it: no sleeping, no
// timing.
#include "ringpool/report/progress.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace rr = ringpool::report;

namespace {

// Captures what the progress writes, through a FILE*.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() {
    if (file_ != nullptr) std::fclose(file_);
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  [[nodiscard]] std::FILE* file() const { return file_; }
  [[nodiscard]] std::string text() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    char buf[4096];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, file_)) out.append(buf, n);
    return out;
  }

 private:
  std::FILE* file_;
};

std::size_t count_lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n' ? 1 : 0;
  return n;
}

const std::vector<rr::Progress::Section> kPlan = {{"c2c", 10.0}, {"rings", 20.0}, {"pool", 30.0}};

}  // namespace

TEST(Progress, EstimateCountsDownWithinASectionAndIsCorrectedAtBoundaries) {
  double now = 0.0;
  Capture out;
  rr::Progress p("t", kPlan, rr::Progress::Style::off, out.file(), [&] { return now; });
  EXPECT_DOUBLE_EQ(p.seconds_left(), 60.0);
  p.begin(0);
  // Trials finishing unevenly must not move the estimate: only the clock does.
  double last = p.seconds_left();
  for (int step = 1; step <= 30; ++step) {
    now = 0.5 * step;  // the section runs 15 s against 10 s planned
    p.update(step < 5 ? 0.9 : 0.95, "trial");
    const double left = p.seconds_left();
    EXPECT_LE(left, last) << "at " << now << " s";
    last = left;
  }
  EXPECT_DOUBLE_EQ(p.seconds_left(), 50.0);  // the plan's own section is used up, not below
  // The boundary corrects the rest once, by how c2c went (15 s for 10 planned), the plan
  // weighing as 5 s run to plan: (15 + 5) / (10 + 5).
  p.begin(1);
  const double scale = 20.0 / 15.0;
  EXPECT_DOUBLE_EQ(p.seconds_left(), scale * 50.0);
  now += 10.0;
  EXPECT_DOUBLE_EQ(p.seconds_left(), scale * 50.0 - 10.0);
}

TEST(Progress, ScaleIsBoundedAndAShortSectionBarelyMovesIt) {
  double now = 0.0;
  rr::Progress p("t", kPlan, rr::Progress::Style::off, nullptr, [&] { return now; });
  p.begin(0);
  now = 1000.0;  // a hundred times the plan
  p.begin(1);
  EXPECT_DOUBLE_EQ(p.seconds_left(), 3.0 * 50.0);

  // A 0.1 s section that took 0.5 s: five times its plan, but a correction of 8 % only.
  const std::vector<rr::Progress::Section> plan = {{"tiny", 0.1}, {"rest", 50.0}};
  now = 0.0;
  rr::Progress q("t", plan, rr::Progress::Style::off, nullptr, [&] { return now; });
  q.begin(0);
  now = 0.5;
  q.begin(1);
  EXPECT_NEAR(q.seconds_left(), 50.0 * 5.5 / 5.1, 1e-9);
}

TEST(Progress, FractionDoneFollowsThePlanAndNeverMovesBack) {
  double now = 0.0;
  rr::Progress p("t", kPlan, rr::Progress::Style::off, nullptr, [&] { return now; });
  EXPECT_DOUBLE_EQ(p.fraction_done(), 0.0);
  p.begin(0);
  p.update(0.5, "");
  EXPECT_DOUBLE_EQ(p.fraction_done(), 5.0 / 60.0);
  p.update(0.2, "");  // backwards: ignored
  EXPECT_DOUBLE_EQ(p.fraction_done(), 5.0 / 60.0);
  p.begin(2);  // rings skipped: its share counts as done, its plan no longer as time left
  EXPECT_DOUBLE_EQ(p.fraction_done(), 30.0 / 60.0);
  EXPECT_LE(p.seconds_left(), 30.0);  // c2c took no time: the scale went down
  p.finish();
  EXPECT_DOUBLE_EQ(p.fraction_done(), 1.0);
  EXPECT_DOUBLE_EQ(p.seconds_left(), 0.0);
}

TEST(Progress, LinesStyleWritesOneLinePerSectionAndASummary) {
  double now = 0.0;
  Capture out;
  {
    rr::Progress p("ringpool bench", kPlan, rr::Progress::Style::lines, out.file(),
                   [&] { return now; });
    p.begin(0);
    for (int i = 1; i <= 100; ++i) p.update(i / 100.0, "trial");  // no line per trial
    now = 8.0;
    p.begin(1);
    now = 30.0;
    p.begin(2);
    now = 61.5;
  }  // the destructor finishes
  const std::string text = out.text();
  EXPECT_EQ(count_lines(text), 4U) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_EQ(text.find('\033'), std::string::npos) << text;
  EXPECT_NE(text.find("ringpool bench: [1/3] c2c (about 10 s; about 60 s left in all)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ringpool bench: [2/3] rings"), std::string::npos) << text;
  EXPECT_NE(text.find("ringpool bench: done in 61.5 s (c2c 8.0 s, rings 22.0 s, pool 31.5 s)"),
            std::string::npos)
      << text;
}

TEST(Progress, OffStyleWritesNothingAndBarStyleClearsItsLine) {
  Capture off_out;
  {
    rr::Progress p("t", kPlan, rr::Progress::Style::off, off_out.file());
    p.begin(0);
    p.update(0.5, "x");
  }
  EXPECT_TRUE(off_out.text().empty());

  Capture bar_out;
  {
    rr::Progress p("t", kPlan, rr::Progress::Style::bar, bar_out.file());
    p.begin(0);
    p.update(0.5, "x");
  }
  const std::string bar = bar_out.text();
  EXPECT_NE(bar.find("\r\033[2Kt: ["), std::string::npos) << bar;
  EXPECT_EQ(bar.substr(bar.size() - 5), "\r\033[2K") << "the bar is cleared at the end";
  EXPECT_EQ(bar.find('\n'), std::string::npos);
}
