#pragma once
// Describes the machine and build a report was measured with.
#include <string>
#include <string_view>

#include "ringpool/report/model.hpp"

namespace ringpool::report {

// Host name; CPU model, vendor, CPUID brand string and family/model/stepping; kernel;
// online CPUs; the hypervisor (CPUID hypervisor bit and vendor leaf 0x40000000, else
// /sys/hypervisor/type, else the "hypervisor" flag of /proc/cpuinfo); the compiler and build
// type this library was built with, ringpool's version, and the current UTC time.
// Never throws for a missing source: the field is left empty instead.
[[nodiscard]] MachineInfo describe_machine();

// The fields of /proc/cpuinfo the report uses, from its first processor block.
struct CpuInfoFields {
  std::string vendor_id;         // x86 "vendor_id", e.g. "AuthenticAMD"
  std::string model_name;        // "model name" (x86, some ARM kernels)
  std::string family;            // x86 "cpu family"
  std::string model;             // x86 "model"
  std::string stepping;          // x86 "stepping"
  std::string implementer;       // ARM "CPU implementer", e.g. "0x41"
  std::string part;              // ARM "CPU part", e.g. "0xd0c"
  bool hypervisor_flag = false;  // "hypervisor" among the x86 flags
};
[[nodiscard]] CpuInfoFields parse_cpuinfo(std::string_view text);

// A vendor's name from its CPUID vendor string or ARM implementer code:
// "AuthenticAMD" -> "AMD", "GenuineIntel" -> "Intel", "0x41" -> "Arm"; unknown ones as given.
[[nodiscard]] std::string cpu_vendor_name(std::string_view vendor_id_or_implementer);

// A hypervisor's name from its 12-byte CPUID signature (leaf 0x40000000):
// "KVMKVMKVM" -> "KVM", "bhyve bhyve " -> "bhyve", "Microsoft Hv" -> "Hyper-V"; unknown
// signatures come back trimmed, an empty one as "unknown hypervisor".
[[nodiscard]] std::string hypervisor_name(std::string_view cpuid_signature);

}  // namespace ringpool::report
