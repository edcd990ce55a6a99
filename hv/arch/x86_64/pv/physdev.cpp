// Physical IRQs (Xen's physdev_op GSI calls and its pirq_guest_* flow of arch/x86/irq.c): domain
// 0 maps GSIs to pirqs (PHYSDEVOP_map_pirq), sets their trigger and polarity
// (PHYSDEVOP_setup_gsi), binds them to event channels (EVTCHNOP_bind_pirq, through events.cpp's
// Env) and acknowledges them (PHYSDEVOP_eoi, the pirq_eoi_gmfn bitmap telling it which need it).
// The pirq numbers and their errno values are core/pirq.hpp's; this file owns the lines.
//
// A line (GSI) is bound to at most one pirq of one domain; the hypervisor's own lines (COM1's
// input, ISA IRQ 0's timer pin) never are (-EBUSY, as Xen answers for an IRQ it has an action
// for).  A bound line interrupts on its own vector (from VEC_PIRQ_FIRST) at the boot CPU.  Edge lines just
// raise the port.  Level lines follow Xen's ACKTYPE_UNMASK: the handler masks the pin (the
// local APIC is acknowledged at once) and the line stays masked, "in flight", until the guest's
// PHYSDEVOP_eoi; their bit in the guest's EOI bitmap is set at bind so the guest knows to EOI.
// Unbinding (port closed, pirq unmapped, domain destroyed) masks the pin.
//
// Locking: g_lock (interrupts off) guards the lines and every domain's PirqTable.  The event
// channels call in with their domain's lock held (evtchn lock -> g_lock); the interrupt handler
// drops g_lock before raising the port (events_raise_pirq re-checks the port under its lock).
#include <arch/apic.hpp>
#include <arch/mm.hpp>
#include <arch/smp.hpp>
#include <arch/traps.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/acpi.hpp"
#include "core/heap.hpp"
#include "core/pirq.hpp"

#include <xen/physdev.h>

namespace pv::arch::pv {

bool events_raise_pirq(domid_t d, evtchn_port_t port, u32 pirq);  // events.cpp

// A domain's pirqs and its EOI bitmap page (PHYSDEVOP_pirq_eoi_gmfn_v2), made at its first map.
struct DomainPirqs {
    DomainPirqs(u32 nr_pirqs, u32 nr_gsis) : table(nr_pirqs, nr_gsis) {}
    PirqTable table;
    u64 eoi_mfn = 0;
    u64* eoi_map = nullptr;
    // GSIs this domain unmapped: as Xen's unmap_domain_pirq revokes the IRQ's access, mapping
    // them again is -EPERM.
    bool revoked[PirqTable::MAX_GSIS] = {};
};

namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

struct Line {
    bool hypervisor = false;  // the hypervisor's own
    bool programmed = false;  // PHYSDEVOP_setup_gsi done (Xen's pin_programmed)
    bool level = false, active_low = false;
    bool bound = false;
    bool in_flight = false;   // level: delivered, masked until the guest's EOI
    domid_t dom = 0;
    u32 pirq = 0;
    evtchn_port_t port = 0;
};

// Line g's vector: VEC_PIRQ_FIRST + g, stepping over int $0x80 (the guests' own), up to 0xdf.
constexpr u32 VEC_GUEST_INT80 = 0x80;
constexpr u32 MAX_LINES = 0xe0 - VEC_PIRQ_FIRST - 1;
static_assert(MAX_LINES <= PirqTable::MAX_GSIS);
u8 line_vector(u32 gsi) {
    u32 v = VEC_PIRQ_FIRST + gsi;
    return static_cast<u8>(v >= VEC_GUEST_INT80 ? v + 1 : v);
}
u32 vector_line(u64 vector) {
    return static_cast<u32>(vector > VEC_GUEST_INT80 ? vector - 1 - VEC_PIRQ_FIRST : vector - VEC_PIRQ_FIRST);
}

Spinlock g_lock;
Line g_lines[MAX_LINES];
u32 g_nr_gsis = 16;  // Xen's nr_irqs_gsi: the I/O APICs' GSIs, at least the 16 ISA IRQs

u32 nr_pirqs(const PvDomain& d) {
    u32 cpus = smp::online_cpus();
    return d.id == 0 ? pirq::hardware_domain_pirqs(g_nr_gsis, cpus, d.max_vcpus) : pirq::domu_pirqs(g_nr_gsis, cpus);
}

// An ISA IRQ's GSI from the MADT's overrides (polarity bits 1:0 and trigger bits 3:2, 3 =
// active low / level); the others are edge, active high.
u32 isa_gsi(const AcpiInfo& acpi, u32 irq, Line* defaults) {
    for (usize i = 0; i < acpi.override_count; ++i) {
        const AcpiIrqOverride& o = acpi.overrides[i];
        if (o.bus != 0 || o.source != irq) continue;
        if (defaults) {
            defaults->active_low = (o.flags & 3) == 3;
            defaults->level = ((o.flags >> 2) & 3) == 3;
        }
        return o.gsi;
    }
    return irq;
}

void set_eoi_bit(DomainPirqs& p, u32 pirq, bool set) {
    if (!p.eoi_map || pirq >= PAGE_SIZE * 8) return;
    u64 bit = u64{1} << (pirq % 64);
    if (set) __atomic_fetch_or(&p.eoi_map[pirq / 64], bit, __ATOMIC_SEQ_CST);
    else __atomic_fetch_and(&p.eoi_map[pirq / 64], ~bit, __ATOMIC_SEQ_CST);
}

// With g_lock held: the line no longer interrupts for anyone.
void release_line(Line& l, u32 gsi) {
    if (!l.bound) return;
    apic::ioapic_set_masked(gsi, true);
    l.bound = false;
    l.in_flight = false;
}

void on_pirq_interrupt(TrapFrame& f) {
    u32 gsi = vector_line(f.vector);
    domid_t dom;
    u32 pirq;
    evtchn_port_t port;
    {
        IrqSpinGuard g(g_lock);
        Line& l = g_lines[gsi];
        if (!l.bound) {
            apic::ioapic_set_masked(gsi, true);  // a late one after the unbind
            return;
        }
        if (l.level) {
            apic::ioapic_set_masked(gsi, true);
            l.in_flight = true;
        }
        dom = l.dom;
        pirq = l.pirq;
        port = l.port;
    }
    events_raise_pirq(dom, port, pirq);
}

// The domain a physdev call names: the caller's own (DOMID_SELF or its id) or, for a
// privileged caller, any (-ESRCH: none).
PvDomain* target(PvVcpu& v, domid_t id) {
    return id == DOMID_SELF || id == v.domain->id ? v.domain : domain_find(id);
}

// d's pirqs, made on first use: nullptr when out of memory or d is dying.  Once set, d.pirqs
// stays until the record is freed (physdev_free_domain), after every operation that could have
// found d is over.
DomainPirqs* pirqs_of(PvDomain& d) {
    {
        IrqSpinGuard g(g_lock);
        if (d.pirqs || d.pirqs_closed) return d.pirqs_closed ? nullptr : d.pirqs;
    }
    auto* fresh = heap_new<DomainPirqs>(hv_heap(), nr_pirqs(d), g_nr_gsis);
    if (!fresh) return nullptr;
    DomainPirqs* p;
    {
        IrqSpinGuard g(g_lock);
        if (!d.pirqs && !d.pirqs_closed) {
            d.pirqs = fresh;
            fresh = nullptr;
        }
        p = d.pirqs_closed ? nullptr : d.pirqs;
    }
    if (fresh) heap_delete(hv_heap(), fresh);
    return p;
}

long map_pirq(PvVcpu& v, u64 arg) {
    physdev_map_pirq_t m;
    if (!get_guest(m, arg)) return err(XEN_EFAULT);
    PvDomain* d = target(v, m.domid);
    if (!d) return err(XEN_ESRCH);
    if (!v.domain->privileged) return err(XEN_EPERM);
    if (m.type != MAP_PIRQ_TYPE_GSI) return err(XEN_EINVAL);  // MSIs: no PCI passthrough yet
    if (m.index < 0 || static_cast<u32>(m.index) >= g_nr_gsis) return err(XEN_EINVAL);
    auto gsi = static_cast<u32>(m.index);
    // Xen's hardware domain may name a GSI by a pirq of its own mapped to it.
    if (v.domain->pirqs) {
        IrqSpinGuard g(g_lock);
        if (i64 own = v.domain->pirqs->table.gsi_of(gsi); own > 0) gsi = static_cast<u32>(own);
    }
    if (gsi == 0) return err(XEN_EPERM);  // IRQ 0 is not domain 0's (Xen's irq_access_permitted)
    DomainPirqs* p = pirqs_of(*d);
    if (!p) return err(XEN_ENOMEM);
    long rc;
    {
        IrqSpinGuard g(g_lock);
        if (d->pirqs_closed) return err(XEN_ESRCH);  // it died meanwhile
        if (v.domain->pirqs && v.domain->pirqs->revoked[gsi]) return err(XEN_EPERM);
        Result<u32> r = p->table.map_gsi(gsi, m.pirq);
        rc = r ? 0 : err(r.error());
        if (r) m.pirq = static_cast<int>(*r);
    }
    if (rc) return rc;
    return put_guest(arg, m) ? 0 : err(XEN_EFAULT);
}

long unmap_pirq(PvVcpu& v, u64 arg) {
    physdev_unmap_pirq_t u;
    if (!get_guest(u, arg)) return err(XEN_EFAULT);
    PvDomain* d = target(v, u.domid);
    if (!d) return err(XEN_ESRCH);
    if (!v.domain->privileged) return err(XEN_EPERM);
    IrqSpinGuard g(g_lock);
    if (u.pirq < 0 || static_cast<u32>(u.pirq) >= nr_pirqs(*d) || !d->pirqs || d->pirqs_closed)
        return err(XEN_EINVAL);
    Result<u32> gsi = d->pirqs->table.unmap(u.pirq);
    if (!gsi) return err(gsi.error());
    d->pirqs->revoked[*gsi] = true;
    Line& l = g_lines[*gsi];
    if (l.bound && l.dom == d->id) release_line(l, *gsi);  // Xen's forced unbind: the port stays
    return 0;
}

long setup_gsi(PvVcpu& v, u64 arg) {
    physdev_setup_gsi_t s;
    if (!get_guest(s, arg)) return err(XEN_EFAULT);
    if (s.gsi < 0 || static_cast<u32>(s.gsi) >= g_nr_gsis) return err(XEN_EINVAL);
    if (!v.domain->privileged) return err(XEN_EPERM);
    auto gsi = static_cast<u32>(s.gsi);
    if (gsi >= apic::ioapic_gsi_end()) return err(XEN_EINVAL);
    IrqSpinGuard g(g_lock);
    Line& l = g_lines[gsi];
    // In use (by the hypervisor or bound), or set up already: Xen's mp_register_gsi.
    if (l.hypervisor || l.bound || l.programmed) return err(XEN_EEXIST);
    l.programmed = true;
    l.level = s.triggering != 0;
    l.active_low = s.polarity != 0;
    return 0;
}

long irq_status_query(PvVcpu& v, u64 arg) {
    physdev_irq_status_query_t q;
    if (!get_guest(q, arg)) return err(XEN_EFAULT);
    if (q.irq >= nr_pirqs(*v.domain)) return err(XEN_EINVAL);
    // As Xen: every pirq "needs EOI" for a guest not reading the EOI bitmap; none is shared.
    q.flags = XENIRQSTAT_needs_eoi;
    return put_guest(arg, q) ? 0 : err(XEN_EFAULT);
}

long eoi(PvVcpu& v, u64 arg) {
    physdev_eoi_t e;
    if (!get_guest(e, arg)) return err(XEN_EFAULT);
    PvDomain& d = *v.domain;
    if (e.irq >= nr_pirqs(d) || !d.pirqs) return err(XEN_EINVAL);
    IrqSpinGuard g(g_lock);
    if (!d.pirqs->table.exists(e.irq)) return err(XEN_EINVAL);
    i64 gsi = d.pirqs->table.gsi_of(e.irq);
    if (gsi < 0) return 0;
    Line& l = g_lines[gsi];
    if (l.bound && l.dom == d.id && l.in_flight) {
        l.in_flight = false;
        apic::ioapic_set_masked(static_cast<u32>(gsi), false);
    }
    return 0;
}

long pirq_eoi_gmfn(PvVcpu& v, u64 arg) {
    physdev_pirq_eoi_gmfn_t a;
    if (!get_guest(a, arg)) return err(XEN_EFAULT);
    PvDomain& d = *v.domain;
    DomainPirqs* p = pirqs_of(d);
    if (!p) return err(XEN_ENOMEM);
    if (a.gmfn >= mm::frames().nr_frames() || !mmu_get_writable(d, a.gmfn)) return err(XEN_EINVAL);
    {
        IrqSpinGuard g(g_lock);
        if (!p->eoi_mfn && !d.pirqs_closed) {
            p->eoi_mfn = a.gmfn;
            p->eoi_map = static_cast<u64*>(phys_to_virt(a.gmfn << PAGE_SHIFT));
            return 0;
        }
    }
    mmu_put_writable(a.gmfn);
    return err(XEN_EBUSY);
}

long alloc_irq_vector(PvVcpu& v, u64 arg) {
    physdev_irq_t irq;
    if (!get_guest(irq, arg)) return err(XEN_EFAULT);
    if (!v.domain->privileged) return err(XEN_EPERM);
    irq.vector = irq.irq;  // as Xen: vectors are the hypervisor's, the call is a formality
    return put_guest(arg, irq) ? 0 : err(XEN_EFAULT);
}

}  // namespace

void physdev_init(const AcpiInfo& acpi, u8 serial_irq) {
    u32 end = apic::ioapic_gsi_end();
    g_nr_gsis = end > 16 ? end : 16;
    if (g_nr_gsis > MAX_LINES) g_nr_gsis = MAX_LINES;  // the rest can never be mapped
    for (u32 irq = 0; irq < 16; ++irq) {
        Line defaults;
        u32 gsi = isa_gsi(acpi, irq, &defaults);
        if (gsi >= g_nr_gsis) continue;
        if (gsi != irq || defaults.level || defaults.active_low) {
            g_lines[gsi].level = defaults.level;
            g_lines[gsi].active_low = defaults.active_low;
        }
    }
    for (u32 gsi = 16; gsi < g_nr_gsis; ++gsi) g_lines[gsi].level = g_lines[gsi].active_low = true;  // PCI
    u32 timer = isa_gsi(acpi, 0, nullptr);
    if (timer < g_nr_gsis) g_lines[timer].hypervisor = true;
    if (serial_irq) {
        u32 serial = isa_gsi(acpi, serial_irq, nullptr);
        if (serial < g_nr_gsis) g_lines[serial].hypervisor = true;
    }
    for (u32 gsi = 0; gsi < g_nr_gsis; ++gsi)
        set_irq_handler(line_vector(gsi), on_pirq_interrupt);
    // Domain 0's table now, with the hypervisor's boot memory, not out of what it counts as free.
    if (PvDomain* d0 = domain_find(0)) (void)pirqs_of(*d0);
}

long do_physdev_pirq_op(PvVcpu& v, u64 cmd, u64 arg) {
    switch (cmd) {
        case PHYSDEVOP_map_pirq: return map_pirq(v, arg);
        case PHYSDEVOP_unmap_pirq: return unmap_pirq(v, arg);
        case PHYSDEVOP_setup_gsi: return setup_gsi(v, arg);
        case PHYSDEVOP_irq_status_query: return irq_status_query(v, arg);
        case PHYSDEVOP_eoi: return eoi(v, arg);
        case PHYSDEVOP_pirq_eoi_gmfn_v2: return pirq_eoi_gmfn(v, arg);
        case PHYSDEVOP_alloc_irq_vector: return alloc_irq_vector(v, arg);
        default: return err(XEN_ENOSYS);
    }
}

Result<void> physdev_pirq_check(PvDomain& d, u32 pirq) {
    if (pirq >= nr_pirqs(d)) return error(XEN_EINVAL);
    IrqSpinGuard g(g_lock);
    if (!d.pirqs || d.pirqs->table.gsi_of(pirq) <= 0) return error(XEN_EPERM);
    if (d.pirqs->table.port(pirq)) return error(XEN_EEXIST);
    return ok();
}

Result<void> physdev_pirq_bind(PvDomain& d, u32 pirq, evtchn_port_t port) {
    IrqSpinGuard g(g_lock);
    i64 g_gsi = d.pirqs ? d.pirqs->table.gsi_of(pirq) : -1;
    if (g_gsi <= 0) return error(XEN_EPERM);
    if (d.pirqs->table.port(pirq)) return error(XEN_EEXIST);
    auto gsi = static_cast<u32>(g_gsi);
    Line& l = g_lines[gsi];
    if (l.hypervisor || l.bound) return error(XEN_EBUSY);
    // Delivered at the boot CPU, masked until bound (ioapic_route unmasks).
    if (!apic::ioapic_route(gsi, line_vector(gsi), l.level, l.active_low, smp::cpu(0).apic_id))
        return error(XEN_EBUSY);
    d.pirqs->table.bind(pirq, port);
    l.bound = true;
    l.in_flight = false;
    l.dom = d.id;
    l.pirq = pirq;
    l.port = port;
    set_eoi_bit(*d.pirqs, pirq, l.level);
    return ok();
}

void physdev_pirq_unbind(PvDomain& d, u32 pirq) {
    IrqSpinGuard g(g_lock);
    if (!d.pirqs) return;
    i64 gsi = d.pirqs->table.unbind(pirq);
    if (gsi < 0) return;
    Line& l = g_lines[gsi];
    if (l.bound && l.dom == d.id) release_line(l, static_cast<u32>(gsi));
}

void physdev_destroy_domain(PvDomain& d) {
    u64 eoi_mfn = 0;
    {
        IrqSpinGuard g(g_lock);
        d.pirqs_closed = true;
        // Closing the ports unbound every line already; none may stay behind whatever happened.
        for (u32 gsi = 0; gsi < g_nr_gsis; ++gsi)
            if (g_lines[gsi].bound && g_lines[gsi].dom == d.id) release_line(g_lines[gsi], gsi);
        if (DomainPirqs* p = d.pirqs) {
            eoi_mfn = p->eoi_mfn;
            p->eoi_mfn = 0;
            p->eoi_map = nullptr;
        }
    }
    if (eoi_mfn) mmu_put_writable(eoi_mfn);  // before the frames are relinquished
}

void physdev_free_domain(PvDomain& d) {
    if (d.pirqs) heap_delete(hv_heap(), d.pirqs);
    d.pirqs = nullptr;
}

}  // namespace pv::arch::pv
