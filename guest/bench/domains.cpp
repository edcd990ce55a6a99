// Metrics with a second domain, and the partner domU this same kernel becomes when it is not
// domain 0 (start_info has no SIF_INITDOMAIN).
//
// Domain 0 carries the partner as its initrd: bench/run.py passes bench.elf twice, as the
// kernel and as its module, and domain 0 builds domUs from it with the guest library's builder
// (guest/lib/builder).  No XenStore: the domU's command line says what it is for
// (mode=partner gref=<n> | mode=create), and the event channel between the two is the console
// channel the builder allocates (unbound in the domU, remote end domain 0), which domain 0 binds
// with EVTCHNOP_bind_interdomain before it unpauses the domU.
//
// * Footprint: sysctl physinfo's total_pages - free_pages - domain 0's tot_pages after boot
//   (what the hypervisor holds: its image, tables, heap), and per domain: the free frames a
//   built domain took beyond its own tot_pages (getdomaininfo), in KiB.
// * interdomain_pingpong_1cpu / _2cpu: domain 0 sends, blocks (SCHEDOP_block) until the
//   partner's answer is taken as an upcall; the partner does the same the other way.  One round
//   trip: two sends, two blocks, two upcalls, two domain switches; on two physical CPUs (domain
//   0 pinned to its pCPU, the partner to another; `run=smp2`) the wake-ups cross CPUs instead.
// * grant_map_unmap: GNTTABOP_map_grant_ref of the partner's granted page at a host address of
//   ours (GNTMAP_host_map), then GNTTABOP_unmap_grant_ref of it.
// * grant_copy_4k: GNTTABOP_copy of the 4 KiB granted page into a frame of ours.
// * domain_create_*: from XEN_DOMCTL_createdomain through the build, the unpause and the domU's
//   first event (its first action, sent from its entry) to domain 0 woken by it
//   (domain_create_to_first), then destroydomain until the domain is gone
//   (domain_destroy); domain_create_destroy is the whole.  Domain 0's clock only: a domU's TSC
//   may be emulated (Xen 4.17 emulates it unless the host's is marked reliable), so its own
//   reading is not comparable.
#include "guest/lib/builder/xen_tools.hpp"  // first: before any other Xen header

#include "guest/bench/bench.hpp"
#include "guest/lib/builder/builder.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/time.hpp"
#include "lib/format.hpp"

namespace bench {
namespace {

constexpr grant_ref_t PARTNER_GREF = GNTTAB_NR_RESERVED_ENTRIES;  // the first free entry
constexpr u64 DOMU_MEMORY = 4 * pv::MiB;
constexpr u64 WAIT_NS = 1'000'000'000;  // a domU's event: it comes in a few ms or never
constexpr u64 DESTROY_POLLS = 200'000;

// Partner side.
alignas(4096) constinit volatile u8 g_table_window[4096];  // our grant-table frame 0
alignas(4096) constinit volatile u8 g_granted[4096];       // the page granted to domain 0
// Domain 0 side.
alignas(4096) constinit volatile u8 g_map_target[4096];  // whose PTE the grant mapping replaces
alignas(4096) constinit volatile u8 g_copy_dest[4096];

constinit pv::Diagnostics g_diags;

pv::StrView cmdline() {
    const char* c = reinterpret_cast<const char*>(g_si->cmd_line);
    return {c, pv::str_nlen(c, MAX_GUEST_CMDLINE)};
}

const char* first_error() {
    for (usize i = 0; i < g_diags.count(); ++i)
        if (g_diags[i].severity == pv::Severity::error) return g_diags.message(i);
    return "no detail";
}

u64 now_ns() { return vcpu_system_time_ns(g_shared->vcpu_info[0].time); }

// Waits, events masked, for `port` to become pending (SCHEDOP_poll with a timeout) and clears
// it.  Setup only: the timed paths take their events as upcalls.
bool wait_port(evtchn_port_t port) {
    const xen_ulong_t bit = xen_ulong_t{1} << port;
    const u64 deadline = now_ns() + WAIT_NS;
    while (!(__atomic_fetch_and(&g_shared->evtchn_pending[0], ~bit, __ATOMIC_SEQ_CST) & bit)) {
        if (now_ns() >= deadline) return false;
        sched_poll_t p{};
        evtchn_port_t ports[1] = {port};
        set_xen_guest_handle(p.ports, ports);
        p.nr_ports = 1;
        p.timeout = deadline;
        hc::sched_op(SCHEDOP_poll, &p);
    }
    return true;
}

// ---- the partner domU -------------------------------------------------------------------

// Grants g_granted to domain 0 at `ref` through our grant table's first frame.
bool grant_to_dom0(grant_ref_t ref) {
    xen_pfn_t frame = 0;
    gnttab_setup_table_t st{};
    st.dom = DOMID_SELF;
    st.nr_frames = 1;
    set_xen_guest_handle(st.frame_list, &frame);
    if (hc::grant_table_op(GNTTABOP_setup_table, &st, 1) || st.status != GNTST_okay) return false;
    u64 pte = (frame << PAGE_SHIFT) | PTE_P | PTE_RW | PTE_A | PTE_D;
    if (hc::update_va_mapping(va(g_table_window), pte, UVMF_INVLPG | UVMF_LOCAL)) return false;
    auto* e = reinterpret_cast<volatile grant_entry_v1_t*>(g_table_window) + ref;
    e->domid = 0;
    e->frame = static_cast<u32>(mfn_of(g_granted));
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e->flags = GTF_permit_access;
    return true;
}

}  // namespace

// A domU cannot print on a release Xen; a failure shows as a missing event on domain 0's side.
[[noreturn]] void partner_main() {
    const evtchn_port_t port = g_si->console.domU.evtchn;
    const pv::StrView mode = cmdline_value(cmdline(), "mode");
    if (mode.equals("create")) {
        send(port);  // our first action: domain 0 is waiting for it
        shutdown(SHUTDOWN_poweroff);
    }
    u64 gref = 0;
    if (!mode.equals("partner") || !pv::parse_u64(cmdline_value(cmdline(), "gref"), &gref) || port >= 64)
        shutdown(SHUTDOWN_crash);
    setup();
    listen_on(0, port);
    if (!grant_to_dom0(static_cast<grant_ref_t>(gref))) shutdown(SHUTDOWN_crash);
    for (unsigned i = 0; i < 4096; ++i) g_granted[i] = static_cast<u8>(i);
    send(port);  // ready
    for (;;) {
        block_until_event(0, events_taken(0));
        send(port);
    }
}

namespace {

// ---- domain 0 -----------------------------------------------------------------------------

struct Physinfo {
    u64 total, free;
    unsigned cpus;
};

bool physinfo(Physinfo& out) {
    xen_sysctl op{};
    if (!pvb::sysctl(op, XEN_SYSCTL_physinfo, g_diags)) return false;
    out = {op.u.physinfo.total_pages, op.u.physinfo.free_pages, op.u.physinfo.nr_cpus};
    return true;
}

bool tot_pages(domid_t dom, u64& out) {
    pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(dom, g_diags);
    if (info) out = info->tot_pages;
    return info.ok();
}

void report_kib(const char* metric, u64 pages) {
    g_samples.v[0] = pages * 4;
    g_samples.n = 1;
    report(metric, g_samples);
}

void bench_footprint() {
    Physinfo pi;
    u64 dom0 = 0;
    if (!physinfo(pi) || !tot_pages(0, dom0)) {
        report_error("hv_footprint", "%s", first_error());
        return;
    }
    print("bench: info: physinfo total_pages %lu, free_pages %lu, domain 0 tot_pages %lu, %u pCPUs\n", pi.total,
          pi.free, dom0, pi.cpus);
    report_kib("hv_footprint", pi.total - pi.free - dom0);
}

// A domU built from the initrd, paused, with our end of its console channel bound.
struct Domu {
    pvb::BuildConfig cfg;
    pvb::BuiltDomain dom;
    evtchn_port_t port = 0;  // ours
};

bool build(Domu& d, const u8* image, usize size, const char* cmd) {
    d.cfg.kernel = image;
    d.cfg.kernel_size = size;
    d.cfg.cmdline = cmd;
    d.cfg.memory = DOMU_MEMORY;
    d.cfg.self_pt_base = g_si->pt_base;
    d.cfg.self_virt_base = reinterpret_cast<uptr>(__image_start);
    if (!pvb::build_domain(d.cfg, d.dom, g_diags)) return false;
    evtchn_bind_interdomain_t b{};
    b.remote_dom = d.dom.domid;
    b.remote_port = d.dom.console_evtchn;
    long rc = hc::event_channel_op(EVTCHNOP_bind_interdomain, &b);
    if (rc == 0 && b.local_port < 64) {
        d.port = b.local_port;
        return true;
    }
    g_diags.error("bind_interdomain to d%u port %u: %ld, local port %u", d.dom.domid, d.dom.console_evtchn, rc,
                  b.local_port);
    return false;
}

void close_port(evtchn_port_t port) {
    evtchn_close_t c{};
    c.port = port;
    hc::event_channel_op(EVTCHNOP_close, &c);
}

bool destroy(Domu& d) {
    if (d.port) close_port(d.port);
    d.port = 0;
    return pvb::destroy(d.dom.domid, DESTROY_POLLS, g_diags).ok();
}

// Grant metrics against the partner's page.
void bench_grants(domid_t partner) {
    static domid_t s_partner;
    s_partner = partner;
    const u64* l1e = l1e_ptr(va(g_map_target));
    const u64 orig = l1e ? *l1e : 0;
    run("grant_map_unmap", 50, 1000, [] {
        gnttab_map_grant_ref_t m{};
        m.host_addr = va(g_map_target);
        m.flags = GNTMAP_host_map;
        m.ref = PARTNER_GREF;
        m.dom = s_partner;
        long rc = hc::grant_table_op(GNTTABOP_map_grant_ref, &m, 1);
        gnttab_unmap_grant_ref_t u{};
        u.host_addr = m.host_addr;
        u.handle = m.handle;
        long urc = rc || m.status != GNTST_okay ? 0 : hc::grant_table_op(GNTTABOP_unmap_grant_ref, &u, 1);
        if (rc == 0 && m.status == GNTST_okay && urc == 0 && u.status == GNTST_okay) return true;
        report_error("grant_map_unmap", "map %ld status %d, unmap %ld status %d", rc, m.status, urc, u.status);
        return false;
    });
    // The unmap left the page's PTE clear: put our own mapping back.
    if (l1e) hc::update_va_mapping(va(g_map_target), orig, UVMF_INVLPG | UVMF_LOCAL);

    run("grant_copy_4k", 50, 1000, [] {
        gnttab_copy_t c{};
        c.flags = GNTCOPY_source_gref;
        c.source.domid = s_partner;
        c.source.u.ref = PARTNER_GREF;
        c.dest.domid = DOMID_SELF;
        c.dest.u.gmfn = mfn_of(g_copy_dest);
        c.len = 4096;
        long rc = hc::grant_table_op(GNTTABOP_copy, &c, 1);
        if (rc == 0 && c.status == GNTST_okay && g_copy_dest[4095] == 0xff) return true;
        report_error("grant_copy_4k", "copy %ld status %d, last byte %#x", rc, c.status, g_copy_dest[4095]);
        return false;
    });
}

// The partner: built, started, ready (its grant written); then the ping-pong on `metric`, and
// on one CPU the grant metrics.
void bench_partner(const u8* image, usize size, bool two_cpus) {
    const char* metric = two_cpus ? "interdomain_pingpong_2cpu" : "interdomain_pingpong_1cpu";
    static Domu d;
    char cmd[64];
    pv::format(cmd, sizeof cmd, "mode=partner gref=%u", PARTNER_GREF);
    if (!build(d, image, size, cmd)) {
        report_error(metric, "building the partner: %s", first_error());
        return;
    }
    if (two_cpus && (!pvb::set_hard_affinity(0, 0, 1u << 0, g_diags) ||
                     !pvb::set_hard_affinity(d.dom.domid, 0, 1u << 1, g_diags))) {
        report_error(metric, "pinning: %s", first_error());
        destroy(d);
        return;
    }
    if (!pvb::unpause(d.dom.domid, g_diags) || !wait_port(d.port)) {
        report_error(metric, "the partner d%u did not get ready: %s", d.dom.domid, first_error());
        destroy(d);
        return;
    }
    static evtchn_port_t s_port;
    s_port = d.port;
    listen_on(0, d.port);
    run(metric, 50, 500, [] {
        u64 before = events_taken(0);
        long rc = send(s_port);
        if (rc) report_error("interdomain_pingpong", "send %ld", rc);
        else block_until_event(0, before);
        return rc == 0;
    });
    if (!two_cpus) bench_grants(d.dom.domid);
    if (!destroy(d)) report_error(metric, "destroying the partner: %s", first_error());
    if (two_cpus && !pvb::set_hard_affinity(0, 0, ~u64{0}, g_diags)) print("bench: info: %s\n", first_error());
}

// The free memory once it stopped changing over 1 ms of sleep (SCHEDOP_poll with a timeout, on
// no port): a hypervisor may return a destroyed domain's last frames a little after it left
// getdomaininfo (Xen frees some in an RCU callback), and the overhead figure needs a quiet
// starting point.
bool settled(Physinfo& now) {
    if (!physinfo(now)) return false;
    for (unsigned i = 0; i < 1000; ++i) {
        const u64 until = now_ns() + 1'000'000;
        while (now_ns() < until) {
            sched_poll_t p{};
            p.timeout = until;
            hc::sched_op(SCHEDOP_poll, &p);
        }
        const u64 last = now.free;
        if (!physinfo(now)) return false;
        if (now.free == last) return true;
    }
    return false;
}

// Create -> first instruction -> destroy, and the free frames a domain takes beyond its pages.
void bench_create(const u8* image, usize size) {
    constexpr unsigned WARMUP = 2, ITERS = 20;
    static u64 to_first[ITERS], destroyed[ITERS], whole[ITERS], overhead[ITERS];
    unsigned n = 0;
    for (unsigned i = 0; i < WARMUP + ITERS; ++i) {
        static Domu d;
        d = Domu{};
        Physinfo before{}, built{};
        u64 pages = 0;
        if (!settled(before)) {
            report_error("domain_create_destroy", "free memory did not settle: %s", first_error());
            return;
        }
        const u64 t0 = rdtsc();
        bool ok = build(d, image, size, "mode=create");
        const bool counted = ok && physinfo(built) && tot_pages(d.dom.domid, pages);
        ok = ok && pvb::unpause(d.dom.domid, g_diags).ok() && wait_port(d.port);
        const u64 t1 = rdtsc();
        ok = (d.dom.domid == DOMID_INVALID || destroy(d)) && ok;
        const u64 t2 = rdtsc();
        if (!ok || !counted) {
            report_error("domain_create_destroy", "%s", first_error());
            return;
        }
        if (i < WARMUP) continue;
        to_first[n] = t1 - t0;
        destroyed[n] = t2 - t1;
        whole[n] = t2 - t0;
        overhead[n] = (before.free - built.free - pages) * 4;
        ++n;
    }
    report("domain_create_to_first", to_first, n);
    report("domain_destroy", destroyed, n);
    report("domain_create_destroy", whole, n);
    report("domain_overhead", overhead, n);
}

}  // namespace

void bench_domains(const u8* initrd, usize size, bool two_cpus) {
    if (!two_cpus) bench_footprint();
    if (!initrd || size < 4 || initrd[0] != 0x7f || initrd[1] != 'E') {
        print("bench: info: no partner image (boot with bench.elf as the initrd): no domain metrics\n");
        return;
    }
    bench_partner(initrd, size, two_cpus);
    if (!two_cpus) bench_create(initrd, size);
    for (usize i = 0; i < g_diags.count(); ++i)
        if (g_diags[i].severity != pv::Severity::error) print("bench: info: %s\n", g_diags.message(i));
}

}  // namespace bench
