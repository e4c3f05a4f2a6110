// Out-of-line parts of errors.hpp and codec.hpp: demangling, describing an
// exception, and the cold decode-error path.
#include <cxxabi.h>  // abi::__cxa_current_exception_type

#include <boost/core/demangle.hpp>
#include <exception>
#include <string>
#include <typeinfo>

#include "ringpool/pool/codec.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

std::string demangle(const char* mangled_name) {
  if (mangled_name == nullptr) return "<unknown type>";
  return boost::core::demangle(mangled_name);  // the input itself when it does not demangle
}

ExceptionDescription describe_exception(const std::exception_ptr& error) {
  if (!error) return {"<no exception>", ""};
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return {demangle(typeid(e).name()), e.what()};
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return {type != nullptr ? demangle(type->name()) : "<unknown type>",
            "exception not derived from std::exception"};
  }
}

void throw_decode_error(const std::type_info& type, std::string_view problem, std::size_t got,
                        std::size_t expected) {
  throw DecodeError("ringpool: cannot decode " + demangle(type.name()) + ": " +
                    std::string(problem) + " (have " + std::to_string(got) + ", expected " +
                    std::to_string(expected) +
                    "); the bytes are corrupt, truncated or were written as another type -- "
                    "check that both sides use the same type and Codec");
}

void throw_decode_error(const std::type_info& type, std::string_view problem) {
  throw DecodeError("ringpool: cannot decode " + demangle(type.name()) + ": " +
                    std::string(problem) +
                    "; the bytes are corrupt or were written as another type -- check that "
                    "both sides use the same type and Codec");
}

}  // namespace ringpool::pool::detail
