#include <arch/desc.hpp>
#include <arch/layout.hpp>
#include <arch/percpu.hpp>

#include "lib/string.hpp"

extern "C" char trap_stubs[];

namespace pv::arch {
namespace {

struct __attribute__((packed)) IdtGate {
    u16 offset_lo;
    u16 selector;
    u8 ist;
    u8 type_attr;
    u16 offset_mid;
    u32 offset_hi;
    u32 zero;
};
static_assert(sizeof(IdtGate) == 16);

struct __attribute__((packed)) DescPtr {
    u16 limit;
    u64 base;
};

alignas(4096) IdtGate g_idt[256];

constexpr u8 GATE_INTERRUPT = 0x8e;       // present, DPL0, 64-bit interrupt gate
constexpr u8 GATE_INTERRUPT_DPL3 = 0xee;  // the same, reachable by `int n` from ring 3

void build_idt(u16 cs, bool use_ist) {
    auto base = reinterpret_cast<u64>(trap_stubs);
    for (unsigned v = 0; v < 256; ++v) {
        u64 h = base + 16 * v;
        u8 ist = IST_NONE;
        if (use_ist) {
            if (v == 8) ist = IST_DF;
            if (v == 2) ist = IST_NMI;
            if (v == 18) ist = IST_MC;
        }
        // Guests may raise #BP (int3), #OF (into) and int $0x80 themselves, as on Xen; any other
        // `int n` from ring 3 faults with #GP(n << 3 | 2) and is checked against the guest's
        // trap table.
        u8 attr = (v == 3 || v == 4 || v == 0x80) ? GATE_INTERRUPT_DPL3 : GATE_INTERRUPT;
        g_idt[v] = IdtGate{static_cast<u16>(h), cs, ist, attr, static_cast<u16>(h >> 16),
                           static_cast<u32>(h >> 32), 0};
    }
}

void load_idt() {
    DescPtr p{sizeof(g_idt) - 1, reinterpret_cast<u64>(g_idt)};
    asm volatile("lidt %0" : : "m"(p));
}

// A code/data descriptor: flat 4 GiB, with the given access byte and flags nibble.
constexpr u64 seg(u8 access, u8 flags) {
    return 0xffffull | (u64{access} << 40) | (u64{flags} << 52) | (0xfull << 48);
}

// A 16-byte system descriptor (TSS, LDT) at gdt[0..1]: present, DPL 0, byte-granular limit.
void set_system_desc(u64* gdt, u64 base, u64 limit, u8 type) {
    gdt[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (u64{0x80u | type} << 40) |
             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[1] = base >> 32;
}

constexpr u8 DESC_LDT = 0x2, DESC_TSS_AVAILABLE = 0x9;

u64* hv_entry(u64* gdt_page, u16 sel) { return &gdt_page[(sel >> 3) - GDT_FIRST_HV_ENTRY]; }

}  // namespace

void idt_init_early() {
    build_idt(0x08, false);  // the boot GDT's code selector (boot.S)
    load_idt();
}

void load_cpu_tables(u64* gdt_page, u64 gdt_base, Tss* tss, u64 stack_block) {
    mem_set(gdt_page, 0, PAGE_SIZE);
    mem_set(tss, 0, sizeof *tss);
    tss->rsp[0] = stack_block + STACK_MAIN_TOP;
    tss->ist[IST_DF - 1] = stack_block + STACK_DF_TOP;
    tss->ist[IST_NMI - 1] = stack_block + STACK_NMI_TOP;
    tss->ist[IST_MC - 1] = stack_block + STACK_MC_TOP;
    tss->iomap_base = sizeof(Tss);  // no I/O bitmap: every port access from CPL3 faults

    auto idx = [](u16 sel) { return (sel >> 3) - GDT_FIRST_HV_ENTRY; };
    // Accessed bits preset: the CPU would otherwise write them on the first load, and the
    // guest part of the window is mapped read-only.
    gdt_page[idx(SEL_HV_CS)] = seg(0x9b, 0xa);           // 64-bit code, DPL0
    gdt_page[idx(SEL_HV_DS32)] = seg(0x93, 0xc);         // data, DPL0
    gdt_page[idx(SEL_HV_CS32)] = seg(0x9b, 0xc);         // 32-bit code, DPL0
    gdt_page[idx(FLAT_RING3_CS32)] = seg(0xfb, 0xc);     // 32-bit code, DPL3
    gdt_page[idx(FLAT_RING3_DS32)] = seg(0xf3, 0xc);     // data, DPL3
    gdt_page[idx(FLAT_RING3_CS64)] = seg(0xfb, 0xa);     // 64-bit code, DPL3
    set_system_desc(hv_entry(gdt_page, SEL_TSS), reinterpret_cast<u64>(tss), sizeof(Tss) - 1, DESC_TSS_AVAILABLE);

    DescPtr gp{static_cast<u16>(GDT_PAGES * PAGE_SIZE - 1), gdt_base};
    asm volatile("lgdt %0" : : "m"(gp));
    // Reload CS through a far return, then the data segments and TR.
    asm volatile(
        "pushq %[cs]\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movl %[ds], %%eax\n\t"
        "movl %%eax, %%ss\n\t"
        "xorl %%eax, %%eax\n\t"
        "movl %%eax, %%ds\n\t"
        "movl %%eax, %%es\n\t"
        "movl %%eax, %%fs\n\t"
        "movl %%eax, %%gs\n\t"
        "ltr %w[tr]"
        :
        : [cs] "i"(SEL_HV_CS), [ds] "i"(SEL_HV_DS32), [tr] "r"(SEL_TSS)
        : "rax", "memory");
    build_idt(SEL_HV_CS, true);
    load_idt();
}

void load_ldt(u64* gdt_page, u64 base, unsigned ents) {
    if (!ents) {
        asm volatile("lldt %w0" : : "r"(0) : "memory");
        return;
    }
    set_system_desc(hv_entry(gdt_page, SEL_LDT), base, u64{ents} * 8 - 1, DESC_LDT);
    asm volatile("lldt %w0" : : "r"(SEL_LDT) : "memory");
}

}  // namespace pv::arch
