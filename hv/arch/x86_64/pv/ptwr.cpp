// Writable page tables (Xen's pv/ro-page-fault.c; VMASST_TYPE_writable_pagetables, always on for 64-bit guests): a guest
// kernel may write its L1 page-table entries with ordinary instructions although the tables are
// mapped read-only.  The write faults; here it is decoded and carried out as an mmu_update would
// be — validated, references moved — then the guest resumes after the instruction.  Updates must
// be atomic as the guest wrote them (xchg, cmpxchg, lock btr), so each is one update_entry of the
// whole 8-byte entry, computed from the current value.
//
// Supported forms (what kernels use for PTEs): mov r/m, r (88/89) and r/m, imm (C6/C7 /0), xchg
// (86/87), cmpxchg (0F B0/B1), btr/bts/btc r/m, imm8 (0F BA /5-7), and/or/xor r/m, r (08/09,
// 20/21, 30/31) and r/m, imm (80/81/83 /1 /4 /6: Linux's clear_bit/set_bit of a constant bit is
// `lock andb`/`lock orb`), with 1-, 2-, 4- or 8-byte operands inside one entry, a lock prefix
// and REX.  Anything else is left as the guest's page fault.
#include <arch/cpu.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

struct Decoded {
    enum Op : u8 { mov_reg, mov_imm, xchg, cmpxchg, bit, alu_reg, alu_imm } op;
    unsigned size;     // operand bytes: 1, 2, 4 or 8
    unsigned reg;      // register operand (mov_reg, xchg, cmpxchg, alu_reg)
    bool high_byte;    // reg names AH/CH/DH/BH (a byte operand without REX)
    u64 imm;           // mov_imm, alu_imm (sign-extended to the operand), bit (bit number)
    unsigned sub;      // bit: 5 bts, 6 btr, 7 btc; alu: 1 or, 4 and, 6 xor
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

u64 size_mask(unsigned size) { return size == 8 ? ~u64{0} : (u64{1} << (size * 8)) - 1; }

u64 sign_extend(u64 v, unsigned from_bytes, unsigned size) {
    unsigned shift = 64 - from_bytes * 8;
    return static_cast<u64>(static_cast<i64>(v << shift) >> shift) & size_mask(size);
}

bool decode(const u8* insn, usize len, Decoded& d) {
    usize at = 0;
    u8 rex = 0;
    bool opsize16 = false;
    for (; at < len && (insn[at] == 0xf0 || insn[at] == 0x66); ++at)  // lock, operand size
        if (insn[at] == 0x66) opsize16 = true;
    if (at < len && (insn[at] & 0xf0) == 0x40) rex = insn[at++];
    if (at >= len) return false;
    u8 op = insn[at++];
    bool two_byte = op == 0x0f;
    if (two_byte) {
        if (at >= len) return false;
        op = insn[at++];
    }
    // The opcode's even/odd form picks byte or full-size operands (0F BA is full-size only).
    bool byte_form;
    unsigned imm_bytes = 0;
    if (!two_byte && (op == 0x88 || op == 0x89)) d.op = Decoded::mov_reg, byte_form = op == 0x88;
    else if (!two_byte && (op == 0xc6 || op == 0xc7)) d.op = Decoded::mov_imm, byte_form = op == 0xc6;
    else if (!two_byte && (op == 0x86 || op == 0x87)) d.op = Decoded::xchg, byte_form = op == 0x86;
    else if (!two_byte && (op == 0x08 || op == 0x09 || op == 0x20 || op == 0x21 || op == 0x30 || op == 0x31))
        d.op = Decoded::alu_reg, byte_form = !(op & 1), d.sub = op >> 3;
    else if (!two_byte && (op == 0x80 || op == 0x81 || op == 0x83)) d.op = Decoded::alu_imm, byte_form = op == 0x80;
    else if (two_byte && (op == 0xb0 || op == 0xb1)) d.op = Decoded::cmpxchg, byte_form = op == 0xb0;
    else if (two_byte && op == 0xba) d.op = Decoded::bit, byte_form = false, imm_bytes = 1;
    else return false;
    d.size = byte_form ? 1 : (rex & 8) ? 8 : opsize16 ? 2 : 4;
    if (d.op == Decoded::mov_imm) imm_bytes = d.size == 1 ? 1 : d.size == 2 ? 2 : 4;
    if (d.op == Decoded::alu_imm) imm_bytes = op == 0x81 ? (d.size == 2 ? 2 : 4) : 1;

    if (at >= len) return false;
    unsigned reg_field = (insn[at] >> 3) & 7;
    usize m = modrm_length(insn, len, at);
    if (!m) return false;
    d.reg = reg_field | ((rex & 4) ? 8 : 0);
    d.high_byte = d.size == 1 && !rex && reg_field >= 4;
    if (d.high_byte) d.reg = reg_field - 4;
    at += m;
    if (d.op == Decoded::mov_imm && reg_field != 0) return false;
    if (d.op == Decoded::alu_imm) {
        if (reg_field != 1 && reg_field != 4 && reg_field != 6) return false;  // or, and, xor
        d.sub = reg_field;
    }
    if (d.op == Decoded::bit) {
        if (reg_field < 5) return false;
        d.sub = reg_field;
    }
    if (at + imm_bytes > len) return false;
    u64 imm = 0;
    mem_copy(&imm, insn + at, imm_bytes);
    at += imm_bytes;
    d.imm = d.op == Decoded::bit ? (imm & (d.size * 8 - 1)) : imm_bytes ? sign_extend(imm, imm_bytes, d.size) : 0;
    d.length = at;
    return true;
}

u64 reg_value(TrapFrame& f, const Decoded& d) {
    u64 r = gpr(f, d.reg);
    return (d.high_byte ? r >> 8 : r) & size_mask(d.size);
}

// Writes a result into a register as the CPU does: 4-byte results zero the upper half, 1- and
// 2-byte results leave the rest of the register alone.
void set_reg(TrapFrame& f, unsigned reg, bool high_byte, unsigned size, u64 val) {
    u64& r = gpr(f, reg);
    if (size == 8 || size == 4) r = val & size_mask(size);
    else if (high_byte) r = (r & ~u64{0xff00}) | ((val & 0xff) << 8);
    else r = (r & ~size_mask(size)) | (val & size_mask(size));
}

// The flags of a logical operation's result: CF and OF clear, ZF, SF and PF from the result.
void logic_flags(TrapFrame& f, u64 result, unsigned size) {
    constexpr u64 CF = 1u << 0, PF = 1u << 2, ZF = 1u << 6, SF = 1u << 7, OF = 1u << 11;
    f.rflags &= ~(CF | PF | ZF | SF | OF);
    if (!(result & size_mask(size))) f.rflags |= ZF;
    if (result >> (size * 8 - 1) & 1) f.rflags |= SF;
    if (!(__builtin_popcount(static_cast<unsigned>(result & 0xff)) & 1)) f.rflags |= PF;
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
    // The operand must lie inside one 8-byte entry.
    unsigned offset = static_cast<unsigned>(cr2 & 7);
    if (offset + d.size > 8) return false;
    auto index = static_cast<unsigned>((cr2 & (PAGE_SIZE - 1)) >> 3);
    u64 cur = mmu_entry(table_mfn, index);
    u64 mask = size_mask(d.size) << (offset * 8);
    u64 old_part = (cur & mask) >> (offset * 8);

    // Registers and flags change only if the write is done: work on a copy of the frame.
    TrapFrame g = f;
    u64 val = 0;
    bool write = true;
    switch (d.op) {
    case Decoded::mov_reg:
    case Decoded::xchg: val = reg_value(g, d); break;
    case Decoded::mov_imm: val = d.imm; break;
    case Decoded::cmpxchg: {
        constexpr u64 ZF = 1u << 6;
        if (old_part == (g.rax & size_mask(d.size))) {
            val = reg_value(g, d);
            g.rflags |= ZF;
        } else {
            write = false;
            g.rflags &= ~ZF;
            set_reg(g, 0, false, d.size, old_part);
        }
        break;
    }
    case Decoded::bit: {
        constexpr u64 CF = 1u << 0;
        u64 bit = u64{1} << d.imm;
        if (old_part & bit) g.rflags |= CF;
        else g.rflags &= ~CF;
        val = d.sub == 5 ? (old_part | bit) : d.sub == 6 ? (old_part & ~bit) : (old_part ^ bit);
        break;
    }
    case Decoded::alu_reg:
    case Decoded::alu_imm: {
        u64 src = d.op == Decoded::alu_imm ? d.imm : reg_value(g, d);
        val = d.sub == 1 ? (old_part | src) : d.sub == 4 ? (old_part & src) : (old_part ^ src);
        logic_flags(g, val, d.size);
        break;
    }
    }
    val &= size_mask(d.size);
    if (write) {
        u64 nv = (cur & ~mask) | (val << (offset * 8));
        if (!mmu_write_entry(*v.domain, table_mfn, index, nv)) return false;  // the guest's #PF stands
        invlpg(reinterpret_cast<void*>(cr2));
    }
    if (d.op == Decoded::xchg) set_reg(g, d.reg, d.high_byte, d.size, old_part);
    g.rip += d.length;
    f = g;
    return true;
}

}  // namespace pv::arch::pv
