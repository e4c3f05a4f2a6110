#pragma once
// JSON form of the report model (nlohmann-json). Optional figures become null; an
// omitted section is absent and listed under "omitted" with its reason.
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
