// Writable page tables (VMASST_TYPE_writable_pagetables, enabled by check_vm_assist): a write
// by ordinary instructions to an L1 entry, through the read-only mapping every page-table page
// has, faults into the hypervisor, which validates the new entry and emulates the write.  An
// entry that fails validation leaves the fault to the guest's #PF handler.
#include "guest/pvtest/pvtest.hpp"
#include "guest/pvtest/traps.hpp"

using namespace pvt;

namespace {

alignas(4096) constinit char page_a[4096];
alignas(4096) constinit char page_b[4096];

void invlpg(const volatile void* p) { hc::mmuext1(MMUEXT_INVLPG_LOCAL, va(p)); }

// Entries compared without the bits the CPU or Xen may set on their own: accessed, dirty,
// global.
bool same_entry(u64 x, u64 y) {
    constexpr u64 MASK = ~(PTE_A | PTE_D | (1u << 8));
    return (x & MASK) == (y & MASK);
}

char first_byte_of_a() {
    invlpg(page_a);
    return read_once(&page_a[0]);
}

}  // namespace

void pvt::check_writable_pagetables() {
    page_a[0] = 'a';
    page_b[0] = 'b';
    u64* slot = l1e_ptr(va(page_a));
    u64 l1e_a = l1e_of(va(page_a));
    u64 l1e_b = l1e_of(va(page_b));
    u64 to_b = (l1e_a & ~PTE_ADDR) | (l1e_b & PTE_ADDR);
    info("ptwr: L1 entry at %#llx: %#llx", static_cast<unsigned long long>(va(slot)),
         static_cast<unsigned long long>(l1e_a));

    // A plain MOV.
    unsigned before = g_ntraps;
    asm volatile(PVT_GUARDED("movq %1, (%0)") : : "r"(slot), "r"(to_b) : "r11", "memory");
    bool trapped = g_ntraps != before;
    char seen = first_byte_of_a();
    check("ptwr.mov_emulated", !trapped && seen == 'b' && same_entry(read_once(slot), to_b),
          "%s, read '%c', entry %#llx", trapped ? "trapped" : "no trap", seen,
          static_cast<unsigned long long>(read_once(slot)));

    // XCHG (atomic, returns the old entry).
    u64 old = l1e_a;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("xchgq %0, (%1)") : "+r"(old) : "r"(slot) : "r11", "memory");
    trapped = g_ntraps != before;
    seen = first_byte_of_a();
    check("ptwr.xchg_emulated", !trapped && same_entry(old, to_b) && seen == 'a', "%s, old %#llx, read '%c'",
          trapped ? "trapped" : "no trap", static_cast<unsigned long long>(old), seen);

    // LOCK CMPXCHG, succeeding then failing.
    u64 expect = l1e_a;
    u8 zf = 0;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("lock cmpxchgq %2, (%3)") "setz %1\n\t"
                 : "+a"(expect), "=q"(zf)
                 : "r"(to_b), "r"(slot)
                 : "r11", "memory", "cc");
    trapped = g_ntraps != before;
    seen = first_byte_of_a();
    check("ptwr.cmpxchg_emulated", !trapped && zf && seen == 'b', "%s, zf %u, read '%c'",
          trapped ? "trapped" : "no trap", zf, seen);
    expect = l1e_a;  // stale: the entry now maps page_b
    before = g_ntraps;
    asm volatile(PVT_GUARDED("lock cmpxchgq %2, (%3)") "setz %1\n\t"
                 : "+a"(expect), "=q"(zf)
                 : "r"(l1e_a), "r"(slot)
                 : "r11", "memory", "cc");
    trapped = g_ntraps != before;
    check("ptwr.cmpxchg_compare_fails", !trapped && !zf && same_entry(expect, to_b) && first_byte_of_a() == 'b',
          "%s, zf %u, returned %#llx", trapped ? "trapped" : "no trap", zf,
          static_cast<unsigned long long>(expect));

    // Back to page_a by MOV.
    before = g_ntraps;
    asm volatile(PVT_GUARDED("movq %1, (%0)") : : "r"(slot), "r"(l1e_a) : "r11", "memory");
    trapped = g_ntraps != before;
    check("ptwr.restore", !trapped && first_byte_of_a() == 'a', "%s",
          trapped ? "trapped" : "no trap");

    // Narrow read-modify-writes, as Linux's clear_bit/set_bit of a constant bit compile to
    // (`lock andb`, `lock orb` on one byte of the entry), and the bit instructions.
    u8 after = 0;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("lock andb $0xfd, (%1)") "setz %0\n\t" : "=q"(after) : "r"(slot) : "r11", "memory", "cc");
    trapped = g_ntraps != before;
    u64 now = read_once(slot);
    check("ptwr.andb_clears_rw", !trapped && !after && same_entry(now, l1e_a & ~PTE_RW), "%s, zf %u, entry %#llx",
          trapped ? "trapped" : "no trap", after, static_cast<unsigned long long>(now));
    before = g_ntraps;
    asm volatile(PVT_GUARDED("lock orb $0x02, (%1)") "setz %0\n\t" : "=q"(after) : "r"(slot) : "r11", "memory", "cc");
    trapped = g_ntraps != before;
    now = read_once(slot);
    check("ptwr.orb_sets_rw", !trapped && !after && same_entry(now, l1e_a), "%s, zf %u, entry %#llx",
          trapped ? "trapped" : "no trap", after, static_cast<unsigned long long>(now));
    u8 cf_clear = 0, cf_set = 0;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("lock btrq $1, (%2)") "setc %0\n\t" PVT_GUARDED("lock btsq $1, (%2)") "setc %1\n\t"
                 : "=q"(cf_clear), "=q"(cf_set) : "r"(slot) : "r11", "memory", "cc");
    trapped = g_ntraps != before;
    now = read_once(slot);
    check("ptwr.btr_bts", !trapped && cf_clear == 1 && cf_set == 0 && same_entry(now, l1e_a), "%s, cf %u then %u, entry %#llx",
          trapped ? "trapped" : "no trap", cf_clear, cf_set, static_cast<unsigned long long>(now));
    // The upper half alone (NX lives there), by a 4-byte MOV at offset 4, then back.
    u32 high = static_cast<u32>(l1e_a >> 32);
    u32 high_nx = high | 0x80000000u;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("movl %1, 4(%0)") : : "r"(slot), "r"(high_nx) : "r11", "memory");
    u64 with_nx = read_once(slot);
    asm volatile(PVT_GUARDED("movl %1, 4(%0)") : : "r"(slot), "r"(high) : "r11", "memory");
    trapped = g_ntraps != before;
    now = read_once(slot);
    check("ptwr.movl_high_half", !trapped && same_entry(with_nx, l1e_a | (u64{1} << 63)) && same_entry(now, l1e_a),
          "%s, with NX %#llx, after %#llx", trapped ? "trapped" : "no trap",
          static_cast<unsigned long long>(with_nx), static_cast<unsigned long long>(now));
    // A byte XCHG returns the old byte in the register.
    u8 low = static_cast<u8>(read_once(slot));
    u8 swap = low;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("xchgb %0, (%1)") : "+q"(swap) : "r"(slot) : "r11", "memory");
    trapped = g_ntraps != before;
    check("ptwr.xchgb", !trapped && swap == low && same_entry(read_once(slot), l1e_a), "%s, old byte %#x",
          trapped ? "trapped" : "no trap", swap);
    // An entry that fails validation (a writable mapping of the L4) is not written: the fault
    // reaches the guest as a #PF on the entry's address, error code P|W.
    u64 bad = (l1e_a & ~PTE_ADDR) | (kernel_l4_mfn() << PAGE_SHIFT) | PTE_RW;
    before = g_ntraps;
    asm volatile(PVT_GUARDED("movq %1, (%0)") : : "r"(slot), "r"(bad) : "r11", "memory");
    const TrapRecord* t = g_ntraps != before ? last_trap() : nullptr;
    check("ptwr.invalid_entry_pf",
          t && t->vector == 14 && t->error == 3 && t->cr2 == va(slot) && same_entry(read_once(slot), l1e_a),
          "vector %llu error %#llx cr2 %#llx, entry now %#llx",
          t ? static_cast<unsigned long long>(t->vector) : 0ull,
          t ? static_cast<unsigned long long>(t->error) : 0ull,
          t ? static_cast<unsigned long long>(t->cr2) : 0ull,
          static_cast<unsigned long long>(read_once(slot)));

    // Turning the assist off changes nothing: Xen 4.17 emulates a 64-bit guest's writes to its
    // L1 pages without consulting it (surprising, but what the oracle does).
    long rc = hc::vm_assist(VMASST_CMD_disable, VMASST_TYPE_writable_pagetables);
    before = g_ntraps;
    asm volatile(PVT_GUARDED("movq %1, (%0)") : : "r"(slot), "r"(to_b) : "r11", "memory");
    trapped = g_ntraps != before;
    seen = first_byte_of_a();
    asm volatile(PVT_GUARDED("movq %1, (%0)") : : "r"(slot), "r"(l1e_a) : "r11", "memory");
    long rc_on = hc::vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables);
    check("ptwr.emulated_with_assist_off",
          rc == 0 && rc_on == 0 && !trapped && seen == 'b' && first_byte_of_a() == 'a',
          "disable %ld enable %ld, %s, read '%c'", rc, rc_on, trapped ? "trapped" : "no trap", seen);
}
