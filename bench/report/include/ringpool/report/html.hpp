#pragma once
// The report as one self-contained HTML page: inline CSS and inline SVG charts, no
// scripts and no external resources, so it can be mailed or attached as it is.
// Every measured value is also written raw in a data-value attribute of its cell.
#include <string>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

[[nodiscard]] std::string render_html(const Report& report);

// Writes `text` to `path`; throws ReportError(io) naming the path on failure.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace ringpool::report
