#include "ringpool/report/machine_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
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

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\n");
  return s.substr(first, last - first + 1);
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

#if defined(__x86_64__) || defined(__i386__)
std::string cpuid_string(unsigned leaf, bool ebx_ecx_edx) {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  __cpuid(leaf, eax, ebx, ecx, edx);
  std::array<char, 13> sig{};
  // Leaf 0 spells its vendor in EBX, EDX, ECX; the hypervisor leaf in EBX, ECX, EDX.
  std::memcpy(sig.data(), &ebx, 4);
  std::memcpy(sig.data() + 4, ebx_ecx_edx ? &ecx : &edx, 4);
  std::memcpy(sig.data() + 8, ebx_ecx_edx ? &edx : &ecx, 4);
  return std::string(sig.data(), 12);
}

bool cpuid_hypervisor_bit() {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1U << 31)) != 0;
}

// The brand string of leaves 0x80000002..4, e.g. "AMD EPYC 7B13 64-Core Processor".
std::string cpuid_brand() {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  if (__get_cpuid(0x80000000U, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000004U) return {};
  std::array<char, 49> brand{};
  for (unsigned i = 0; i < 3; ++i) {
    __cpuid(0x80000002U + i, eax, ebx, ecx, edx);
    std::memcpy(brand.data() + 16 * i, &eax, 4);
    std::memcpy(brand.data() + 16 * i + 4, &ebx, 4);
    std::memcpy(brand.data() + 16 * i + 8, &ecx, 4);
    std::memcpy(brand.data() + 16 * i + 12, &edx, 4);
  }
  return std::string(trim(brand.data()));
}
#endif

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

// Fills vendor, model, brand, family/model and the hypervisor.
void describe_cpu(MachineInfo& m) {
  const CpuInfoFields info = parse_cpuinfo(read_file("/proc/cpuinfo"));
  m.cpu_model = info.model_name;
  if (!info.vendor_id.empty()) {
    m.cpu_vendor = cpu_vendor_name(info.vendor_id);
  } else if (!info.implementer.empty()) {
    m.cpu_vendor = cpu_vendor_name(info.implementer);
  }
  if (!info.family.empty()) {
    m.cpu_family_model =
        "family " + info.family + " model " + info.model + " stepping " + info.stepping;
  } else if (!info.part.empty()) {
    m.cpu_family_model = "implementer " + info.implementer + " part " + info.part;
  }
#if defined(__x86_64__) || defined(__i386__)
  m.cpu_brand = cpuid_brand();
  if (m.cpu_model.empty()) m.cpu_model = m.cpu_brand;
  if (m.cpu_vendor.empty()) m.cpu_vendor = cpu_vendor_name(trim(cpuid_string(0, false)));
  if (cpuid_hypervisor_bit()) {
    m.hypervisor = hypervisor_name(cpuid_string(0x40000000U, true));
    m.hypervisor_source = "cpuid";
    return;
  }
#endif
  if (const std::string type(trim(read_file("/sys/hypervisor/type"))); !type.empty()) {
    m.hypervisor = type == "xen" ? "Xen" : type;
    m.hypervisor_source = "/sys/hypervisor/type";
    return;
  }
  if (info.hypervisor_flag) {
    m.hypervisor = "unknown hypervisor";
    m.hypervisor_source = "/proc/cpuinfo flags";
  }
}

}  // namespace

CpuInfoFields parse_cpuinfo(std::string_view text) {
  CpuInfoFields f;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (trim(line).empty()) {
      // The end of the first processor block; ARM kernels print "CPU implementer" per
      // processor too, but an x86 block has everything we read.
      if (!f.vendor_id.empty() || !f.implementer.empty()) break;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = trim(line.substr(0, colon));
    const std::string value(trim(line.substr(colon + 1)));
    auto set = [&](std::string& field) {
      if (field.empty()) field = value;
    };
    if (key == "vendor_id") set(f.vendor_id);
    if (key == "model name") set(f.model_name);
    if (key == "cpu family") set(f.family);
    if (key == "model") set(f.model);
    if (key == "stepping") set(f.stepping);
    if (key == "CPU implementer") set(f.implementer);
    if (key == "CPU part") set(f.part);
    if (key == "flags") {
      const std::string padded = " " + value + " ";
      f.hypervisor_flag = padded.find(" hypervisor ") != std::string::npos;
    }
  }
  return f;
}

std::string cpu_vendor_name(std::string_view id) {
  static constexpr struct {
    std::string_view id;
    std::string_view name;
  } kVendors[] = {
      {"AuthenticAMD", "AMD"},     {"GenuineIntel", "Intel"}, {"HygonGenuine", "Hygon"},
      {"CentaurHauls", "Centaur"}, {"Shanghai", "Zhaoxin"},   {"0x41", "Arm"},
      {"0x42", "Broadcom"},        {"0x43", "Cavium"},        {"0x46", "Fujitsu"},
      {"0x48", "HiSilicon"},       {"0x4e", "NVIDIA"},        {"0x50", "Applied Micro"},
      {"0x51", "Qualcomm"},        {"0x61", "Apple"},         {"0xc0", "Ampere"},
  };
  for (const auto& v : kVendors) {
    if (v.id == id) return std::string(v.name);
  }
  return std::string(trim(id));
}

std::string hypervisor_name(std::string_view sig) {
  static constexpr struct {
    std::string_view prefix;
    std::string_view name;
  } kHypervisors[] = {
      {"KVMKVMKVM", "KVM"},           {"Linux KVM Hv", "KVM (Hyper-V enlightenments)"},
      {"Microsoft Hv", "Hyper-V"},    {"VMwareVMware", "VMware"},
      {"XenVMMXenVMM", "Xen"},        {"TCGTCGTCGTCG", "QEMU TCG"},
      {"bhyve bhyve ", "bhyve"},      {"ACRNACRNACRN", "ACRN"},
      {"VBoxVBoxVBox", "VirtualBox"}, {" lrpepyh  vr", "Parallels"},
      {"QNXQVMBSQG", "QNX"},          {"SRESRESRESRE", "Sentry (gVisor)"},
  };
  for (const auto& h : kHypervisors) {
    if (sig.substr(0, h.prefix.size()) == h.prefix) return std::string(h.name);
  }
  // Printable characters only: the signature comes from whatever the hypervisor put there.
  std::string out;
  for (char c : trim(sig.substr(0, sig.find('\0')))) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out.empty() ? std::string("unknown hypervisor") : out;
}

MachineInfo describe_machine() {
  MachineInfo m;
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) == 0) m.hostname = host.data();
  describe_cpu(m);
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  m.online_cpus = online > 0 ? static_cast<unsigned>(online) : 0;
  m.compiler = compiler();
  m.build_type = RINGPOOL_BUILD_TYPE;
  m.ringpool_version = RINGPOOL_VERSION_STRING;
  m.date_utc = utc_now();
  return m;
}

}  // namespace ringpool::report
