// In-place page-table writes (core/pte_write.hpp): the instruction forms kernels use on PTEs,
// decoded from their bytes and executed on an entry's value, with the register and flag
// results the CPU would give.  The byte forms are what Linux's fork uses (`lock andb $0xfd`
// clearing RW for copy-on-write).
#include <gtest/gtest.h>

#include <vector>

#include "core/pte_write.hpp"

namespace {

using pv::u64;
using pv::u8;
using pv::ptwr::Insn;
using pv::ptwr::Regs;

constexpr u64 CF = 1, PF = 4, ZF = 0x40, SF = 0x80, OF = 0x800;
constexpr unsigned RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSI = 6, R12 = 12, R9 = 9;

Insn decode(std::vector<u8> bytes) {
    Insn d;
    EXPECT_TRUE(pv::ptwr::decode(bytes.data(), bytes.size(), d)) << "bytes " << bytes.size();
    EXPECT_EQ(d.length, bytes.size());
    return d;
}

bool refused(std::vector<u8> bytes) {
    Insn d;
    return !pv::ptwr::decode(bytes.data(), bytes.size(), d);
}

struct Outcome {
    bool written;
    u64 value;
    Regs regs;
};

Outcome run(std::vector<u8> bytes, u64 old, Regs r = {}) {
    Insn d = decode(bytes);
    Outcome out{};
    out.written = pv::ptwr::execute(d, old, r, &out.value);
    out.regs = r;
    return out;
}

TEST(PteWrite, LockAndbClearsRw) {
    // f0 41 80 24 24 fd: lock andb $0xfd, (%r12) — Linux 6.1's copy_page_range.
    Insn d = decode({0xf0, 0x41, 0x80, 0x24, 0x24, 0xfd});
    EXPECT_EQ(d.op, Insn::alu_imm);
    EXPECT_EQ(d.size, 1u);
    EXPECT_EQ(d.sub, 4u);
    Outcome r = run({0xf0, 0x41, 0x80, 0x24, 0x24, 0xfd}, 0x67, Regs{{}, CF | OF | ZF});
    EXPECT_TRUE(r.written);
    EXPECT_EQ(r.value, 0x65u);
    EXPECT_EQ(r.regs.rflags & (CF | OF | ZF | SF), 0u);
    Outcome zero = run({0xf0, 0x80, 0x20, 0x02}, 0xfd);  // lock andb $2, (%rax): result 0
    EXPECT_EQ(zero.value, 0u);
    EXPECT_EQ(zero.regs.rflags & (ZF | PF), ZF | PF);
}

TEST(PteWrite, OrAndXorForms) {
    Outcome orb = run({0xf0, 0x80, 0x08, 0x02}, 0x65);  // lock orb $2, (%rax)
    EXPECT_EQ(orb.value, 0x67u);
    Outcome orq = run({0x48, 0x83, 0x08, 0xff}, 0x1234);  // orq $-1 (sign-extended), (%rax)
    EXPECT_EQ(orq.value, ~u64{0});
    EXPECT_EQ(orq.regs.rflags & SF, SF);
    Regs r{};
    r.gpr[RDX] = u64{1} << 63;
    Outcome xorq = run({0x48, 0x31, 0x10}, 0x8000000000000001ull, r);  // xorq %rdx, (%rax)
    EXPECT_EQ(xorq.value, 1u);
    Outcome andl = run({0x81, 0x20, 0x00, 0xf0, 0xff, 0xff}, 0xdeadbeef);  // andl $0xfffff000, (%rax)
    EXPECT_EQ(andl.value, 0xdeadb000u);
    EXPECT_TRUE(refused({0x80, 0x00, 0x01}));  // addb: not a PTE operation
}

TEST(PteWrite, MovForms) {
    Regs r{};
    r.gpr[R9] = 0x8000000012345067ull;
    Outcome movq = run({0x4c, 0x89, 0x08}, 0, r);  // movq %r9, (%rax)
    EXPECT_EQ(movq.value, r.gpr[R9]);
    Outcome movl = run({0x44, 0x89, 0x08}, 0, r);  // movl %r9d, (%rax)
    EXPECT_EQ(movl.value, 0x12345067u);
    Outcome imm = run({0x48, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80}, 0);  // movq $-2^31, (%rax)
    EXPECT_EQ(imm.value, 0xffffffff80000000ull);
    Outcome movb = run({0xc6, 0x40, 0x08, 0x63}, 0);  // movb $0x63, 8(%rax)
    EXPECT_EQ(movb.value, 0x63u);
    Outcome movw = run({0x66, 0xc7, 0x00, 0x34, 0x12}, 0);  // movw $0x1234, (%rax)
    EXPECT_EQ(movw.value, 0x1234u);
    EXPECT_TRUE(refused({0x48, 0xc7, 0x08, 0, 0, 0, 0}));  // C7 /1 is not mov
    EXPECT_TRUE(refused({0x48, 0x89, 0xc8}));             // a register destination
}

TEST(PteWrite, XchgReturnsOld) {
    Regs r{};
    r.gpr[RBX] = 0x1111;
    Outcome q = run({0x48, 0x87, 0x18}, 0x2222, r);  // xchgq %rbx, (%rax)
    EXPECT_EQ(q.value, 0x1111u);
    EXPECT_EQ(q.regs.gpr[RBX], 0x2222u);
    r.gpr[RCX] = 0xffffffffffff1234ull;
    Outcome b = run({0x86, 0x28}, 0x67, r);  // xchgb %ch, (%rax): CH is register 5 without REX
    EXPECT_EQ(b.value, 0x12u);
    EXPECT_EQ(b.regs.gpr[RCX], 0xffffffffffff6734ull);
    r.gpr[RSI] = 0xaa;
    Outcome sil = run({0x40, 0x86, 0x30}, 0x55, r);  // xchgb %sil, (%rax): with REX, register 6 is SIL
    EXPECT_EQ(sil.value, 0xaau);
    EXPECT_EQ(sil.regs.gpr[RSI], 0x55u);
}

TEST(PteWrite, CmpxchgSucceedsOrLoadsAccumulator) {
    Regs r{};
    r.gpr[RAX] = 0x67;
    r.gpr[RDX] = 0x65;
    Outcome ok = run({0xf0, 0x48, 0x0f, 0xb1, 0x11}, 0x67, r);  // lock cmpxchgq %rdx, (%rcx)
    EXPECT_TRUE(ok.written);
    EXPECT_EQ(ok.value, 0x65u);
    EXPECT_EQ(ok.regs.rflags & (ZF | CF), ZF);
    Outcome fail = run({0xf0, 0x48, 0x0f, 0xb1, 0x11}, 0x80, r);
    EXPECT_FALSE(fail.written);
    EXPECT_EQ(fail.regs.gpr[RAX], 0x80u);
    EXPECT_EQ(fail.regs.rflags & (ZF | CF), CF);  // 0x67 - 0x80 borrows
    r.gpr[RAX] = 0xffffffff00000001ull;
    Outcome l = run({0x0f, 0xb1, 0x11}, 0x2, r);  // cmpxchgl: a 4-byte result zeroes RAX's top
    EXPECT_FALSE(l.written);
    EXPECT_EQ(l.regs.gpr[RAX], 0x2u);
}

TEST(PteWrite, BitTestAndChange) {
    Outcome btr = run({0xf0, 0x48, 0x0f, 0xba, 0x30, 0x01}, 0x67);  // lock btrq $1, (%rax)
    EXPECT_EQ(btr.value, 0x65u);
    EXPECT_EQ(btr.regs.rflags & CF, CF);
    Outcome bts = run({0x48, 0x0f, 0xba, 0x28, 0x3f}, 0x65);  // btsq $63, (%rax)
    EXPECT_EQ(bts.value, 0x8000000000000065ull);
    EXPECT_EQ(bts.regs.rflags & CF, 0u);
    Outcome btc = run({0x0f, 0xba, 0x38, 0x21}, 0x0);  // btcl $33 -> bit 1 of a 4-byte operand
    EXPECT_EQ(btc.value, 0x2u);
    EXPECT_TRUE(refused({0x0f, 0xba, 0x20, 0x01}));  // bt (4): reads only, never faults a write
}

TEST(PteWrite, AddressingAndTruncation) {
    // SIB with a 32-bit displacement, RIP-relative, and an 8-bit displacement all decode.
    EXPECT_EQ(decode({0x48, 0x89, 0x84, 0x24, 0x10, 0x00, 0x00, 0x00}).length, 8u);
    EXPECT_EQ(decode({0x48, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00}).length, 7u);
    EXPECT_EQ(decode({0x48, 0x89, 0x43, 0x08}).length, 4u);
    // Cut short anywhere, nothing decodes.
    std::vector<u8> full = {0xf0, 0x48, 0x81, 0x64, 0x24, 0x08, 0xff, 0xff, 0xff, 0x7f};
    EXPECT_EQ(decode(full).length, full.size());
    for (size_t n = 0; n < full.size(); ++n) EXPECT_TRUE(refused({full.begin(), full.begin() + static_cast<long>(n)})) << n;
}

}  // namespace
