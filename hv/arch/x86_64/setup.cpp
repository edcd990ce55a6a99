// The bring-up sequence of the boot CPU, from the loader's hand-over to "ready".
#include <arch/cpu.hpp>
#include <arch/serial.hpp>

#include "core/console.hpp"
#include "core/panic.hpp"

namespace pv {

[[noreturn]] void arch_halt_system(bool) {
    for (;;) {
        arch::irq_disable();
        arch::halt();
    }
}

}  // namespace pv

extern "C" {
using InitFn = void (*)();
extern InitFn __init_array_start[], __init_array_end[];
}

extern "C" [[noreturn]] void boot_main(pv::u32 magic, pv::u32 info) {
    using namespace pv;
    // Static constructors (objects with vtables are initialised at run time in this build).
    for (InitFn* f = __init_array_start; f != __init_array_end; ++f) (*f)();
    auto& com1 = arch::com_port(0);
    com1.init(115200);
    console::add_driver(com1);
    printk("pvisor 0.1 (x86_64) booting, magic %#x info %#x\n", magic, info);
    panic("nothing more yet");
}
