// Scheduling PV vCPUs on physical CPUs: the credit scheduler (core/sched_credit.hpp) decides,
// this file carries it out (Xen's common/sched/core.c schedule() and x86's context_switch).
//
// * Each CPU runs one vCPU at a time, or its idle loop.  Every path back to a guest passes
//   exit_to_guest(), which reschedules when asked to (the per-CPU need_resched flag, Xen's
//   SCHEDULE_SOFTIRQ): the frame at the top of the CPU's stack belongs to the current vCPU, so
//   switching saves it into prev->regs and puts next's registers in its place; returning then
//   enters next.  Nothing else of a vCPU lives on a hypervisor stack (a vCPU is only ever
//   switched away from at this point), so every CPU needs one stack only.
// * Who asks: the scheduler's own timer on each CPU (tick, accounting, end of a slice), a vCPU
//   that blocks or yields, and wake-ups, for which the scheduler names the CPUs to poke; another
//   CPU is poked with an IPI.
// * A switch saves and restores what the CPU holds of a vCPU: page tables, FS/GS bases and the
//   user/kernel GS pair, the data segment selectors, the GDT window, the FPU/SSE state (eagerly,
//   FXSAVE), debug registers, and CR0.TS as the guest's virtual TS says; its runstate changes and
//   its periodic timer stops while it is off a CPU (Xen's semantics, vcpu_time.cpp).
#include <arch/apic.hpp>
#include <arch/cpu.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>
#include <arch/percpu.hpp>
#include <arch/smp.hpp>
#include <arch/time.hpp>
#include <arch/traps.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/heap.hpp"
#include "core/panic.hpp"

extern "C" [[noreturn]] void pv_enter_guest(const pv::arch::TrapFrame* frame);

namespace pv::arch::pv {

void vcpu_switch_out_time(PvVcpu& v, u64 now);  // vcpu_time.cpp
void vcpu_switch_in_time(PvVcpu& v, u64 now);
void ldt_switch(PvVcpu* prev, PvVcpu& next);     // mmu.cpp
bool load_guest_segments(PvVcpu& v);             // below
void enter_failsafe(PvVcpu& v, TrapFrame& f);
void map_guest_gdt(PvVcpu& v);

namespace {

constexpr u32 MSR_FS = 0xc0000100, MSR_GS = 0xc0000101, MSR_SHADOW_GS = 0xc0000102;
constexpr u64 CR0_TS = 1u << 3;
constexpr unsigned GUEST_GDT_PAGES = sizeof(PvVcpu::gdt_frames) / sizeof(u64);  // of the window's 16

sched::CreditScheduler* g_sched = nullptr;
volatile bool g_sched_ready = false;

struct CpuSched {
    std::atomic<bool> need_resched{false};
    PvVcpu* curr = nullptr;  // nullptr: idle
    PvVcpu* last = nullptr;  // the vCPU whose selectors the CPU holds, as of its last_switches
    u64 last_switches = 0;
    Timer timer;             // the scheduler's next event on this CPU
    // What each guest page of the CPU's GDT window maps now: physical address | 1, | 2 when
    // writable; 0 until map_guest_gdt first wrote it.  A switch between vCPUs rewrites only
    // the pages that differ (none between two without a GDT of their own).
    u64 gdt_page[GUEST_GDT_PAGES] = {};
};
CpuSched g_cpu[MAX_CPUS];

u64 now() { return time::since_boot_ns(); }

void poke(const sched::CpuMask& m) {
    unsigned self = this_cpu_id();
    for (unsigned c = 0; c < MAX_CPUS && c < sched::MAX_PCPUS; ++c) {
        if (!m.test(c)) continue;
        g_cpu[c].need_resched.store(true, std::memory_order_release);
        if (c != self) apic::send_ipi(smp::cpu(c).apic_id, VEC_IPI_SCHED);
    }
}

// The scheduler's next event on this CPU.  One already due (the end of a slice, which stays
// due until do_schedule runs) is not a timer's business: the CPU reschedules on its way out.

void arm_sched_timer(unsigned cpu) {
    u64 t = now();
    u64 next = g_sched->next_event(cpu);
    if (next <= t) {  // a tick or the accounting came due meanwhile: do it now
        poke(g_sched->on_timer(cpu, t));
        next = g_sched->next_event(cpu);
    }
    if (next == sched::NEVER) {
        time::timer_stop(g_cpu[cpu].timer);
    } else if (next <= t) {
        time::timer_stop(g_cpu[cpu].timer);
        g_cpu[cpu].need_resched.store(true, std::memory_order_release);
    } else {
        time::timer_set(g_cpu[cpu].timer, next);
    }
}

void on_sched_timer(Timer&, void*) {
    unsigned cpu = this_cpu_id();

    poke(g_sched->on_timer(cpu, now()));
    arm_sched_timer(cpu);
}

// An IPI only wakes the CPU: the flag was set before it was sent, and the way back to the guest
// (or the idle loop) looks at it.
void on_sched_ipi(TrapFrame&) {}

// Loads a data segment selector the guest had; if the CPU refuses it, the null selector (Xen's
// loadsegment and its fixup).  False when refused.
#define PV_LOAD_SEG(name, seg)                                          \
    bool name(u16 sel) {                                                \
        u32 ok = 1;                                                     \
        asm volatile("1: movl %k[sel], %%" #seg "\n\t"                   \
                     "jmp 3f\n"                                         \
                     "2: xorl %k[ok], %k[ok]\n\t"                       \
                     "movl %k[ok], %%" #seg "\n"                         \
                     "3:\n\t"                                           \
                     ".pushsection .ex_table, \"a\"\n\t"                \
                     ".balign 8\n\t"                                    \
                     ".quad 1b, 2b\n\t"                                 \
                     ".popsection"                                      \
                     : [ok] "+r"(ok)                                    \
                     : [sel] "r"(u32{sel})                              \
                     : "memory");                                       \
        return ok;                                                      \
    }
PV_LOAD_SEG(load_ds, ds)
PV_LOAD_SEG(load_es, es)
PV_LOAD_SEG(load_fs, fs)
PV_LOAD_SEG(load_gs, gs)
#undef PV_LOAD_SEG

PvVcpu* vcpu_of(sched::CreditUnit* u) { return u ? static_cast<VcpuUnit*>(u)->vcpu : nullptr; }

// ---- Saving and restoring what the CPU holds of a vCPU ----

u16 read_sel(int which) {
    u16 s = 0;
    switch (which) {
    case 0: asm volatile("mov %%ds, %0" : "=r"(s)); break;
    case 1: asm volatile("mov %%es, %0" : "=r"(s)); break;
    case 2: asm volatile("mov %%fs, %0" : "=r"(s)); break;
    default: asm volatile("mov %%gs, %0" : "=r"(s)); break;
    }
    return s;
}

void save_state(PvVcpu& v) {
    v.ds = read_sel(0);
    v.es = read_sel(1);
    v.fs = read_sel(2);
    v.gs = read_sel(3);
    v.fs_base = rdmsr(MSR_FS);
    u64 gs = rdmsr(MSR_GS), shadow = rdmsr(MSR_SHADOW_GS);
    v.gs_base_kernel = v.kernel_mode ? gs : shadow;
    v.gs_base_user = v.kernel_mode ? shadow : gs;
    asm volatile("clts");
    asm volatile("fxsave64 %0" : "=m"(*reinterpret_cast<u8(*)[512]>(v.fpu)));
    if (v.debugreg[7] & 0xff) asm volatile("mov %0, %%db7" : : "r"(0ul));
}

void restore_state(PvVcpu& v) {
    write_cr3(v.kernel_mode ? v.kernel_cr3 : v.user_cr3);
    map_guest_gdt(v);
    asm volatile("clts");
    asm volatile("fxrstor64 %0" : : "m"(*reinterpret_cast<const u8(*)[512]>(v.fpu)));
    v.fpu_initialised = true;  // Xen's eager FPU: set at the first restore
    if (v.virtual_ts) write_cr0(read_cr0() | CR0_TS);
    load_guest_cr4(v);  // TSD as the guest chose
    if (v.debugreg[7] & 0xff) {
        asm volatile("mov %0, %%db0" : : "r"(v.debugreg[0]));
        asm volatile("mov %0, %%db1" : : "r"(v.debugreg[1]));
        asm volatile("mov %0, %%db2" : : "r"(v.debugreg[2]));
        asm volatile("mov %0, %%db3" : : "r"(v.debugreg[3]));
        asm volatile("mov %0, %%db7" : : "r"(v.debugreg[7]));
    }
}

// Switches this CPU from prev (nullptr: idle) to next (nullptr: idle).  With a guest frame f
// (prev's registers at the stack top, or nullptr from the idle loop), prev's registers are saved
// from it and next's put there.
void context_switch(PvVcpu* prev, PvVcpu* next, TrapFrame* f, sched::CreditUnit* prev_unit) {
    unsigned cpu = this_cpu_id();
    u64 t = now();
    if (prev) {
        if (f) prev->regs = *f;
        vcpu_switch_out_time(*prev, t);  // runstate and periodic timer, on prev's page tables
        save_state(*prev);
    }
    g_cpu[cpu].curr = next;
    if (next) {
        next->processor = cpu;
        next->sched_in.fetch_add(1, std::memory_order_acq_rel);
        next->is_running.store(true, std::memory_order_release);
        restore_state(*next);
        ldt_switch(prev, *next);
        if (f) *f = next->regs;
    } else {
        if (prev) destroy_ldt(*prev);  // no vCPU after it may see its LDT pages in the window
        write_cr3(paging::hv_tables().root());
    }
    if (prev) {
        prev->is_running.store(false, std::memory_order_release);
        poke(g_sched->context_saved(*prev_unit, t));
        prev->sched_in.fetch_sub(1, std::memory_order_acq_rel);  // sched_wait_descheduled may go on
    }
    if (next) {
        // Segment selectors last: they index next's GDT and LDT.  A refused one enters the
        // failsafe callback (or ends the domain), which rewrites next's frame.
        // As in Xen, a vCPU coming back to the CPU it left for the idle loop finds its
        // selectors where it left them: they are not reloaded (nor refused).
        TrapFrame& nf = f ? *f : next->regs;
        bool untouched = g_cpu[cpu].last == next && g_cpu[cpu].last_switches == next->switches;
        if (!untouched && !load_guest_segments(*next)) enter_failsafe(*next, nf);
        g_cpu[cpu].last = next;
        g_cpu[cpu].last_switches = ++next->switches;
        vcpu_switch_in_time(*next, t);
    }
    arm_sched_timer(cpu);
}

// Runs the scheduler on this CPU; f: the current vCPU's frame at the stack top, or nullptr in
// the idle loop.  Returns true when a vCPU is to run (its registers in *f, or to be entered).
PvVcpu* do_schedule(TrapFrame* f) {
    unsigned cpu = this_cpu_id();
    g_cpu[cpu].need_resched.store(false, std::memory_order_relaxed);
    PvVcpu* prev = g_cpu[cpu].curr;
    sched::Decision d = g_sched->do_schedule(cpu, now());
    PvVcpu* next = vcpu_of(d.next);
    if (next == prev) {
        arm_sched_timer(cpu);
        return next;
    }
    context_switch(prev, next, f, d.prev);
    return next;
}

[[noreturn]] void idle_loop() {
    unsigned cpu = this_cpu_id();
    for (;;) {
        irq_disable();
        if (g_cpu[cpu].need_resched.load(std::memory_order_acquire)) {
            if (PvVcpu* next = do_schedule(nullptr)) {
                deliver_upcall(*next, next->regs);
                pv_enter_guest(&next->regs);
            }
            asm volatile("sti; nop; cli" : : : "memory");  // pending interrupts get their turn
            continue;
        }
        asm volatile("sti; hlt" : : : "memory");  // the STI shadow: no wake-up is lost
    }
}

}  // namespace

// Xen's load_segments: the selectors, then the bases (a non-null selector loaded its base from
// the descriptor, which is what save_state read).  False when any selector was refused.
bool load_guest_segments(PvVcpu& v) {
    bool ok = load_ds(v.ds);
    ok &= load_es(v.es);
    ok &= load_fs(v.fs);
    ok &= load_gs(v.gs);
    wrmsr(MSR_FS, v.fs_base);
    wrmsr(MSR_GS, v.kernel_mode ? v.gs_base_kernel : v.gs_base_user);
    wrmsr(MSR_SHADOW_GS, v.kernel_mode ? v.gs_base_user : v.gs_base_kernel);
    return ok;
}

// A selector was refused as the vCPU was switched in: the failsafe callback gets, on the guest
// kernel stack, the frame of Xen's load_segments (lowest address first: RCX, R11, DS, ES, FS,
// GS, RIP, CS with the upcall mask in bits 32-39, RFLAGS with IF as the upcall mask says, RSP,
// SS) and runs in kernel mode.  As in Xen, a failsafe address of 0 is entered all the same.
void enter_failsafe(PvVcpu& v, TrapFrame& f) {
    constexpr u64 RF_TF = 1u << 8, RF_IF = 1u << 9, RF_IOPL = 3u << 12, RF_NT = 1u << 14, RF_RF = 1u << 16,
                  RF_VM = 1u << 17, RF_AC = 1u << 18;
    u64 sp = (v.kernel_mode ? f.rsp : v.kernel_sp) & ~u64{15};
    u8 mask = v.vcpu_info ? v.vcpu_info->evtchn_upcall_mask : 1;
    u64 rflags = (f.rflags & ~(RF_IF | RF_IOPL)) | (mask ? 0 : RF_IF);
    if (v.domain->vm_assist & (1ul << VMASST_TYPE_architectural_iopl)) rflags |= u64{v.iopl} << 12;
    if (!v.kernel_mode) toggle_guest_mode(v);
    else f.cs &= ~u64{3};
    u64 frame[11] = {f.rcx, f.r11, v.ds, v.es, v.fs, v.gs, f.rip, f.cs | (u64{mask} << 32), rflags, f.rsp, f.ss};
    sp -= sizeof frame;
    if (!copy_to_guest(sp, frame, sizeof frame)) domain_crash(*v.domain, f, "fault writing the failsafe callback frame");
    if (v.failsafe_mask_events && v.vcpu_info) v.vcpu_info->evtchn_upcall_mask = 1;
    f.rflags &= ~(RF_AC | RF_VM | RF_RF | RF_NT | RF_IOPL | RF_TF);
    f.ss = FLAT_KERNEL_SS;
    f.rsp = sp;
    f.cs = FLAT_KERNEL_CS;
    f.rip = v.failsafe_callback;
}

PvVcpu* current() { return g_cpu[this_cpu_id()].curr; }

void map_guest_gdt(PvVcpu& v) {
    const unsigned cpu = this_cpu_id();
    PerCpu& c = smp::cpu(cpu);
    for (unsigned p = 0; p < GUEST_GDT_PAGES; ++p) {
        // The guest's frames writable in this mapping (the CPU sets descriptors' accessed bits);
        // the guest itself can have no writable mapping of them (type seg_desc).
        bool guest = p < v.gdt_nr_frames;
        u64 pa = guest ? v.gdt_frames[p] << PAGE_SHIFT : virt_to_phys(smp::zero_page());
        u64 want = pa | 1 | (guest ? 2 : 0);
        if (g_cpu[cpu].gdt_page[p] == want) continue;
        u64 va = c.gdt_window + p * PAGE_SIZE;
        paging::hv_tables().unmap_page(va);
        mm::map_hv_pages(va, pa, 1, guest ? paging::MAP_RW : paging::MAP_RO);
        g_cpu[cpu].gdt_page[p] = want;
    }
}

void sched_init(unsigned nr_cpus) {
    g_sched = heap_new<sched::CreditScheduler>(hv_heap(), nr_cpus, now());
    if (!g_sched) panic("no memory for the scheduler");
    for (unsigned c = 0; c < nr_cpus; ++c) g_cpu[c].timer.init(on_sched_timer, nullptr);
    set_irq_handler(VEC_IPI_SCHED, on_sched_ipi);
    g_sched_ready = true;
    if (nr_cpus > 1) apic::send_ipi_all_but_self(VEC_IPI_SCHED);  // the idle APs look again
}

void sched_add_domain(PvDomain& d) { g_sched->add_domain(d.sdom, d.id); }

Result<void> sched_adjust(PvDomain& d, u32 cmd, xen_domctl_sched_credit& p) { return g_sched->adjust(d.sdom, cmd, p); }

Result<void> sched_adjust_global(u32 cmd, xen_sysctl_credit_schedule& p) { return g_sched->adjust_global(cmd, p); }

Result<void> sched_set_affinity(PvVcpu& v, const sched::CpuMask* hard, const sched::CpuMask* soft) {
    Result<sched::CpuMask> r = g_sched->set_affinity(v.unit, hard, soft, now());
    if (!r) return error(r.error());
    poke(*r);
    return ok();
}

const sched::CpuMask& sched_hard_affinity(const PvVcpu& v) { return v.unit.hard_affinity(); }
const sched::CpuMask& sched_soft_affinity(const PvVcpu& v) { return v.unit.soft_affinity(); }
unsigned sched_nr_cpus() { return g_sched->nr_cpus(); }

void sched_add_vcpu(PvVcpu& v) {
    v.unit.vcpu = &v;
    g_sched->insert_unit(v.unit, v.domain->sdom, v.id, v.id % g_sched->nr_cpus());
}

[[noreturn]] void sched_enter_cpu() {
    while (!g_sched_ready) cpu_relax();
    unsigned cpu = this_cpu_id();
    install_syscall_stub(cpu, smp::cpu(cpu).stack_block);
    g_cpu[cpu].need_resched.store(true);
    idle_loop();
}

bool sched_ready() { return g_sched_ready; }

bool resched_pending() { return g_cpu[this_cpu_id()].need_resched.load(std::memory_order_relaxed); }

void raise_schedule() { g_cpu[this_cpu_id()].need_resched.store(true, std::memory_order_release); }

void exit_to_guest(TrapFrame& f) {
    unsigned cpu = this_cpu_id();
    if (g_cpu[cpu].need_resched.load(std::memory_order_acquire)) {
        if (!do_schedule(&f)) idle_loop();
    }
    if (PvVcpu* v = g_cpu[cpu].curr) deliver_upcall(*v, f);
}

bool vcpu_runnable(const PvVcpu& v) {
    return !v.down && !v.blocked.load() && v.pause_count == 0 && v.domain->pause_count.load() == 0;
}

// The crashed vCPU's registers stay where they are (it never runs again); the idle loop's
// do_schedule switches away from it without a frame, on the main stack's top, below the one
// TrapFrame slot (the guest frame there, if any, is dead too).
[[noreturn]] void sched_abandon_current() {
    irq_disable();
    raise_schedule();
    u64 block = reinterpret_cast<u64>(__builtin_frame_address(0)) & ~u64{32768 - 1};
    u64 sp = (block + 5 * PAGE_SIZE - sizeof(TrapFrame) - 64) & ~u64{15};
    asm volatile("mov %0, %%rsp\n\t"
                 "call *%1"
                 :
                 : "r"(sp), "r"(&idle_loop)
                 : "memory");
    __builtin_unreachable();
}

void sched_wait_descheduled(PvVcpu& v) {
    while (v.is_running.load(std::memory_order_acquire) || v.sched_in.load(std::memory_order_acquire))
        cpu_relax();
}

void sched_remove_vcpu(PvVcpu& v) {
    g_sched->remove_unit(v.unit);
    // No CPU may take a later vCPU at this address for this one (the selector shortcut).
    for (auto& c : g_cpu)
        if (c.last == &v) c.last = nullptr;
}

void sched_remove_domain(PvDomain& d) { g_sched->remove_domain(d.sdom); }

void vcpu_wake(PvVcpu& v) {
    sched::CpuMask pokes;
    {
        IrqSpinGuard g(v.state_lock);
        if (!vcpu_runnable(v) || v.sched_awake) return;
        v.sched_awake = true;
        pokes = g_sched->wake(v.unit, now());
    }
    poke(pokes);
}

void vcpu_sleep(PvVcpu& v) {
    sched::CpuMask pokes;
    {
        IrqSpinGuard g(v.state_lock);
        if (vcpu_runnable(v) || !v.sched_awake) return;
        v.sched_awake = false;
        pokes = g_sched->sleep(v.unit);
    }
    poke(pokes);
}

void vcpu_yield(PvVcpu& v) { poke(g_sched->yield(v.unit)); }

void vcpu_notify(PvVcpu& v) {
    if (v.blocked.load()) return;  // the caller wakes it
    if (v.is_running.load(std::memory_order_acquire) && v.processor != this_cpu_id())
        apic::send_ipi(smp::cpu(v.processor).apic_id, VEC_IPI_SCHED);
}

}  // namespace pv::arch::pv
