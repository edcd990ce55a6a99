// The generic trap table and trap_dispatch (traps.hpp).
#include "guest/pvtest/traps.hpp"

#include "guest/pvtest/pvtest.hpp"

extern "C" {
constinit pvt::u64 g_resume = 0;
constinit pvt::u64 trap_entry_rflags = 0;
}

namespace pvt {

constinit volatile bool g_unmask_on_return = false;
constinit TrapRecord g_traps[MAX_TRAP_RECORDS]{};
constinit unsigned g_ntraps = 0;
constinit UserTrapHandler g_user_handler = nullptr;

namespace {

u64 handler(void (*fn)()) { return reinterpret_cast<uptr>(fn); }

trap_info_t entry(u8 vector, u8 dpl, void (*fn)()) {
    trap_info_t t{};
    t.vector = vector;
    t.flags = dpl;
    t.cs = FLAT_KERNEL_CS;
    t.address = handler(fn);
    return t;
}

[[noreturn]] void unexpected(const TrapFrame* f) {
    check_fail("trap.unexpected",
               "vector %#llx error %#llx at %#llx cs %#llx rsp %#llx cr2 %#llx: giving up",
               static_cast<unsigned long long>(f->vector), static_cast<unsigned long long>(f->error),
               static_cast<unsigned long long>(f->rip), static_cast<unsigned long long>(f->cs),
               static_cast<unsigned long long>(f->rsp), static_cast<unsigned long long>(vcpu0_cr2()));
    finish();
}

}  // namespace

long install_trap_table() {
    // #BP, #OF and 0x80 with DPL 3 (as Linux), so user mode may raise them too; #OF also masks
    // events on entry.  The list ends at an entry whose address is 0.
    static constinit trap_info_t table[9]{};
    unsigned n = 0;
    table[n++] = entry(0, 0, trap_stub_0);
    table[n++] = entry(3, 3, trap_stub_3);
    table[n++] = entry(4, 3 | 4, trap_stub_4);  // flag 4: entering it masks events
    table[n++] = entry(6, 0, trap_stub_6);
    table[n++] = entry(7, 0, trap_stub_7);
    table[n++] = entry(13, 0, trap_stub_13);
    table[n++] = entry(14, 0, trap_stub_14);
    table[n++] = entry(0x80, 3, trap_stub_0x80);
    table[n] = trap_info_t{};
    return hc::set_trap_table(table);
}

}  // namespace pvt

using namespace pvt;

extern "C" void trap_dispatch(TrapFrame* f) {
    TrapRecord& r = g_traps[g_ntraps % MAX_TRAP_RECORDS];
    r.vector = f->vector;
    r.error = f->error;
    r.rip = f->rip;
    r.cs = f->cs;
    r.rflags = f->rflags;
    r.rsp = f->rsp;
    r.ss = f->ss;
    r.rcx = f->rcx;
    r.r11 = f->r11;
    r.rax = f->rax;
    r.rdi = f->rdi;
    r.cr2 = vcpu0_cr2();
    r.frame_top = va(&f->ss) + 8;
    r.entry_rflags = trap_entry_rflags;
    r.upcall_mask = vcpu0_upcall_mask();
    ++g_ntraps;

    if (f->vector == VEC_EVENT) {
        // Upcalls come only where a check unmasks events (user.cpp's runs, SCHEDOP_block in
        // time.cpp), which count them: resume the interrupted code with events masked rather
        // than take the upcall again and again.
        f->rflags &= ~u64{0x200};
        return;
    }

    if ((f->cs & 3) == 3 || f->vector == VEC_SYSCALL) {
        if (!g_user_handler) unexpected(f);
        g_user_handler(f);
        return;
    }
    if (g_resume) {
        f->rip = g_resume;
        g_resume = 0;
        return;
    }
    if (f->vector == 3 && g_unmask_on_return) {
        g_unmask_on_return = false;
        f->rflags |= u64{0x200};  // HYPERVISOR_iret unmasks events on the way back
    }
    switch (f->vector) {
    case 3:     // int3 and
    case 4:     // into are traps: the frame's RIP is after the instruction
    case 7:     // #NM: Xen cleared the virtual TS, so the instruction can run again
    case 0x80:  // a software interrupt resumes after the instruction
        return;
    default:
        unexpected(f);
    }
}
