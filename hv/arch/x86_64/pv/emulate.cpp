// Emulation of the privileged instructions a 64-bit PV kernel executes in ring 3 (Xen's
// pv/emul-priv-op.c), available from the guest's first instruction: Linux writes MSR_GS_BASE
// and runs CPUID behind the forced-emulation prefix before it has a trap table.
//
//   #GP(0):  RDMSR/WRMSR (FS/GS bases, PAT, a few read-as-zero), MOV from/to CR0/2/3/4, WBINVD,
//            RDTSC/RDTSCP in the kernel while the guest has CR4.TSD set
//   #UD:     0F 0B 'x' 'e' 'n' + CPUID (the forced-emulation prefix)
//
// Anything else is left for the caller to inject as #GP/#UD.
#include <arch/cpu.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "lib/string.hpp"


namespace pv::arch::pv {
namespace {

constexpr u32 MSR_PAT_ = 0x277, MSR_EFER_ = 0xc0000080, MSR_FS = 0xc0000100, MSR_GS = 0xc0000101,
              MSR_SHADOW_GS = 0xc0000102, MSR_TSC_AUX = 0xc0000103, MSR_MISC_ENABLE = 0x1a0;
// Xen's PAT (Xen's XEN_MSR_PAT): WB, WT, UC-, UC, WC, WP, UC, UC — entry by entry 06 04 07 00
// 01 05 00 00.
constexpr u64 XEN_PAT = 0x0000050100070406ull;

// Virtual machine-check architecture (Xen's vmce.c): two banks that never report an error,
// so a guest kernel's MCE setup (Linux reads MCG_STATUS and the banks, and panics if they
// fault) finds a quiet machine.  As Xen 4.17 answers under QEMU: MCG_CAP is two banks, plus
// TES_P, CMCI_P and SER_P on Intel; writes to it are ignored; the banks' CTL reads all ones;
// the registers of banks beyond the two (up to 32, MSRs 0x400-0x47f) read as zero and ignore
// writes, as do the Intel CTL2 registers of the two.
constexpr u32 MSR_MCG_CAP = 0x179, MSR_MCG_STATUS = 0x17a, MSR_MCG_CTL = 0x17b, MSR_MC0_CTL = 0x400,
              MSR_MC0_CTL2 = 0x280;
constexpr unsigned VMCE_BANKS = 2, MCE_BANK_MSRS = 4 * 32;
constexpr u64 MCG_CMCI_P = u64{1} << 10, MCG_TES_P = u64{1} << 11, MCG_SER_P = u64{1} << 24;

bool mce_bank_msr(u32 msr) { return msr >= MSR_MC0_CTL && msr < MSR_MC0_CTL + MCE_BANK_MSRS; }
bool mce_ctl2_msr(u32 msr) {
    return msr >= MSR_MC0_CTL2 && msr < MSR_MC0_CTL2 + VMCE_BANKS && cpu_vendor() == CpuVendor::intel;
}

// 1: handled (*out set), 0: not a machine-check MSR, -1: #GP.
int vmce_rdmsr(const PvVcpu& v, u32 msr, u64* out) {
    *out = 0;
    if (msr == MSR_MCG_CAP)
        *out = vmce_mcg_cap();
    else if (msr == MSR_MCG_STATUS)
        *out = v.domain->mcg_status.load(std::memory_order_relaxed);
    else if (mce_bank_msr(msr))
        *out = (msr & 3) == 0 && msr < MSR_MC0_CTL + 4 * VMCE_BANKS ? ~u64{0} : 0;
    else if (msr != MSR_MCG_CTL && !mce_ctl2_msr(msr))  // MCG_CTL reads 0: no MCG_CTL_P
        return 0;
    return 1;
}

int vmce_wrmsr(PvVcpu& v, u32 msr, u64 val) {
    if (msr == MSR_MCG_STATUS) {
        v.domain->mcg_status.store(val, std::memory_order_relaxed);
        return 1;
    }
    if (mce_bank_msr(msr)) {
        // All-ones in a bank's ADDR or MISC is #GP on hardware.
        unsigned reg = msr & 3;
        return (reg == 2 || reg == 3) && val == ~u64{0} ? -1 : 1;
    }
    return msr == MSR_MCG_CAP || msr == MSR_MCG_CTL || mce_ctl2_msr(msr) ? 1 : 0;
}

}  // namespace

u64 vmce_mcg_cap() {
    return VMCE_BANKS | (cpu_vendor() == CpuVendor::intel ? MCG_TES_P | MCG_CMCI_P | MCG_SER_P : 0);
}

namespace {

bool do_rdmsr(PvVcpu& v, u32 msr, u64* out) {
    if (int r = vmce_rdmsr(v, msr, out)) return r > 0;
    switch (msr) {
    case MSR_FS: *out = v.fs_base; return true;
    case MSR_GS: *out = v.kernel_mode ? v.gs_base_kernel : v.gs_base_user; return true;
    case MSR_SHADOW_GS: *out = v.kernel_mode ? v.gs_base_user : v.gs_base_kernel; return true;
    case MSR_PAT_: *out = XEN_PAT; return true;
    case MSR_EFER_: *out = rdmsr(MSR_EFER_) & ((1u << 0) | (1u << 8) | (1u << 10) | (1u << 11)); return true;
    case MSR_TSC_AUX: *out = 0; return true;
    case MSR_MISC_ENABLE: *out = (1u << 0) | (1u << 11) | (1u << 12); return true;  // fast strings, no BTS/PEBS
    default: return false;
    }
}

bool do_wrmsr(PvVcpu& v, u32 msr, u64 val) {
    if (int r = vmce_wrmsr(v, msr, val)) return r > 0;
    switch (msr) {
    case MSR_FS:
        if (!canonical(val)) return false;
        v.fs_base = val;
        wrmsr(MSR_FS, val);
        return true;
    case MSR_GS:
        if (!canonical(val)) return false;
        (v.kernel_mode ? v.gs_base_kernel : v.gs_base_user) = val;
        wrmsr(MSR_GS, val);
        return true;
    case MSR_SHADOW_GS:
        if (!canonical(val)) return false;
        (v.kernel_mode ? v.gs_base_user : v.gs_base_kernel) = val;
        wrmsr(MSR_SHADOW_GS, val);
        return true;
    case MSR_PAT_:
        return val == XEN_PAT;  // the PAT is part of the ABI: writes may only restate it
    default:
        return false;
    }
}

// Ports the hypervisor drives itself: a guest's access reads as all ones and writes are dropped
// (Xen's admin_io_okay), whatever its IOPL.
bool hypervisor_port(u32 port, unsigned bytes) {
    auto overlaps = [&](u32 lo, u32 hi) { return port <= hi && port + bytes - 1 >= lo; };
    return overlaps(0x20, 0x21) || overlaps(0xa0, 0xa1) ||  // the 8259 PICs
           overlaps(0x40, 0x43) || overlaps(0x61, 0x61) ||  // the PIT (calibration)
           overlaps(0x3f8, 0x3ff);                           // COM1, the hypervisor console
}

// Xen's guest_io_okay: the virtual IOPL admits the virtual ring (guest kernel = ring 1, or 0
// under VMASST_TYPE_architectural_iopl), or the
// guest's I/O bitmap (PHYSDEVOP_set_iobitmap) has a clear bit for every port of the access.
// The bitmap is a guest kernel address, read through the kernel's page tables even from user
// mode; bytes that cannot be read count as all ones (no access).
bool guest_io_okay(PvVcpu& v, u32 port, unsigned bytes) {
    if (virtual_cpl(v) <= v.iopl) return true;
    if (port + bytes > v.iobmp_limit) return false;
    u8 b[2] = {0xff, 0xff};
    bool user = !v.kernel_mode;
    if (user) write_cr3(v.kernel_cr3);
    if (!copy_from_guest(&b[0], v.iobmp + (port >> 3), 1)) b[0] = 0xff;
    else if (!copy_from_guest(&b[1], v.iobmp + (port >> 3) + 1, 1)) b[1] = 0xff;
    if (user) write_cr3(v.user_cr3);
    u32 mask = b[0] | (u32{b[1]} << 8);
    return (mask & (((1u << bytes) - 1) << (port & 7))) == 0;
}

// IN/OUT (E4-E7, EC-EF, with a 66 operand-size prefix), when guest_io_okay allows them.
bool emulate_io(PvVcpu& v, TrapFrame& f, const u8* insn, usize len) {
    usize at = 0;
    unsigned size = 4;
    if (at < len && insn[at] == 0x66) {
        size = 2;
        ++at;
    }
    if (at >= len) return false;
    u8 op = insn[at++];
    if (!((op >= 0xe4 && op <= 0xe7) || (op >= 0xec && op <= 0xef))) return false;
    if ((op & 1) == 0) size = 1;
    u32 port;
    if (op <= 0xe7) {
        if (at >= len) return false;
        port = insn[at++];
    } else {
        port = static_cast<u16>(f.rdx);
    }
    if (!guest_io_okay(v, port, size)) return false;  // #GP, as the hardware would
    bool is_in = (op & 2) == 0;
    auto p = static_cast<u16>(port);
    if (is_in) {
        u32 val = 0xffffffff;
        if (!hypervisor_port(port, size)) {
            if (size == 1) val = inb(p);
            else if (size == 2) val = inw(p);
            else val = inl(p);
        }
        if (size == 1) f.rax = (f.rax & ~u64{0xff}) | (val & 0xff);
        else if (size == 2) f.rax = (f.rax & ~u64{0xffff}) | (val & 0xffff);
        else f.rax = val;  // a 32-bit result zero-extends
    } else if (!hypervisor_port(port, size)) {
        if (size == 1) outb(p, static_cast<u8>(f.rax));
        else if (size == 2) outw(p, static_cast<u16>(f.rax));
        else outl(p, static_cast<u32>(f.rax));
    }
    f.rip += at;
    return true;
}

void set_tsc(TrapFrame& f, u64 tsc) {
    f.rax = static_cast<u32>(tsc);
    f.rdx = tsc >> 32;
}

}  // namespace

u64 guest_cr0(const PvVcpu& v) {
    constexpr u64 CR0_TS = 1u << 3;
    return (read_cr0() & ~CR0_TS) | (v.virtual_ts ? CR0_TS : 0);
}

// CR4 as a PV guest sees it (Xen's PV_CR4_GUEST_MASK and PV_CR4_GUEST_VISIBLE_MASK): the bits it
// controls itself — TSD (loaded into the hardware while it runs) and DE (only remembered) — and a
// read-only view of the hypervisor's PAE, MCE, OSFXSR and OSXMMEXCPT.  FSGSBASE and OSXSAVE, the
// other two Xen lets a guest choose, go with features pvisor's CPUID does not offer (cpuid.cpp).
namespace {
constexpr u64 CR4_TSD = 1u << 2, CR4_DE = 1u << 3, CR4_PAE = 1u << 5, CR4_MCE = 1u << 6;
constexpr u64 CR4_GUEST_MASK = CR4_TSD | CR4_DE;
constexpr u64 CR4_VISIBLE_MASK = CR4_PAE | CR4_MCE | CR4_OSFXSR | CR4_OSXMMEXCPT;
}  // namespace

u64 cr4_guest_bits(u64 cr4) { return cr4 & CR4_GUEST_MASK; }

u64 guest_cr4(const PvVcpu& v) { return v.cr4_own | (read_cr4() & CR4_VISIBLE_MASK); }

void load_guest_cr4(const PvVcpu& v) {
    const u64 cur = read_cr4(), want = (cur & ~CR4_TSD) | (v.cr4_own & CR4_TSD);
    if (want != cur) write_cr4(want);
}

bool emulate_privileged(PvVcpu& v, TrapFrame& f, bool from_ud) {
    u8 insn[16];
    // Read what is readable of the next 16 bytes (an instruction may end a page early).
    usize len = 16;
    while (len && !copy_from_guest(insn, f.rip, len)) len /= 2;
    if (len < 2) return false;

    if (from_ud) {
        // 0F 0B 78 65 6E = ud2; .ascii "xen", then CPUID (0F A2).
        static constexpr u8 prefix[] = {0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2};
        if (len < sizeof prefix || mem_compare(insn, prefix, sizeof prefix) != 0) return false;
        CpuidResult r;
        pv_cpuid(static_cast<u32>(f.rax), static_cast<u32>(f.rcx), r);
        f.rax = r.eax;
        f.rbx = r.ebx;
        f.rcx = r.ecx;
        f.rdx = r.edx;
        f.rip += sizeof prefix;
        return true;
    }
    if (emulate_io(v, f, insn, len)) return true;
    if (!v.kernel_mode) return false;  // everything below is for the guest kernel only
    // CLI/STI: with a virtual IOPL that admits the kernel, Xen skips them (the guest's virtual
    // interrupt flag is its event mask, not EFLAGS.IF); without, #GP.
    if (insn[0] == 0xfa || insn[0] == 0xfb) {
        if (virtual_cpl(v) > v.iopl) return false;
        f.rip += 1;
        return true;
    }

    usize at = 0;
    u8 rex = 0;
    if ((insn[at] & 0xf0) == 0x40) rex = insn[at++];
    if (at + 1 >= len || insn[at] != 0x0f) return false;
    u8 op = insn[at + 1];
    switch (op) {
    case 0x32: {  // rdmsr
        u64 val;
        if (!do_rdmsr(v, static_cast<u32>(f.rcx), &val)) return false;
        f.rax = static_cast<u32>(val);
        f.rdx = val >> 32;
        f.rip += at + 2;
        return true;
    }
    case 0x30:  // wrmsr
        if (!do_wrmsr(v, static_cast<u32>(f.rcx), (f.rdx << 32) | static_cast<u32>(f.rax))) return false;
        f.rip += at + 2;
        return true;
    case 0x31:  // rdtsc: faults in the kernel too once it set CR4.TSD for its applications
        set_tsc(f, rdtsc());
        f.rip += at + 2;
        return true;
    case 0x01:  // rdtscp (0F 01 F9), likewise; TSC_AUX reads as 0 (do_rdmsr)
        if (at + 2 >= len || insn[at + 2] != 0xf9) return false;
        set_tsc(f, rdtsc());
        f.rcx = 0;
        f.rip += at + 3;
        return true;
    case 0x09:  // wbinvd: nothing for a guest to flush that we would let it
        f.rip += at + 2;
        return true;
    case 0x06:  // clts
        v.virtual_ts = false;
        asm volatile("clts");
        f.rip += at + 2;
        return true;
    case 0x21:    // mov %drN, reg
    case 0x23: {  // mov reg, %drN
        if (at + 2 >= len) return false;
        u8 modrm = insn[at + 2];
        if ((modrm >> 6) != 3) return false;
        unsigned dr = (modrm >> 3) & 7;
        if (dr == 4 || dr == 5) dr += 2;  // the architectural aliases of DR6/DR7
        unsigned reg = (modrm & 7) | ((rex & 1) ? 8 : 0);
        if (op == 0x21) {
            u64 val = v.debugreg[dr];
            if (dr == 6 && !val) val = 0xffff0ff0;
            if (dr == 7 && !val) val = 0x400;
            gpr(f, reg) = val;
        } else if (set_debugreg(v, dr, gpr(f, reg)) != 0) {
            return false;
        }
        f.rip += at + 3;
        return true;
    }
    case 0x20:    // mov %crN, reg
    case 0x22: {  // mov reg, %crN
        if (at + 2 >= len) return false;
        u8 modrm = insn[at + 2];
        if ((modrm >> 6) != 3) return false;
        unsigned cr = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
        unsigned reg = (modrm & 7) | ((rex & 1) ? 8 : 0);
        if (op == 0x20) {
            u64 val;
            switch (cr) {
            case 0: val = guest_cr0(v); break;
            case 2: val = v.vcpu_info ? v.vcpu_info->arch.cr2 : 0; break;
            case 3: val = v.kernel_cr3; break;
            case 4: val = guest_cr4(v); break;
            default: return false;
            }
            gpr(f, reg) = val;
        } else {
            u64 val = gpr(f, reg);
            switch (cr) {
            case 0:  // only TS is the guest's to change; the hardware follows (lazy FPU)
                v.virtual_ts = val & 8;
                if (v.virtual_ts) write_cr0(read_cr0() | 8);
                else asm volatile("clts");
                break;
            case 3:  // a new kernel root: as mmuext_op NEW_BASEPTR (validated)
                if (!mmu_new_baseptr(v, val >> PAGE_SHIFT)) return false;
                break;
            case 2:
                if (v.vcpu_info) v.vcpu_info->arch.cr2 = val;
                break;
            case 4:  // Linux writes it directly (cr4_update_irqsoff): keep what is the guest's
                v.cr4_own = cr4_guest_bits(val);
                load_guest_cr4(v);
                break;
            default: return false;
            }
        }
        f.rip += at + 3;
        return true;
    }
    default:
        return false;
    }
}

}  // namespace pv::arch::pv
