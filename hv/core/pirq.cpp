#include "core/pirq.hpp"

#include "core/xen_abi.hpp"

namespace pv {

namespace pirq {
namespace {
u32 fls(u32 x) { return x ? 32 - static_cast<u32>(__builtin_clz(x)) : 0; }
u32 min32(u32 a, u32 b) { return a < b ? a : b; }
}  // namespace

u32 nr_irqs(u32 nr_gsis, u32 nr_cpus) {
    u32 by_cpus = nr_cpus * NR_DYNAMIC_VECTORS, by_gsis = 8 * nr_gsis;
    return by_cpus > by_gsis ? by_cpus : by_gsis;
}
u32 hardware_domain_pirqs(u32 nr_gsis, u32 nr_cpus, u32 max_vcpus) {
    u32 n = min32(fls(nr_cpus), max_vcpus);
    return min32(nr_gsis + n * NR_DYNAMIC_VECTORS, nr_irqs(nr_gsis, nr_cpus));
}
u32 domu_pirqs(u32 nr_gsis, u32 nr_cpus) { return min32(nr_gsis + EXTRA_DOMU_PIRQS, nr_irqs(nr_gsis, nr_cpus)); }
}  // namespace pirq

PirqTable::PirqTable(u32 nr_pirqs, u32 nr_gsis) : nr_pirqs_(nr_pirqs), nr_gsis_(nr_gsis < MAX_GSIS ? nr_gsis : MAX_GSIS) {}

i64 PirqTable::find(u32 pirq) const {
    for (u32 g = 0; g < nr_gsis_; ++g)
        if (rec_[g].state != State::free && rec_[g].pirq == pirq) return g;
    return -1;
}

Result<u32> PirqTable::map_gsi(u32 gsi, i64 pirq) {
    if (gsi >= nr_gsis_) return error(XEN_EINVAL);
    Record& r = rec_[gsi];
    if (pirq < 0) {
        if (r.state == State::orphaned) return error(XEN_EBUSY);
        if (r.state == State::mapped) return r.pirq;  // the GSI's pirq
        // Xen's get_free_pirq for a GSI: the lowest free one from 16 below the GSIs, else the
        // highest free one above them.
        pirq = -1;
        for (u32 p = 16; p < nr_gsis_ && p < nr_pirqs_ && pirq < 0; ++p)
            if (pirq_free(p)) pirq = p;
        for (u32 p = nr_pirqs_; p-- > nr_gsis_ && pirq < 0;)
            if (pirq_free(p)) pirq = p;
        if (pirq < 0) return error(XEN_ENOSPC);
    } else if (r.state != State::free && r.pirq != pirq) {
        return error(XEN_EEXIST);
    }
    if (pirq >= nr_pirqs_) return error(XEN_EINVAL);
    auto p = static_cast<u32>(pirq);
    // Already mapped to this GSI: nothing changes.  Mapped elsewhere: Xen's map_domain_pirq
    // warns and succeeds without mapping.
    if (r.state == State::free && pirq_free(p)) r = Record{State::mapped, p, 0};
    return p;
}

Result<u32> PirqTable::unmap(i64 pirq) {
    if (pirq < 0 || pirq >= nr_pirqs_) return error(XEN_EINVAL);
    i64 g = gsi_of(static_cast<u32>(pirq));
    if (g < 0) return error(XEN_EINVAL);
    Record& r = rec_[static_cast<u32>(g)];
    r.state = r.port ? State::orphaned : State::free;
    return static_cast<u32>(g);
}

i64 PirqTable::gsi_of(u32 pirq) const {
    i64 g = find(pirq);
    return g >= 0 && rec_[static_cast<u32>(g)].state == State::mapped ? g : -1;
}

i64 PirqTable::pirq_of_gsi(u32 gsi) const {
    if (gsi >= nr_gsis_ || rec_[gsi].state != State::mapped) return -1;
    return rec_[gsi].pirq;
}

evtchn_port_t PirqTable::port(u32 pirq) const {
    i64 g = find(pirq);
    return g >= 0 ? rec_[static_cast<u32>(g)].port : 0;
}

void PirqTable::bind(u32 pirq, evtchn_port_t port) {
    i64 g = gsi_of(pirq);
    if (g >= 0) rec_[static_cast<u32>(g)].port = port;
}

i64 PirqTable::unbind(u32 pirq) {
    i64 g = find(pirq);
    if (g < 0) return -1;
    Record& r = rec_[static_cast<u32>(g)];
    r.port = 0;
    if (r.state == State::orphaned) {
        r.state = State::free;
        return -1;
    }
    return g;
}

}  // namespace pv
