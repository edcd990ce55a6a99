// domutest: a tiny PV64 domU that checks what its domain builder gave it and says how it went
// the only ways a domU of a release Xen can: its console ring and its shutdown code.
//
// Xen's release builds refuse CONSOLEIO_write from a domU (-EPERM, from the dummy XSM policy),
// so the check lines go into the console page's output ring (struct xencons_interface), which
// the builder reads back after the domain has stopped; nothing drains it meanwhile, so output
// beyond the ring's 2048 bytes is dropped.  The shutdown reason is the one the command line
// asks for (shutdown=poweroff|reboot|crash); when a check failed the domain first sets its
// shutdown code to FAILED_CODE_BASE + the number of failures (SCHEDOP_shutdown_code: the first
// code set is the one getdomaininfo reports), so the builder sees the failure even if the ring
// is lost.
//
// Command line: shutdown=<reason> expect_mem=<size> [expect_maxmem=<size>] [ramdisk=<bytes>]
// [name=<label>] [ports=connected], or
// mode=burn for the CPU-bound domU of the scheduler tests (burn.hpp), which checks nothing, or
// mode=victim for the domain the attack suite must leave undisturbed (victim.hpp).
#include "guest/domutest/burn.hpp"
#include "guest/domutest/victim.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/console_ring.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/time.hpp"
#include "guest/lib/xen.hpp"

#include <xen/io/console.h>
#include <xen/physdev.h>

namespace {

using namespace pvg;

constexpr u64 PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_ADDR = 0x000ffffffffff000ull;
constexpr u64 FAILED_CODE_BASE = 0x40;
// The ramdisk dom0test's build puts in the initrd for this guest starts with this line and
// continues with bytes (offset & 0xff).
constexpr char RAMDISK_MAGIC[] = "pvisor-domu-ramdisk\n";

const unsigned long* const m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);
const start_info_t* g_si;
pv::StrView g_cmdline;
xencons_interface* g_ring;

alignas(4096) constinit u8 shared_info_page[4096];

u64 va(const volatile void* p) { return reinterpret_cast<uptr>(p); }
u64 virt_base() { return va(__image_start); }
u64 pfn_to_va(u64 pfn) { return virt_base() + (pfn << PAGE_SHIFT); }
u64 page_up(u64 v) { return pv::align_up(v, PAGE_SIZE); }

// The L1 entry mapping `addr`, walked from pt_base with the tables found through the M2P.
u64 l1e_of(u64 addr) {
    const u64* t = reinterpret_cast<const u64*>(g_si->pt_base);
    for (int level = 3; level > 0; --level) {
        u64 e = t[(addr >> (PAGE_SHIFT + 9 * static_cast<unsigned>(level))) & 511];
        if (!(e & PTE_P)) return 0;
        t = reinterpret_cast<const u64*>(pfn_to_va(m2p[(e & PTE_ADDR) >> PAGE_SHIFT]));
    }
    return t[(addr >> PAGE_SHIFT) & 511];
}

void check_start_info(const start_info_t* si) {
    CHECK("start_info.magic", pv::StrView(si->magic).equals("xen-3.0-x86_64"));
    u64 expect_mem = 0;
    if (pv::parse_size(cmdline_value(g_cmdline, "expect_mem"), &expect_mem))
        CHECK_EQ("start_info.nr_pages", si->nr_pages, expect_mem >> PAGE_SHIFT);
    else
        check_fail("start_info.nr_pages", "no expect_mem= on the command line");
    // Its memory map, as the toolstack set it: one RAM entry from 0 to maxmem (expect_maxmem=,
    // or expect_mem=).
    u64 expect_maxmem = expect_mem;
    (void)pv::parse_size(cmdline_value(g_cmdline, "expect_maxmem"), &expect_maxmem);
    struct __attribute__((packed)) {
        u64 addr, size;
        u32 type;
    } e820[2] = {};
    xen_memory_map_t map{};
    map.nr_entries = 2;
    set_xen_guest_handle(map.buffer, e820);
    const long rc = hc::memory_op(XENMEM_memory_map, &map);
    check("memory_map.ram_to_maxmem",
          rc == 0 && map.nr_entries == 1 && e820[0].addr == 0 && e820[0].size == expect_maxmem && e820[0].type == 1,
          "rc %ld, %u entries, [%#lx, +%#lx) type %u", rc, map.nr_entries, e820[0].addr, e820[0].size, e820[0].type);
    // XENMEM_set_memory_map is for the domain itself or a privileged one: domain 0's map is
    // refused, as are more than Xen's 1024 entries and a buffer it cannot read.
    xen_foreign_memory_map_t set{};
    set.domid = 0;
    set.map.nr_entries = 1;
    set_xen_guest_handle(set.map.buffer, e820);
    CHECK_EQ("memory_map.set_for_domain0", hc::memory_op(XENMEM_set_memory_map, &set), -XEN_EPERM);
    set.domid = DOMID_SELF;
    set.map.nr_entries = 1025;
    CHECK_EQ("memory_map.set_too_many", hc::memory_op(XENMEM_set_memory_map, &set), -XEN_EINVAL);
    set.map.nr_entries = 1;
    set_xen_guest_handle(set.map.buffer, reinterpret_cast<void*>(0x1000));  // nothing maps page 1
    CHECK_EQ("memory_map.set_bad_buffer", hc::memory_op(XENMEM_set_memory_map, &set), -XEN_EFAULT);
    // A domU: neither privileged nor the initial domain; libxenguest sets SIF_VIRT_P2M_4TOOLS.
    CHECK_EQ_HEX("start_info.flags", si->flags, SIF_VIRT_P2M_4TOOLS);
    CHECK("start_info.cmdline", pv::str_nlen(reinterpret_cast<const char*>(si->cmd_line), MAX_GUEST_CMDLINE) <
                                        MAX_GUEST_CMDLINE &&
                                    !cmdline_value(g_cmdline, "shutdown").empty());
    info("nr_pages %lu pt_base %#lx nr_pt_frames %lu mfn_list %#lx mod_start %#lx mod_len %lu "
         "store %#lx/%u console %#lx/%u shared_info %#lx",
         si->nr_pages, si->pt_base, si->nr_pt_frames, si->mfn_list, si->mod_start, si->mod_len,
         si->store_mfn, si->store_evtchn, si->console.domU.mfn, si->console.domU.evtchn, si->shared_info);
}

// libxenguest's order: kernel, ramdisk, p2m, start_info, xenstore, console, page tables, stack.
void check_layout(const start_info_t* si) {
    const u64 kernel_end = page_up(va(__image_end));
    const u64 p2m_va = si->mod_len ? page_up(si->mod_start + si->mod_len) : kernel_end;
    if (si->mod_len) CHECK_EQ_HEX("layout.ramdisk_after_kernel", si->mod_start, kernel_end);
    CHECK_EQ_HEX("layout.p2m", si->mfn_list, p2m_va);
    CHECK_EQ_HEX("layout.start_info_after_p2m", va(si), page_up(si->mfn_list + si->nr_pages * 8));
    const u64 si_pfn = (va(si) - virt_base()) >> PAGE_SHIFT;
    CHECK_EQ_HEX("layout.xenstore_page", m2p[si->store_mfn], si_pfn + 1);
    CHECK_EQ_HEX("layout.console_page", m2p[si->console.domU.mfn], si_pfn + 2);
    CHECK_EQ_HEX("layout.page_tables", si->pt_base, va(si) + 3 * PAGE_SIZE);
    CHECK_EQ_HEX("layout.boot_stack", entry_state.rsp, si->pt_base + (si->nr_pt_frames + 1) * PAGE_SIZE);
    // The mapping ends at the first 4 MiB boundary above the stack + 512 KiB (strictly above:
    // libxenguest rounds with `| (4 MiB - 1)`), with 1 L4, 1 L3, 1 L2 and an L1 per 2 MiB.
    const u64 end = ((entry_state.rsp + 512 * pv::KiB) | (4 * pv::MiB - 1)) + 1;
    CHECK_EQ("layout.nr_pt_frames", si->nr_pt_frames, 3 + (end - virt_base()) / (2 * pv::MiB));
    CHECK("page_tables.padding_mapped", (l1e_of(end - PAGE_SIZE) & PTE_P) && !(l1e_of(end) & PTE_P));
    CHECK("page_tables.tables_read_only", !(l1e_of(si->pt_base) & PTE_RW) &&
                                              !(l1e_of(si->pt_base + (si->nr_pt_frames - 1) * PAGE_SIZE) & PTE_RW));
    CHECK("page_tables.stack_writable", (l1e_of(entry_state.rsp - 8) & PTE_RW) != 0);
}

void check_entry(const start_info_t* si) {
    CHECK_EQ_HEX("entry.rsi", entry_state.rsi, va(si));
    CHECK_EQ_HEX("entry.cs", entry_state.cs, FLAT_KERNEL_CS);
    CHECK_EQ_HEX("entry.ss", entry_state.ss, FLAT_KERNEL_SS);
    // libxenguest loads the flat kernel data selector into DS/ES/FS/GS (Xen's own dom0 builder
    // leaves them 0).
    CHECK("entry.data_segments", entry_state.ds == FLAT_KERNEL_DS && entry_state.es == FLAT_KERNEL_DS);
    CHECK("entry.rflags_if", (entry_state.rflags & (1u << 9)) != 0);
    CHECK_EQ_HEX("entry.bss_zeroed", entry_state.bss_or, 0);
}

void check_p2m(const start_info_t* si) {
    const auto* p2m = reinterpret_cast<const u64*>(si->mfn_list);
    u64 bad = 0;
    for (u64 pfn = 0; pfn < si->nr_pages; ++pfn)
        if (m2p[p2m[pfn]] != pfn) ++bad;
    CHECK("p2m.matches_m2p", bad == 0);
    const u64 si_pfn = (va(si) - virt_base()) >> PAGE_SHIFT;
    CHECK_EQ_HEX("p2m.start_info", (l1e_of(va(si)) & PTE_ADDR) >> PAGE_SHIFT, p2m[si_pfn]);
}

void check_shared_info(const start_info_t* si) {
    const u64 pte = (si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | (1u << 5) | (1u << 6);
    long rc = hc::update_va_mapping(va(shared_info_page), pte, UVMF_INVLPG | UVMF_LOCAL);
    CHECK_EQ("shared_info.map", rc, 0);
    if (rc) return;
    const auto* s = reinterpret_cast<const volatile shared_info_t*>(shared_info_page);
    bool masked = true;
    for (unsigned i = 0; i < XEN_LEGACY_MAX_VCPUS; ++i) masked &= s->vcpu_info[i].evtchn_upcall_mask == 1;
    CHECK("shared_info.upcalls_masked", masked);
}

// Physical IRQs are domain 0's: a domU may not map, set up, bind or unmap one (one check line:
// the console ring is small).
void check_physical_irqs() {
    physdev_map_pirq_t map{};
    map.domid = DOMID_SELF;
    map.type = MAP_PIRQ_TYPE_GSI;
    map.index = map.pirq = 9;
    physdev_setup_gsi_t gsi{};
    gsi.gsi = 9;
    evtchn_bind_pirq_t bind{};
    bind.pirq = 9;
    physdev_unmap_pirq_t unmap{};
    unmap.domid = DOMID_SELF;
    unmap.pirq = 9;
    const long m = hc::physdev_op(PHYSDEVOP_map_pirq, &map), g = hc::physdev_op(PHYSDEVOP_setup_gsi, &gsi),
               b = hc::event_channel_op(EVTCHNOP_bind_pirq, &bind), u = hc::physdev_op(PHYSDEVOP_unmap_pirq, &unmap);
    check("physdev.denied", m == -XEN_EPERM && g == -XEN_EPERM && b == -XEN_EPERM && u == -XEN_EPERM,
          "map %ld setup %ld bind %ld unmap %ld", m, g, b, u);
}

void check_hypercalls(const start_info_t* si) {
    long via_syscall = hc::xen_version<Via::Syscall>(XENVER_version, nullptr);
    long via_page = hc::xen_version<Via::Page>(XENVER_version, nullptr);
    CHECK("hypercall_page.filled", via_syscall > 0 && via_page == via_syscall);
    // The hypervisor's command line is domain 0's to read: Xen's XSM default answers "<denied>".
    xen_commandline_t line{};
    const long rc_line = hc::xen_version(XENVER_commandline, &line);
    check("xen_version.commandline_denied", rc_line == 0 && pv::StrView(line).equals("<denied>"), "rc %ld", rc_line);
    // Both ports the builder allocated wait, unbound, for dom0; with ports=connected (built by
    // dom0.elf's toolstack) xenstored and the console backend have bound them before we run.
    const bool connected = cmdline_value(g_cmdline, "ports").equals("connected");
    const u32 ports[] = {si->store_evtchn, si->console.domU.evtchn};
    for (u32 port : ports) {
        evtchn_status_t st{};
        st.dom = DOMID_SELF;
        st.port = port;
        long rc = hc::event_channel_op(EVTCHNOP_status, &st);
        const bool store = port == si->store_evtchn;
        const char* name = connected ? (store ? "evtchn.store_connected" : "evtchn.console_connected")
                                     : (store ? "evtchn.store_unbound" : "evtchn.console_unbound");
        const bool state = connected ? st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == 0
                                     : st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == 0;
        check(name, port != 0 && rc == 0 && state, "port %u: rc %ld status %u", port, rc, st.status);
    }
    // What a domU may not do on a release build (the reason this kernel reports via its ring).
    long rc = hc::console_io(CONSOLEIO_write, 1, "x");
    info("CONSOLEIO_write from a domU: %ld", rc);
    check_physical_irqs();
}

void check_ramdisk(const start_info_t* si) {
    u64 size = 0;
    if (!pv::parse_u64(cmdline_value(g_cmdline, "ramdisk"), &size)) {
        CHECK_EQ("ramdisk.none", si->mod_len, 0);
        return;
    }
    // libxenguest hands over the ramdisk's segment: the length is rounded up to pages.
    CHECK_EQ("ramdisk.mod_len", si->mod_len, page_up(size));
    const auto* p = reinterpret_cast<const u8*>(si->mod_start);
    const usize magic = sizeof(RAMDISK_MAGIC) - 1;
    bool ok = si->mod_len >= size && size >= magic && pv::mem_compare(p, RAMDISK_MAGIC, magic) == 0;
    for (u64 i = magic; ok && i < size; ++i) ok = p[i] == static_cast<u8>(i & 0xff);
    for (u64 i = size; ok && i < si->mod_len; ++i) ok = p[i] == 0;
    CHECK("ramdisk.contents", ok);
}

unsigned shutdown_reason() {
    pv::StrView r = cmdline_value(g_cmdline, "shutdown");
    if (r.equals("reboot")) return SHUTDOWN_reboot;
    if (r.equals("crash")) return SHUTDOWN_crash;
    return SHUTDOWN_poweroff;
}

// Spins for ever, counting; see burn.hpp.
[[noreturn]] void burn() {
    print("domu: burn\n");
    auto* counter = reinterpret_cast<volatile u64*>(reinterpret_cast<uptr>(g_ring) + BURN_COUNTER_OFFSET);
    for (;;) *counter = *counter + 1;
}

// The victim's data region; see victim.hpp.
alignas(4096) constinit u64 victim_data[VICTIM_DATA_PAGES][4096 / sizeof(u64)];

// Fills the data region, publishes its status and beats until told to stop; see victim.hpp.
[[noreturn]] void victim(const start_info_t* si) {
    print("domu: victim\n");
    auto* st = reinterpret_cast<volatile VictimStatus*>(reinterpret_cast<uptr>(g_ring) + VICTIM_STATUS_OFFSET);
    const u64 pte = (si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | (1u << 5) | (1u << 6);
    if (hc::update_va_mapping(va(shared_info_page), pte, UVMF_INVLPG | UVMF_LOCAL)) finish(SHUTDOWN_crash);
    const auto* shared = reinterpret_cast<const volatile shared_info_t*>(shared_info_page);
    const auto* p2m = reinterpret_cast<const u64*>(si->mfn_list);
    u64 sum = VICTIM_CHECKSUM_SEED, x = 0x243f6a8885a308d3ull;
    for (unsigned p = 0; p < VICTIM_DATA_PAGES; ++p) {
        for (u64& w : victim_data[p]) w = x = x * 6364136223846793005ull + 1442695040888963407ull;
        sum = victim_checksum(sum, victim_data[p]);
        st->data_mfn[p] = p2m[(va(victim_data[p]) - virt_base()) >> PAGE_SHIFT];
    }
    st->checksum = sum;
    asm volatile("" ::: "memory");
    st->magic = VICTIM_MAGIC;
    evtchn_port_t none = 0;
    for (u64 beat = 1;; ++beat) {
        sched_poll_t poll{};
        set_xen_guest_handle(poll.ports, &none);
        poll.timeout = vcpu_system_time_ns(shared->vcpu_info[0].time) + 1'000'000;
        hc::sched_op(SCHEDOP_poll, &poll);
        st->heartbeat = beat;
        if (st->stop) finish(st->mismatches ? SHUTDOWN_crash : SHUTDOWN_poweroff);
        if (beat % VICTIM_RECHECK_EVERY) continue;
        u64 now = VICTIM_CHECKSUM_SEED;
        for (const auto& page : victim_data) now = victim_checksum(now, page);
        st->rechecks = st->rechecks + 1;
        if (now != sum) st->mismatches = st->mismatches + 1;
    }
}

}  // namespace

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    g_si = si;
    g_cmdline = guest_cmdline(si);
    g_ring = console_ring(si);
    // A console backend that is connected (ports=connected) drains the ring as it is told to.
    const bool connected = cmdline_value(g_cmdline, "ports").equals("connected");
    use_console_ring(si, connected, connected);
    set_report_prefix("domu");
    if (cmdline_value(g_cmdline, "mode").equals("burn")) burn();
    if (cmdline_value(g_cmdline, "mode").equals("victim")) victim(si);
    print("domu: start\n");
    check_start_info(si);
    check_entry(si);
    check_layout(si);
    check_p2m(si);
    check_ramdisk(si);
    check_hypercalls(si);
    check_shared_info(si);
    if (checks_failed()) {
        sched_shutdown_t code{};
        code.reason = static_cast<unsigned>(FAILED_CODE_BASE + (checks_failed() > 63 ? 63 : checks_failed()));
        hc::sched_op(SCHEDOP_shutdown_code, &code);
    }
    finish(shutdown_reason());
}
