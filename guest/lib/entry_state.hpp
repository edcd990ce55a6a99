// The machine state the domain builder handed over at the entry point (recorded by start.S).
#pragma once
#include <stddef.h>

#include "guest/lib/entry_state.h"
#include "guest/lib/types.hpp"

namespace pvg {

struct EntryState {
    u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
    u64 r8, r9, r10, r11, r12, r13, r14, r15;
    u64 rflags;
    u64 cs, ss, ds, es, fs, gs;  // selectors, zero-extended
    u64 bss_or;                  // OR of .bss as loaded: 0 when the builder zeroed it
    u64 tsc;                     // the TSC at entry, once the registers above were saved
};
static_assert(offsetof(EntryState, rax) == ES_RAX && offsetof(EntryState, rsi) == ES_RSI &&
              offsetof(EntryState, rsp) == ES_RSP && offsetof(EntryState, r8) == ES_R8 &&
              offsetof(EntryState, r15) == ES_R15 && offsetof(EntryState, rflags) == ES_RFLAGS &&
              offsetof(EntryState, cs) == ES_CS && offsetof(EntryState, gs) == ES_GS &&
              offsetof(EntryState, bss_or) == ES_BSS_OR && offsetof(EntryState, tsc) == ES_TSC &&
              sizeof(EntryState) == ES_SIZE);

}  // namespace pvg

extern "C" pvg::EntryState entry_state;
extern "C" char hypercall_page[4096];
extern "C" char __image_start[], __image_end[];
extern "C" char guest_stack_top[];
