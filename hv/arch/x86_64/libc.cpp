// The C++ runtime symbols a freestanding g++ build still references (memory functions:
// crt_mem.cpp).
#include <stddef.h>

#include "core/panic.hpp"

extern "C" {

void __cxa_pure_virtual() { pv::panic("pure virtual function called"); }

// The hypervisor never exits, so destructors of static objects never need to run.
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
void* __dso_handle = nullptr;

}  // extern "C"

// Global operator delete is referenced by virtual destructors; nothing in pvisor allocates with
// global new, so reaching it is a bug.
void operator delete(void*, size_t) noexcept { pv::panic("operator delete called"); }
void operator delete(void*) noexcept { pv::panic("operator delete called"); }
