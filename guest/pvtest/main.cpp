// pvtest: a 64-bit PV test kernel that runs as the initial domain and checks the hypervisor's
// side of the PV ABI: the boot contract (start_info, layout, page tables, registers), hypercall
// entry both ways, and the answers of the hypercalls a minimal PV kernel uses.  The later groups
// live in files of their own (pvtest.hpp lists them): refused hypercall arguments, trap
// delivery, descriptor tables, privileged-instruction emulation, the virtual CR0.TS, writable
// page tables and user mode.
//
// The expected values are Xen 4.17's: every check passes on Debian's Xen 4.17 (the oracle,
// ctest `xen-pvtest`), and the same binary is meant to print the same check lines on pvisor.
// A check therefore never depends on an address, a version or a timing; those go on info
// lines.  Checks that could crash the domain when the hypervisor misbehaves (trap delivery,
// remapping pages) come last, so a failure there leaves the earlier results on the console.
//
// The command line (start_info.cmd_line) must carry `expect_mem=<size>`, the dom0_mem given to
// the hypervisor, for the nr_pages check.
#include "guest/pvtest/pvtest.hpp"
#include "lib/string.hpp"

using namespace pvg;
using namespace pvt;

extern "C" {
// traps.S
void bp_handler();
u64 trigger_int3();
extern char trigger_int3_resume[];
// Written by bp_handler: the bounce frame RCX, R11, RIP, CS, RFLAGS, RSP, SS.
constinit u64 bp_frame[7];
constinit u64 bp_count;
constinit u8 bp_return_via_page;
}

namespace {

// Scratch pages in .bss (part of the bootstrap mapping, so each has a 4 KiB L1 entry).
alignas(4096) constinit char shared_info_page[4096];
alignas(4096) constinit char scratch_a[4096];
alignas(4096) constinit char scratch_b[4096];

// ---------------------------------------------------------------------------------------------
// Command line

// The value of `key=` in the start_info command line, or an empty view.
pv::StrView cmdline_value(const start_info_t* si, pv::StrView key) {
    const char* s = reinterpret_cast<const char*>(si->cmd_line);
    pv::StrView line(s, pv::str_nlen(s, MAX_GUEST_CMDLINE));
    usize i = 0;
    while (i < line.len) {
        while (i < line.len && line[i] == ' ') ++i;
        usize end = line.find(' ', i);
        pv::StrView tok = line.substr(i, end - i);
        if (tok.starts_with(key) && tok.len > key.len && tok[key.len] == '=')
            return tok.substr(key.len + 1);
        i = end;
    }
    return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Page-table walking (pvtest.hpp)

const u64* pvt::table_va(u64 entry) {
    u64 pfn = m2p[(entry & PTE_ADDR) >> PAGE_SHIFT];
    if (pfn >= g_nr_pages) return nullptr;
    return reinterpret_cast<const u64*>(VIRT_BASE + (pfn << PAGE_SHIFT));
}

u64* pvt::l1e_ptr(u64 addr) {
    const u64* t = reinterpret_cast<const u64*>(g_si->pt_base);
    for (unsigned level = 4; level >= 1; --level) {
        unsigned idx = (addr >> (PAGE_SHIFT + 9 * (level - 1))) & 511;
        if (level == 1) return const_cast<u64*>(&t[idx]);
        u64 e = t[idx];
        if (!(e & PTE_P)) return nullptr;
        t = table_va(e);
        if (!t) return nullptr;
    }
    return nullptr;
}

u64 pvt::l1e_of(u64 addr, u64* l1e_maddr) {
    const u64* e = l1e_ptr(addr);
    if (!e) return 0;
    if (l1e_maddr) *l1e_maddr = maddr_of(e);
    return read_once(e);
}

long pvt::remap_page(const volatile void* page, bool writable) {
    u64 e = l1e_of(va(page));
    e = writable ? (e | PTE_RW) : (e & ~PTE_RW);
    return hc::update_va_mapping(va(page), e, UVMF_INVLPG | UVMF_LOCAL);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Boot contract

void print_boot_info(const start_info_t* si) {
    const EntryState& es = entry_state;
    info("start_info at %#llx: magic '%.32s' nr_pages %lu shared_info %#lx flags %#x",
         static_cast<unsigned long long>(va(si)), si->magic, si->nr_pages, si->shared_info,
         si->flags);
    info("pt_base %#lx nr_pt_frames %lu mfn_list %#lx mod_start %#lx mod_len %lu "
         "first_p2m_pfn %lu nr_p2m_frames %lu",
         si->pt_base, si->nr_pt_frames, si->mfn_list, si->mod_start, si->mod_len,
         si->first_p2m_pfn, si->nr_p2m_frames);
    info("store_mfn %#lx store_evtchn %u console.dom0 info_off %u info_size %u",
         si->store_mfn, si->store_evtchn, si->console.dom0.info_off, si->console.dom0.info_size);
    info("cmd_line '%s'", reinterpret_cast<const char*>(si->cmd_line));
    info("image %#llx-%#llx, entry RSP %#llx RFLAGS %#llx CS %#llx SS %#llx DS %#llx ES %#llx "
         "FS %#llx GS %#llx",
         static_cast<unsigned long long>(va(__image_start)),
         static_cast<unsigned long long>(va(__image_end)),
         static_cast<unsigned long long>(es.rsp), static_cast<unsigned long long>(es.rflags),
         static_cast<unsigned long long>(es.cs), static_cast<unsigned long long>(es.ss),
         static_cast<unsigned long long>(es.ds), static_cast<unsigned long long>(es.es),
         static_cast<unsigned long long>(es.fs), static_cast<unsigned long long>(es.gs));
}

void check_start_info(const start_info_t* si) {
    const char* magic = si->magic;
    CHECK("start_info.magic", pv::str_ncompare(magic, "xen-3.0-x86_64", sizeof(si->magic)) == 0);
    CHECK_EQ_HEX("start_info.flags", si->flags & (SIF_PRIVILEGED | SIF_INITDOMAIN),
                 SIF_PRIVILEGED | SIF_INITDOMAIN);

    pv::StrView mem = cmdline_value(si, "expect_mem");
    u64 bytes = 0;
    if (mem.empty() || !pv::parse_size(mem, &bytes))
        check_fail("start_info.nr_pages", "no valid expect_mem=<size> on the command line");
    else
        CHECK_EQ("start_info.nr_pages", si->nr_pages, bytes >> PAGE_SHIFT);

    // No module was given, so none is described.
    CHECK("start_info.no_module", si->mod_start == 0 && si->mod_len == 0);
    // Without an INIT_P2M note the p2m is part of the bootstrap region.
    CHECK_EQ("start_info.nr_p2m_frames", si->nr_p2m_frames, 0);
    CHECK("start_info.shared_info_aligned", (si->shared_info & (PAGE_SIZE - 1)) == 0);
}

// The bootstrap region, in order from VIRT_BASE (public/xen.h "start of day", Xen's
// dom0_construct_pv): kernel, p2m list, start_info (+ dom0's VGA console info), page tables,
// a one-page stack; each page-aligned.
void check_layout(const start_info_t* si) {
    const EntryState& es = entry_state;
    u64 image_end = va(__image_end);
    u64 p2m_end = si->mfn_list + si->nr_pages * sizeof(xen_pfn_t);
    CHECK_EQ_HEX("layout.image_at_virt_base", va(__image_start), VIRT_BASE);
    CHECK_EQ_HEX("layout.p2m_after_image", si->mfn_list, image_end);
    CHECK_EQ_HEX("layout.start_info_after_p2m", va(si), pv::align_up(p2m_end, PAGE_SIZE));
    CHECK_EQ_HEX("layout.page_tables_after_start_info", si->pt_base, va(si) + PAGE_SIZE);
    CHECK("layout.nr_pt_frames", si->nr_pt_frames >= 4 && si->nr_pt_frames <= 64);
    CHECK_EQ_HEX("layout.stack_after_page_tables", es.rsp,
                 si->pt_base + (si->nr_pt_frames + 1) * PAGE_SIZE);
    CHECK_EQ_HEX("layout.start_info_in_rsi", es.rsi, va(si));
}

void check_entry_state() {
    const EntryState& es = entry_state;
    u64 other = es.rax | es.rbx | es.rcx | es.rdx | es.rdi | es.rbp | es.r8 | es.r9 | es.r10 |
                es.r11 | es.r12 | es.r13 | es.r14 | es.r15;
    CHECK_EQ_HEX("entry.other_gprs_zero", other, 0);
    CHECK_EQ_HEX("entry.cs", es.cs, FLAT_KERNEL_CS);
    CHECK_EQ_HEX("entry.ss", es.ss, FLAT_KERNEL_SS);
    // Xen 4.17 leaves the data segment registers null (older builders loaded FLAT_KERNEL_DS).
    CHECK_EQ_HEX("entry.data_segments_null", es.ds | es.es | es.fs | es.gs, 0);
    // IF and the reserved bit 1 only.  Hardware IF is always set for a PV guest; the virtual IF
    // is the upcall mask, which the builder sets.
    CHECK_EQ_HEX("entry.rflags", es.rflags, 0x202);
    CHECK_EQ_HEX("entry.bss_zeroed", es.bss_or, 0);
}

void check_p2m_m2p(const start_info_t* si, u64 max_ram_page) {
    const xen_pfn_t* p2m = g_p2m;
    u64 bad = 0, first_bad = ~0ull;
    for (u64 pfn = 0; pfn < si->nr_pages; ++pfn) {
        if (p2m[pfn] == 0 || p2m[pfn] >= max_ram_page) {
            if (!bad++) first_bad = pfn;
        }
    }
    check("p2m.entries_valid", bad == 0, "%llu entries out of range, first pfn %#llx",
          static_cast<unsigned long long>(bad), static_cast<unsigned long long>(first_bad));

    CHECK_EQ("m2p.readable", m2p[p2m[0]], 0);
    bad = 0;
    first_bad = ~0ull;
    for (u64 pfn = 0; pfn < si->nr_pages; ++pfn) {
        if (p2m[pfn] < max_ram_page && m2p[p2m[pfn]] != pfn) {
            if (!bad++) first_bad = pfn;
        }
    }
    check("m2p.inverse_of_p2m", bad == 0, "%llu mismatches, first pfn %#llx",
          static_cast<unsigned long long>(bad), static_cast<unsigned long long>(first_bad));
}

void check_page_tables(const start_info_t* si) {
    const u64* l4 = reinterpret_cast<const u64*>(si->pt_base);
    unsigned kslot = (VIRT_BASE >> 39) & 511;
    CHECK("page_tables.l4_maps_kernel", (l4[kslot] & PTE_P) != 0);
    // Slot 256 holds the read-only M2P the hypervisor installs in every kernel L4.
    CHECK("page_tables.l4_m2p_slot", (l4[256] & PTE_P) != 0);
    info("L4[%u] = %#llx, L4[256] = %#llx", kslot, static_cast<unsigned long long>(l4[kslot]),
         static_cast<unsigned long long>(l4[256]));

    u64 l1e = l1e_of(va(__image_start));
    info("L1e of the image's first page %#llx", static_cast<unsigned long long>(l1e));
    CHECK_EQ_HEX("page_tables.walk_kernel", (l1e & PTE_ADDR) >> PAGE_SHIFT, g_p2m[0]);
    CHECK_EQ_HEX("page_tables.kernel_l1e_flags", l1e & (PTE_P | PTE_RW | PTE_US),
                 PTE_P | PTE_RW | PTE_US);

    // Every page-table frame is mapped, read-only, in the bootstrap region.
    u64 writable = 0, unmapped = 0;
    for (u64 i = 0; i < si->nr_pt_frames; ++i) {
        u64 e = l1e_of(si->pt_base + i * PAGE_SIZE);
        if (!(e & PTE_P)) ++unmapped;
        else if (e & PTE_RW) ++writable;
    }
    check("page_tables.mapped_readonly", writable == 0 && unmapped == 0,
          "%llu writable, %llu unmapped of %lu", static_cast<unsigned long long>(writable),
          static_cast<unsigned long long>(unmapped), si->nr_pt_frames);
    // The first page-table frame is the L4 (CR3).
    CHECK_EQ_HEX("page_tables.l4_first", (l1e_of(si->pt_base) & PTE_ADDR) >> PAGE_SHIFT,
                 g_p2m[(si->pt_base - VIRT_BASE) >> PAGE_SHIFT]);
}

// ---------------------------------------------------------------------------------------------
// Hypercall entry

bool check_hypercall_page() {
    // Stub i: push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret, padded with
    // int3 (0xcc) to 32 bytes.  The iret stub has no return path: push %rcx; push %r11;
    // push %rax; mov $23,%eax; syscall.
    static constexpr u8 normal[] = {0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3};
    static constexpr u8 iret[] = {0x51, 0x41, 0x53, 0x50, 0xb8, 0, 0, 0, 0, 0x0f, 0x05};
    const u8* page = reinterpret_cast<const u8*>(hypercall_page);
    info("hypercall page stub 0: %02x %02x %02x %02x %02x %02x %02x %02x %02x %02x %02x %02x "
         "%02x %02x %02x %02x",
         page[0], page[1], page[2], page[3], page[4], page[5], page[6], page[7], page[8],
         page[9], page[10], page[11], page[12], page[13], page[14], page[15]);

    bool stub0 = pv::mem_compare(page, normal, sizeof(normal)) == 0;
    CHECK("hypercall_page.stub0", stub0);

    unsigned bad = 0, first_bad = 0;
    for (unsigned i = 0; i < 128; ++i) {
        u8 want[32];
        pv::mem_set(want, 0xcc, sizeof(want));
        if (i == __HYPERVISOR_iret) {
            pv::mem_copy(want, iret, sizeof(iret));
            want[5] = static_cast<u8>(i);
        } else {
            pv::mem_copy(want, normal, sizeof(normal));
            want[4] = static_cast<u8>(i);
        }
        if (pv::mem_compare(page + 32 * i, want, sizeof(want)) != 0 && !bad++) first_bad = i;
    }
    check("hypercall_page.all_stubs", bad == 0, "%u stubs differ, first %u", bad, first_bad);
    return stub0 && bad == 0;
}

void check_hypercall_entry() {
    long v_sys = hc::xen_version(XENVER_version, nullptr);
    CHECK("hypercall.syscall_outside_page", v_sys >= 0x30000);

    if (g_page_filled) {
        long v_page = hc::xen_version<Via::Page>(XENVER_version, nullptr);
        CHECK_EQ("hypercall.via_page", v_page, v_sys);
        CHECK_EQ("hypercall.via_page_unknown_enosys", hypercall<Via::Page>(60), -XEN_ENOSYS);
    } else {
        check_fail("hypercall.via_page", "hypercall page not filled: not called");
        check_fail("hypercall.via_page_unknown_enosys", "hypercall page not filled: not called");
    }

    CHECK_EQ("hypercall.unknown_enosys", hypercall(60), -XEN_ENOSYS);
    CHECK_EQ("hypercall.out_of_range_enosys", hypercall(1000), -XEN_ENOSYS);

    // A hypercall leaves every register but RAX, RCX and R11 as it was: the arguments too in
    // release builds, but Xen's debug builds overwrite the argument registers a hypercall used,
    // so only the callee-saved registers and R9 (no hypercall takes six arguments) are compared.
    u64 in[7] = {0x1111111111111111ull, 0x2222222222222222ull, 0x3333333333333333ull,
                 0x4444444444444444ull, 0x5555555555555555ull, 0x6666666666666666ull,
                 0x7777777777777777ull};
    u64 out[7];
    asm volatile("pushq %%rbx\n\tpushq %%rbp\n\tpushq %%r12\n\tpushq %%r13\n\t"
                 "pushq %%r14\n\tpushq %%r15\n\tpushq %%rdi\n\t"
                 "movq 0(%%rsi), %%rbx\n\tmovq 8(%%rsi), %%rbp\n\tmovq 16(%%rsi), %%r12\n\t"
                 "movq 24(%%rsi), %%r13\n\tmovq 32(%%rsi), %%r14\n\tmovq 40(%%rsi), %%r15\n\t"
                 "movq 48(%%rsi), %%r9\n\t"
                 "movl %[nr], %%eax\n\txorl %%edi, %%edi\n\txorl %%esi, %%esi\n\t"
                 "syscall\n\t"
                 "popq %%rdi\n\t"
                 "movq %%rbx, 0(%%rdi)\n\tmovq %%rbp, 8(%%rdi)\n\tmovq %%r12, 16(%%rdi)\n\t"
                 "movq %%r13, 24(%%rdi)\n\tmovq %%r14, 32(%%rdi)\n\tmovq %%r15, 40(%%rdi)\n\t"
                 "movq %%r9, 48(%%rdi)\n\t"
                 "popq %%r15\n\tpopq %%r14\n\tpopq %%r13\n\tpopq %%r12\n\tpopq %%rbp\n\tpopq %%rbx"
                 :
                 : "S"(in), "D"(out), [nr] "i"(__HYPERVISOR_xen_version)
                 : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory");
    unsigned diff = 0;
    for (unsigned i = 0; i < 7; ++i)
        if (in[i] != out[i]) diff |= 1u << i;
    check("hypercall.preserves_registers", diff == 0,
          "changed (bit per RBX, RBP, R12-R15, R9): %#x", diff);
}

// ---------------------------------------------------------------------------------------------
// Individual hypercalls

void check_xen_version() {
    long v = hc::xen_version(XENVER_version, nullptr);
    xen_extraversion_t extra{};
    long rc_extra = hc::xen_version(XENVER_extraversion, extra);
    info("xen_version %ld.%ld%.*s", v >> 16, v & 0xffff, static_cast<int>(sizeof(extra)), extra);
    CHECK("xen_version.version", v >= 0x30000);
    CHECK_EQ("xen_version.extraversion", rc_extra, 0);

    xen_feature_info_t fi{};
    fi.submap_idx = 0;
    long rc = hc::xen_version(XENVER_get_features, &fi);
    info("features submap 0: %#x", fi.submap);
    CHECK_EQ("xen_version.get_features", rc, 0);
    CHECK("xen_version.feature_mmu_pt_update_preserve_ad",
          fi.submap & (1u << XENFEAT_mmu_pt_update_preserve_ad));
    CHECK("xen_version.feature_gnttab_map_avail_bits",
          fi.submap & (1u << XENFEAT_gnttab_map_avail_bits));
    CHECK("xen_version.feature_dom0", fi.submap & (1u << XENFEAT_dom0));
    // Xen never offers writable page tables to PV guests: Linux must not assume them.
    CHECK("xen_version.no_writable_page_tables",
          !(fi.submap & (1u << XENFEAT_writable_page_tables)));
    CHECK("xen_version.no_auto_translated_physmap",
          !(fi.submap & (1u << XENFEAT_auto_translated_physmap)));

    xen_feature_info_t fi1{};
    fi1.submap_idx = XENFEAT_NR_SUBMAPS;
    CHECK_EQ("xen_version.get_features_bad_submap", hc::xen_version(XENVER_get_features, &fi1),
             -XEN_EINVAL);
}

void check_console_io() {
    CHECK_EQ("console_io.write_zero", hc::console_io(CONSOLEIO_write, 0, nullptr), 0);
    static const char text[] = "pvtest: info: console_io write of this line\n";
    console_flush();
    CHECK_EQ("console_io.write", hc::console_io(CONSOLEIO_write, sizeof(text) - 1, text), 0);
    CHECK_EQ("console_io.write_unmapped",
             hc::console_io(CONSOLEIO_write, 16, reinterpret_cast<const char*>(UNMAPPED_ADDRESS)),
             -XEN_EFAULT);
    CHECK_EQ("console_io.write_hypervisor_address",
             hc::console_io(CONSOLEIO_write, 16, reinterpret_cast<const char*>(HYPERVISOR_ADDRESS)),
             -XEN_EFAULT);
    CHECK_EQ("console_io.bad_cmd", hc::console_io(99, 0, nullptr), -XEN_ENOSYS);
}

void check_sched_op() {
    CHECK_EQ("sched_op.yield", hc::sched_op(SCHEDOP_yield, nullptr), 0);
    CHECK_EQ("sched_op.bad_cmd", hc::sched_op(99, nullptr), -XEN_ENOSYS);
}

// XENMEM_machphys_mfn_list: the M2P is made of 2 MiB pieces of contiguous frames; the call lists
// each piece's first frame, as many as cover every machine frame (max_ram_page give or take
// one: Xen returns the page count, the list covers it), at most max_extents.
void check_machphys_mfn_list(u64 max_ram_page) {
    static constinit xen_pfn_t mfns[64];
    constexpr u64 CHUNK_ENTRIES = (2u << 20) / sizeof(unsigned long);
    xen_machphys_mfn_list_t l{};
    l.max_extents = 64;
    set_xen_guest_handle(l.extent_start, mfns);
    long rc = hc::memory_op(XENMEM_machphys_mfn_list, &l);
    info("machphys_mfn_list: rc %ld, %u extents, first %#lx", rc, l.nr_extents, mfns[0]);
    CHECK_EQ("memory_op.machphys_mfn_list", rc, 0);
    u64 lo = (max_ram_page + CHUNK_ENTRIES - 1) / CHUNK_ENTRIES;
    u64 hi = (max_ram_page + 1 + CHUNK_ENTRIES - 1) / CHUNK_ENTRIES;
    check("memory_op.machphys_mfn_list_covers_m2p", l.nr_extents == lo || l.nr_extents == hi,
          "%u extents for maximum_ram_page %#llx", l.nr_extents, static_cast<unsigned long long>(max_ram_page));
    bool aligned = l.nr_extents > 0;
    for (unsigned i = 0; i < l.nr_extents && i < 64; ++i) {
        aligned = aligned && mfns[i] != 0 && mfns[i] % 512 == 0;
        for (unsigned j = 0; j < i; ++j) aligned = aligned && mfns[j] != mfns[i];
    }
    CHECK("memory_op.machphys_mfn_list_2m_pieces", aligned);

    xen_machphys_mfn_list_t none{};
    set_xen_guest_handle(none.extent_start, mfns);
    none.nr_extents = 77;
    rc = hc::memory_op(XENMEM_machphys_mfn_list, &none);
    check("memory_op.machphys_mfn_list_zero_extents", rc == 0 && none.nr_extents == 0, "rc %ld, %u extents",
          rc, none.nr_extents);
    xen_machphys_mfn_list_t bad{};
    bad.max_extents = 1;
    set_xen_guest_handle(bad.extent_start, reinterpret_cast<xen_pfn_t*>(HYPERVISOR_ADDRESS));
    CHECK_EQ("memory_op.machphys_mfn_list_xen_buffer", hc::memory_op(XENMEM_machphys_mfn_list, &bad), -XEN_EFAULT);
}

u64 check_memory_op(const start_info_t* si) {
    long max_ram_page = hc::memory_op(XENMEM_maximum_ram_page, nullptr);
    info("maximum_ram_page %#lx", max_ram_page);
    u64 max_mfn = 0;
    for (u64 pfn = 0; pfn < si->nr_pages; ++pfn) max_mfn = pv::max<u64>(max_mfn, g_p2m[pfn]);
    check("memory_op.maximum_ram_page", max_ram_page > 0 && static_cast<u64>(max_ram_page) > max_mfn,
          "%ld, highest mfn in p2m %#llx", max_ram_page, static_cast<unsigned long long>(max_mfn));

    xen_machphys_mapping_t mm{};
    long rc = hc::memory_op(XENMEM_machphys_mapping, &mm);
    info("machphys_mapping v_start %#lx v_end %#lx max_mfn %#lx", mm.v_start, mm.v_end,
         mm.max_mfn);
    CHECK_EQ("memory_op.machphys_mapping", rc, 0);
    CHECK_EQ_HEX("memory_op.machphys_mapping_start", mm.v_start, MACH2PHYS_VIRT_START);
    CHECK("memory_op.machphys_mapping_end",
          mm.v_end > mm.v_start && mm.v_end <= MACH2PHYS_VIRT_END);
    CHECK("memory_op.machphys_mapping_max_mfn",
          mm.max_mfn >= max_mfn && mm.max_mfn < MACH2PHYS_NR_ENTRIES);
    check_machphys_mfn_list(max_ram_page > 0 ? static_cast<u64>(max_ram_page) : 0);

    domid_t self = DOMID_SELF;
    // A PV domain 0 has no pseudo-physical memory map unless a toolstack set one: Xen answers
    // -ENOSYS and the kernel makes its own from nr_pages.
    struct {
        u64 addr, size;
        u32 type;
    } __attribute__((packed)) e820[8] = {};
    xen_memory_map_t map{};
    map.nr_entries = 8;
    set_xen_guest_handle(map.buffer, e820);
    long mm_rc = hc::memory_op(XENMEM_memory_map, &map);
    info("memory_map: rc %ld, %u entries", mm_rc, map.nr_entries);
    CHECK_EQ("memory_op.memory_map_dom0", mm_rc, -XEN_ENOSYS);
    CHECK_EQ("memory_op.current_reservation", hc::memory_op(XENMEM_current_reservation, &self),
             static_cast<i64>(si->nr_pages));
    CHECK_EQ("memory_op.bad_cmd", hc::memory_op(999, nullptr), -XEN_ENOSYS);
    // add_to_physmap is for translated (HVM/PVH) guests: a PV domain maps shared_info by MFN.
    xen_add_to_physmap_t atp{};
    atp.domid = DOMID_SELF;
    atp.space = XENMAPSPACE_shared_info;
    atp.idx = 0;
    atp.gpfn = 0x100000;
    long atp_rc = hc::memory_op(XENMEM_add_to_physmap, &atp);
    info("add_to_physmap: rc %ld", atp_rc);
    CHECK_EQ("memory_op.add_to_physmap_pv", atp_rc, -XEN_EACCES);
    return max_ram_page > 0 ? static_cast<u64>(max_ram_page) : 0;
}

void check_vm_assist() {
    CHECK_EQ("vm_assist.writable_pagetables",
             hc::vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables), 0);
    CHECK_EQ("vm_assist.bad_type", hc::vm_assist(VMASST_CMD_enable, 31), -XEN_EINVAL);
}

void check_vcpu_op() {
    CHECK_EQ("vcpu_op.is_up_vcpu0", hc::vcpu_op(VCPUOP_is_up, 0, nullptr), 1);
    CHECK_EQ("vcpu_op.is_up_bad_vcpu", hc::vcpu_op(VCPUOP_is_up, 4096, nullptr), -XEN_ENOENT);
}

void check_multicall() {
    multicall_entry_t calls[3]{};
    calls[0].op = __HYPERVISOR_xen_version;
    calls[0].args[0] = XENVER_version;
    calls[1].op = 60;
    calls[2].op = __HYPERVISOR_vm_assist;
    calls[2].args[0] = VMASST_CMD_enable;
    calls[2].args[1] = VMASST_TYPE_writable_pagetables;
    for (auto& c : calls) c.result = 0x5a5a5a5a;
    long rc = hc::multicall(calls, 3);
    CHECK_EQ("multicall.rc", rc, 0);
    CHECK_EQ("multicall.result_version", static_cast<i64>(calls[0].result),
             hc::xen_version(XENVER_version, nullptr));
    CHECK_EQ("multicall.result_unknown_enosys", static_cast<i64>(calls[1].result), -XEN_ENOSYS);
    CHECK_EQ("multicall.result_vm_assist", static_cast<i64>(calls[2].result), 0);
}

void check_event_channel_op() {
    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = 0;
    long rc = hc::event_channel_op(EVTCHNOP_status, &st);
    CHECK_EQ("event_channel_op.status_port0", rc, 0);
    CHECK_EQ("event_channel_op.status_port0_closed", st.status, EVTCHNSTAT_closed);

    evtchn_alloc_unbound_t au{};
    au.dom = DOMID_SELF;
    au.remote_dom = DOMID_SELF;
    rc = hc::event_channel_op(EVTCHNOP_alloc_unbound, &au);
    CHECK_EQ("event_channel_op.alloc_unbound", rc, 0);
    info("alloc_unbound port %u", au.port);
    evtchn_status_t st2{};
    st2.dom = DOMID_SELF;
    st2.port = au.port;
    rc = hc::event_channel_op(EVTCHNOP_status, &st2);
    CHECK("event_channel_op.status_unbound", rc == 0 && st2.status == EVTCHNSTAT_unbound);
    evtchn_close_t cl{};
    cl.port = au.port;
    CHECK_EQ("event_channel_op.close", hc::event_channel_op(EVTCHNOP_close, &cl), 0);
    CHECK_EQ("event_channel_op.bad_cmd", hc::event_channel_op(99, nullptr), -XEN_ENOSYS);
}

void check_physdev_op() {
    physdev_set_iopl_t iopl{};
    iopl.iopl = 1;
    CHECK_EQ("physdev_op.set_iopl", hc::physdev_op(PHYSDEVOP_set_iopl, &iopl), 0);
}

void check_cpu_state_calls() {
    CHECK_EQ("stack_switch.kernel_stack", hc::stack_switch(FLAT_KERNEL_SS, va(guest_stack_top)), 0);
    // No FPU instruction runs in between (-mno-sse): TS set would make one fault.
    CHECK_EQ("fpu_taskswitch.set", hc::fpu_taskswitch(1), 0);
    CHECK_EQ("fpu_taskswitch.clear", hc::fpu_taskswitch(0), 0);

    // FS base: the next %fs-relative load must see it.
    static constinit u64 fs_target = 0x0123456789abcdefull;
    long rc = hc::set_segment_base(SEGBASE_FS, va(&fs_target));
    u64 seen = 0;
    if (rc == 0) asm volatile("movq %%fs:0, %0" : "=r"(seen));
    hc::set_segment_base(SEGBASE_FS, 0);
    CHECK_EQ("set_segment_base.fs", rc, 0);
    CHECK_EQ_HEX("set_segment_base.fs_effective", seen, fs_target);
    CHECK_EQ("set_segment_base.noncanonical", hc::set_segment_base(SEGBASE_FS, NONCANONICAL_ADDRESS),
             -XEN_EINVAL);
    CHECK_EQ("set_segment_base.bad_reg", hc::set_segment_base(99, 0), -XEN_EINVAL);

    static constinit u64 watched = 0;
    CHECK_EQ("debugreg.set_dr0", hc::set_debugreg(0, va(&watched)), 0);
    CHECK_EQ_HEX("debugreg.get_dr0", static_cast<u64>(hc::get_debugreg(0)), va(&watched));
    CHECK_EQ("debugreg.set_dr0_hypervisor_address", hc::set_debugreg(0, HYPERVISOR_ADDRESS),
             -XEN_EPERM);
    hc::set_debugreg(0, 0);
    CHECK_EQ("debugreg.bad_reg", hc::set_debugreg(8, 0), -XEN_ENODEV);

    callback_register_t cb{};
    cb.type = CALLBACKTYPE_event;
    cb.address = va(reinterpret_cast<const void*>(&bp_handler));  // never entered: upcalls masked
    CHECK_EQ("callback_op.register_event", hc::callback_op(CALLBACKOP_register, &cb), 0);
    cb.type = CALLBACKTYPE_failsafe;
    CHECK_EQ("callback_op.register_failsafe", hc::callback_op(CALLBACKOP_register, &cb), 0);
    cb.type = CALLBACKTYPE_event;
    cb.address = NONCANONICAL_ADDRESS;
    CHECK_EQ("callback_op.noncanonical", hc::callback_op(CALLBACKOP_register, &cb), -XEN_EINVAL);
    cb.type = 99;
    cb.address = va(reinterpret_cast<const void*>(&bp_handler));
    CHECK_EQ("callback_op.bad_type", hc::callback_op(CALLBACKOP_register, &cb), -XEN_ENOSYS);
}

// ---------------------------------------------------------------------------------------------
// Memory management

void check_mmu(const start_info_t* si) {
    unsigned done = 0;
    mmuext_op_t op{};
    op.cmd = MMUEXT_TLB_FLUSH_LOCAL;
    CHECK("mmuext_op.tlb_flush_local", hc::mmuext_op(&op, 1, &done, DOMID_SELF) == 0 && done == 1);

    op = {};
    op.cmd = MMUEXT_INVLPG_LOCAL;
    op.arg1.linear_addr = va(scratch_a);
    done = 0;
    CHECK("mmuext_op.invlpg_local", hc::mmuext_op(&op, 1, &done, DOMID_SELF) == 0 && done == 1);

    // The builder pinned the L4; pins do not nest.
    u64 l4_mfn = g_p2m[(si->pt_base - VIRT_BASE) >> PAGE_SHIFT];
    op = {};
    op.cmd = MMUEXT_PIN_L4_TABLE;
    op.arg1.mfn = l4_mfn;
    CHECK_EQ("mmuext_op.pin_l4_already_pinned", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF),
             -XEN_EINVAL);
    op = {};
    op.cmd = MMUEXT_NEW_BASEPTR;
    op.arg1.mfn = l4_mfn;
    CHECK_EQ("mmuext_op.new_baseptr_same", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), 0);
    op = {};
    op.cmd = 99;
    CHECK_EQ("mmuext_op.bad_cmd", hc::mmuext_op(&op, 1, nullptr, DOMID_SELF), -XEN_ENOSYS);

    // M2P updates: write back the value already there.
    mmu_update_t u{};
    u64 mfn = mfn_of(scratch_a);
    u.ptr = (mfn << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE;
    u.val = pfn_of(scratch_a);
    done = 0;
    long rc = hc::mmu_update(&u, 1, &done, DOMID_SELF);
    CHECK("mmu_update.machphys", rc == 0 && done == 1 && m2p[mfn] == pfn_of(scratch_a));

    // A page-table update through the L1 entry's machine address: first an identical value,
    // then scratch_a's entry pointed at scratch_b's frame, then back.
    u64 l1e_maddr = 0;
    u64 l1e_a = l1e_of(va(scratch_a), &l1e_maddr);
    u64 l1e_b = l1e_of(va(scratch_b));
    u.ptr = l1e_maddr | MMU_NORMAL_PT_UPDATE;
    u.val = l1e_a;
    CHECK_EQ("mmu_update.pt_update_same", hc::mmu_update(&u, 1, nullptr, DOMID_SELF), 0);

    scratch_b[0] = 'b';
    scratch_a[0] = 'a';
    u.val = (l1e_a & ~PTE_ADDR) | (l1e_b & PTE_ADDR);
    rc = hc::mmu_update(&u, 1, nullptr, DOMID_SELF);
    mmuext_op_t flush{};
    flush.cmd = MMUEXT_INVLPG_LOCAL;
    flush.arg1.linear_addr = va(scratch_a);
    hc::mmuext_op(&flush, 1, nullptr, DOMID_SELF);
    char via_a = read_once(&scratch_a[0]);
    u.val = l1e_a;
    long rc_back = hc::mmu_update(&u, 1, nullptr, DOMID_SELF);
    hc::mmuext_op(&flush, 1, nullptr, DOMID_SELF);
    check("mmu_update.pt_update_remap", rc == 0 && via_a == 'b', "rc %ld, read '%c'", rc, via_a);
    CHECK("mmu_update.pt_update_restore", rc_back == 0 && read_once(&scratch_a[0]) == 'a');

    // A writable mapping of a page-table frame is refused: the L4 is typed (and pinned), so it
    // cannot take a writable type reference.  Xen answers -EBUSY, not -EINVAL.
    u.val = (l1e_a & ~PTE_ADDR) | (l4_mfn << PAGE_SHIFT) | PTE_RW;
    rc = hc::mmu_update(&u, 1, nullptr, DOMID_SELF);
    if (rc == 0) {  // restore before reporting, whatever happened
        u.val = l1e_a;
        hc::mmu_update(&u, 1, nullptr, DOMID_SELF);
    }
    CHECK_EQ("mmu_update.writable_l4_refused", rc, -XEN_EBUSY);

    CHECK_EQ("update_va_mapping.hypervisor_address",
             hc::update_va_mapping(HYPERVISOR_ADDRESS, 0, UVMF_INVLPG | UVMF_LOCAL), -XEN_EINVAL);
}

void check_shared_info(const start_info_t* si) {
    u64 pte = (si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    long rc = hc::update_va_mapping(va(shared_info_page), pte, UVMF_INVLPG | UVMF_LOCAL);
    if (!CHECK_EQ("shared_info.map", rc, 0)) return;
    const volatile shared_info_t* sh = reinterpret_cast<volatile shared_info_t*>(shared_info_page);
    g_shared = reinterpret_cast<volatile shared_info_t*>(shared_info_page);
    // The builder masks every vCPU's upcalls before the guest starts.
    CHECK_EQ("shared_info.vcpu0_upcall_masked", sh->vcpu_info[0].evtchn_upcall_mask, 1);
    u32 version = sh->vcpu_info[0].time.version;
    u32 mul = sh->vcpu_info[0].time.tsc_to_system_mul;
    info("vcpu0 time: version %u tsc_to_system_mul %u tsc_shift %d", version, mul,
         sh->vcpu_info[0].time.tsc_shift);
    CHECK("shared_info.vcpu0_time_valid", mul != 0);
}

// ---------------------------------------------------------------------------------------------
// Trap delivery: set_trap_table, the bounce frame, HYPERVISOR_iret both ways

void check_traps() {
    trap_info_t table[2]{};
    table[0].vector = 3;
    table[0].flags = 3;  // DPL 3: int3 is allowed from any ring, as in Linux
    table[0].cs = FLAT_KERNEL_CS;
    table[0].address = va(reinterpret_cast<const void*>(&bp_handler));
    long rc = hc::set_trap_table(table);
    if (!CHECK_EQ("set_trap_table.install", rc, 0)) return;

    for (int via_page = 0; via_page < 2; ++via_page) {
        const char* name = via_page ? "trap.int3_iret_via_page" : "trap.int3_iret_via_syscall";
        if (via_page && !g_page_filled) {
            check_fail(name, "hypercall page not filled: not tried");
            continue;
        }
        bp_return_via_page = static_cast<u8>(via_page);
        u64 before = bp_count;
        u64 rsp = trigger_int3();
        check(name, bp_count == before + 1, "handler ran %llu times",
              static_cast<unsigned long long>(bp_count - before));
        if (via_page) continue;
        // The frame of the first trap, taken in kernel mode with upcalls masked.
        info("int3 frame: rip %#llx cs %#llx rflags %#llx rsp %#llx ss %#llx",
             static_cast<unsigned long long>(bp_frame[2]),
             static_cast<unsigned long long>(bp_frame[3]),
             static_cast<unsigned long long>(bp_frame[4]),
             static_cast<unsigned long long>(bp_frame[5]),
             static_cast<unsigned long long>(bp_frame[6]));
        CHECK_EQ_HEX("trap.frame_rip", bp_frame[2], va(trigger_int3_resume));
        CHECK_EQ_HEX("trap.frame_rsp", bp_frame[5], rsp);
        // Kernel mode was interrupted: the saved CS has its RPL cleared (SS keeps it), which is
        // how a handler tells the two modes apart.
        CHECK_EQ_HEX("trap.frame_cs", bp_frame[3] & 0xffff, FLAT_KERNEL_CS & ~3u);
        CHECK_EQ_HEX("trap.frame_ss", bp_frame[6] & 0xffff, FLAT_KERNEL_SS);
        // The saved upcall mask sits in bits 32-39 of the CS slot, and RFLAGS.IF mirrors it.
        CHECK_EQ_HEX("trap.frame_cs_upcall_mask", (bp_frame[3] >> 32) & 0xff, 1);
        CHECK_EQ_HEX("trap.frame_rflags_if", bp_frame[4] & 0x200, 0);
    }
    CHECK_EQ("set_trap_table.clear", hc::set_trap_table(nullptr), 0);
}

}  // namespace

extern "C" [[noreturn]] void guest_main(start_info_t* si) {
    g_si = si;
    g_p2m = reinterpret_cast<const xen_pfn_t*>(si->mfn_list);
    g_nr_pages = si->nr_pages;
    print("pvtest: start\n");
    print_boot_info(si);

    // Crash-path tests, before any trap table exists: the hypervisor must end the domain and
    // report it (crash=pagefault: a write to an unmapped address; crash=ud: an invalid opcode).
    pv::StrView crash = cmdline_value(si, "crash");
    if (crash.equals("pagefault")) {
        print("pvtest: crashing with a page fault\n");
        *reinterpret_cast<volatile u64*>(0x1000) = 0x5a5a;
    } else if (crash.equals("ud")) {
        print("pvtest: crashing with an invalid opcode\n");
        asm volatile("ud2");
    }

    check_start_info(si);
    check_layout(si);
    check_entry_state();
    g_page_filled = check_hypercall_page();
    check_hypercall_entry();
    check_xen_version();
    check_console_io();
    check_sched_op();
    u64 max_ram_page = check_memory_op(si);
    check_p2m_m2p(si, max_ram_page);
    check_page_tables(si);
    check_vm_assist();
    check_vcpu_op();
    check_multicall();
    check_event_channel_op();
    check_physdev_op();
    check_cpu_state_calls();
    check_mmu(si);
    check_shared_info(si);
    check_traps();
    // The later groups, least risky first: a group that crashes the domain leaves the earlier
    // lines on the console.
    check_hostile();
    check_trap_kinds();
    check_descriptor_tables();
    check_priv_ops();
    check_fpu();
    check_multicall_iret();
    check_continuations();
    check_writable_pagetables();
    check_user_mode();
    check_time();
    check_vcpus();
    check_reservations();
    check_grant_tables();
    // shutdown=reboot|crash picks the final SCHEDOP_shutdown reason (default poweroff).
    pv::StrView how = cmdline_value(si, "shutdown");
    finish(how.equals("reboot") ? SHUTDOWN_reboot : how.equals("crash") ? SHUTDOWN_crash : SHUTDOWN_poweroff);
}
