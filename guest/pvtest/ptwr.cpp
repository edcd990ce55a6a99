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
