// ringpool::Error is the one base of every error family: ipc, topology and pool.
#include "ringpool/error.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/queue.hpp"
#include "ringpool/topology/cpu_set.hpp"
#include "ringpool/topology/errors.hpp"

namespace {

static_assert(std::is_base_of_v<std::runtime_error, ringpool::Error>);
static_assert(std::is_base_of_v<ringpool::Error, ringpool::ipc::IpcError>);
static_assert(std::is_base_of_v<ringpool::Error, ringpool::topology::TopologyError>);
static_assert(std::is_base_of_v<ringpool::Error, ringpool::pool::PoolError>);
static_assert(std::is_base_of_v<ringpool::Error, ringpool::pool::TaskFailed>);
static_assert(std::is_base_of_v<ringpool::Error, ringpool::pool::WorkerLost>);
static_assert(std::is_base_of_v<ringpool::Error, ringpool::pool::QueueMismatch>);

// What `call` throws, as seen by a `catch (const ringpool::Error&)`: its what(), or a
// marker when something else (or nothing) was thrown.
std::string caught_as_ringpool_error(const std::function<void()>& call) {
  try {
    call();
  } catch (const ringpool::Error& e) {
    return e.what();
  } catch (...) {
    return "<not a ringpool::Error>";
  }
  return "<nothing thrown>";
}

TEST(Error, OneCatchClauseCatchesWhatEveryModuleThrows) {
  const std::string ipc = caught_as_ringpool_error(
      [] { (void)ringpool::ipc::Segment::open("ringpool-error-test-no-such-segment"); });
  EXPECT_NE(ipc.find("not_found"), std::string::npos) << ipc;

  const std::string topology =
      caught_as_ringpool_error([] { (void)ringpool::topology::CpuSet::from_list("0-x"); });
  EXPECT_NE(topology.find("invalid CPU list"), std::string::npos) << topology;

  const std::string pool = caught_as_ringpool_error(
      [] { ringpool::pool::Queue<int> q(4, ringpool::pool::QueueOptions{.slot_size = 1}); });
  EXPECT_NE(pool.find("slot_size"), std::string::npos) << pool;
}

TEST(Error, FamiliesStayDistinctAndForeignErrorsAreNotCaught) {
  try {
    throw ringpool::topology::TopologyError(ringpool::topology::TopologyErrc::unsupported, "x");
  } catch (const ringpool::ipc::IpcError&) {
    ADD_FAILURE() << "a topology error caught as an ipc error";
  } catch (const ringpool::Error&) {
  }
  EXPECT_EQ(caught_as_ringpool_error([] { throw std::runtime_error("not ours"); }),
            "<not a ringpool::Error>");
}

}  // namespace
