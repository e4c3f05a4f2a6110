#include "json_output.hpp"

#include "ringpool/report/json.hpp"
#include "ringpool/report/output.hpp"

namespace ringpool::cli {

void JsonOutput::add_options(CLI::App& cmd, const std::string& what) {
  auto* json = cmd.add_option("--json", json_,
                              "Print " + what +
                                  " as JSON on stdout instead of the text; --json FILE is the "
                                  "same as --json-file FILE")
                   ->expected(0, 1)
                   ->default_str("-");
  json->type_name("[FILE]");
  cmd.add_option("--json-file", file_,
                 "Write " + what + " as JSON to FILE (the text still goes to stdout)")
      ->type_name("FILE")
      ->excludes(json);
}

void JsonOutput::check() const {
  report::check_output_path(target(), file_.empty() ? "--json" : "--json-file");
}

void JsonOutput::write(const nlohmann::json& doc) const {
  if (wanted()) report::write_json(doc, target());
}

}  // namespace ringpool::cli
