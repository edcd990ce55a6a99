// The table of live domains by id (Xen's domain list and rcu_lock_domain_by_id).  A domain is
// in the table from creation until it is destroyed; lookups take no reference yet — domains are
// only freed by their destruction, which must first make sure no CPU still uses the domain
// (issue 4: domctl destroydomain).
#include "arch/x86_64/pv/pv.hpp"
#include "lib/spinlock.hpp"

#include <xen/xen.h>

namespace pv::arch::pv {
namespace {

PvDomain* g_table[DOMID_FIRST_RESERVED];
Spinlock g_lock;

}  // namespace

bool domain_insert(PvDomain& d) {
    IrqSpinGuard g(g_lock);
    if (d.id >= DOMID_FIRST_RESERVED || g_table[d.id]) return false;
    g_table[d.id] = &d;
    return true;
}

void domain_remove(PvDomain& d) {
    IrqSpinGuard g(g_lock);
    if (d.id < DOMID_FIRST_RESERVED && g_table[d.id] == &d) g_table[d.id] = nullptr;
}

PvDomain* domain_find(domid_t id) {
    if (id >= DOMID_FIRST_RESERVED) return nullptr;
    return __atomic_load_n(&g_table[id], __ATOMIC_ACQUIRE);
}

// The next domain with an id >= first, in id order (getdomaininfo's walk); nullptr past the end.
PvDomain* domain_next(domid_t first) {
    for (u32 id = first; id < DOMID_FIRST_RESERVED; ++id)
        if (PvDomain* d = __atomic_load_n(&g_table[id], __ATOMIC_ACQUIRE)) return d;
    return nullptr;
}

}  // namespace pv::arch::pv
