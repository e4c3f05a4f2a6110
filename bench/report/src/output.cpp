#include "ringpool/report/output.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ringpool/report/errors.hpp"

namespace ringpool::report {

void check_output_path(const std::string& path, std::string_view option) {
  if (path.empty() || path == "-") return;
  const std::filesystem::path p(path);
  std::filesystem::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    throw ReportError(ReportErrc::io,
                      fmt::format("{} {}: the directory '{}' does not exist ({}); create it or "
                                  "choose another path",
                                  option, path, dir.string(), std::strerror(err)));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw ReportError(ReportErrc::io,
                      fmt::format("{} {}: '{}' is not a directory", option, path, dir.string()));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    throw ReportError(ReportErrc::io,
                      fmt::format("{} {}: cannot create files in '{}' ({}); choose a writable "
                                  "directory",
                                  option, path, dir.string(), std::strerror(err)));
  }
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      throw ReportError(ReportErrc::io,
                        fmt::format("{} {}: is a directory; give a file name", option, path));
    }
    if (access(path.c_str(), W_OK) != 0) {
      const int err = errno;
      throw ReportError(ReportErrc::io, fmt::format("{} {}: the file exists and cannot be "
                                                    "overwritten ({})",
                                                    option, path, std::strerror(err)));
    }
  }
}

}  // namespace ringpool::report
