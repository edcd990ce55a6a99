// Attacks across domains (issue 5's isolation list and issue 9's): grant references the attacker
// was not given or that were revoked, copies past a granted page or from another domain's frames,
// stale grant handles, memory exchanges with bad extents, event channels of other domains,
// control operations a domU may not use, and floods of timers and events.  Domain 0 prepares the
// grants and ports these aim at (guest/dom0test/attack.cpp) and passes their numbers on the
// command line (attack.hpp).
#include "guest/lib/builder/xen_tools.hpp"  // first: before any other Xen header

#include "guest/attack/attack.hpp"
#include "guest/lib/time.hpp"
#include "lib/format.hpp"

namespace atk {

using hc::grant_copy1;

extern "C" u64 attack_spin_rcx_r11(u64 iterations);  // entry.S

namespace {

alignas(4096) constinit volatile u8 g_map_page[4096];  // where grant maps go
alignas(4096) constinit u8 g_buf[4096];

i16 map_grant(domid_t dom, grant_ref_t ref, u32 flags, grant_handle_t* handle = nullptr) {
    gnttab_map_grant_ref_t op{};
    op.host_addr = va(g_map_page);
    op.flags = GNTMAP_host_map | flags;
    op.ref = ref;
    op.dom = dom;
    if (hc::grant_table_op(GNTTABOP_map_grant_ref, &op, 1)) return -1000;
    if (handle) *handle = op.handle;
    return op.status;
}

i16 unmap_grant(u64 host_addr, grant_handle_t handle) {
    gnttab_unmap_grant_ref_t op{};
    op.host_addr = host_addr;
    op.handle = handle;
    if (hc::grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1)) return -1000;
    return op.status;
}

// The page's own mapping back (a host map replaced it; an unmap leaves it empty).
void restore_map_page() {
    hc::update_va_mapping(va(g_map_page), (mfn_of(g_map_page) << PAGE_SHIFT) | PTE_P | PTE_RW | PTE_A | PTE_D,
                          UVMF_INVLPG | UVMF_LOCAL);
}

}  // namespace

// Domain 0's references (attack.hpp): the one granted to us maps; the others do not.
void grant_foreign() {
    grant_handle_t h = 0;
    i16 st = map_grant(0, GREF_RW, 0, &h);
    expect_gnt("grant_foreign.map_granted", st, GNTST_okay);
    if (st == GNTST_okay) {
        expect_gnt("grant_foreign.unmap_granted", unmap_grant(va(g_map_page), h), GNTST_okay);
        restore_map_page();
    }
    expect_gnt("grant_foreign.map_victims_ref", map_grant(0, GREF_VICTIMS, 0), GNTST_general_error);
    expect_gnt("grant_foreign.map_victims_ref_readonly", map_grant(0, GREF_VICTIMS, GNTMAP_readonly),
               GNTST_general_error);
    expect_gnt("grant_foreign.map_readonly_ref_rw", map_grant(0, GREF_RO, 0), GNTST_general_error);
    expect_gnt("grant_foreign.map_revoked", map_grant(0, GREF_REVOKED, GNTMAP_readonly), GNTST_general_error);
    expect_gnt("grant_foreign.map_beyond_table", map_grant(0, GREF_BEYOND, 0), GNTST_bad_gntref);
    // The victim granted nothing to anyone.
    expect_gnt("grant_foreign.map_victim_ungranted", map_grant(g_params.victim, GREF_RW, GNTMAP_readonly),
               GNTST_general_error);
    expect_gnt("grant_foreign.map_no_such_domain", map_grant(0x7ff0, 1, 0), GNTST_bad_domain);
    // Another domain's table cannot be set up or queried.
    gnttab_setup_table_t s{};
    xen_pfn_t frame = 0;
    s.dom = g_params.victim;
    s.nr_frames = 1;
    set_xen_guest_handle(s.frame_list, &frame);
    long rc = hc::grant_table_op(GNTTABOP_setup_table, &s, 1);
    expect_gnt("grant_foreign.setup_victims_table", rc ? -1000 : s.status, GNTST_permission_denied);
    gnttab_query_size_t q{};
    q.dom = g_params.victim;
    rc = hc::grant_table_op(GNTTABOP_query_size, &q, 1);
    expect_gnt("grant_foreign.query_victims_table", rc ? -1000 : q.status, GNTST_permission_denied);
}

// GNTTABOP_copy: within the granted page only, only through grants for other domains' frames.
void grant_copy() {
    const u64 own = mfn_of(g_buf);
    expect_gnt("grant_copy.from_granted", grant_copy1(GNTCOPY_source_gref, 0, GREF_RW, 0, DOMID_SELF, own, 0, 64), GNTST_okay);
    expect_gnt("grant_copy.past_granted_page",
               grant_copy1(GNTCOPY_source_gref, 0, GREF_RW, 4000, DOMID_SELF, own, 0, 200), GNTST_bad_copy_arg);
    expect_gnt("grant_copy.past_own_page",
               grant_copy1(GNTCOPY_dest_gref, DOMID_SELF, own, 0, 0, GREF_RW, 3968, 256), GNTST_bad_copy_arg);
    expect_gnt("grant_copy.into_readonly_ref", grant_copy1(GNTCOPY_dest_gref, DOMID_SELF, own, 0, 0, GREF_RO, 0, 8),
               GNTST_general_error);
    expect_gnt("grant_copy.from_victims_ref", grant_copy1(GNTCOPY_source_gref, 0, GREF_VICTIMS, 0, DOMID_SELF, own, 0, 8),
               GNTST_general_error);
    expect_gnt("grant_copy.from_revoked", grant_copy1(GNTCOPY_source_gref, 0, GREF_REVOKED, 0, DOMID_SELF, own, 0, 8),
               GNTST_general_error);
    // A frame number with a foreign domain, no grant: refused before the frame is looked at.
    expect_gnt("grant_copy.victim_frame_by_gmfn", grant_copy1(0, g_params.victim, g_params.victim_mfn, 0, DOMID_SELF, own, 0, 8),
               GNTST_permission_denied);
    expect_gnt("grant_copy.into_victim_frame", grant_copy1(0, DOMID_SELF, own, 0, g_params.victim, g_params.victim_mfn, 0, 8),
               GNTST_permission_denied);
    // Our own domain id with someone else's frame.
    expect_gnt("grant_copy.victim_frame_as_own", grant_copy1(0, DOMID_SELF, g_params.victim_mfn, 0, DOMID_SELF, own, 0, 8),
               GNTST_bad_page);
}

// Dying with grants mapped: domain 0's page mapped read-write (a marker written through it) and
// read-only, then a crash.  Domain 0 checks after the destruction that both grants were
// released (no GTF_reading/GTF_writing left in its entries), its page kept the marker, and
// every frame came back.
void grant_held_at_death() {
    grant_handle_t h = 0;
    if (!expect_gnt("grant_held_at_death.map_rw", map_grant(0, GREF_RW, 0, &h), GNTST_okay)) return;
    // A host map replaces the page's entry without a flush: the old translation goes first.
    hc::mmuext1(MMUEXT_INVLPG_LOCAL, va(g_map_page));
    *reinterpret_cast<volatile u64*>(g_map_page) = GRANT_MARKER;
    gnttab_map_grant_ref_t op{};
    op.host_addr = va(g_buf);
    op.flags = GNTMAP_host_map | GNTMAP_readonly;
    op.ref = GREF_RO;
    op.dom = 0;
    long rc = hc::grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    expect_gnt("grant_held_at_death.map_ro", rc ? -1000 : op.status, GNTST_okay);
    bounce_stack_unmapped();  // does not come back when the hypervisor behaves
}

// Handles used after their unmap, never issued, or with the wrong address.
void grant_unmap_stale() {
    grant_handle_t h = 0;
    i16 st = map_grant(0, GREF_RW, GNTMAP_readonly, &h);
    if (!expect_gnt("grant_unmap_stale.map", st, GNTST_okay)) return;
    expect_gnt("grant_unmap_stale.wrong_address", unmap_grant(va(g_buf), h), GNTST_general_error);
    expect_gnt("grant_unmap_stale.unmap", unmap_grant(va(g_map_page), h), GNTST_okay);
    restore_map_page();
    expect_gnt("grant_unmap_stale.unmap_again", unmap_grant(va(g_map_page), h), GNTST_bad_handle);
    expect_gnt("grant_unmap_stale.never_issued", unmap_grant(va(g_map_page), h + 7), GNTST_bad_handle);
    expect_gnt("grant_unmap_stale.huge_handle", unmap_grant(va(g_map_page), 0xfffff), GNTST_bad_handle);
    // The page is still ours and readable.
    CHECK_EQ("grant_unmap_stale.page_back", g_map_page[0], 0);
}

namespace {

long exchange(xen_memory_exchange_t& x) { return hc::memory_op(XENMEM_exchange, &x); }

xen_memory_exchange_t exchange_of(xen_pfn_t* in, xen_pfn_t* out, u64 n_in, u32 order_in, u64 n_out, u32 order_out) {
    xen_memory_exchange_t x{};
    set_xen_guest_handle(x.in.extent_start, in);
    x.in.nr_extents = n_in;
    x.in.extent_order = order_in;
    x.in.domid = DOMID_SELF;
    set_xen_guest_handle(x.out.extent_start, out);
    x.out.nr_extents = n_out;
    x.out.extent_order = order_out;
    x.out.domid = DOMID_SELF;
    return x;
}

}  // namespace

// XENMEM_exchange with extents that do not add up, frames that are not ours, another domain's
// id, orders beyond what a domU may ask, and lists it cannot read.
void memory_exchange() {
    static xen_pfn_t in[4], out[4];
    const u64 scratch_pfn = (va(g_buf) - VIRT_BASE) >> PAGE_SHIFT;
    in[0] = scratch_pfn;
    xen_memory_exchange_t x = exchange_of(in, out, 1, 0, 2, 0);
    expect_rc("memory_exchange.sizes_differ", exchange(x), -XEN_EINVAL);
    x = exchange_of(in, out, 1, 0, 1, 0);
    x.nr_exchanged = 2;
    expect_rc("memory_exchange.nr_exchanged_past_end", exchange(x), -XEN_EINVAL);
    x = exchange_of(in, out, 1, 0, 1, 0);
    x.in.domid = g_params.victim;
    x.out.domid = g_params.victim;
    expect_rc("memory_exchange.victims_domain", exchange(x), -XEN_EPERM);
    x = exchange_of(in, out, 1, 0, 1, 0);
    x.out.domid = g_params.victim;
    expect_rc("memory_exchange.out_domain_differs", exchange(x), -XEN_EINVAL);
    x = exchange_of(in, out, 1, 20, 1, 20);
    expect_rc("memory_exchange.order_too_big", exchange(x), -XEN_EPERM);
    x = exchange_of(reinterpret_cast<xen_pfn_t*>(HYPERVISOR_ADDRESS), out, 1, 0, 1, 0);
    expect_rc("memory_exchange.in_list_hypervisor", exchange(x), -XEN_EFAULT);
    // The victim's frame as an extent of ours (a PV domain names gpfns; its mfn is no pfn of ours).
    in[0] = g_params.victim_mfn;
    x = exchange_of(in, out, 1, 0, 1, 0);
    long rc = exchange(x);
    expect_rc("memory_exchange.victim_frame", rc, -XEN_EINVAL);
    CHECK_EQ("memory_exchange.victim_frame_none_exchanged", x.nr_exchanged, 0);
    // A valid exchange: our page g_buf, unmapped first (so only its allocation holds it), for a
    // new frame at the same pseudo-physical frame, which we then map in its place.
    const u64 old_mfn = mfn_of(g_buf);
    long unmapped = hc::update_va_mapping(va(g_buf), 0, UVMF_INVLPG | UVMF_LOCAL);
    in[0] = old_mfn;
    out[0] = scratch_pfn;
    x = exchange_of(in, out, 1, 0, 1, 0);
    rc = exchange(x);
    check("memory_exchange.own_frame_ok", unmapped == 0 && rc == 0 && x.nr_exchanged == 1 && out[0] != old_mfn &&
                                              m2p[out[0]] == scratch_pfn,
          "unmap %ld, exchange %ld, %lu exchanged, mfn %#lx -> %#lx", unmapped, rc, x.nr_exchanged, old_mfn, out[0]);
    if (rc == 0) reinterpret_cast<xen_pfn_t*>(g_si->mfn_list)[scratch_pfn] = out[0];
    long mapped = hc::update_va_mapping(va(g_buf), (mfn_of(g_buf) << PAGE_SHIFT) | PTE_P | PTE_RW | PTE_A | PTE_D,
                                        UVMF_INVLPG | UVMF_LOCAL);
    check("memory_exchange.new_frame_zeroed", mapped == 0 && g_buf[0] == 0 && g_buf[4095] == 0, "map %ld", mapped);
    // The old frame is gone: in use it would be refused.
    in[0] = old_mfn;
    x = exchange_of(in, out, 1, 0, 1, 0);
    expect_rc("memory_exchange.old_frame_again", exchange(x), -XEN_EINVAL);

    // The other reservations on the victim's behalf: refused by doing nothing (these return the
    // number of extents done, here 0, not an errno).
    xen_memory_reservation_t r{};
    set_xen_guest_handle(r.extent_start, in);
    r.nr_extents = 1;
    r.domid = g_params.victim;
    in[0] = g_params.victim_mfn;
    CHECK_EQ("memory_exchange.decrease_victims_none_done", hc::memory_op(XENMEM_decrease_reservation, &r), 0);
    CHECK_EQ("memory_exchange.populate_victims_none_done", hc::memory_op(XENMEM_populate_physmap, &r), 0);
    domid_t victim = g_params.victim;
    expect_rc("memory_exchange.victims_maximum_reservation", hc::memory_op(XENMEM_maximum_reservation, &victim),
              -XEN_EPERM);
}

namespace {

long evtchn(int cmd, void* a) { return hc::event_channel_op(cmd, a); }

}  // namespace

// Ports that are not ours: the victim's (unbound for domain 0), domain 0's (offered to the
// victim), and every operation that takes another domain's id.
void evtchn_foreign() {
    evtchn_bind_interdomain_t b{};
    b.remote_dom = g_params.victim;
    b.remote_port = g_params.victim_port;
    expect_rc("evtchn_foreign.bind_victims_port", evtchn(EVTCHNOP_bind_interdomain, &b), -XEN_EINVAL);
    b.remote_dom = 0;
    b.remote_port = g_params.dom0_port;
    expect_rc("evtchn_foreign.bind_port_offered_to_victim", evtchn(EVTCHNOP_bind_interdomain, &b), -XEN_EINVAL);
    b.remote_dom = 0x7ff0;
    expect_rc("evtchn_foreign.bind_no_such_domain", evtchn(EVTCHNOP_bind_interdomain, &b), -XEN_EINVAL);
    // Port numbers name our own ports: the victim's numbers are unallocated here.
    constexpr evtchn_port_t UNUSED = 200;
    evtchn_send_t s{UNUSED};
    expect_rc("evtchn_foreign.send_unallocated", evtchn(EVTCHNOP_send, &s), -XEN_EINVAL);
    evtchn_close_t c{UNUSED};
    expect_rc("evtchn_foreign.close_unallocated", evtchn(EVTCHNOP_close, &c), -XEN_EINVAL);
    evtchn_unmask_t u{UNUSED};
    expect_rc("evtchn_foreign.unmask_unallocated", evtchn(EVTCHNOP_unmask, &u), -XEN_EINVAL);
    evtchn_bind_vcpu_t bv{};
    bv.port = UNUSED;
    expect_rc("evtchn_foreign.bind_vcpu_unallocated", evtchn(EVTCHNOP_bind_vcpu, &bv), -XEN_EINVAL);
    // Status, allocation and reset in the victim and in domain 0: another domain's, so EPERM.
    const struct {
        const char* name;
        domid_t dom;
        evtchn_port_t port;
    } others[] = {{"victim", g_params.victim, g_params.victim_port}, {"dom0", 0, g_params.dom0_port}};
    for (const auto& o : others) {
        char name[64];
        evtchn_status_t st{};
        st.dom = o.dom;
        st.port = o.port;
        pv::format(name, sizeof name, "evtchn_foreign.status_%s", o.name);
        expect_rc(name, evtchn(EVTCHNOP_status, &st), -XEN_EPERM);
        evtchn_alloc_unbound_t a{};
        a.dom = o.dom;
        a.remote_dom = DOMID_SELF;
        pv::format(name, sizeof name, "evtchn_foreign.alloc_unbound_in_%s", o.name);
        expect_rc(name, evtchn(EVTCHNOP_alloc_unbound, &a), -XEN_EPERM);
        evtchn_reset_t r{};
        r.dom = o.dom;
        pv::format(name, sizeof name, "evtchn_foreign.reset_%s", o.name);
        expect_rc(name, evtchn(EVTCHNOP_reset, &r), -XEN_EPERM);
    }
    // Our own store port is bound to nobody yet: binding it to ourselves needs it offered to us.
    b.remote_dom = g_params.self;
    b.remote_port = g_si->store_evtchn;
    expect_rc("evtchn_foreign.bind_own_port_offered_to_dom0", evtchn(EVTCHNOP_bind_interdomain, &b), -XEN_EINVAL);
}

// Control operations: every domctl and sysctl, remote shutdown, the console.
void control_ops() {
    xen_domctl d{};
    d.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    d.domain = g_params.victim;
    struct Op {
        const char* name;
        u32 cmd;
    };
    static constexpr Op domctls[] = {{"control_ops.domctl_getdomaininfo", XEN_DOMCTL_getdomaininfo},
                                     {"control_ops.domctl_pause_victim", XEN_DOMCTL_pausedomain},
                                     {"control_ops.domctl_destroy_victim", XEN_DOMCTL_destroydomain},
                                     {"control_ops.domctl_max_mem_victim", XEN_DOMCTL_max_mem}};
    for (const Op& op : domctls) {
        d.cmd = op.cmd;
        expect_rc(op.name, hypercall(__HYPERVISOR_domctl, va(&d)), -XEN_EPERM);
    }
    d.cmd = XEN_DOMCTL_createdomain;
    d.domain = 0;
    expect_rc("control_ops.domctl_createdomain", hypercall(__HYPERVISOR_domctl, va(&d)), -XEN_EPERM);
    d.cmd = XEN_DOMCTL_unpausedomain;
    d.domain = g_params.self;
    expect_rc("control_ops.domctl_self", hypercall(__HYPERVISOR_domctl, va(&d)), -XEN_EPERM);
    xen_sysctl s{};
    s.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    s.cmd = XEN_SYSCTL_physinfo;
    expect_rc("control_ops.sysctl_physinfo", hypercall(__HYPERVISOR_sysctl, va(&s)), -XEN_EPERM);
    s.cmd = XEN_SYSCTL_getdomaininfolist;
    expect_rc("control_ops.sysctl_getdomaininfolist", hypercall(__HYPERVISOR_sysctl, va(&s)), -XEN_EPERM);
    sched_remote_shutdown_t rs{};
    rs.domain_id = g_params.victim;
    rs.reason = SHUTDOWN_poweroff;
    expect_rc("control_ops.remote_shutdown_victim", hc::sched_op(SCHEDOP_remote_shutdown, &rs), -XEN_EPERM);
    rs.domain_id = 0;
    expect_rc("control_ops.remote_shutdown_dom0", hc::sched_op(SCHEDOP_remote_shutdown, &rs), -XEN_EPERM);
    expect_rc("control_ops.console_write", hc::console_io(CONSOLEIO_write, 1, "x"), -XEN_EPERM);
    expect_rc("control_ops.console_read", hc::console_io(CONSOLEIO_read, sizeof g_buf, reinterpret_cast<char*>(g_buf)),
              -XEN_EPERM);
    physdev_set_iopl_t iopl{3};
    expect_rc("control_ops.physdev_set_iopl_own", hc::physdev_op(PHYSDEVOP_set_iopl, &iopl), 0);
}

namespace {

void unmask_events() { g_shared->vcpu_info[0].evtchn_upcall_mask = 0; }
void mask_events() { g_shared->vcpu_info[0].evtchn_upcall_mask = 1; }
u64 now_ns() { return vcpu_system_time_ns(g_shared->vcpu_info[0].time); }

}  // namespace

// Timers as fast as they go: one-shot timers in the past, a periodic timer at the smallest
// period, VIRQ_TIMER unmasked; the upcalls must arrive and nothing else suffer.
void timer_flood() {
    evtchn_bind_virq_t v{};
    v.virq = VIRQ_TIMER;
    if (!expect_rc("timer_flood.bind_virq", evtchn(EVTCHNOP_bind_virq, &v), 0)) return;
    evtchn_unmask_t um{v.port};
    evtchn(EVTCHNOP_unmask, &um);
    unmask_events();
    constexpr unsigned SHOTS = 20000;
    unsigned refused = 0;
    for (unsigned i = 0; i < SHOTS; ++i)
        if (hypercall(__HYPERVISOR_set_timer_op, now_ns() - 1000) != 0) ++refused;
    info("%u one-shot timers in the past: %lu upcalls", SHOTS, g_upcalls);
    check("timer_flood.past_timers_fire", refused == 0 && g_upcalls > 0, "%u refused, %lu upcalls", refused,
          g_upcalls);
    // Periods under 1 ms are refused; 1 ms is the fastest.
    vcpu_set_periodic_timer_t p{};
    p.period_ns = 1;
    expect_rc("timer_flood.periodic_1ns", hc::vcpu_op(VCPUOP_set_periodic_timer, 0, &p), -XEN_EINVAL);
    p.period_ns = 999'999;
    expect_rc("timer_flood.periodic_under_1ms", hc::vcpu_op(VCPUOP_set_periodic_timer, 0, &p), -XEN_EINVAL);
    p.period_ns = 1'000'000;
    expect_rc("timer_flood.periodic_1ms", hc::vcpu_op(VCPUOP_set_periodic_timer, 0, &p), 0);
    const u64 before = g_upcalls, end = now_ns() + 50'000'000;
    while (now_ns() < end) hc::sched_op(SCHEDOP_yield, nullptr);
    info("50 ms of a 1 ms periodic timer: %lu upcalls", g_upcalls - before);
    check("timer_flood.periodic_upcalls", g_upcalls > before, "no upcall in 50 ms");
    // Upcalls land at any instruction: the interrupted code's RCX and R11 must come back too.
    const u64 spun_from = g_upcalls;
    const u64 changed = attack_spin_rcx_r11(20'000'000);
    info("spin: %lu upcalls", g_upcalls - spun_from);
    check("timer_flood.rcx_r11_kept_across_upcalls", changed == 0 && g_upcalls > spun_from,
          "registers changed %lu, %lu upcalls", changed, g_upcalls - spun_from);
    expect_rc("timer_flood.periodic_stop", hc::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr), 0);
    mask_events();
}

// Events as fast as they go: on a port of the victim's offered to us (domain 0 allocated it),
// and to ourselves by loopback with upcalls unmasked.
void event_flood() {
    evtchn_bind_interdomain_t b{};
    b.remote_dom = g_params.victim;
    b.remote_port = g_params.flood_port;
    if (!expect_rc("event_flood.bind_victims_offer", evtchn(EVTCHNOP_bind_interdomain, &b), 0)) return;
    constexpr unsigned SENDS = 100000;
    unsigned failed = 0;
    evtchn_send_t s{b.local_port};
    for (unsigned i = 0; i < SENDS; ++i)
        if (evtchn(EVTCHNOP_send, &s)) ++failed;
    check("event_flood.sends_to_victim", failed == 0, "%u of %u sends failed", failed, SENDS);
    evtchn_close_t c{b.local_port};
    expect_rc("event_flood.close", evtchn(EVTCHNOP_close, &c), 0);
    expect_rc("event_flood.send_after_close", evtchn(EVTCHNOP_send, &s), -XEN_EINVAL);

    evtchn_alloc_unbound_t a{};
    a.dom = DOMID_SELF;
    a.remote_dom = g_params.self;
    if (!expect_rc("event_flood.loopback_alloc", evtchn(EVTCHNOP_alloc_unbound, &a), 0)) return;
    b.remote_dom = g_params.self;
    b.remote_port = a.port;
    if (!expect_rc("event_flood.loopback_bind", evtchn(EVTCHNOP_bind_interdomain, &b), 0)) return;
    evtchn_unmask_t um{a.port};
    evtchn(EVTCHNOP_unmask, &um);
    unmask_events();
    failed = 0;
    s.port = b.local_port;
    for (unsigned i = 0; i < SENDS; ++i) {
        if (evtchn(EVTCHNOP_send, &s)) ++failed;
        evtchn(EVTCHNOP_unmask, &um);
    }
    mask_events();
    info("%u loopback sends: %lu upcalls", SENDS, g_upcalls);
    check("event_flood.loopback_upcalls", failed == 0 && g_upcalls > 0, "%u failed, %lu upcalls", failed, g_upcalls);
}

}  // namespace atk
