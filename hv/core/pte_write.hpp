// The instructions a PV kernel uses to write a page-table entry in place, decoded and executed
// against a value (Xen's ptwr emulation, pv/ro-page-fault.c, does this with its full x86
// emulator).  The hypervisor's writable-page-table path (arch/x86_64/pv/ptwr.cpp) decodes the
// faulting instruction, reads the entry, lets execute() compute the new value and the register
// and flag results, and writes the entry through the validated MMU; the results reach the
// guest only if that write is accepted.
//
// Forms (what kernels use for PTEs): mov r/m, r (88/89) and r/m, imm (C6/C7 /0), xchg (86/87),
// cmpxchg (0F B0/B1), bts/btr/btc r/m, imm8 (0F BA /5-7), and/or/xor r/m, r (08/09, 20/21,
// 30/31) and r/m, imm (80/81/83 /1 /4 /6: Linux's clear_bit/set_bit of a constant bit is
// `lock andb`/`lock orb`); 1-, 2-, 4- or 8-byte operands; lock, operand-size and REX prefixes;
// any ModRM memory operand.  Anything else is not decoded (the guest's page fault stands).
#pragma once
#include "lib/types.hpp"

namespace pv::ptwr {

struct Insn {
    enum Op : u8 { mov_reg, mov_imm, xchg, cmpxchg, bit, alu_reg, alu_imm } op;
    unsigned size;   // operand bytes: 1, 2, 4 or 8
    unsigned reg;    // register operand (mov_reg, xchg, cmpxchg, alu_reg), x86 numbering
    bool high_byte;  // reg names AH/CH/DH/BH (a byte operand without REX)
    u64 imm;         // mov_imm, alu_imm (sign-extended to the operand), bit (bit number)
    unsigned sub;    // bit: 5 bts, 6 btr, 7 btc; alu: 1 or, 4 and, 6 xor
    usize length;    // bytes of the whole instruction
};

// Decodes insn[0..len); false for anything not in the list above.
bool decode(const u8* insn, usize len, Insn& d);

// The registers an instruction reads and writes: the 16 general registers by x86 number, and
// RFLAGS.
struct Regs {
    u64 gpr[16];
    u64 rflags;
};

// Executes d on the operand's current value `old` (the operand's bytes of the entry, zero-
// extended).  Updates r as the CPU would (flags, the old value for xchg and a failed cmpxchg)
// and returns whether the operand is written and with what (`*out`, the operand's bytes).
bool execute(const Insn& d, u64 old, Regs& r, u64* out);

u64 operand_mask(unsigned size);

}  // namespace pv::ptwr
