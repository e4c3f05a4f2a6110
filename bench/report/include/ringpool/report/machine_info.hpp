#pragma once
// Describes the machine and build a report was measured with.
#include "ringpool/report/model.hpp"

namespace ringpool::report {

// Host name, CPU model, kernel, online CPUs, hypervisor (from CPUID), the compiler and
// build type this library was built with, ringpool's version, and the current UTC time.
// Never throws for a missing source: the field is left empty instead.
[[nodiscard]] MachineInfo describe_machine();

}  // namespace ringpool::report
