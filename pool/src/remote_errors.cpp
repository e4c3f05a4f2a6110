// Task exceptions across the process boundary: what a worker records of the exception a
// task threw (capture_error), what the parent rethrows for it (rebuild_error), and the
// registry of user exception types (RINGPOOL_EXCEPTION). See task_wire.hpp for the body.
#include <cxxabi.h>  // abi::__cxa_current_exception_type

#include <cstdint>
#include <exception>
#include <future>
#include <ios>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <utility>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {

// The registry key of a type: FNV-1a of its mangled name, the same in every process of
// the program (fork and spawn workers alike), unlike a type_info address.
std::uint64_t type_key(const std::type_info& type) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char* c = type.name(); *c != '\0'; ++c) {
    h ^= static_cast<unsigned char>(*c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct ExceptionRegistry {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, std::pair<std::type_index, ExceptionFactory>> by_key;
};

ExceptionRegistry& registry() {
  static ExceptionRegistry r;  // constructed on first use: registration runs at static init
  return r;
}

bool is_registered(const std::type_info& type, std::uint64_t key) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.by_key.find(key);
  return it != r.by_key.end() && it->second.first == std::type_index(type);
}

ExceptionFactory registered_factory(std::uint64_t key) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.by_key.find(key);
  return it == r.by_key.end() ? nullptr : it->second.second;
}

// The standard types that come back as themselves (exact dynamic type only: a type derived
// from one of them is not the same type and stays TaskFailed unless registered).
ErrorKind standard_kind(const std::type_info& t) noexcept {
  if (t == typeid(std::invalid_argument)) return ErrorKind::invalid_argument;
  if (t == typeid(std::out_of_range)) return ErrorKind::out_of_range;
  if (t == typeid(std::runtime_error)) return ErrorKind::runtime_error;
  if (t == typeid(std::logic_error)) return ErrorKind::logic_error;
  if (t == typeid(std::domain_error)) return ErrorKind::domain_error;
  if (t == typeid(std::length_error)) return ErrorKind::length_error;
  if (t == typeid(std::range_error)) return ErrorKind::range_error;
  if (t == typeid(std::overflow_error)) return ErrorKind::overflow_error;
  if (t == typeid(std::underflow_error)) return ErrorKind::underflow_error;
  if (t == typeid(std::bad_alloc)) return ErrorKind::bad_alloc;
  if (t == typeid(std::exception)) return ErrorKind::exception;
  return ErrorKind::other;
}

bool category_of(const std::error_category& c, ErrorCategory& out) noexcept {
  if (c == std::generic_category()) {
    out = ErrorCategory::generic;
  } else if (c == std::system_category()) {
    out = ErrorCategory::system;
  } else if (c == std::iostream_category()) {
    out = ErrorCategory::iostream;
  } else if (c == std::future_category()) {
    out = ErrorCategory::future;
  } else {
    return false;
  }
  return true;
}

const std::error_category& category(ErrorCategory c) noexcept {
  switch (c) {
    case ErrorCategory::generic:
      return std::generic_category();
    case ErrorCategory::system:
      return std::system_category();
    case ErrorCategory::iostream:
      return std::iostream_category();
    case ErrorCategory::future:
      break;
  }
  return std::future_category();
}

// std::system_error(code, arg) reports arg + ": " + code.message(); rebuilt from the full
// what(), that suffix is taken off first so that what() reads exactly as in the worker.
std::exception_ptr rebuild_system_error(std::error_code code, std::string what) {
  const std::string message = code.message();
  if (what == message) return std::make_exception_ptr(std::system_error(code));
  const std::string suffix = ": " + message;
  if (what.size() >= suffix.size() &&
      std::string_view(what).substr(what.size() - suffix.size()) == suffix) {
    what.resize(what.size() - suffix.size());
  }
  return std::make_exception_ptr(std::system_error(code, what));
}

}  // namespace

void register_exception_erased(const std::type_info& type, ExceptionFactory make) {
  const std::uint64_t key = type_key(type);
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  const auto [it, inserted] = r.by_key.try_emplace(key, std::type_index(type), make);
  if (!inserted && it->second.first != std::type_index(type)) {
    throw InvalidArgument("ringpool: RINGPOOL_EXCEPTION(" + demangle(type.name()) +
                          "): its key collides with the registered type " +
                          demangle(it->second.first.name()) + "; rename one of them");
  }
}

CapturedError capture_error(const std::exception_ptr& error) noexcept {
  CapturedError out;
  if (!error) return out;
  try {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      const std::type_info& type = typeid(e);
      out.type_name = demangle(type.name());
      out.what = e.what();
      ErrorKind kind = standard_kind(type);
      if (type == typeid(std::system_error)) {
        const auto& se = static_cast<const std::system_error&>(e);
        ErrorCategory c{};
        if (category_of(se.code().category(), c)) {
          kind = ErrorKind::system_error;
          out.head.category = static_cast<std::uint8_t>(c);
          out.head.code = se.code().value();
        }
      } else if (kind == ErrorKind::other) {
        const std::uint64_t key = type_key(type);
        if (is_registered(type, key)) {
          kind = ErrorKind::registered;
          out.head.key = key;
        }
      }
      out.head.kind = static_cast<std::uint8_t>(kind);
    } catch (...) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      out.type_name = type != nullptr ? demangle(type->name()) : "<unknown type>";
      out.what = "exception not derived from std::exception";
    }
  } catch (...) {
    // Out of memory while describing it: say so in what is left.
    out.head = ErrorHead{};
    out.type_name.clear();
    out.what.clear();
  }
  return out;
}

std::exception_ptr rebuild_error(const ErrorHead& head, std::string type_name,
                                 std::string what) noexcept {
  try {
    if (head.kind >= kErrorKindCount) {
      throw DecodeError("ringpool: a worker sent an error record of unknown kind " +
                        std::to_string(head.kind) + " (type " + type_name + ")");
    }
    switch (static_cast<ErrorKind>(head.kind)) {
      case ErrorKind::other:
        break;
      case ErrorKind::exception:
        return std::make_exception_ptr(std::exception());
      case ErrorKind::logic_error:
        return std::make_exception_ptr(std::logic_error(what));
      case ErrorKind::invalid_argument:
        return std::make_exception_ptr(std::invalid_argument(what));
      case ErrorKind::domain_error:
        return std::make_exception_ptr(std::domain_error(what));
      case ErrorKind::length_error:
        return std::make_exception_ptr(std::length_error(what));
      case ErrorKind::out_of_range:
        return std::make_exception_ptr(std::out_of_range(what));
      case ErrorKind::runtime_error:
        return std::make_exception_ptr(std::runtime_error(what));
      case ErrorKind::range_error:
        return std::make_exception_ptr(std::range_error(what));
      case ErrorKind::overflow_error:
        return std::make_exception_ptr(std::overflow_error(what));
      case ErrorKind::underflow_error:
        return std::make_exception_ptr(std::underflow_error(what));
      case ErrorKind::bad_alloc:
        return std::make_exception_ptr(std::bad_alloc());
      case ErrorKind::system_error:
        if (head.category >= kErrorCategoryCount) {
          throw DecodeError("ringpool: a worker sent a system_error of unknown category " +
                            std::to_string(head.category));
        }
        return rebuild_system_error(
            std::error_code(head.code, category(static_cast<ErrorCategory>(head.category))),
            std::move(what));
      case ErrorKind::registered:
        // Not registered here (a worker built differently): the type name still says it.
        if (const ExceptionFactory make = registered_factory(head.key)) {
          try {
            return make(what);
          } catch (...) {
            // E(what) itself threw: the TaskFailed below still says what the task raised.
          }
        }
        break;
    }
    return std::make_exception_ptr(TaskFailed(std::move(type_name), std::move(what)));
  } catch (...) {
    return std::current_exception();  // DecodeError, or out of memory, or what E(what) threw
  }
}

}  // namespace ringpool::pool::detail
