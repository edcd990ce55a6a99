#include "core/panic.hpp"

#include <atomic>

#include "core/console.hpp"

namespace pv {

bool g_noreboot = false;

namespace {
std::atomic<bool> in_panic{false};
}

bool panic_in_progress() { return in_panic.load(std::memory_order_relaxed); }

[[noreturn]] void panic(const char* fmt, ...) {
    unsigned long flags = arch::irq_save();
    (void)flags;
    if (in_panic.exchange(true)) {
        // Another CPU is already panicking: it will stop us; never return to the caller.
        arch_halt_system(false);
    }
    unsigned others = 0;
    unsigned stopped = arch_stop_other_cpus(&others);
    console::force_unlock();
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printk("\n");
    printk("****************************************\n");
    printk("Panic on CPU %u: %s\n", arch::this_cpu_index(), msg);
    printk("****************************************\n");
    if (others) printk("Stopped %u of %u other CPUs\n", stopped, others);
    if (g_noreboot) printk("Manual reset required ('noreboot' specified)\n");
    else printk("Rebooting.\n");
    arch_halt_system(!g_noreboot);
}

}  // namespace pv
