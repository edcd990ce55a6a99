// A domain's physical IRQs (Xen's struct pirq records and the irq<->pirq maps of its
// arch/x86/irq.c), for the one kind pvisor maps: GSIs (PHYSDEVOP_map_pirq with
// MAP_PIRQ_TYPE_GSI).  The table decides numbers and Xen's errno values; the I/O APIC, the
// hypervisor's own lines and the event channels are the caller's (arch/x86_64/pv/physdev.cpp).
//
// Records are kept by GSI: a GSI maps to at most one pirq of a domain and a pirq to at most one
// GSI, so a domain never has more records than the machine has GSIs.  A record is
//   free      no pirq (Xen: the irq has no entry in irq_pirq);
//   mapped    pirq <-> GSI, possibly bound to an event channel (port != 0);
//   orphaned  unmapped while bound (Xen's forced unbind: the pirq's irq becomes -irq): the port
//             stays a pirq port until closed, the GSI stays taken (-EBUSY / -EEXIST to a new
//             mapping of it) and the pirq is not mappable, but PHYSDEVOP_eoi still finds it.
// nr_pirqs is Xen's d->nr_pirqs: pirq numbers at or above it are -EINVAL everywhere.
#pragma once
#include "lib/result.hpp"
#include "lib/types.hpp"

#include <xen/event_channel.h>

namespace pv {

namespace pirq {
// Xen's NR_DYNAMIC_VECTORS (0x20-0xef) and extra_domU_irqs' default.
inline constexpr u32 NR_DYNAMIC_VECTORS = 0xef - 0x20 + 1;
inline constexpr u32 EXTRA_DOMU_PIRQS = 32;
// Xen's nr_irqs with an APIC: max(CPUs * NR_DYNAMIC_VECTORS, 8 * nr_irqs_gsi).
u32 nr_irqs(u32 nr_gsis, u32 nr_cpus);
// d->nr_pirqs: the hardware domain's (arch_hwdom_irqs: fls(CPUs) capped by its vCPUs, times
// NR_DYNAMIC_VECTORS, over the GSIs, within nr_irqs) and any other domain's.
u32 hardware_domain_pirqs(u32 nr_gsis, u32 nr_cpus, u32 max_vcpus);
u32 domu_pirqs(u32 nr_gsis, u32 nr_cpus);
}  // namespace pirq

class PirqTable {
public:
    static constexpr u32 MAX_GSIS = 176;

    PirqTable(u32 nr_pirqs, u32 nr_gsis);
    u32 nr_pirqs() const { return nr_pirqs_; }
    u32 nr_gsis() const { return nr_gsis_; }

    // MAP_PIRQ_TYPE_GSI once the GSI and the caller's access were checked (Xen's allocate_pirq
    // and map_domain_pirq): pirq < 0 asks for a free one (the lowest from 16 below nr_gsis, else
    // the highest above).  The pirq the guest gets back.  -EEXIST: the GSI has another pirq;
    // -EBUSY: it is orphaned; -ENOSPC: none free; -EINVAL: pirq >= nr_pirqs.  As Xen: pirq < 0
    // for a GSI already mapped answers its pirq, and a pirq mapped (or orphaned) to another GSI
    // answers success leaving both as they were.
    Result<u32> map_gsi(u32 gsi, i64 pirq);
    // Xen's unmap_domain_pirq: the GSI pirq was mapped to (a bound record is orphaned).
    // -EINVAL: out of range, not mapped.
    Result<u32> unmap(i64 pirq);
    // The GSI pirq is mapped to, or -1 (not mapped, orphaned included).
    i64 gsi_of(u32 pirq) const;
    // The mapped pirq of gsi, or -1.
    i64 pirq_of_gsi(u32 gsi) const;
    // Whether Xen has a pirq record (mapped or orphaned): PHYSDEVOP_eoi's -EINVAL otherwise.
    bool exists(u32 pirq) const { return find(pirq) >= 0; }
    // The event channel bound to pirq (0: none).  bind: pirq mapped and unbound.
    evtchn_port_t port(u32 pirq) const;
    void bind(u32 pirq, evtchn_port_t port);
    // The port is closed: an orphaned record is freed; the GSI it held, or -1, is returned.
    i64 unbind(u32 pirq);
    // Each mapped GSI (for domain destruction).
    template <typename F> void for_each_mapped(F f) const {
        for (u32 g = 0; g < nr_gsis_; ++g)
            if (rec_[g].state == State::mapped) f(g, rec_[g].pirq);
    }

private:
    enum class State : u8 { free, mapped, orphaned };
    struct Record {
        State state = State::free;
        u32 pirq = 0;
        evtchn_port_t port = 0;
    };
    // The GSI of pirq's record (any state but free), or -1.
    i64 find(u32 pirq) const;
    bool pirq_free(u32 pirq) const { return find(pirq) < 0; }

    u32 nr_pirqs_;
    u32 nr_gsis_;
    Record rec_[MAX_GSIS];
};

}  // namespace pv
