// Writable page tables (Xen's pv/ro-page-fault.c; VMASST_TYPE_writable_pagetables, always on for 64-bit guests): a guest
// kernel may write its L1 page-table entries with ordinary instructions although the tables are
// mapped read-only.  The write faults; here it is decoded and carried out as an mmu_update would
// be — validated, references moved — then the guest resumes after the instruction.  Updates must
// be atomic as the guest wrote them (xchg, cmpxchg, lock btr), so each is one update_entry of the
// whole 8-byte entry, computed from the current value.
//
// The instruction forms and their execution are arch-neutral (core/pte_write.hpp).
#include <arch/cpu.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/pte_write.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {

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
    ptwr::Insn d;
    if (!len || !ptwr::decode(insn, len, d)) return false;
    // The operand must lie inside one 8-byte entry.
    unsigned offset = static_cast<unsigned>(cr2 & 7);
    if (offset + d.size > 8) return false;
    auto index = static_cast<unsigned>((cr2 & (PAGE_SIZE - 1)) >> 3);
    u64 cur = mmu_entry(table_mfn, index);
    u64 mask = ptwr::operand_mask(d.size) << (offset * 8);

    // Registers and flags change only if the write is done (or not needed, as for a failed
    // cmpxchg): execute on a copy.
    ptwr::Regs regs;
    for (unsigned i = 0; i < 16; ++i) regs.gpr[i] = gpr(f, i);
    regs.rflags = f.rflags;
    u64 val;
    if (ptwr::execute(d, (cur & mask) >> (offset * 8), regs, &val)) {
        u64 nv = (cur & ~mask) | (val << (offset * 8));
        if (!mmu_write_entry(*v.domain, table_mfn, index, nv)) return false;  // the guest's #PF stands
        invlpg(reinterpret_cast<void*>(cr2));
    }
    for (unsigned i = 0; i < 16; ++i) gpr(f, i) = regs.gpr[i];
    f.rflags = regs.rflags;
    f.rip += d.length;
    return true;
}

}  // namespace pv::arch::pv
