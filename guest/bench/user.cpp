// User-mode metrics: a syscall from guest user mode to the guest kernel and back, and a page
// fault taken in user mode, bounced to the kernel's handler and returned from by iret.
//
// The user L4 (MMUEXT_NEW_USER_BASEPTR) maps only the loops' code page, read-only at USER_CODE,
// and four data pages after it (the loop's count, its samples, its stack).  The loops time
// themselves with RDTSC in user mode (entry.S) and leave the deltas in the data pages.
#include "guest/bench/bench.hpp"

extern "C" {
void bench_enter_user(pvg::u64 rip, pvg::u64 rsp);
extern char bench_user_start[], bench_user_end[];
extern char bench_user_syscall_loop[], bench_user_pf_loop[];
constinit pvg::u64 bench_user_return_rsp = 0;
}

namespace bench {
namespace {

constexpr u64 USER_CODE = 0x400000;  // as in entry.S
constexpr u64 USER_DATA = 0x401000;
constexpr unsigned DATA_PAGES = 4;
constexpr u64 USER_STACK_TOP = USER_DATA + DATA_PAGES * 4096;
constexpr u64 SAMPLES_OFFSET = 64;
constexpr unsigned MAX_USER_SAMPLES = (DATA_PAGES * 4096 - SAMPLES_OFFSET - 1024) / 8;

alignas(4096) constinit u64 user_l4[512];
alignas(4096) constinit u64 user_l3[512];
alignas(4096) constinit u64 user_l2[512];
alignas(4096) constinit u64 user_l1[512];
alignas(4096) constinit u64 user_data[DATA_PAGES][512];
alignas(16) constinit char trap_stack[16384];

u64 uaddr(const char* sym) { return USER_CODE + (va(sym) - va(bench_user_start)); }

bool build_user_tables() {
    user_l4[0] = (mfn_of(user_l3) << PAGE_SHIFT) | PTE_TABLE;
    user_l3[0] = (mfn_of(user_l2) << PAGE_SHIFT) | PTE_TABLE;
    user_l2[(USER_CODE >> 21) & 511] = (mfn_of(user_l1) << PAGE_SHIFT) | PTE_TABLE;
    user_l1[(USER_CODE >> 12) & 511] = (mfn_of(bench_user_start) << PAGE_SHIFT) | PTE_P | PTE_US | PTE_A;
    for (unsigned i = 0; i < DATA_PAGES; ++i)
        user_l1[((USER_DATA >> 12) & 511) + i] = (mfn_of(user_data[i]) << PAGE_SHIFT) | PTE_DATA;
    long rc = make_readonly(user_l1) | make_readonly(user_l2) | make_readonly(user_l3) | make_readonly(user_l4);
    mmuext_op_t ops[2]{};
    ops[0].cmd = MMUEXT_PIN_L4_TABLE;
    ops[0].arg1.mfn = mfn_of(user_l4);
    ops[1].cmd = MMUEXT_NEW_USER_BASEPTR;
    ops[1].arg1.mfn = mfn_of(user_l4);
    long pin = rc ? rc : hc::mmuext_op(ops, 2, nullptr, DOMID_SELF);
    long stack = hc::stack_switch(FLAT_KERNEL_SS, va(trap_stack + sizeof trap_stack));
    if (rc == 0 && pin == 0 && stack == 0) return true;
    static const char* const metrics[] = {"user_syscall_roundtrip", "user_pagefault_roundtrip"};
    for (const char* metric : metrics)
        report_error(metric, "user page tables: read-only %ld, pin and new_user_baseptr %ld, stack_switch %ld",
                     rc, pin, stack);
    return false;
}

// Runs a user loop for warmup + iters rounds and reports the timed ones.
void user_metric(const char* metric, const char* loop, unsigned warmup, unsigned iters) {
    unsigned total = warmup + iters;
    if (total > MAX_USER_SAMPLES) total = MAX_USER_SAMPLES;
    volatile u64* data = user_data[0];
    data[0] = total;
    for (unsigned i = 0; i < total; ++i) data[SAMPLES_OFFSET / 8 + i] = 0;
    bench_enter_user(uaddr(loop), USER_STACK_TOP);
    g_samples.n = 0;
    for (unsigned i = warmup; i < total; ++i) g_samples.v[g_samples.n++] = data[SAMPLES_OFFSET / 8 + i];
    if (g_samples.v[g_samples.n - 1] == 0) {
        report_error(metric, "the user loop did not finish");
        return;
    }
    report(metric, g_samples);
}

}  // namespace

void bench_user() {
    if (va(bench_user_end) - va(bench_user_start) > 4096) {
        report_error("user_syscall_roundtrip", "user code larger than a page");
        return;
    }
    if (!build_user_tables()) return;
    user_metric("user_syscall_roundtrip", bench_user_syscall_loop, 100, 1000);
    user_metric("user_pagefault_roundtrip", bench_user_pf_loop, 100, 1000);
}

}  // namespace bench
