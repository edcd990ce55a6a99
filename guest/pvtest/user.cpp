// Guest user mode.  A 64-bit PV guest has two page tables: the kernel's and a user L4
// (MMUEXT_NEW_USER_BASEPTR) that Xen switches to when HYPERVISOR_iret returns to a CS with RPL 3
// and away from when a trap, `syscall` or `int $0x80` bounces back to the kernel, onto the stack
// set by stack_switch.  Here the user L4 maps only a code page (read-only) and a data page at
// 0x400000, so user mode cannot see the kernel.  The user routines (traps.S) run three times:
// first with no syscall callback registered (SYSCALL is then #UD); then through syscall, int3,
// int $0x80, page faults, #GP and #UD, ending with a syscall the kernel treats as "done"; last
// with events unmasked, to see the upcall mask saved and set across the mode switches.
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"

using namespace pvt;

extern "C" {
// traps.S
u64 enter_user(u64 rip, u64 rsp, u64 rflags);
extern char enter_user_return[];
extern char user_code_start[], user_code_end[];
extern char user_nocallback[], user_nocb_syscall[];
extern char user_main[], user_after_syscall[], user_after_int3[], user_after_int80[];
extern char user_pf_read[], user_pf_kernel[], user_pf_write[], user_gp_cli[];
extern char user_ud2[];
extern char user_events[], user_events_after_int3[], user_events_after_int4[];
extern char user_gs[], user_sysenter[], user_sysenter_insn[];
constinit u64 user_return_rsp = 0;
}

namespace {

constexpr u64 USER_CODE = 0x400000;  // as in traps.S
constexpr u64 USER_DATA = 0x401000;
constexpr u64 USER_UNMAPPED = 0x403000;
constexpr u64 USER_STACK_TOP = USER_DATA + 4096;
constexpr u64 USER_DONE = 0xd0e;
constexpr u64 OUT = 0x100;  // USER_OUT - USER_DATA
constexpr u64 RFLAGS_IF = 0x200;
// User mode normally runs with IF clear, so the upcall mask stays set throughout.
constexpr u64 RFLAGS_MASKED = 0x2;

alignas(4096) constinit u64 gs_ldt[512];  // SEGBASE_GS_USER_SEL's LDT
alignas(4096) constinit u64 user_l4[512];
alignas(4096) constinit u64 user_l3[512];
alignas(4096) constinit u64 user_l2[512];
alignas(4096) constinit u64 user_l1[512];
alignas(4096) constinit char user_data[4096];
alignas(16) constinit char user_trap_stack[16384];

// The user address of a symbol on the user code page.
u64 uaddr(const char* sym) { return USER_CODE + (va(sym) - va(user_code_start)); }
// The data page, through the kernel's mapping.
volatile u64& udata(u64 offset) { return *reinterpret_cast<volatile u64*>(&user_data[offset]); }

struct UserSyscall {
    u64 rcx, r11, rip, cs, rflags, rsp, ss, rdi, frame_top, entry_rflags;
};
constinit UserSyscall g_syscall{};
constinit unsigned g_syscalls = 0;

// Ends the user run: resume enter_user_return on the kernel stack enter_user saved, in kernel
// mode (CS with RPL 0), with `result` in RAX.
void return_to_kernel(TrapFrame* f, u64 result) {
    f->rip = va(enter_user_return);
    f->cs = FLAT_KERNEL_CS & ~3u;
    f->rflags = RFLAGS_MASKED;
    f->rsp = user_return_rsp;
    f->ss = FLAT_KERNEL_SS;
    f->iret_flags = 0;
    f->rax = result;
}

void user_trap(TrapFrame* f) {
    if ((f->vector == VEC_SYSCALL || f->vector == 0x80) && f->rax == USER_DONE) {
        return_to_kernel(f, f->vector);
        return;
    }
    if (f->vector == VEC_SYSCALL) {
        // Return by SYSRET (VGCF_in_syscall): RCX and R11 become RIP and RFLAGS again.
        const TrapRecord& r = g_traps[(g_ntraps - 1) % MAX_TRAP_RECORDS];  // this one
        g_syscall = {r.rcx, r.r11, r.rip, r.cs, r.rflags, r.rsp, r.ss, r.rdi, r.frame_top,
                     r.entry_rflags};
        ++g_syscalls;
        f->rax = f->rdi * 2;
        f->iret_flags = VGCF_in_syscall;
        return;
    }
    if (f->vector == 0x80) {
        f->rax += 1;
        return;
    }
    if (f->vector == 3 || f->vector == 4) return;  // traps: RIP is past the int3 / int $4
    u64 resume = udata(0);
    if (resume) {
        udata(0) = 0;
        f->rip = resume;
        if ((f->cs & 0xffff) == 3) {
            // A SYSENTER frame (null CS and RSP): back with the flat user selectors.
            f->cs = FLAT_USER_CS64;
            f->ss = FLAT_USER_SS;
        }
        return;
    }
    // Nowhere to go: back to the kernel with the vector as the result.
    return_to_kernel(f, 0xbad00 | f->vector);
}

const TrapRecord* find(unsigned first, u64 vector, u64 rip) {
    for (unsigned i = first; i < g_ntraps && i < MAX_TRAP_RECORDS; ++i)
        if (g_traps[i].vector == vector && g_traps[i].rip == rip) return &g_traps[i];
    return nullptr;
}

// Checks a user-mode fault at `insn`: vector, error code and (for #PF) CR2.
void check_user_fault(const char* name, u64 vector, u64 error, const char* insn, u64 cr2 = 0) {
    const TrapRecord* t = find(0, vector, uaddr(insn));
    if (!t) {
        check_fail(name, "no trap %llu at %#llx", static_cast<unsigned long long>(vector),
                   static_cast<unsigned long long>(uaddr(insn)));
        return;
    }
    check(name, t->error == error && (vector != 14 || t->cr2 == cr2) && (t->cs & 0xffff) == FLAT_USER_CS64,
          "error %#llx cr2 %#llx cs %#llx (expected error %#llx cr2 %#llx)",
          static_cast<unsigned long long>(t->error), static_cast<unsigned long long>(t->cr2),
          static_cast<unsigned long long>(t->cs), static_cast<unsigned long long>(error),
          static_cast<unsigned long long>(cr2));
}

bool build_user_tables() {
    constexpr u64 TABLE = PTE_P | PTE_RW | PTE_US | PTE_A;
    user_l4[0] = (mfn_of(user_l3) << PAGE_SHIFT) | TABLE;
    user_l3[0] = (mfn_of(user_l2) << PAGE_SHIFT) | TABLE;
    user_l2[(USER_CODE >> 21) & 511] = (mfn_of(user_l1) << PAGE_SHIFT) | TABLE;
    user_l1[(USER_CODE >> 12) & 511] = (mfn_of(user_code_start) << PAGE_SHIFT) | PTE_P | PTE_US | PTE_A;
    user_l1[(USER_DATA >> 12) & 511] =
        (mfn_of(user_data) << PAGE_SHIFT) | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;

    // Page-table frames may have no writable mapping.
    const u64* const tables[] = {user_l1, user_l2, user_l3, user_l4};
    long rc = 0;
    for (const u64* t : tables) rc |= remap_page(t, false);
    if (!CHECK_EQ("user.tables_readonly", rc, 0)) return false;
    mmuext_op_t op{};
    op.cmd = MMUEXT_PIN_L4_TABLE;
    op.arg1.mfn = mfn_of(user_l4);
    if (!CHECK_EQ("user.pin_l4", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), 0)) return false;
    op = {};
    op.cmd = MMUEXT_NEW_USER_BASEPTR;
    op.arg1.mfn = mfn_of(user_l4);
    if (!CHECK_EQ("user.new_user_baseptr", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), 0))
        return false;
    return CHECK_EQ("user.stack_switch", hc::stack_switch(FLAT_KERNEL_SS, va(user_trap_stack + sizeof(user_trap_stack))), 0);
}

void check_no_callback_run() {
    // Before any syscall callback is registered, SYSCALL from user mode is #UD at the SYSCALL
    // (Xen 4.17; older Xen crashed the domain).
    traps_reset();
    u64 rc = enter_user(uaddr(user_nocallback), USER_STACK_TOP, RFLAGS_MASKED);
    CHECK_EQ_HEX("user.enter_and_return_int80", rc, 0x80);
    const TrapRecord* t = find(0, 6, uaddr(user_nocb_syscall));
    const TrapRecord& first = g_traps[0];
    check("user.syscall_no_callback_ud", t != nullptr,
          "%u traps, first vector %llu error %#llx rip %#llx (syscall at %#llx)", g_ntraps,
          static_cast<unsigned long long>(first.vector), static_cast<unsigned long long>(first.error),
          static_cast<unsigned long long>(first.rip),
          static_cast<unsigned long long>(uaddr(user_nocb_syscall)));
}

void check_main_run() {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_syscall;
    cb.address = va(reinterpret_cast<const void*>(&trap_stub_syscall));
    if (!CHECK_EQ("callback_op.register_syscall", hc::callback_op(CALLBACKOP_register, &cb), 0))
        return;

    traps_reset();
    g_syscalls = 0;
    u64 rc = enter_user(uaddr(user_main), USER_STACK_TOP, RFLAGS_MASKED);
    check("user.main_run_done", rc == VEC_SYSCALL, "ended with %#llx",
          static_cast<unsigned long long>(rc));

    // The syscall: RCX = the RIP after SYSCALL, R11 = RFLAGS then (DF and CF set by the user),
    // the frame on the kernel stack from stack_switch, the callback entered with DF clear.
    const u64 user_rsp = udata(OUT + 0x00);
    const u64 after = uaddr(user_after_syscall);
    const UserSyscall& s = g_syscall;
    info("user syscall frame: rcx %#llx r11 %#llx rip %#llx cs %#llx rflags %#llx rsp %#llx ss %#llx",
         static_cast<unsigned long long>(s.rcx), static_cast<unsigned long long>(s.r11),
         static_cast<unsigned long long>(s.rip), static_cast<unsigned long long>(s.cs),
         static_cast<unsigned long long>(s.rflags), static_cast<unsigned long long>(s.rsp),
         static_cast<unsigned long long>(s.ss));
    CHECK_EQ("user.syscall_callback_entered", g_syscalls, 1);
    CHECK_EQ_HEX("user.syscall_frame_rcx", s.rcx, after);
    CHECK_EQ_HEX("user.syscall_frame_rip", s.rip, after);
    CHECK_EQ_HEX("user.syscall_frame_r11_df_cf", s.r11 & 0x401, 0x401);
    CHECK_EQ_HEX("user.syscall_frame_cs", s.cs & 0xffff, FLAT_USER_CS64);
    CHECK_EQ_HEX("user.syscall_frame_ss", s.ss & 0xffff, FLAT_USER_SS64);
    CHECK_EQ_HEX("user.syscall_frame_rsp", s.rsp, user_rsp);
    CHECK_EQ_HEX("user.syscall_frame_rdi", s.rdi, 0x1111);
    CHECK_EQ_HEX("user.syscall_frame_on_kernel_stack", s.frame_top,
                 va(user_trap_stack + sizeof(user_trap_stack)));
    CHECK_EQ_HEX("user.syscall_entry_df_clear", s.entry_rflags & 0x400, 0);
    // Back by SYSRET: RAX as the callback set it, RCX = RIP, R11 = RFLAGS (DF and CF kept).
    CHECK_EQ_HEX("user.sysret_rax", udata(OUT + 0x08), 0x2222);
    CHECK_EQ_HEX("user.sysret_rcx", udata(OUT + 0x10), after);
    CHECK_EQ_HEX("user.sysret_rflags_df_cf", udata(OUT + 0x20) & 0x401, 0x401);
    CHECK_EQ_HEX("user.sysret_r11_is_rflags", udata(OUT + 0x18) & 0xcd5, udata(OUT + 0x20) & 0xcd5);

    // int3 and int $0x80 through DPL-3 trap-table entries, frames on the kernel stack.
    const TrapRecord* t = find(0, 3, uaddr(user_after_int3));
    check("user.int3", t && (t->cs & 0xffff) == FLAT_USER_CS64 && (t->ss & 0xffff) == FLAT_USER_SS64 &&
                           t->frame_top == va(user_trap_stack + sizeof(user_trap_stack)),
          "trap %p cs %#llx ss %#llx", static_cast<const void*>(t),
          t ? static_cast<unsigned long long>(t->cs) : 0ull,
          t ? static_cast<unsigned long long>(t->ss) : 0ull);
    t = find(0, 0x80, uaddr(user_after_int80));
    CHECK("user.int80", t && (t->cs & 0xffff) == FLAT_USER_CS64);
    CHECK_EQ_HEX("user.int80_rax_returned", udata(OUT + 0x28), 0x81);

    // Page faults: user mode sets the error code's U bit (4); CR2 in vcpu_info.
    check_user_fault("user.pf_unmapped_read", 14, 4, user_pf_read, USER_UNMAPPED);
    check_user_fault("user.pf_kernel_address", 14, 4, user_pf_kernel, VIRT_BASE);
    check_user_fault("user.pf_write_readonly", 14, 7, user_pf_write, USER_CODE);
    // CLI in user mode is #GP(0) whatever the virtual IOPL.
    check_user_fault("user.cli_gp", 13, 0, user_gp_cli);
    check_user_fault("user.ud2", 6, 0, user_ud2);
}

// Events unmasked in user mode: the bounce frame records the mask (CS bits 32-39, RFLAGS.IF);
// a trap-table entry with flag 4 and a syscall callback registered with CALLBACKF_mask_events
// mask events on entry, a plain entry does not; HYPERVISOR_iret restores the mask from IF.
void check_events_run() {
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = va(reinterpret_cast<const void*>(&trap_stub_event));
    long rc_event = hc::callback_op(CALLBACKOP_register, &cb);
    cb.type = CALLBACKTYPE_syscall;
    cb.flags = CALLBACKF_mask_events;
    cb.address = va(reinterpret_cast<const void*>(&trap_stub_syscall));
    long rc_syscall = hc::callback_op(CALLBACKOP_register, &cb);
    check("callback_op.register_syscall_mask_events", rc_event == 0 && rc_syscall == 0,
          "event %ld, syscall %ld", rc_event, rc_syscall);
    info("upcall pending before the unmasked run: %u",
         g_shared ? g_shared->vcpu_info[0].evtchn_upcall_pending : 0xffu);

    traps_reset();
    u64 rc = enter_user(uaddr(user_events), USER_STACK_TOP, RFLAGS_IF | 0x2);
    check("user.events_run_done", rc == VEC_SYSCALL, "ended with %#llx",
          static_cast<unsigned long long>(rc));
    CHECK_EQ("user.events_masked_after_return", vcpu0_upcall_mask(), 1);

    const TrapRecord* t = find(0, 3, uaddr(user_events_after_int3));
    check("user.events_int3_frame_unmasked",
          t && ((t->cs >> 32) & 0xff) == 0 && (t->rflags & RFLAGS_IF) && t->upcall_mask == 0,
          "trap %p saved mask %llu rflags %#llx mask in handler %u", static_cast<const void*>(t),
          t ? static_cast<unsigned long long>((t->cs >> 32) & 0xff) : 0ull,
          t ? static_cast<unsigned long long>(t->rflags) : 0ull, t ? t->upcall_mask : 0u);
    t = find(0, 4, uaddr(user_events_after_int4));
    check("user.events_trap_flag_masks",
          t && ((t->cs >> 32) & 0xff) == 0 && (t->rflags & RFLAGS_IF) && t->upcall_mask == 1,
          "trap %p saved mask %llu rflags %#llx mask in handler %u", static_cast<const void*>(t),
          t ? static_cast<unsigned long long>((t->cs >> 32) & 0xff) : 0ull,
          t ? static_cast<unsigned long long>(t->rflags) : 0ull, t ? t->upcall_mask : 0u);
    t = nullptr;
    for (unsigned i = 0; i < g_ntraps && i < MAX_TRAP_RECORDS; ++i)
        if (g_traps[i].vector == VEC_SYSCALL) t = &g_traps[i];
    check("user.events_syscall_mask_events",
          t && ((t->cs >> 32) & 0xff) == 0 && (t->rflags & RFLAGS_IF) && t->upcall_mask == 1,
          "syscall %p saved mask %llu rflags %#llx mask in handler %u", static_cast<const void*>(t),
          t ? static_cast<unsigned long long>((t->cs >> 32) & 0xff) : 0ull,
          t ? static_cast<unsigned long long>(t->rflags) : 0ull, t ? t->upcall_mask : 0u);
    unsigned upcalls = 0;
    for (unsigned i = 0; i < g_ntraps && i < MAX_TRAP_RECORDS; ++i)
        if (g_traps[i].vector == VEC_EVENT) ++upcalls;
    CHECK_EQ("user.events_no_upcall", upcalls, 0);
}

u16 read_gs() {
    u16 gs;
    asm volatile("movw %%gs, %0" : "=r"(gs));
    return gs;
}

// SEGBASE_GS_USER_SEL loads the user GS selector (the hypervisor does it with the user GS base
// swapped in, so the descriptor's base becomes the user base), here from the LDT, whose page the
// hypervisor's own load maps.  RPL is forced to 3; a selector the CPU refuses leaves the null
// selector, and the call still succeeds.
void check_gs_user_sel() {
    constexpr u64 DATA_BASE_USER_DATA = 0x00cff2000000ffffull | ((USER_DATA & 0xffff) << 16) |
                                        (((USER_DATA >> 16) & 0xff) << 32);
    constexpr u64 MARKER = 0x6e5e1ec7ull;
    gs_ldt[0] = DATA_BASE_USER_DATA;
    mmuext_op_t op{};
    op.cmd = MMUEXT_SET_LDT;
    op.arg1.linear_addr = va(gs_ldt);
    op.arg2.nr_ents = 1;
    long rc_ro = remap_page(gs_ldt, false);
    long rc_ldt = hc::mmuext_op(&op, 1, nullptr, DOMID_SELF);
    check("user.gs_ldt_installed", rc_ro == 0 && rc_ldt == 0, "remap %ld, set_ldt %ld", rc_ro, rc_ldt);
    long rc = hc::set_segment_base(SEGBASE_GS_USER_SEL, 0x04);
    u16 gs = read_gs();
    check("set_segment_base.gs_user_sel", rc == 0 && gs == 0x07, "rc %ld, gs %#x", rc, gs);

    udata(0x208) = MARKER;
    u64 done = enter_user(uaddr(user_gs), USER_STACK_TOP, RFLAGS_MASKED);
    CHECK_EQ_HEX("user.gs_run_done", done, 0x80);
    CHECK_EQ_HEX("user.gs_user_sel_selector", udata(OUT + 0x30) & 0xffff, 0x07);
    CHECK_EQ_HEX("user.gs_user_sel_base", udata(OUT + 0x38), MARKER);

    rc = hc::set_segment_base(SEGBASE_GS_USER_SEL, 0x0f);  // beyond the LDT's limit
    gs = read_gs();
    check("set_segment_base.gs_user_sel_refused_nulls", rc == 0 && gs == 0, "rc %ld, gs %#x", rc, gs);
    CHECK_EQ("set_segment_base.gs_user_sel_null", hc::set_segment_base(SEGBASE_GS_USER_SEL, 0), 0);
    op.arg1.linear_addr = 0;
    op.arg2.nr_ents = 0;
    hc::mmuext_op(&op, 1, nullptr, DOMID_SELF);
}

// SYSENTER from user mode.  On Intel CPUs it enters the hypervisor, which knows neither the
// user RIP nor RSP: the sysenter callback gets a frame with RIP 0, CS 3 (the null selector, RPL
// 3), RSP 0 and SS FLAT_USER_SS on the kernel stack; without a callback, #GP(0) with the same
// frame.  AMD CPUs (QEMU's `-cpu max` is one) raise #UD for SYSENTER in 64-bit mode, which the
// guest gets at the instruction.
void check_sysenter() {
    u32 vendor_ebx;
    asm volatile("cpuid" : "=b"(vendor_ebx) : "a"(0), "c"(0) : "edx");
    const bool intel = vendor_ebx == 0x756e6547;  // "Genu"ineIntel
    info("sysenter: %s CPU", intel ? "an Intel" : "a non-Intel");
    const u64 insn = uaddr(user_sysenter_insn);
    const u64 stack_top = va(user_trap_stack + sizeof(user_trap_stack));

    traps_reset();
    u64 done = enter_user(uaddr(user_sysenter), USER_STACK_TOP, RFLAGS_MASKED);
    CHECK_EQ_HEX("user.sysenter_run_done", done, 0x80);
    const TrapRecord* t = &g_traps[0];
    bool ok = g_ntraps >= 2 && (intel ? t->vector == 13 && t->error == 0 && t->rip == 0 && (t->cs & 0xffff) == 3 &&
                                            t->rsp == 0 && (t->ss & 0xffff) == FLAT_USER_SS
                                      : t->vector == 6 && t->rip == insn && (t->cs & 0xffff) == FLAT_USER_CS64);
    check("user.sysenter_no_callback", ok, "%u traps, vector %llu error %#llx rip %#llx cs %#llx rsp %#llx ss %#llx",
          g_ntraps, static_cast<unsigned long long>(t->vector), static_cast<unsigned long long>(t->error),
          static_cast<unsigned long long>(t->rip), static_cast<unsigned long long>(t->cs),
          static_cast<unsigned long long>(t->rsp), static_cast<unsigned long long>(t->ss));

    callback_register_t cb{};
    cb.type = CALLBACKTYPE_sysenter;
    cb.flags = CALLBACKF_mask_events;
    cb.address = va(reinterpret_cast<const void*>(&trap_stub_sysenter));
    CHECK_EQ("callback_op.register_sysenter", hc::callback_op(CALLBACKOP_register, &cb), 0);
    traps_reset();
    done = enter_user(uaddr(user_sysenter), USER_STACK_TOP, RFLAGS_MASKED);
    CHECK_EQ_HEX("user.sysenter_callback_run_done", done, 0x80);
    ok = g_ntraps >= 2 && (intel ? t->vector == VEC_SYSENTER && t->rip == 0 && (t->cs & 0xffff) == 3 &&
                                       t->rsp == 0 && (t->ss & 0xffff) == FLAT_USER_SS && t->frame_top == stack_top &&
                                       t->rdi == 0x3333 && t->rcx == 0x5555 && t->r11 == 0x6666
                                 : t->vector == 6 && t->rip == insn);
    check("user.sysenter_callback", ok,
          "%u traps, vector %#llx rip %#llx cs %#llx rsp %#llx ss %#llx rcx %#llx r11 %#llx rdi %#llx top %#llx",
          g_ntraps, static_cast<unsigned long long>(t->vector), static_cast<unsigned long long>(t->rip),
          static_cast<unsigned long long>(t->cs), static_cast<unsigned long long>(t->rsp),
          static_cast<unsigned long long>(t->ss), static_cast<unsigned long long>(t->rcx),
          static_cast<unsigned long long>(t->r11), static_cast<unsigned long long>(t->rdi),
          static_cast<unsigned long long>(t->frame_top));
    cb.address = 0;
    hc::callback_op(CALLBACKOP_register, &cb);
}

}  // namespace

void pvt::check_user_mode() {
    if (va(user_code_end) - va(user_code_start) > 4096) {
        check_fail("user.code_fits_page", "user code is %llu bytes",
                   static_cast<unsigned long long>(va(user_code_end) - va(user_code_start)));
        return;
    }
    if (!build_user_tables()) return;
    g_user_handler = user_trap;
    check_no_callback_run();
    check_main_run();
    check_events_run();
    check_gs_user_sel();
    check_sysenter();
    g_user_handler = nullptr;
}
