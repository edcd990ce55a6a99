// Physical IRQs as Linux's domain 0 uses them (arch/x86/pci/xen.c, drivers/xen/events): map a GSI
// to a pirq, set its trigger, bind it to an event channel, query and EOI it, close and unmap;
// with the errors Xen 4.17 gives for the cases around them.  GSI 9 is the ACPI SCI under QEMU
// (level, active high); GSI 4 is COM1's, which the hypervisor keeps for its serial input.
#include "guest/dom0test/dom0test.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/xenbus/events.hpp"
#include "guest/lib/xenbus/grant.hpp"

#include <xen/physdev.h>

namespace dom0t {
namespace {

alignas(4096) u64 g_eoi_map[512];

long map_gsi(int gsi, int pirq, int* out) {
    physdev_map_pirq_t m{};
    m.domid = DOMID_SELF;
    m.type = MAP_PIRQ_TYPE_GSI;
    m.index = gsi;
    m.pirq = pirq;
    long rc = hc::physdev_op(PHYSDEVOP_map_pirq, &m);
    if (out) *out = m.pirq;
    return rc;
}
long unmap(int pirq) {
    physdev_unmap_pirq_t u{};
    u.domid = DOMID_SELF;
    u.pirq = pirq;
    return hc::physdev_op(PHYSDEVOP_unmap_pirq, &u);
}
long setup_gsi(int gsi, u8 level, u8 active_low) {
    physdev_setup_gsi_t s{};
    s.gsi = gsi;
    s.triggering = level;
    s.polarity = active_low;
    return hc::physdev_op(PHYSDEVOP_setup_gsi, &s);
}
long eoi(u32 pirq) {
    physdev_eoi_t e{};
    e.irq = pirq;
    return hc::physdev_op(PHYSDEVOP_eoi, &e);
}
long bind(u32 pirq, evtchn_port_t* port) {
    evtchn_bind_pirq_t b{};
    b.pirq = pirq;
    b.flags = BIND_PIRQ__WILL_SHARE;
    long rc = hc::event_channel_op(EVTCHNOP_bind_pirq, &b);
    if (port) *port = b.port;
    return rc;
}
// How many pirqs Xen 4.17 gives domain 0 (arch_hwdom_irqs): fls(CPUs), at most its vCPUs, times
// the 208 dynamic vectors (0x20-0xef), over the GSIs, within nr_irqs (max(CPUs * 208, 8 * GSIs)).
u32 expected_nr_pirqs(u32 cpus, u32 vcpus, u32 gsis) {
    u32 n = 0;
    for (u32 c = cpus; c; c >>= 1) ++n;
    if (n > vcpus) n = vcpus;
    const u32 nr_irqs = cpus * 208 > 8 * gsis ? cpus * 208 : 8 * gsis;
    return gsis + n * 208 < nr_irqs ? gsis + n * 208 : nr_irqs;
}

// The first pirq irq_status_query refuses: domain 0's nr_pirqs.
u32 probe_nr_pirqs() {
    u32 lo = 0, hi = 1u << 20;  // irq_status_query(lo) succeeds, (hi) fails
    while (hi - lo > 1) {
        physdev_irq_status_query_t q{};
        q.irq = lo + (hi - lo) / 2;
        (hc::physdev_op(PHYSDEVOP_irq_status_query, &q) == 0 ? lo : hi) = q.irq;
    }
    return hi;
}

bool eoi_bit(u32 pirq) { return (__atomic_load_n(&g_eoi_map[pirq / 64], __ATOMIC_ACQUIRE) >> (pirq % 64)) & 1; }

}  // namespace

void check_physdev() {
    int pirq = -1;
    long rc = map_gsi(9, 9, &pirq);
    check("physdev.map_gsi9", rc == 0 && pirq == 9, "rc %ld pirq %d", rc, pirq);
    rc = map_gsi(9, 9, &pirq);
    check("physdev.map_gsi9_again", rc == 0 && pirq == 9, "rc %ld pirq %d", rc, pirq);
    CHECK_EQ("physdev.map_gsi9_other_pirq", map_gsi(9, 10, nullptr), -XEN_EEXIST);
    rc = map_gsi(9, -1, &pirq);
    check("physdev.map_gsi9_any_pirq", rc == 0 && pirq == 9, "rc %ld pirq %d", rc, pirq);
    CHECK_EQ("physdev.map_gsi0", map_gsi(0, 0, nullptr), -XEN_EPERM);
    CHECK_EQ("physdev.map_bad_gsi", map_gsi(100000, 5, nullptr), -XEN_EINVAL);
    CHECK_EQ("physdev.map_negative_gsi", map_gsi(-1, 5, nullptr), -XEN_EINVAL);
    CHECK_EQ("physdev.map_bad_pirq", map_gsi(10, 100000, nullptr), -XEN_EINVAL);
    physdev_map_pirq_t msi{};
    msi.domid = DOMID_SELF;
    msi.type = 0x1234;
    CHECK_EQ("physdev.map_bad_type", hc::physdev_op(PHYSDEVOP_map_pirq, &msi), -XEN_EINVAL);
    physdev_map_pirq_t other{};
    other.type = MAP_PIRQ_TYPE_GSI;
    other.index = other.pirq = 10;
    other.domid = 77;
    CHECK_EQ("physdev.map_no_domain", hc::physdev_op(PHYSDEVOP_map_pirq, &other), -XEN_ESRCH);
    other.domid = DOMID_IO;
    CHECK_EQ("physdev.map_domid_io", hc::physdev_op(PHYSDEVOP_map_pirq, &other), -XEN_ESRCH);
    rc = map_gsi(11, -1, &pirq);
    check("physdev.map_any_pirq", rc == 0 && pirq == 16, "rc %ld pirq %d", rc, pirq);
    CHECK_EQ("physdev.unmap_any_pirq", rc == 0 ? unmap(pirq) : rc, 0);

    CHECK_EQ("physdev.setup_gsi9", setup_gsi(9, 1, 0), 0);
    CHECK_EQ("physdev.setup_gsi9_again", setup_gsi(9, 1, 0), -XEN_EEXIST);
    CHECK_EQ("physdev.setup_bad_gsi", setup_gsi(100000, 1, 0), -XEN_EINVAL);

    physdev_irq_status_query_t q{};
    q.irq = 9;
    rc = hc::physdev_op(PHYSDEVOP_irq_status_query, &q);
    check("physdev.irq_status_query", rc == 0 && q.flags == XENIRQSTAT_needs_eoi, "rc %ld flags %#x", rc, q.flags);
    q.irq = 100000;
    CHECK_EQ("physdev.irq_status_query_bad", hc::physdev_op(PHYSDEVOP_irq_status_query, &q), -XEN_EINVAL);
    // QEMU's one I/O APIC has 24 pins.
    pv::Diagnostics diags;
    xen_sysctl phys{};
    pv::Result<xen_domctl_getdomaininfo> self = pvb::domain_info(0, diags);
    const u32 cpus = pvb::sysctl(phys, XEN_SYSCTL_physinfo, diags) ? phys.u.physinfo.nr_cpus : 0;
    const u32 vcpus = self ? self->max_vcpu_id + 1 : 0;
    CHECK_EQ("physdev.nr_pirqs", probe_nr_pirqs(), expected_nr_pirqs(cpus, vcpus, 24));
    physdev_irq_t vec{};
    vec.irq = 9;
    rc = hc::physdev_op(PHYSDEVOP_alloc_irq_vector, &vec);
    check("physdev.alloc_irq_vector", rc == 0 && vec.vector == 9, "rc %ld vector %u", rc, vec.vector);

    physdev_pirq_eoi_gmfn_t g{};
    g.gmfn = xb::virt_to_mfn(g_si, g_eoi_map);
    CHECK_EQ("physdev.pirq_eoi_gmfn", hc::physdev_op(PHYSDEVOP_pirq_eoi_gmfn_v2, &g), 0);
    CHECK_EQ("physdev.pirq_eoi_gmfn_again", hc::physdev_op(PHYSDEVOP_pirq_eoi_gmfn_v2, &g), -XEN_EBUSY);

    evtchn_port_t port = 0;
    rc = bind(9, &port);
    check("physdev.bind_pirq9", rc == 0 && port != 0, "rc %ld port %u", rc, port);
    check("physdev.eoi_bit_level", eoi_bit(9), "bit 9 of the EOI map clear");
    CHECK_EQ("physdev.bind_pirq9_again", bind(9, nullptr), -XEN_EEXIST);
    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = port;
    rc = hc::event_channel_op(EVTCHNOP_status, &st);
    check("physdev.status_pirq", rc == 0 && st.status == EVTCHNSTAT_pirq && st.u.pirq == 9 && st.vcpu == 0,
          "rc %ld status %u pirq %u vcpu %u", rc, st.status, st.u.pirq, st.vcpu);
    CHECK_EQ("physdev.setup_gsi9_bound", setup_gsi(9, 1, 0), -XEN_EEXIST);
    CHECK_EQ("physdev.bind_unmapped", bind(12, nullptr), -XEN_EPERM);
    CHECK_EQ("physdev.bind_bad_pirq", bind(100000, nullptr), -XEN_EINVAL);
    CHECK_EQ("physdev.eoi_pirq9", eoi(9), 0);
    CHECK_EQ("physdev.eoi_unmapped", eoi(12), -XEN_EINVAL);
    CHECK_EQ("physdev.eoi_bad", eoi(100000), -XEN_EINVAL);
    CHECK_EQ("physdev.close_pirq9", xb::evtchn_close(port), 0);
    CHECK_EQ("physdev.unmap_pirq9", unmap(9), 0);
    CHECK_EQ("physdev.unmap_pirq9_again", unmap(9), -XEN_EINVAL);
    CHECK_EQ("physdev.eoi_after_unmap", eoi(9), -XEN_EINVAL);
    CHECK_EQ("physdev.unmap_bad", unmap(100000), -XEN_EINVAL);

    // As Xen: unmapping revoked domain 0's access to the GSI.
    CHECK_EQ("physdev.remap_gsi9", map_gsi(9, 9, nullptr), -XEN_EPERM);

    // Unmapped while bound (Xen's forced unbind): the port stays a pirq port until closed, EOI
    // still finds the pirq, and the GSI is no longer the caller's.
    rc = map_gsi(10, 10, &pirq);
    check("physdev.map_gsi10", rc == 0 && pirq == 10, "rc %ld pirq %d", rc, pirq);
    rc = bind(10, &port);
    check("physdev.bind_pirq10", rc == 0 && port != 0, "rc %ld port %u", rc, port);
    CHECK_EQ("physdev.unmap_bound", unmap(10), 0);
    CHECK_EQ("physdev.eoi_unmapped_bound", eoi(10), 0);
    CHECK_EQ("physdev.unmap_unmapped_bound", unmap(10), -XEN_EINVAL);
    CHECK_EQ("physdev.bind_unmapped_bound", bind(10, nullptr), -XEN_EPERM);
    st = {};
    st.dom = DOMID_SELF;
    st.port = port;
    rc = hc::event_channel_op(EVTCHNOP_status, &st);
    check("physdev.status_unmapped_bound", rc == 0 && st.status == EVTCHNSTAT_pirq && st.u.pirq == 10,
          "rc %ld status %u pirq %u", rc, st.status, st.u.pirq);
    CHECK_EQ("physdev.close_unmapped_bound", xb::evtchn_close(port), 0);
    CHECK_EQ("physdev.eoi_after_close", eoi(10), -XEN_EINVAL);

    // COM1's line: mapped as any other, but the hypervisor keeps it.
    rc = map_gsi(4, 4, &pirq);
    check("physdev.map_gsi4", rc == 0 && pirq == 4, "rc %ld pirq %d", rc, pirq);
    CHECK_EQ("physdev.setup_gsi4", setup_gsi(4, 0, 0), -XEN_EEXIST);
    CHECK_EQ("physdev.bind_pirq4", bind(4, nullptr), -XEN_EBUSY);
    CHECK_EQ("physdev.unmap_pirq4", unmap(4), 0);
}

}  // namespace dom0t
