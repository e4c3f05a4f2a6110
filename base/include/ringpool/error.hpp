#pragma once
// ringpool::Error: the one base of every error ringpool throws (ipc::IpcError,
// topology::TopologyError, pool::PoolError and the pool's concrete errors), so that
// `catch (const ringpool::Error&)` catches anything the library reports and nothing else.
// Header-only, no dependencies: every module can reach it (target ringpool::base).
#include <stdexcept>

namespace ringpool {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ringpool
