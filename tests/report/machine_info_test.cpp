// Which CPU a report ran on: /proc/cpuinfo parsing (x86 and ARM samples), vendor and
// hypervisor names, and this machine's description.
#include "ringpool/report/machine_info.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace rr = ringpool::report;

namespace {

constexpr const char* kAmdGuest =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model\t\t: 2\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n"
    "flags\t\t: fpu vme de sse2 rdrand hypervisor lahf_lm\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: SomethingElse\n"
    "model name\t: not the first block\n"
    "\n";

constexpr const char* kIntelMetal =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "cpu family\t: 6\n"
    "model\t\t: 143\n"
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "stepping\t: 8\n"
    "flags\t\t: fpu vme hypervisorx xsave\n"
    "\n";

constexpr const char* kArm =
    "processor\t: 0\n"
    "BogoMIPS\t: 50.00\n"
    "Features\t: fp asimd evtstrm\n"
    "CPU implementer\t: 0x41\n"
    "CPU architecture: 8\n"
    "CPU variant\t: 0x3\n"
    "CPU part\t: 0xd0c\n"
    "\n";

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(MachineInfo, ParsesTheFirstProcessorBlockOfAnX86Guest) {
  const rr::CpuInfoFields f = rr::parse_cpuinfo(kAmdGuest);
  EXPECT_EQ(f.vendor_id, "AuthenticAMD");
  EXPECT_EQ(f.model_name, "AMD EPYC");
  EXPECT_EQ(f.family, "26");
  EXPECT_EQ(f.model, "2");
  EXPECT_EQ(f.stepping, "1");
  EXPECT_TRUE(f.hypervisor_flag);
}

TEST(MachineInfo, HypervisorFlagIsAWholeWord) {
  const rr::CpuInfoFields f = rr::parse_cpuinfo(kIntelMetal);
  EXPECT_EQ(f.model_name, "Intel(R) Xeon(R) Platinum 8480+");
  EXPECT_FALSE(f.hypervisor_flag);
}

TEST(MachineInfo, ParsesArmImplementerAndPart) {
  const rr::CpuInfoFields f = rr::parse_cpuinfo(kArm);
  EXPECT_TRUE(f.model_name.empty());
  EXPECT_EQ(f.implementer, "0x41");
  EXPECT_EQ(f.part, "0xd0c");
  EXPECT_EQ(rr::cpu_vendor_name(f.implementer), "Arm");
}

TEST(MachineInfo, VendorAndHypervisorNames) {
  EXPECT_EQ(rr::cpu_vendor_name("AuthenticAMD"), "AMD");
  EXPECT_EQ(rr::cpu_vendor_name("GenuineIntel"), "Intel");
  EXPECT_EQ(rr::cpu_vendor_name("NewVendor"), "NewVendor");
  EXPECT_EQ(rr::hypervisor_name(std::string("KVMKVMKVM\0\0\0", 12)), "KVM");
  EXPECT_EQ(rr::hypervisor_name("bhyve bhyve "), "bhyve");
  EXPECT_EQ(rr::hypervisor_name("Microsoft Hv"), "Hyper-V");
  EXPECT_EQ(rr::hypervisor_name("VMwareVMware"), "VMware");
  EXPECT_EQ(rr::hypervisor_name("  Unheard-of "), "Unheard-of");
  EXPECT_EQ(rr::hypervisor_name(std::string("\x01\x02", 2)), "??");
  EXPECT_EQ(rr::hypervisor_name(std::string(12, '\0')), "unknown hypervisor");
}

TEST(MachineInfo, ThisMachineHasAModelAVendorAndAgreesWithCpuinfoOnTheHypervisor) {
  const rr::MachineInfo m = rr::describe_machine();
  EXPECT_FALSE(m.cpu_model.empty());
  EXPECT_FALSE(m.kernel.empty());
  EXPECT_GE(m.online_cpus, 1U);
  const rr::CpuInfoFields f = rr::parse_cpuinfo(read_file("/proc/cpuinfo"));
  if (!f.vendor_id.empty()) {
    EXPECT_EQ(m.cpu_vendor, rr::cpu_vendor_name(f.vendor_id));
    EXPECT_FALSE(m.cpu_family_model.empty());
  }
  // The kernel sets the "hypervisor" flag from the same CPUID bit the report reads.
  if (f.hypervisor_flag) {
    EXPECT_FALSE(m.hypervisor.empty());
    EXPECT_FALSE(m.hypervisor_source.empty());
  }
#if defined(__x86_64__)
  EXPECT_FALSE(f.vendor_id.empty()) << "x86 /proc/cpuinfo without vendor_id";
  EXPECT_EQ(f.hypervisor_flag, !m.hypervisor.empty() && m.hypervisor_source == "cpuid");
#endif
}
