// Decoding and executing in-place page-table writes (pte_write.hpp).
#include "core/pte_write.hpp"

#include "lib/string.hpp"

namespace pv::ptwr {
namespace {

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

u64 sign_extend(u64 v, unsigned from_bytes, unsigned size) {
    unsigned shift = 64 - from_bytes * 8;
    return static_cast<u64>(static_cast<i64>(v << shift) >> shift) & operand_mask(size);
}

u64 reg_value(const Regs& r, const Insn& d) {
    u64 v = r.gpr[d.reg & 15];
    return (d.high_byte ? v >> 8 : v) & operand_mask(d.size);
}

// Writes a result into a register as the CPU does: 4-byte results zero the upper half, 1- and
// 2-byte results leave the rest of the register alone.
void set_reg(Regs& r, unsigned reg, bool high_byte, unsigned size, u64 val) {
    u64& g = r.gpr[reg & 15];
    if (size == 8 || size == 4) g = val & operand_mask(size);
    else if (high_byte) g = (g & ~u64{0xff00}) | ((val & 0xff) << 8);
    else g = (g & ~operand_mask(size)) | (val & operand_mask(size));
}

constexpr u64 CF = 1u << 0, PF = 1u << 2, AF = 1u << 4, ZF = 1u << 6, SF = 1u << 7, OF = 1u << 11;
constexpr u64 ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;

// ZF, SF and PF of a result.
u64 result_flags(u64 result, unsigned size) {
    u64 f = 0;
    if (!(result & operand_mask(size))) f |= ZF;
    if ((result >> (size * 8 - 1)) & 1) f |= SF;
    if (!(__builtin_popcount(static_cast<unsigned>(result & 0xff)) & 1)) f |= PF;
    return f;
}

// The flags of a logical operation: CF, OF (and AF, undefined) clear.
void logic_flags(Regs& r, u64 result, unsigned size) {
    r.rflags = (r.rflags & ~ARITH_FLAGS) | result_flags(result, size);
}

// The flags of CMP a, b (what CMPXCHG sets, comparing the accumulator with the operand).
void compare_flags(Regs& r, u64 a, u64 b, unsigned size) {
    u64 res = (a - b) & operand_mask(size);
    u64 f = result_flags(res, size);
    if (a < b) f |= CF;
    if ((((a ^ b) & (a ^ res)) >> (size * 8 - 1)) & 1) f |= OF;
    if ((a ^ b ^ res) & 0x10) f |= AF;
    r.rflags = (r.rflags & ~ARITH_FLAGS) | f;
}

}  // namespace

u64 operand_mask(unsigned size) { return size >= 8 ? ~u64{0} : (u64{1} << (size * 8)) - 1; }

bool decode(const u8* insn, usize len, Insn& d) {
    d = Insn{};
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
    bool byte_form = false;
    unsigned imm_bytes = 0;
    if (!two_byte && (op == 0x88 || op == 0x89)) {
        d.op = Insn::mov_reg, byte_form = op == 0x88;
    } else if (!two_byte && (op == 0xc6 || op == 0xc7)) {
        d.op = Insn::mov_imm, byte_form = op == 0xc6;
    } else if (!two_byte && (op == 0x86 || op == 0x87)) {
        d.op = Insn::xchg, byte_form = op == 0x86;
    } else if (!two_byte && (op == 0x08 || op == 0x09 || op == 0x20 || op == 0x21 || op == 0x30 || op == 0x31)) {
        d.op = Insn::alu_reg, byte_form = !(op & 1), d.sub = op >> 3;
    } else if (!two_byte && (op == 0x80 || op == 0x81 || op == 0x83)) {
        d.op = Insn::alu_imm, byte_form = op == 0x80;
    } else if (two_byte && (op == 0xb0 || op == 0xb1)) {
        d.op = Insn::cmpxchg, byte_form = op == 0xb0;
    } else if (two_byte && op == 0xba) {
        d.op = Insn::bit, imm_bytes = 1;
    } else {
        return false;
    }
    d.size = byte_form ? 1 : (rex & 8) ? 8 : opsize16 ? 2 : 4;
    if (d.op == Insn::mov_imm) imm_bytes = d.size == 8 ? 4 : d.size;
    if (d.op == Insn::alu_imm) imm_bytes = op == 0x81 ? (d.size == 2 ? 2 : 4) : 1;

    if (at >= len) return false;
    unsigned reg_field = (insn[at] >> 3) & 7;
    usize m = modrm_length(insn, len, at);
    if (!m) return false;
    at += m;
    d.high_byte = d.size == 1 && !rex && reg_field >= 4;
    d.reg = d.high_byte ? reg_field - 4 : reg_field | ((rex & 4) ? 8 : 0);
    if (d.op == Insn::mov_imm && reg_field != 0) return false;
    if (d.op == Insn::alu_imm) {
        if (reg_field != 1 && reg_field != 4 && reg_field != 6) return false;  // or, and, xor
        d.sub = reg_field;
    }
    if (d.op == Insn::bit) {
        if (reg_field < 5) return false;
        d.sub = reg_field;
    }
    if (at + imm_bytes > len) return false;
    u64 imm = 0;
    mem_copy(&imm, insn + at, imm_bytes);
    at += imm_bytes;
    d.imm = d.op == Insn::bit ? (imm & (d.size * 8 - 1)) : imm_bytes ? sign_extend(imm, imm_bytes, d.size) : 0;
    d.length = at;
    return true;
}

bool execute(const Insn& d, u64 old, Regs& r, u64* out) {
    old &= operand_mask(d.size);
    u64 val = 0;
    switch (d.op) {
    case Insn::mov_reg: val = reg_value(r, d); break;
    case Insn::xchg:
        val = reg_value(r, d);
        set_reg(r, d.reg, d.high_byte, d.size, old);
        break;
    case Insn::mov_imm: val = d.imm; break;
    case Insn::cmpxchg: {
        u64 acc = r.gpr[0] & operand_mask(d.size);
        compare_flags(r, acc, old, d.size);
        if (acc != old) {
            set_reg(r, 0, false, d.size, old);
            return false;
        }
        val = reg_value(r, d);
        break;
    }
    case Insn::bit: {
        u64 bit = u64{1} << d.imm;
        if (old & bit) r.rflags |= CF;
        else r.rflags &= ~CF;
        val = d.sub == 5 ? (old | bit) : d.sub == 6 ? (old & ~bit) : (old ^ bit);
        break;
    }
    case Insn::alu_reg:
    case Insn::alu_imm: {
        u64 src = d.op == Insn::alu_imm ? d.imm : reg_value(r, d);
        val = d.sub == 1 ? (old | src) : d.sub == 4 ? (old & src) : (old ^ src);
        logic_flags(r, val, d.size);
        break;
    }
    }
    *out = val & operand_mask(d.size);
    return true;
}

}  // namespace pv::ptwr
