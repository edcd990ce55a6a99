// The few C and C++ runtime symbols a freestanding g++ build still references: the compiler
// emits calls to memcpy/memset/memmove/memcmp for struct copies and large initialisations.
#include "core/panic.hpp"
#include "lib/string.hpp"

extern "C" {

void* memcpy(void* dst, const void* src, size_t n) {
    void* d = dst;
    asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

void* memset(void* dst, int c, size_t n) {
    void* d = dst;
    asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
    pv::mem_move(dst, src, n);
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) { return pv::mem_compare(a, b, n); }

size_t strlen(const char* s) { return pv::str_len(s); }

void __cxa_pure_virtual() { pv::panic("pure virtual function called"); }

// The hypervisor never exits, so destructors of static objects never need to run.
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
void* __dso_handle = nullptr;

}  // extern "C"

// Global operator delete is referenced by virtual destructors; nothing in pvisor allocates with
// global new, so reaching it is a bug.
void operator delete(void*, size_t) noexcept { pv::panic("operator delete called"); }
void operator delete(void*) noexcept { pv::panic("operator delete called"); }
