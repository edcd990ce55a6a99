// Host-side implementations of the hooks generic code calls into the platform for.
#include <cstdio>
#include <cstdlib>

#include "core/console.hpp"
#include "core/panic.hpp"

namespace pv {

unsigned arch_stop_other_cpus(unsigned* others) {
    *others = 0;
    return 0;
}

[[noreturn]] void arch_halt_system(bool /*reboot*/) {
    std::fflush(stdout);
    std::abort();
}

}  // namespace pv
