#pragma once
// Output files of `ringpool bench`, `c2c` and `tune`: checked before a long measurement,
// so a mistyped path fails in a second instead of after a minute of benchmarking.
#include <string>
#include <string_view>

namespace ringpool::report {

// Throws ReportError(io) with a message naming `option` and `path` when `path` could not be
// written now: its directory is missing or not a directory, or not writable by this process,
// or `path` itself is a directory or an existing file this process may not write. Creates
// nothing. "-" (stdout) and "" (no file) always pass.
void check_output_path(const std::string& path, std::string_view option);

}  // namespace ringpool::report
