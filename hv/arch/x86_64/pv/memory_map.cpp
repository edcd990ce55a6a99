// A domain's pseudo-physical memory map (Xen 4.17's arch_memory_op): XENMEM_set_memory_map
// stores the map a toolstack gives (libxl's xc_domain_set_memmap_limit: one RAM entry from 0 to
// maxmem, which is what lets a PV kernel balloon up to maxmem), XENMEM_memory_map returns it to
// the domain itself.  A domain without one gets -ENOSYS ("backwards compatibility"), and the
// kernel derives its map from start_info.nr_pages.
#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/heap.hpp"

#include <xen/memory.h>

namespace pv::arch::pv {

namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

constexpr u32 E820MAX = 1024;  // Xen's bound on a domain's map (asm/e820.h)

u64 buffer_of(const xen_memory_map_t& m) {
    u64 buf;
    mem_copy(&buf, &m.buffer, sizeof buf);
    return buf;
}

}  // namespace

// Xen's order of checks: the argument, the count, the domain, the permission (the dummy XSM
// policy's XSM_TARGET: the domain itself or a privileged one), the allocation, the entries.
long set_memory_map(PvVcpu& v, u64 arg) {
    xen_foreign_memory_map_t fmap;
    if (!get_guest(fmap, arg)) return err(XEN_EFAULT);
    if (fmap.map.nr_entries > E820MAX) return err(XEN_EINVAL);
    PvDomain* d = fmap.domid == DOMID_SELF ? v.domain : domain_find(fmap.domid);
    if (!d) return err(XEN_ESRCH);
    if (d != v.domain && !v.domain->privileged) return err(XEN_EPERM);
    const u64 bytes = u64{fmap.map.nr_entries} * sizeof(E820Out);
    auto* e820 = static_cast<E820Out*>(hv_heap().alloc(bytes ? bytes : sizeof(E820Out)));
    if (!e820) return err(XEN_ENOMEM);
    if (bytes && !copy_from_guest(e820, buffer_of(fmap.map), bytes)) {
        hv_heap().free(e820);
        return err(XEN_EFAULT);
    }
    E820Out* old;
    {
        SpinGuard g(d->e820_lock);
        old = d->e820;
        d->e820 = e820;
        d->nr_e820 = fmap.map.nr_entries;
    }
    if (old) hv_heap().free(old);
    return 0;
}

long memory_map(PvVcpu& v, u64 arg) {
    xen_memory_map_t map;
    if (!get_guest(map, arg)) return err(XEN_EFAULT);
    PvDomain& d = *v.domain;
    SpinGuard g(d.e820_lock);
    if (!d.e820 || !d.nr_e820) return err(XEN_ENOSYS);
    map.nr_entries = map.nr_entries < d.nr_e820 ? map.nr_entries : d.nr_e820;
    if (!copy_to_guest(buffer_of(map), d.e820, u64{map.nr_entries} * sizeof(E820Out)) || !put_guest(arg, map))
        return err(XEN_EFAULT);
    return 0;
}

void memory_map_free(PvDomain& d) {
    if (d.e820) hv_heap().free(d.e820);
    d.e820 = nullptr;
    d.nr_e820 = 0;
}

}  // namespace pv::arch::pv
