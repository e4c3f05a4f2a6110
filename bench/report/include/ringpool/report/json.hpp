#pragma once
// JSON form of the report model (nlohmann-json). Optional figures become null; an
// omitted section is absent and listed under "omitted" with its reason. A figure measured
// per round has a spread object beside it ("items_per_s_spread", "spread", ...):
// {"p25", "p75", "relative": (p75 - p25) / median, "unstable", "rounds": [per-round values]},
// or null without rounds. Comparisons add "ratio_spread", "speedup_spread", "verdict"
// ("869× faster") and "verdict_spread"; "targets" lists each target with its "status"
// ("met", "spread_crosses", "missed", "not_measured").
#include <nlohmann/json.hpp>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

inline constexpr const char* kReportFormat = "ringpool-report-1";

[[nodiscard]] nlohmann::json to_json(const MachineInfo& machine);
[[nodiscard]] nlohmann::json to_json(const C2cMatrix& matrix);
[[nodiscard]] nlohmann::json to_json(const TuneResult& tune);
[[nodiscard]] nlohmann::json to_json(const Report& report);

// Writes `doc` (indented) to `path`, or to stdout when path is "-".
// Throws ReportError(io) naming the path when it cannot be written.
void write_json(const nlohmann::json& doc, const std::string& path);

}  // namespace ringpool::report
