// The C and C++ runtime symbols a freestanding g++ build still references: the compiler emits
// memcpy/memset/memmove/memcmp for struct copies and initialisations, and abstract classes
// reference __cxa_pure_virtual.
#include "lib/string.hpp"

namespace {

// A fault with no trap table installed: the hypervisor crashes the domain, which is the right
// end for a broken guest and shows in the hypervisor's log.
[[noreturn]] void die() {
    for (;;) asm volatile("ud2");
}

}  // namespace

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

void __cxa_pure_virtual() { die(); }

}  // extern "C"

void operator delete(void*, size_t) noexcept { die(); }
void operator delete(void*) noexcept { die(); }
