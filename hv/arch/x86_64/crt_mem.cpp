// The memory and string symbols a freestanding g++ build references (the compiler emits calls
// to memcpy/memset/memmove/memcmp for struct copies and large initialisations), for every x86-64
// freestanding image: the hypervisor, and our guest kernels (guest/CMakeLists.txt).
#include "lib/string.hpp"

extern "C" {

// Eight bytes a step, then the tail: a page is 512 iterations of `rep movsq`/`rep stosq`
// rather than 4096 of the byte forms (as Xen's memcpy/memset; both are fast on hardware with
// ERMS, but each iteration is an instruction to -icount, and to CPUs without it).
void* memcpy(void* dst, const void* src, size_t n) {
    void* d = dst;
    size_t words = n >> 3, bytes = n & 7;
    asm volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
    asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(bytes) : : "memory");
    return dst;
}

void* memset(void* dst, int c, size_t n) {
    void* d = dst;
    size_t words = n >> 3, bytes = n & 7;
    const unsigned long v = 0x0101010101010101ul * static_cast<unsigned char>(c);
    asm volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(v) : "memory");
    asm volatile("rep stosb" : "+D"(d), "+c"(bytes) : "a"(v) : "memory");
    return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
    pv::mem_move(dst, src, n);
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) { return pv::mem_compare(a, b, n); }

size_t strlen(const char* s) { return pv::str_len(s); }

}  // extern "C"
