// Writable page tables (Xen's pv/ro-page-fault.c; VMASST_TYPE_writable_pagetables, always on for 64-bit guests): a guest
// kernel may write its L1 page-table entries with ordinary instructions although the tables are
// mapped read-only.  The write faults; here it is decoded and carried out as an mmu_update would
// be — validated, references moved — then the guest resumes after the instruction.  Updates must
// be atomic as the guest wrote them (xchg, cmpxchg, lock btr), so each is one update_entry of the
// whole 8-byte entry, computed from the current value.
//
// Supported forms (what kernels use for PTEs): mov r/m, r (89), mov r/m, imm32 (C7 /0), xchg
// (87), cmpxchg (0F B1), btr/bts/btc r/m, imm8 (0F BA /5-7), with 4- or 8-byte operands, a lock
// prefix and REX.  Anything else is left as the guest's page fault.
#include <arch/cpu.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

struct Decoded {
    enum Op : u8 { mov_reg, mov_imm, xchg, cmpxchg, bit } op;
    unsigned size;    // operand bytes: 4 or 8
    unsigned reg;     // register operand (mov_reg, xchg, cmpxchg)
    u64 imm;          // mov_imm (sign-extended), bit (bit number)
    unsigned bit_op;  // 5 bts, 6 btr, 7 btc
    usize length;
};

// The length of a ModRM memory operand (ModRM, SIB, displacement) at insn[at]; 0 if invalid.
usize modrm_length(const u8* insn, usize len, usize at) {
    if (at >= len) return 0;
    u8 modrm = insn[at];
    unsigned mod = modrm >> 6, rm = modrm & 7;
    if (mod == 3) return 0;  // a register operand cannot be the faulting write
    usize n = 1;
    if (rm == 4) {
        if (at + 1 >= len) return 0;
        u8 sib = insn[at + 1];
        ++n;
        if (mod == 0 && (sib & 7) == 5) n += 4;
    } else if (mod == 0 && rm == 5) {
        n += 4;  // RIP-relative
    }
    if (mod == 1) n += 1;
    if (mod == 2) n += 4;
    return n;
}

bool decode(const u8* insn, usize len, Decoded& d) {
    usize at = 0;
    u8 rex = 0;
    bool opsize16 = false;
    for (; at < len; ++at) {
        u8 b = insn[at];
        if (b == 0xf0) continue;  // lock
        if (b == 0x66) {
            opsize16 = true;
            continue;
        }
        break;
    }
    if (opsize16) return false;
    if (at < len && (insn[at] & 0xf0) == 0x40) rex = insn[at++];
    if (at >= len) return false;
    d.size = (rex & 8) ? 8 : 4;
    u8 op = insn[at++];
    unsigned reg_field = 0;
    if (op == 0x89 || op == 0x87) {
        d.op = op == 0x89 ? Decoded::mov_reg : Decoded::xchg;
    } else if (op == 0xc7) {
        d.op = Decoded::mov_imm;
    } else if (op == 0x0f && at < len && (insn[at] == 0xb1 || insn[at] == 0xba)) {
        d.op = insn[at] == 0xb1 ? Decoded::cmpxchg : Decoded::bit;
        ++at;
    } else {
        return false;
    }
    if (at >= len) return false;
    reg_field = (insn[at] >> 3) & 7;
    usize m = modrm_length(insn, len, at);
    if (!m) return false;
    d.reg = reg_field | ((rex & 4) ? 8 : 0);
    at += m;
    if (d.op == Decoded::mov_imm) {
        if (reg_field != 0 || at + 4 > len) return false;
        i32 imm;
        mem_copy(&imm, insn + at, 4);
        d.imm = static_cast<u64>(static_cast<i64>(imm));
        at += 4;
    } else if (d.op == Decoded::bit) {
        if (reg_field < 5 || at + 1 > len) return false;
        d.bit_op = reg_field;
        d.imm = insn[at] & (d.size * 8 - 1);
        at += 1;
    }
    d.length = at;
    return true;
}

}  // namespace

bool emulate_pt_write(PvVcpu& v, TrapFrame& f, u64 cr2) {
    // Xen 4.17 emulates these writes for 64-bit guests whether or not writable_pagetables is on.
    if (!v.kernel_mode) return false;
    // The fault must be a write to a present, read-only page...
    if ((f.error_code & 3) != 3) return false;
    u64 l1_mfn;
    unsigned index_unused = 0;
    // ...whose own L1 entry (in the kernel tables) maps a frame that is an L1 page table.
    if (!mmu_l1_slot(v, cr2, &l1_mfn, &index_unused)) return false;
    u64 target = mmu_entry(l1_mfn, index_unused);
    if (!(target & paging::PTE_P) || (target & paging::PTE_W)) return false;
    u64 table_mfn = (target & paging::PTE_ADDR) >> PAGE_SHIFT;
    if (!mmu_is_l1_table(*v.domain, table_mfn)) return false;

    u8 insn[15];
    usize len = sizeof insn;
    while (len && !copy_from_guest(insn, f.rip, len)) len /= 2;
    Decoded d{};
    if (!len || !decode(insn, len, d)) return false;
    unsigned offset = static_cast<unsigned>(cr2 & 7);
    if (!(offset == 0 || (offset == 4 && d.size == 4))) return false;
    auto index = static_cast<unsigned>((cr2 & (PAGE_SIZE - 1)) >> 3);
    u64 cur = mmu_entry(table_mfn, index);
    u64 mask = d.size == 8 ? ~u64{0} : (u64{0xffffffff} << (offset * 8));
    u64 old_part = (cur & mask) >> (offset * 8);

    u64 val = 0;
    bool write = true;
    switch (d.op) {
    case Decoded::mov_reg:
    case Decoded::xchg: val = gpr(f, d.reg); break;
    case Decoded::mov_imm: val = d.imm; break;
    case Decoded::cmpxchg: {
        u64 expect = d.size == 8 ? f.rax : (f.rax & 0xffffffff);
        constexpr u64 ZF = 1u << 6;
        if (old_part == expect) {
            val = gpr(f, d.reg);
            f.rflags |= ZF;
        } else {
            write = false;
            f.rflags &= ~ZF;
            f.rax = d.size == 8 ? old_part : old_part & 0xffffffff;
        }
        break;
    }
    case Decoded::bit: {
        constexpr u64 CF = 1u << 0;
        u64 bit = u64{1} << d.imm;
        if (old_part & bit) f.rflags |= CF;
        else f.rflags &= ~CF;
        val = d.bit_op == 5 ? (old_part | bit) : d.bit_op == 6 ? (old_part & ~bit) : (old_part ^ bit);
        break;
    }
    }
    if (d.size == 4) val &= 0xffffffff;
    if (write) {
        u64 nv = (cur & ~mask) | ((val << (offset * 8)) & mask);
        if (!mmu_write_entry(*v.domain, table_mfn, index, nv)) return false;  // the guest's #PF stands
        invlpg(reinterpret_cast<void*>(cr2));
    }
    if (d.op == Decoded::xchg) gpr(f, d.reg) = d.size == 8 ? old_part : old_part & 0xffffffff;
    f.rip += d.length;
    return true;
}

}  // namespace pv::arch::pv
