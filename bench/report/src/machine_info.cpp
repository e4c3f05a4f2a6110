#include "ringpool/report/machine_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#ifndef RINGPOOL_VERSION_STRING
#error "RINGPOOL_VERSION_STRING must be defined by the build (PROJECT_VERSION)"
#endif
#ifndef RINGPOOL_BUILD_TYPE
#define RINGPOOL_BUILD_TYPE "unknown"
#endif

namespace ringpool::report {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        const auto start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
      }
    }
  }
  return {};
}

// The hypervisor's CPUID signature (leaf 0x40000000) when the hypervisor bit is set.
std::string hypervisor() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & (1U << 31)) == 0) return {};
  __cpuid(0x40000000U, eax, ebx, ecx, edx);
  std::array<char, 13> sig{};
  std::memcpy(sig.data(), &ebx, 4);
  std::memcpy(sig.data() + 4, &ecx, 4);
  std::memcpy(sig.data() + 8, &edx, 4);
  const std::string s(sig.data());
  if (s.rfind("KVMKVMKVM", 0) == 0) return "KVM";
  if (s == "Microsoft Hv") return "Hyper-V";
  if (s == "VMwareVMware") return "VMware";
  if (s == "XenVMMXenVMM") return "Xen";
  if (s.rfind("TCGTCGTCG", 0) == 0) return "QEMU TCG";
  return s.empty() ? std::string("unknown hypervisor") : s;
#else
  return {};
#endif
}

std::string compiler() {
#if defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown compiler";
#endif
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

}  // namespace

MachineInfo describe_machine() {
  MachineInfo m;
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) == 0) m.hostname = host.data();
  m.cpu_model = cpu_model();
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  m.online_cpus = online > 0 ? static_cast<unsigned>(online) : 0;
  m.hypervisor = hypervisor();
  m.compiler = compiler();
  m.build_type = RINGPOOL_BUILD_TYPE;
  m.ringpool_version = RINGPOOL_VERSION_STRING;
  m.date_utc = utc_now();
  return m;
}

}  // namespace ringpool::report
