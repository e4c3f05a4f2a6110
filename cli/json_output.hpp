#pragma once
// One JSON convention for every `ringpool` sub-command:
//   --json            print the JSON on stdout, instead of the text
//   --json-file FILE  write the JSON to FILE; the text still goes to stdout
//   --json FILE       the same as --json-file FILE (the older spelling, kept as an alias)
// ('-' as FILE means stdout.)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace ringpool::cli {

class JsonOutput {
 public:
  // Adds --json [FILE] and --json-file FILE to `cmd`; `what` says what the JSON holds.
  void add_options(CLI::App& cmd, const std::string& what);
  // Some JSON was asked for.
  [[nodiscard]] bool wanted() const noexcept { return !target().empty(); }
  // The JSON goes to stdout: print no text there.
  [[nodiscard]] bool on_stdout() const noexcept { return target() == "-"; }
  // "" (none), "-" (stdout) or the file.
  [[nodiscard]] const std::string& target() const noexcept { return file_.empty() ? json_ : file_; }
  // Throws report::ReportError(io) now when the file could not be written later.
  void check() const;
  // Writes `doc` where it was asked for (nothing when not wanted).
  void write(const nlohmann::json& doc) const;

 private:
  std::string json_;  // --json: "-" without a value
  std::string file_;  // --json-file
};

}  // namespace ringpool::cli
