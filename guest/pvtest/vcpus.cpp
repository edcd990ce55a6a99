// A second vCPU (pvtest runs with dom0_max_vcpus=2 on one physical CPU): VCPUOP_initialise with
// a context, up and down, the two vCPUs sharing the CPU through the scheduler; and the failsafe
// callback, which the hypervisor enters when a data segment selector vCPU 0 left loaded no
// longer loads as it is switched back in after vCPU 1 ran.
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"

extern "C" {
void pvt_vcpu1_entry();
void pvt_failsafe_stub();
// Filled by pvt_failsafe_stub: the frame as the hypervisor built it (RCX, R11, DS, ES, FS, GS,
// RIP, CS, RFLAGS, RSP, SS) and how often it ran.
pvg::u64 pvt_failsafe_frame[11];
volatile pvg::u32 pvt_failsafe_count;
void pvt_vcpu1_main();
alignas(16) pvg::u8 pvt_vcpu1_stack[16384];
}

// vCPU 1 starts at pvt_vcpu1_entry on its own stack.  The failsafe stub records the frame and
// returns to the interrupted code through HYPERVISOR_iret, keeping every register but RCX/R11
// (which the frame carries back).
asm(R"(
    .text
    .globl pvt_vcpu1_entry
pvt_vcpu1_entry:
    call pvt_vcpu1_main
    ud2

    .globl pvt_failsafe_stub
pvt_failsafe_stub:
    cld
    push %rax
    push %rsi
    push %rdi
    push %rcx
    lea 32(%rsp), %rsi
    lea pvt_failsafe_frame(%rip), %rdi
    mov $11, %ecx
    rep movsq
    pop %rcx
    pop %rdi
    pop %rsi
    pop %rax
    lock incl pvt_failsafe_count(%rip)
    pop %rcx
    pop %r11
    add $32, %rsp
    pushq $0
    push %rcx
    push %r11
    push %rax
    mov $23, %eax
    syscall
    ud2
)");

namespace pvt {
namespace {

constexpr u64 DATA_DPL3 = 0x00cff2000000ffffull;
alignas(4096) constinit u64 v1_gdt[512];

volatile u32 g_v1_runs = 0;
volatile long g_v1_is_up = -1;

// Lets vCPU 1 run: vCPU 0 blocks in short polls until cond() holds or two seconds passed.
template <typename F> bool wait_for_vcpu1(F cond) {
    u64 end = system_time_ns() + 2'000'000'000ull;
    while (!cond()) {
        if (system_time_ns() >= end) return false;
        sched_poll_t p{};
        p.nr_ports = 0;
        p.timeout = system_time_ns() + 2'000'000;
        hc::sched_op(SCHEDOP_poll, &p);
    }
    return true;
}

}  // namespace
}  // namespace pvt

// vCPU 1: each time it is brought up it counts a run, looks at itself, and goes down again.
extern "C" void pvt_vcpu1_main() {
    using namespace pvt;
    for (;;) {
        g_v1_is_up = hc::vcpu_op(VCPUOP_is_up, 1, nullptr);
        g_v1_runs = g_v1_runs + 1;
        hc::vcpu_op(VCPUOP_down, 1, nullptr);
    }
}

namespace pvt {
namespace {

alignas(4096) constinit u8 vi_page[4096];

// VCPUOP_register_vcpu_info, on vCPU 1 (down, so allowed from vCPU 0): the vcpu_info moves to a
// page of ours, arrives with everything marked pending, and that page is typed writable for good.
void check_register_vcpu_info() {
    vcpu_register_vcpu_info_t info{};
    info.mfn = mfn_of(vi_page);
    info.offset = 4096 - sizeof(vcpu_info_t) + 8;
    CHECK_EQ("vcpu_info.offset_past_page", hc::vcpu_op(VCPUOP_register_vcpu_info, 1, &info), -XEN_ENXIO);
    info.offset = 128;
    CHECK_EQ("vcpu_info.bad_pointer", hc::vcpu_op(VCPUOP_register_vcpu_info, 1, reinterpret_cast<void*>(UNMAPPED_ADDRESS)),
             -XEN_EFAULT);
    vcpu_register_vcpu_info_t far = info;
    far.mfn = 0xfffffffffull;  // no such frame
    CHECK_EQ("vcpu_info.foreign_frame", hc::vcpu_op(VCPUOP_register_vcpu_info, 1, &far), -XEN_EINVAL);
    CHECK_EQ("vcpu_info.register_vcpu1", hc::vcpu_op(VCPUOP_register_vcpu_info, 1, &info), 0);
    const volatile vcpu_info_t* vi = reinterpret_cast<const volatile vcpu_info_t*>(vi_page + 128);
    check("vcpu_info.all_pending", vi->evtchn_pending_sel == ~xen_ulong_t{0} && vi->evtchn_upcall_pending == 1,
          "pending_sel %#lx upcall_pending %u", static_cast<unsigned long>(vi->evtchn_pending_sel),
          vi->evtchn_upcall_pending);
    CHECK_EQ("vcpu_info.copied_mask", vi->evtchn_upcall_mask, g_shared->vcpu_info[1].evtchn_upcall_mask);
    CHECK_EQ("vcpu_info.register_twice", hc::vcpu_op(VCPUOP_register_vcpu_info, 1, &info), -XEN_EINVAL);
    // The page holds a writable type: it cannot become a descriptor frame.
    xen_ulong_t frames[1] = {mfn_of(vi_page)};
    long rc = remap_page(vi_page, false);
    long gdt = rc == 0 ? hc::set_gdt(frames, 1) : rc;
    if (gdt == 0) hc::set_gdt(frames, 0);
    remap_page(vi_page, true);
    check("vcpu_info.page_stays_writable_typed", rc == 0 && gdt == -XEN_EINVAL, "remap %ld, set_gdt %ld", rc, gdt);
}

}  // namespace

void check_vcpus() {
    if (!g_shared) {
        CHECK("vcpus.shared_info_mapped", false);
        return;
    }
    CHECK_EQ("vcpus.is_up_1_before", hc::vcpu_op(VCPUOP_is_up, 1, nullptr), 0);
    CHECK_EQ("vcpus.no_vcpu_2", hc::vcpu_op(VCPUOP_is_up, 2, nullptr), -XEN_ENOENT);
    CHECK_EQ("vcpus.up_uninitialised", hc::vcpu_op(VCPUOP_up, 1, nullptr), -XEN_EINVAL);

    static vcpu_guest_context_t ctx;
    ctx = {};
    ctx.flags = VGCF_in_kernel;
    ctx.user_regs.rip = NONCANONICAL_ADDRESS;
    ctx.user_regs.rsp = va(pvt_vcpu1_stack + sizeof pvt_vcpu1_stack) - 8;
    ctx.user_regs.cs = FLAT_KERNEL_CS;
    ctx.user_regs.ss = FLAT_KERNEL_SS;
    ctx.user_regs.rflags = 0x200;
    ctx.kernel_ss = FLAT_KERNEL_SS;
    ctx.kernel_sp = ctx.user_regs.rsp;
    ctx.ctrlreg[3] = xen_pfn_to_cr3(kernel_l4_mfn());
    CHECK_EQ("vcpus.initialise_noncanonical_rip", hc::vcpu_op(VCPUOP_initialise, 1, &ctx), -XEN_EINVAL);
    ctx.user_regs.rip = va(reinterpret_cast<void*>(pvt_vcpu1_entry));
    CHECK_EQ("vcpus.initialise_bad_pointer",
             hc::vcpu_op(VCPUOP_initialise, 1, reinterpret_cast<void*>(UNMAPPED_ADDRESS)), -XEN_EFAULT);
    CHECK_EQ("vcpus.initialise", hc::vcpu_op(VCPUOP_initialise, 1, &ctx), 0);
    CHECK_EQ("vcpus.initialise_twice", hc::vcpu_op(VCPUOP_initialise, 1, &ctx), -XEN_EEXIST);
    CHECK_EQ("vcpus.is_up_1_initialised", hc::vcpu_op(VCPUOP_is_up, 1, nullptr), 0);

    // Up: vCPU 1 runs when vCPU 0 blocks, sees itself up, and downs itself.
    CHECK_EQ("vcpus.up", hc::vcpu_op(VCPUOP_up, 1, nullptr), 0);
    bool ran = wait_for_vcpu1([] { return g_v1_runs == 1 && hc::vcpu_op(VCPUOP_is_up, 1, nullptr) == 0; });
    check("vcpus.vcpu1_ran_and_went_down", ran, "runs %u, is_up %ld", g_v1_runs, hc::vcpu_op(VCPUOP_is_up, 1, nullptr));
    CHECK_EQ("vcpus.vcpu1_saw_itself_up", g_v1_is_up, 1);
    // Up again: it resumes where it went down.
    CHECK_EQ("vcpus.up_again", hc::vcpu_op(VCPUOP_up, 1, nullptr), 0);
    ran = wait_for_vcpu1([] { return g_v1_runs == 2 && hc::vcpu_op(VCPUOP_is_up, 1, nullptr) == 0; });
    check("vcpus.vcpu1_resumed", ran, "runs %u", g_v1_runs);

    // The failsafe callback: DS holds a selector of our own GDT, whose descriptor then goes away;
    // vCPU 1 runs meanwhile, so vCPU 0's selectors are reloaded on its way back, and refused.
    callback_register_t cb{};
    cb.type = CALLBACKTYPE_failsafe;
    cb.address = va(reinterpret_cast<void*>(pvt_failsafe_stub));
    CHECK_EQ("failsafe.register", hc::callback_op(CALLBACKOP_register, &cb), 0);
    v1_gdt[1] = DATA_DPL3;
    xen_ulong_t frames[1] = {mfn_of(v1_gdt)};
    if (!CHECK_EQ("failsafe.gdt_readonly", remap_page(v1_gdt, false), 0)) return;
    if (!CHECK_EQ("failsafe.set_gdt", hc::set_gdt(frames, 2), 0)) return;
    asm volatile("movw %0, %%ds" : : "r"(static_cast<u16>(0x0b)) : "memory");
    CHECK_EQ("failsafe.descriptor_gone", hc::update_descriptor(maddr_of(&v1_gdt[1]), 0), 0);
    pvt_failsafe_count = 0;
    CHECK_EQ("failsafe.up_vcpu1", hc::vcpu_op(VCPUOP_up, 1, nullptr), 0);
    ran = wait_for_vcpu1([] { return g_v1_runs == 3 && hc::vcpu_op(VCPUOP_is_up, 1, nullptr) == 0; });
    u16 ds;
    asm volatile("movw %%ds, %0" : "=r"(ds));
    check("failsafe.entered_once", ran && pvt_failsafe_count == 1, "ran %d, failsafe entered %u times", ran,
          pvt_failsafe_count);
    check("failsafe.frame_selectors", pvt_failsafe_frame[2] == 0x0b && pvt_failsafe_frame[3] == 0,
          "ds %#lx es %#lx fs %#lx gs %#lx", pvt_failsafe_frame[2], pvt_failsafe_frame[3], pvt_failsafe_frame[4],
          pvt_failsafe_frame[5]);
    check("failsafe.frame_return", (pvt_failsafe_frame[7] & 0xffff) == (FLAT_KERNEL_CS & ~3u) &&
                                       ((pvt_failsafe_frame[7] >> 32) & 0xff) == 1 &&
                                       pvt_failsafe_frame[10] == FLAT_KERNEL_SS,
          "cs %#lx ss %#lx rflags %#lx", pvt_failsafe_frame[7], pvt_failsafe_frame[10], pvt_failsafe_frame[8]);
    CHECK_EQ("failsafe.ds_now_null", ds, 0);
    CHECK_EQ("failsafe.clear_gdt", hc::set_gdt(frames, 0), 0);
    remap_page(v1_gdt, true);
    check_register_vcpu_info();

    // SSE in the guest kernel: the hypervisor must run the CPU with CR4.OSFXSR (else every SSE
    // instruction is #UD) and save and restore the registers across vCPU switches.
    unsigned before = g_ntraps;
    u32 out = 1;
    asm volatile(PVT_GUARDED("pcmpeqd %%xmm1, %%xmm1\n\tpxor %%xmm1, %%xmm1\n\tmovd %%xmm1, %0")
                 : "+r"(out)
                 :
                 : "r11", "memory");  // xmm1: the compiler uses no SSE (-mno-sse)
    check("fpu.sse_in_kernel", g_ntraps == before && out == 0, "%u traps, result %u", g_ntraps - before, out);
}

}  // namespace pvt
