// Fatal errors.  panic() prints its message, stops every other CPU and then reboots the machine,
// or halts it when the command line says noreboot (as Xen does).
#pragma once
#include <arch/cpu.hpp>

#include "lib/types.hpp"

namespace pv {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Provided by the platform: stop the machine after a panic (reboot, or halt for noreboot).
[[noreturn]] void arch_halt_system(bool reboot);

#define PV_ASSERT(cond)                                                                   \
    do {                                                                                  \
        if (!(cond)) ::pv::panic("assertion '%s' failed at %s:%d", #cond, __FILE__, __LINE__); \
    } while (0)

}  // namespace pv

namespace pv {
// Set from the command line (noreboot): a panic halts instead of rebooting.
extern bool g_noreboot;
// True once some CPU has entered panic(); other CPUs stop when they see it.
bool panic_in_progress();
// Provided by the platform: bring every other CPU to a halt (an NMI on x86).  Returns how many
// other CPUs confirmed they stopped, out of *others.
unsigned arch_stop_other_cpus(unsigned* others);
}  // namespace pv
