// The C++ runtime symbols a freestanding g++ build still references: abstract classes reference
// __cxa_pure_virtual, virtual destructors operator delete.  (The memory functions come from the
// hypervisor's hv/arch/x86_64/crt_mem.cpp.)
#include <stddef.h>

namespace {

// A fault with no trap table installed: the hypervisor crashes the domain, which is the right
// end for a broken guest and shows in the hypervisor's log.
[[noreturn]] void die() {
    for (;;) asm volatile("ud2");
}

}  // namespace

extern "C" {

void __cxa_pure_virtual() { die(); }

}  // extern "C"

void operator delete(void*, size_t) noexcept { die(); }
void operator delete(void*) noexcept { die(); }
