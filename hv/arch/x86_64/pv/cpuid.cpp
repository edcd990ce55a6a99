// CPUID as a PV guest sees it (Xen's PV guest policy, xen/arch/x86/cpu-policy.c): the host's
// leaves filtered by the features Xen offers every guest by default — the 'A' annotations of
// Xen's public cpufeatureset.h, turned into masks at build time (tools/gen-pv-featureset.py) —
// plus the hypervisor leaves at 0x40000000 (Xen's signature and version).
//
// What pvisor hides beyond Xen: pvisor switches a vCPU's FPU state with FXSAVE, so nothing that
// lives in XSAVE-managed state (AVX and its VEX/EVEX kin, AVX-512, PKU) nor XSAVE itself is
// offered, and neither is FSGSBASE (the bases are switched through their MSRs).  Linux checks
// CPUID and runs the same without them.
#include <arch/cpu.hpp>

#include "arch/x86_64/pv/pv.hpp"
#include "lib/string.hpp"
#include "pv_featureset.hpp"

#include <xen/arch-x86/cpufeatureset.h>

namespace pv::arch::pv {
namespace {

// Xen's featureset words (its FEATURESET_* indices) by the CPUID leaf and register they come from.
enum Reg : u8 { EAX, EBX, ECX, EDX };
struct Word {
    u32 leaf, sub;
    Reg reg;
    u8 word;
};
constexpr Word WORDS[] = {
    {0x00000001, 0, EDX, 0},  {0x00000001, 0, ECX, 1},  {0x80000001, 0, EDX, 2},
    {0x80000001, 0, ECX, 3},  {0x0000000d, 1, EAX, 4},  {0x00000007, 0, EBX, 5},
    {0x00000007, 0, ECX, 6},  {0x80000007, 0, EDX, 7},  {0x80000008, 0, EBX, 8},
    {0x00000007, 0, EDX, 9},  {0x00000007, 1, EAX, 10}, {0x80000021, 0, EAX, 11},
    {0x00000007, 1, EBX, 12}, {0x00000007, 2, EDX, 13}, {0x00000007, 1, ECX, 14},
    {0x00000007, 1, EDX, 15}, {0x80000021, 0, ECX, 18},
};

// Features with XSAVE-managed state, and FSGSBASE (see the top of the file); and the special
// bit ('!') that Xen computes rather than passes: OSXSAVE (follows the guest's CR4.OSXSAVE, which
// pvisor never lets it set).  APIC stays as the host has it, as Xen 4.17 shows it to PV guests:
// Linux then takes the legacy IRQs from the ACPI tables and keeps IRQ 9 free for the SCI.
constexpr unsigned HIDDEN[] = {
    XEN_X86_FEATURE_XSAVE,        XEN_X86_FEATURE_OSXSAVE,      XEN_X86_FEATURE_AVX,
    XEN_X86_FEATURE_FMA,          XEN_X86_FEATURE_F16C,         XEN_X86_FEATURE_XOP,
    XEN_X86_FEATURE_FMA4,         XEN_X86_FEATURE_XSAVEOPT,     XEN_X86_FEATURE_XSAVEC,
    XEN_X86_FEATURE_XGETBV1,      XEN_X86_FEATURE_XSAVES,       XEN_X86_FEATURE_FSGSBASE,
    XEN_X86_FEATURE_AVX2,         XEN_X86_FEATURE_AVX512F,      XEN_X86_FEATURE_AVX512DQ,
    XEN_X86_FEATURE_AVX512_IFMA,  XEN_X86_FEATURE_AVX512PF,     XEN_X86_FEATURE_AVX512ER,
    XEN_X86_FEATURE_AVX512CD,     XEN_X86_FEATURE_AVX512BW,     XEN_X86_FEATURE_AVX512VL,
    XEN_X86_FEATURE_AVX512_VBMI,  XEN_X86_FEATURE_PKU,          XEN_X86_FEATURE_OSPKE,
    XEN_X86_FEATURE_AVX512_VBMI2, XEN_X86_FEATURE_VAES,         XEN_X86_FEATURE_VPCLMULQDQ,
    XEN_X86_FEATURE_AVX512_VNNI,  XEN_X86_FEATURE_AVX512_BITALG, XEN_X86_FEATURE_AVX512_VPOPCNTDQ,
    XEN_X86_FEATURE_AVX512_4VNNIW, XEN_X86_FEATURE_AVX512_4FMAPS, XEN_X86_FEATURE_AVX512_VP2INTERSECT,
    XEN_X86_FEATURE_AVX512_FP16,  XEN_X86_FEATURE_AVX_VNNI,     XEN_X86_FEATURE_AVX512_BF16,
};

struct Masks {
    u32 word[PV_FEATURESET_WORDS];
};

constexpr Masks make_masks() {
    Masks m{};
    for (unsigned w = 0; w < PV_FEATURESET_WORDS; ++w) m.word[w] = PV_FEATURESET_DEFAULT[w];
    for (unsigned f : HIDDEN) m.word[f / 32] &= ~(1u << (f % 32));
    return m;
}
constexpr Masks MASKS = make_masks();

u32& reg(CpuidResult& r, Reg which) {
    switch (which) {
    case EAX: return r.eax;
    case EBX: return r.ebx;
    case ECX: return r.ecx;
    default: return r.edx;
    }
}

constexpr u32 bit(unsigned feature) { return 1u << (feature % 32); }

void hypervisor_leaf(u32 leaf, CpuidResult& r) {
    r = {};
    if ((leaf & 0xffffff00u) != 0x40000000) return;
    switch (leaf & 0xff) {
    case 0:
        r.eax = 0x40000002;  // max leaf
        mem_copy(&r.ebx, "XenV", 4);
        mem_copy(&r.ecx, "MMXe", 4);
        mem_copy(&r.edx, "nVMM", 4);
        break;
    case 1:
        r.eax = (4 << 16) | 17;  // Xen 4.17
        break;
    case 2:
        r.eax = 1;           // one hypercall page
        r.ebx = 0x40000000;  // MSR to write its address to (unused by PV guests)
        break;
    default:
        break;
    }
}

}  // namespace

void host_featureset(u32* out, unsigned n) {
    const u32 max_basic = cpuid(0).eax, max_ext = cpuid(0x80000000).eax;
    for (unsigned i = 0; i < n; ++i) out[i] = 0;
    for (const Word& w : WORDS) {
        if (w.word >= n || w.leaf > (w.leaf >= 0x80000000 ? max_ext : max_basic)) continue;
        CpuidResult r = cpuid(w.leaf, w.sub);
        out[w.word] = reg(r, w.reg);
    }
}

void pv_cpuid(u32 leaf, u32 sub, CpuidResult& r) {
    if (leaf >= 0x40000000 && leaf < 0x40010000) return hypervisor_leaf(leaf, r);
    r = cpuid(leaf, sub);
    for (const Word& w : WORDS)
        if (w.leaf == leaf && w.sub == sub) reg(r, w.reg) &= MASKS.word[w.word];
    if (leaf == 1) r.ecx |= bit(XEN_X86_FEATURE_HYPERVISOR);
    if (leaf == 0xd) r = {};  // no XSAVE state components
}

}  // namespace pv::arch::pv
