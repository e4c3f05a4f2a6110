// Live-machine tests: pinning processes and threads, reading bindings back, memory
// binding, and usable CPUs following this thread's affinity.
#include "ringpool/topology/binding.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "ringpool/topology/errors.hpp"
#include "ringpool/topology/machine.hpp"
#include "ringpool/topology/placement.hpp"

namespace ringpool::topology {
namespace {

// Cpus_allowed_list from /proc/<pid>/status or /proc/<pid>/task/<tid>/status.
CpuSet cpus_allowed(const std::string& status_file) {
  std::ifstream in(status_file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Cpus_allowed_list:", 0) == 0) {
      return CpuSet::from_list(line.substr(line.find(':') + 1));
    }
  }
  ADD_FAILURE() << "no Cpus_allowed_list in " << status_file;
  return {};
}

// A child that blocks until the parent closes the pipe, then exits 0.
struct Child {
  pid_t pid = -1;
  int release_fd = -1;

  static Child start() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[1]);
      char byte;
      while (::read(fds[0], &byte, 1) > 0) {
      }
      ::_exit(0);
    }
    ::close(fds[0]);
    return Child{pid, fds[1]};
  }
  int finish() {
    ::close(release_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  }
};

TEST(Binding, PinsAForkedChildAndTheKernelAgrees) {
  const CpuSet usable = Machine::live().usable().cpus;
  Child child = Child::start();
  ASSERT_GT(child.pid, 0);
  for (unsigned cpu : {*usable.last(), *usable.first()}) {
    pin_process(child.pid, CpuSet{cpu});
    EXPECT_EQ(cpus_allowed("/proc/" + std::to_string(child.pid) + "/status"), CpuSet{cpu});
    EXPECT_EQ(process_binding(child.pid), CpuSet{cpu});
  }
  pin_process(child.pid, usable);
  EXPECT_EQ(cpus_allowed("/proc/" + std::to_string(child.pid) + "/status"), usable);
  EXPECT_EQ(child.finish(), 0);
}

TEST(Binding, PinsThisProcessInAForkedChild) {
  // Pinning the test process itself would leak into later tests: do it in a child.
  const unsigned cpu = *Machine::live().usable().cpus.last();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      pin_process(0, CpuSet{cpu});
      const bool ok = process_binding(0) == CpuSet{cpu} &&
                      cpus_allowed("/proc/self/status") == CpuSet{cpu} &&
                      Machine::live().usable().cpus == CpuSet{cpu};
      ::_exit(ok ? 0 : 1);
    } catch (...) {
      ::_exit(2);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(Binding, PinnedThreadSeesOnlyItsCpuAsUsable) {
  const Machine& m = Machine::live();
  const CpuSet usable = m.usable().cpus;
  const unsigned cpu = *usable.last();
  std::thread worker([&] {
    pin_thread(CpuSet{cpu});
    EXPECT_EQ(thread_binding(), CpuSet{cpu});
    const auto tid = static_cast<long>(::syscall(SYS_gettid));
    EXPECT_EQ(cpus_allowed("/proc/self/task/" + std::to_string(tid) + "/status"), CpuSet{cpu});
    // usable() follows this thread's affinity, like `taskset -c CPU`.
    const Usable u = m.usable();
    EXPECT_EQ(u.cpus, CpuSet{cpu});
    EXPECT_EQ(u.cores, 1U);
    const Plan p = plan(m, 4);
    EXPECT_EQ(p.mode, Mode::concurrent);
    EXPECT_EQ(p.workers, 1U);
    EXPECT_EQ(p.worker_cpus, std::vector<CpuSet>{CpuSet{cpu}});
    if (usable.count() >= 2) {
      const unsigned other = *usable.first();
      try {
        (void)plan(m, 1, Placement{Policy::list, CpuSet{other}});
        ADD_FAILURE() << "list policy accepted CPU " << other << " outside the affinity mask";
      } catch (const TopologyError& e) {
        EXPECT_EQ(e.code(), TopologyErrc::cpu_not_usable);
        EXPECT_NE(std::string(e.what()).find("not usable"), std::string::npos) << e.what();
      }
    }
  });
  worker.join();
}

TEST(Binding, BadRequestsAreTypedErrors) {
  const auto expect_code = [](auto&& call, TopologyErrc code) {
    try {
      call();
      ADD_FAILURE() << "no error";
    } catch (const TopologyError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
    }
  };
  expect_code([] { pin_process(0, CpuSet{}); }, TopologyErrc::invalid_argument);
  expect_code([] { pin_thread(CpuSet{CpuSet::kMaxCpus - 1}); }, TopologyErrc::cpu_not_usable);
  expect_code([] { pin_process(-1, CpuSet{0}); }, TopologyErrc::invalid_argument);
  expect_code([] { (void)process_binding(-1); }, TopologyErrc::invalid_argument);
  // A pid that no longer exists: a reaped child.
  Child gone = Child::start();
  const pid_t pid = gone.pid;
  gone.finish();
  const CpuSet one{*Machine::live().usable().cpus.first()};
  expect_code([&] { pin_process(pid, one); }, TopologyErrc::invalid_argument);
}

TEST(Binding, MemoryBindingReportsWhatHappened) {
  const Machine& m = Machine::live();
  ASSERT_FALSE(m.numa_nodes().empty());
  const std::size_t len = 1 << 16;
  void* mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  const unsigned node = *m.numa_nodes().front().os_index;
  const MemBind r = bind_memory(mem, len, node);
  EXPECT_EQ(r.numa_node, node);
  EXPECT_FALSE(r.reason.empty());
  if (m.numa_nodes().size() == 1) {
    EXPECT_FALSE(r.applied);
    EXPECT_NE(r.reason.find("one NUMA node"), std::string::npos) << r.reason;
  }
  EXPECT_THROW((void)bind_memory(mem, len, 4096), TopologyError);
  EXPECT_THROW((void)bind_memory(nullptr, len, node), TopologyError);
  EXPECT_THROW((void)bind_memory(mem, 0, node), TopologyError);
  ::munmap(mem, len);
}

TEST(Usable, IsWithinThisProcessAffinityMask) {
  const Usable u = Machine::live().usable();
  EXPECT_TRUE(u.cpus.is_subset_of(cpus_allowed("/proc/self/status")));
  EXPECT_FALSE(u.reasons.empty());
}

}  // namespace
}  // namespace ringpool::topology
