// The memory and string symbols a freestanding g++ build references (the compiler emits calls
// to memcpy/memset/memmove/memcmp for struct copies and large initialisations), for every x86-64
// freestanding image: the hypervisor, and our guest kernels (guest/CMakeLists.txt).
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

}  // extern "C"
