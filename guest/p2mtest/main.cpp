// p2mtest: a PV64 domain-0 kernel with an INIT_P2M note (notes.S), checking the layout Xen's
// dom0 builder gives it in that case (xen/arch/x86/pv/dom0_build.c, setup_pv_physmap):
//
//   * start_info.mfn_list is the note's address, and the p2m list there is readable, writable
//     up to the end of its last page, and the inverse of the M2P for every pfn;
//   * the bootstrap region no longer holds the p2m: start_info follows the kernel, then the
//     page tables (their number from Xen's search), the stack and the padding to 4 MiB;
//   * the p2m's frames come right after the bootstrap allocation (2^order pages), taken in the
//     walk's order: the new L3, L2 and L1, then the p2m pages; start_info.first_p2m_pfn and
//     nr_p2m_frames describe them, and the tables are typed page tables no mapping reaches.
//
// Every expected value is computed here from Xen's formulas, so the checks pass on Xen 4.17
// (ctest xen-p2mtest) and must print the same lines on pvisor (pvisor-p2mtest,
// p2mtest-differential).  Command line: expect_mem=<size> (dom0_mem).
#include "guest/lib/builder/xen_tools.hpp"  // first: sysctl.h

#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/xen.hpp"
#include "guest/p2mtest/p2mtest.h"
#include "lib/format.hpp"
#include "lib/string.hpp"

namespace {

using namespace pvg;

constexpr u64 PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_US = 1u << 2, PTE_A = 1u << 5, PTE_D = 1u << 6;
constexpr u64 PTE_ADDR = 0x000ffffffffff000ull;
// The bits Xen's builder sets in every entry of the p2m's mapping (L1_PROT|_PAGE_DIRTY and
// L2-L4_PROT): present, writable, user (the kernel runs in ring 3), accessed, dirty.
constexpr u64 P2M_PROT = PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
constexpr u64 VIRT_BASE = 0xffffffff80000000ull;
constexpr u64 P2M_BASE = P2MTEST_P2M_BASE;

const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);
const start_info_t* g_si;
const xen_pfn_t* g_p2m;

// A page of .bss, remapped read-only onto the p2m's page tables to read them (nothing else maps
// them).
alignas(4096) constinit u64 window[512];

u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }
u64 page_up(u64 v) { return pv::align_up(v, u64{PAGE_SIZE}); }

// The L1 entry mapping `addr` in the bootstrap tables (each readable in the region through the
// M2P), or 0 when some level is not present.
u64 l1e_of(u64 addr) {
    const u64* t = reinterpret_cast<const u64*>(g_si->pt_base);
    for (unsigned shift = 39; shift > 12; shift -= 9) {
        u64 e = t[(addr >> shift) & 511];
        if (!(e & PTE_P)) return 0;
        t = reinterpret_cast<const u64*>(VIRT_BASE + (m2p[(e & PTE_ADDR) >> PAGE_SHIFT] << PAGE_SHIFT));
    }
    return t[(addr >> 12) & 511];
}

// Copies the page-table frame `mfn` into `out` through the window; false if it cannot be mapped.
bool read_frame(u64 mfn, u64 (&out)[512]) {
    u64 saved = l1e_of(va(window));
    if (hc::update_va_mapping(va(window), (mfn << PAGE_SHIFT) | PTE_P | PTE_US | PTE_A, UVMF_INVLPG | UVMF_LOCAL))
        return false;
    for (unsigned i = 0; i < 512; ++i) out[i] = static_cast<const volatile u64*>(window)[i];
    return hc::update_va_mapping(va(window), saved, UVMF_INVLPG | UVMF_LOCAL) == 0;
}

long pin(unsigned cmd, u64 mfn) { return hc::mmuext1(cmd, mfn); }

u64 nr_regions(u64 lo, u64 hi, unsigned shift) {
    u64 size = u64{1} << shift;
    return (pv::align_up(hi, size) - pv::align_down(lo, size)) >> shift;
}

// What Xen's builder computes for this kernel: page-table frames, region end, allocation.
struct Expected {
    u64 si, pt_base, nr_pt, stack_top, v_end, alloc_pages, p2m_pages;
};

Expected expected_layout(u64 nr_pages) {
    Expected x{};
    x.si = page_up(va(__image_end));  // no initrd, and the p2m's slot is empty
    x.pt_base = page_up(x.si + sizeof(start_info_t) + sizeof(dom0_vga_console_info_t));
    for (x.nr_pt = 2;; ++x.nr_pt) {
        x.stack_top = x.pt_base + (x.nr_pt + 1) * PAGE_SIZE;
        x.v_end = pv::align_up(x.stack_top, u64{4} << 20);
        if (x.v_end - x.stack_top < (u64{512} << 10)) x.v_end += u64{4} << 20;
        if (1 + nr_regions(VIRT_BASE, x.v_end, 39) + nr_regions(VIRT_BASE, x.v_end, 30) +
                nr_regions(VIRT_BASE, x.v_end, 21) <=
            x.nr_pt)
            break;
    }
    x.alloc_pages = 1;
    while (x.alloc_pages * PAGE_SIZE < x.v_end - VIRT_BASE) x.alloc_pages <<= 1;
    x.p2m_pages = page_up(nr_pages * sizeof(xen_pfn_t)) >> PAGE_SHIFT;
    return x;
}

// The host's memory as sysctl physinfo reports it to domain 0: total_pages counts RAM (Xen's
// total_pages, from the memory map), not every frame up to the top of RAM, so it stays below
// max_mfn + 1 (a PC's legacy hole below 1 MiB is never RAM) and holds domain 0's own pages.
void check_physinfo(const start_info_t* si) {
    xen_sysctl_t op{};
    op.cmd = XEN_SYSCTL_physinfo;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    if (!CHECK_EQ("physinfo.call", hypercall(__HYPERVISOR_sysctl, arg(&op)), 0)) return;
    const xen_sysctl_physinfo& pi = op.u.physinfo;
    info("physinfo: total_pages %lu free_pages %lu max_mfn %#lx", static_cast<unsigned long>(pi.total_pages),
         static_cast<unsigned long>(pi.free_pages), static_cast<unsigned long>(pi.max_mfn));
    CHECK("physinfo.total_pages_is_ram", pi.total_pages < pi.max_mfn + 1);
    CHECK("physinfo.total_pages_hold_dom0", pi.total_pages >= si->nr_pages + pi.free_pages);
}

// XENMEM_machine_memory_map (domain 0 only): the host's E820 map.  Linux's xen_memory_setup calls
// it first thing as the initial domain and BUG()s on -ENOSYS.  The entries are named in the check
// lines, so the differential test compares the maps themselves (the same QEMU machine).
struct E820Entry {
    u64 addr, size;
    u32 type;
} __attribute__((packed));

void check_machine_memory_map() {
    E820Entry map[64];
    xen_memory_map_t mm{};
    mm.nr_entries = 64;
    set_xen_guest_handle(mm.buffer, map);
    long rc = hc::memory_op(XENMEM_machine_memory_map, &mm);
    if (!CHECK_EQ("machine_memory_map.call", rc, 0)) return;
    CHECK("machine_memory_map.entries", mm.nr_entries > 0 && mm.nr_entries <= 64);
    for (unsigned i = 0; i < mm.nr_entries && i < 64; ++i) {
        char name[96];
        pv::format(name, sizeof name, "machine_memory_map.e%u_%#llx_%#llx_type%u", i,
                   static_cast<unsigned long long>(map[i].addr), static_cast<unsigned long long>(map[i].size),
                   map[i].type);
        check_pass(name);
    }
    // Too small a buffer (Xen wants room for one more entry than the map has): -EINVAL.
    xen_memory_map_t small{};
    small.nr_entries = mm.nr_entries;
    set_xen_guest_handle(small.buffer, map);
    CHECK_EQ("machine_memory_map.exact_size_buffer", hc::memory_op(XENMEM_machine_memory_map, &small), -XEN_EINVAL);
    xen_memory_map_t none{};
    none.nr_entries = 0;
    set_xen_guest_handle(none.buffer, static_cast<E820Entry*>(nullptr));
    CHECK_EQ("machine_memory_map.count_only", hc::memory_op(XENMEM_machine_memory_map, &none), 0);
    CHECK_EQ("machine_memory_map.count_only_entries", none.nr_entries, mm.nr_entries);
    CHECK_EQ("machine_memory_map.bad_pointer", hc::memory_op(XENMEM_machine_memory_map, reinterpret_cast<void*>(8)), -XEN_EFAULT);
}

void check_start_info(const start_info_t* si) {
    CHECK("start_info.magic", pv::str_ncompare(si->magic, "xen-3.0-x86_64", sizeof(si->magic)) == 0);
    CHECK_EQ_HEX("start_info.flags", si->flags & (SIF_PRIVILEGED | SIF_INITDOMAIN), SIF_PRIVILEGED | SIF_INITDOMAIN);
    const char* line = reinterpret_cast<const char*>(si->cmd_line);
    pv::StrView mem = cmdline_value(pv::StrView(line, pv::str_nlen(line, MAX_GUEST_CMDLINE)), "expect_mem");
    u64 bytes = 0;
    if (mem.empty() || !pv::parse_size(mem, &bytes))
        check_fail("start_info.nr_pages", "no valid expect_mem=<size> on the command line");
    else
        CHECK_EQ("start_info.nr_pages", si->nr_pages, bytes >> PAGE_SHIFT);
    CHECK_EQ_HEX("start_info.mfn_list_at_init_p2m", si->mfn_list, P2M_BASE);
}

void check_layout(const start_info_t* si, const Expected& x) {
    const EntryState& es = entry_state;
    CHECK_EQ_HEX("layout.image_at_virt_base", va(__image_start), VIRT_BASE);
    CHECK_EQ_HEX("layout.start_info_after_image", va(si), x.si);
    CHECK_EQ_HEX("layout.start_info_in_rsi", es.rsi, va(si));
    CHECK_EQ_HEX("layout.page_tables_after_start_info", si->pt_base, x.pt_base);
    CHECK_EQ("layout.nr_pt_frames", si->nr_pt_frames, x.nr_pt);
    CHECK_EQ_HEX("layout.stack_after_page_tables", es.rsp, x.stack_top);
    u64 last = l1e_of(x.v_end - PAGE_SIZE), beyond = l1e_of(x.v_end);
    check("layout.region_end", (last & PTE_P) && !(beyond & PTE_P), "last page's L1e %#llx, next %#llx",
          static_cast<unsigned long long>(last), static_cast<unsigned long long>(beyond));
    u64 bad = 0;
    for (u64 i = 0; i < si->nr_pt_frames; ++i) {
        u64 e = l1e_of(si->pt_base + i * PAGE_SIZE);
        if (!(e & PTE_P) || (e & PTE_RW)) ++bad;
    }
    check("layout.page_tables_mapped_readonly", bad == 0, "%llu of %lu not mapped read-only",
          static_cast<unsigned long long>(bad), si->nr_pt_frames);
    CHECK_EQ("start_info.first_p2m_pfn", si->first_p2m_pfn, x.alloc_pages);
    CHECK_EQ("start_info.nr_p2m_frames", si->nr_p2m_frames, x.p2m_pages + 3);
}

void check_p2m_contents(const start_info_t* si) {
    long max_ram_page = hc::memory_op(XENMEM_maximum_ram_page, nullptr);
    u64 bad = 0, first_bad = ~0ull;
    for (u64 pfn = 0; pfn < si->nr_pages; ++pfn) {
        u64 mfn = g_p2m[pfn];
        if (mfn >= static_cast<u64>(max_ram_page) || m2p[mfn] != pfn) {
            if (!bad++) first_bad = pfn;
        }
    }
    check("p2m.inverse_of_m2p", max_ram_page > 0 && bad == 0, "%llu mismatches, first pfn %#llx",
          static_cast<unsigned long long>(bad), static_cast<unsigned long long>(first_bad));
}

// The p2m's mapping: L4 slot -> new L3 (pfn first) -> new L2 (first + 1) -> new L1 (first + 2)
// -> the p2m pages (first + 3 ...), each entry with P2M_PROT, nothing else present.
void check_p2m_mapping(const start_info_t* si, const Expected& x) {
    const u64 first = si->first_p2m_pfn;
    const u64* l4 = reinterpret_cast<const u64*>(si->pt_base);
    u64 l4e = l4[(P2M_BASE >> 39) & 511];
    info("p2m: first_p2m_pfn %#lx nr_p2m_frames %lu, L4e %#llx", si->first_p2m_pfn, si->nr_p2m_frames,
         static_cast<unsigned long long>(l4e));
    if (first + x.p2m_pages + 3 > si->nr_pages) {
        check_fail("p2m.mapping", "first_p2m_pfn %#lx leaves no room for the p2m", si->first_p2m_pfn);
        return;
    }
    CHECK_EQ_HEX("p2m.l4e_is_first_frame", (l4e & PTE_ADDR) >> PAGE_SHIFT, g_p2m[first]);
    CHECK_EQ_HEX("p2m.l4e_flags", l4e & 0xfff, P2M_PROT);

    static u64 t[512];
    const u64 frames[3] = {g_p2m[first], g_p2m[first + 1], g_p2m[first + 2]};
    const unsigned shifts[2] = {30, 21};
    const char* names[2][3] = {{"p2m.l3_read", "p2m.l3_only_entry_is_l2", "p2m.l3e_flags"},
                               {"p2m.l2_read", "p2m.l2_only_entry_is_l1", "p2m.l2e_flags"}};
    for (unsigned lvl = 0; lvl < 2; ++lvl) {
        if (!check(names[lvl][0], read_frame(frames[lvl], t), "cannot map mfn %#lx", frames[lvl])) return;
        unsigned present = 0;
        for (u64 e : t) present += (e & PTE_P) ? 1 : 0;
        u64 e = t[(P2M_BASE >> shifts[lvl]) & 511];
        check(names[lvl][1], present == 1 && ((e & PTE_ADDR) >> PAGE_SHIFT) == frames[lvl + 1],
              "%u entries present, entry %#llx", present, static_cast<unsigned long long>(e));
        CHECK_EQ_HEX(names[lvl][2], e & 0xfff, P2M_PROT);
    }
    if (!check("p2m.l1_read", read_frame(frames[2], t), "cannot map mfn %#lx", frames[2])) return;
    u64 wrong = 0, flags_wrong = 0, extra = 0;
    for (u64 i = 0; i < 512; ++i) {
        if (i < x.p2m_pages) {
            if (((t[i] & PTE_ADDR) >> PAGE_SHIFT) != g_p2m[first + 3 + i]) ++wrong;
            if ((t[i] & 0xfff) != P2M_PROT) ++flags_wrong;
        } else if (t[i] & PTE_P) {
            ++extra;
        }
    }
    info("p2m: L1e 0 %#llx", static_cast<unsigned long long>(t[0]));
    check("p2m.pages_follow_tables", wrong == 0 && extra == 0, "%llu pages elsewhere, %llu entries beyond",
          static_cast<unsigned long long>(wrong), static_cast<unsigned long long>(extra));
    check("p2m.l1e_flags", flags_wrong == 0, "%llu entries with other flags", static_cast<unsigned long long>(flags_wrong));

    // The tables are typed (and validated) page tables: pinning each as its level works; a p2m
    // page (mapped writable) is no page table.
    CHECK_EQ("p2m.l3_pins_as_l3", pin(MMUEXT_PIN_L3_TABLE, frames[0]), 0);
    CHECK_EQ("p2m.l3_unpins", pin(MMUEXT_UNPIN_TABLE, frames[0]), 0);
    CHECK_EQ("p2m.l2_pins_as_l2", pin(MMUEXT_PIN_L2_TABLE, frames[1]), 0);
    CHECK_EQ("p2m.l2_unpins", pin(MMUEXT_UNPIN_TABLE, frames[1]), 0);
    CHECK_EQ("p2m.l1_pins_as_l1", pin(MMUEXT_PIN_L1_TABLE, frames[2]), 0);
    CHECK_EQ("p2m.l1_unpins", pin(MMUEXT_UNPIN_TABLE, frames[2]), 0);
    CHECK("p2m.page_is_no_table", pin(MMUEXT_PIN_L1_TABLE, g_p2m[first + 3]) < 0);
}

// Linux fills the rest of the p2m's last page with INVALID_P2M_ENTRY: it must be writable.
void check_p2m_tail(const start_info_t* si) {
    auto* p2m = const_cast<volatile xen_pfn_t*>(g_p2m);
    u64 end = page_up(si->nr_pages * sizeof(xen_pfn_t)) / sizeof(xen_pfn_t);
    for (u64 i = si->nr_pages; i < end; ++i) p2m[i] = ~0ul;
    bool same = true;
    for (u64 i = si->nr_pages; i < end; ++i) same = same && p2m[i] == ~0ul;
    CHECK("p2m.tail_writable", same);
}

}  // namespace

extern "C" [[noreturn]] void guest_main(start_info_t* si) {
    set_report_prefix("p2mtest");
    g_si = si;
    g_p2m = reinterpret_cast<const xen_pfn_t*>(si->mfn_list);
    print("p2mtest: start\n");
    info("start_info at %#llx: nr_pages %lu mfn_list %#lx pt_base %#lx nr_pt_frames %lu first_p2m_pfn %#lx "
         "nr_p2m_frames %lu, entry RSP %#llx, image %#llx-%#llx",
         static_cast<unsigned long long>(va(si)), si->nr_pages, si->mfn_list, si->pt_base, si->nr_pt_frames,
         si->first_p2m_pfn, si->nr_p2m_frames, static_cast<unsigned long long>(entry_state.rsp),
         static_cast<unsigned long long>(va(__image_start)), static_cast<unsigned long long>(va(__image_end)));
    Expected x = expected_layout(si->nr_pages);
    check_start_info(si);
    check_physinfo(si);
    check_machine_memory_map();
    check_layout(si, x);
    if (si->mfn_list == P2M_BASE) {
        check_p2m_contents(si);
        check_p2m_mapping(si, x);
        check_p2m_tail(si);
    }
    finish();
}
