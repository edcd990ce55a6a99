// __HYPERVISOR_grant_table_op for 64-bit PV domains, over the arch-neutral grant tables
// (core/grant_table.hpp, core/grant_ops.hpp): argument decoding with Xen's checks and errno
// values, host mappings by linear address or PTE machine address in the caller's page tables,
// batches with continuations, and each domain's table from creation to death.
//
// The list operations (map, unmap, copy) take any count below 2^31 and continue themselves as
// Xen's do_grant_table_op does: the list pointer advanced past the finished items and the count
// reduced, nothing kept in the hypervisor.  Unmaps go in batches of 32 (Xen's
// GNTTAB_UNMAP_BATCH_SIZE): each batch's entries are cleared, the TLB flushed once, and only then
// are the frames' references dropped, so no CPU can reach a frame through a stale entry after
// its last reference went.
#include <arch/cpu.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/mmu_env.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/grant_ops.hpp"
#include "core/heap.hpp"

namespace pv::arch::pv {

using Table = GrantTable<X86MmEnv>;

struct DomainGrants {
    template <typename... A> explicit DomainGrants(A&&... a) : table(static_cast<A&&>(a)...) {}
    Table table;
};

namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

// Guest-visible parts of Xen's continuation encoding for this hypercall (grant_table.c).
constexpr u32 CONTINUATION_ARG_SHIFT = 12;
constexpr u32 CMD_MASK = (1u << CONTINUATION_ARG_SHIFT) - 1;
constexpr u32 UNMAP_BATCH = 32;

Table* table_of(PvDomain* d) { return d && d->grants ? &d->grants->table : nullptr; }

// The context of one call (core/grant_ops.hpp).
class X86GrantCtx {
public:
    // v: the calling vCPU (nullptr at a domain's death, where only table_of(id, false) is used).
    explicit X86GrantCtx(PvVcpu* v) : v_(v) {}
    // rcu_lock_domain_by_id (any: by_any_id, which also takes DOMID_SELF).
    Table* table_of(domid_t id, bool any) {
        if (any && id == DOMID_SELF) return v_ ? pv::table_of(v_->domain) : nullptr;
        return pv::table_of(domain_find(id));
    }
    bool host_slot(u64 addr, u32 flags, gnt::HostSlot* out) {
        if (flags & GNTMAP_contains_pte) {
            // The machine address of the entry, which must not straddle two (XSA-227).
            if (addr & 7) return false;
            out->table_mfn = addr >> PAGE_SHIFT;
            out->index = static_cast<unsigned>((addr & (PAGE_SIZE - 1)) >> 3);
            return true;
        }
        // A linear address in the current (kernel) tables, as Xen's map_guest_l1e.
        if (!v_ || !guest_range_ok(addr, 1)) return false;
        return mmu_l1_slot(*v_, addr, &out->table_mfn, &out->index);
    }
    void flush_tlb() { write_cr3(read_cr3()); }  // every vCPU of the domain is on this CPU

private:
    PvVcpu* v_;
};

using Ops = gnt::GrantOps<X86MmEnv, X86GrantCtx>;

// The dummy XSM policy's XSM_TARGET: a domain may act on itself; a privileged one on any.
bool may_target(const PvDomain& caller, const PvDomain& target) {
    return &caller == &target || caller.privileged;
}
PvDomain* domain_by_any_id(PvVcpu& v, domid_t id) { return id == DOMID_SELF ? v.domain : domain_find(id); }

// The table a setup_table, query_size or get_status_frames names (rcu_lock_domain_by_any_id,
// then XSM_TARGET), or nullptr with the status to report.
Table* target_table(PvVcpu& v, domid_t id, i16* status) {
    PvDomain* d = domain_by_any_id(v, id);
    if (!d || !d->grants) *status = GNTST_bad_domain;
    else if (!may_target(*v.domain, *d)) *status = GNTST_permission_denied;
    else return &d->grants->table;
    return nullptr;
}

// ---- the single-structure operations ----

long setup_table(PvVcpu& v, u64 uop, u32 count) {
    if (count != 1) return err(XEN_EINVAL);
    gnttab_setup_table_t op;
    if (!get_guest(op, uop)) return err(XEN_EFAULT);
    u64 list;
    static_assert(sizeof op.frame_list == sizeof list);
    mem_copy(&list, &op.frame_list, sizeof list);
    if (!guest_range_ok(list, u64{op.nr_frames} * sizeof(xen_pfn_t))) return err(XEN_EFAULT);
    if (Table* t = target_table(v, op.dom, &op.status)) {
        op.status = t->setup(op.nr_frames, [&](u32 i, u64 mfn) {
            return static_cast<bool>(put_guest(list + u64{i} * sizeof(xen_pfn_t), xen_pfn_t{mfn}));
        });
    }
    return put_guest(uop + offsetof(gnttab_setup_table_t, status), op.status) ? 0 : err(XEN_EFAULT);
}

long query_size(PvVcpu& v, u64 uop, u32 count) {
    if (count != 1) return err(XEN_EINVAL);
    gnttab_query_size_t op;
    if (!get_guest(op, uop)) return err(XEN_EFAULT);
    if (Table* t = target_table(v, op.dom, &op.status)) {
        op.nr_frames = t->nr_frames();
        op.max_nr_frames = t->max_frames();
        op.status = GNTST_okay;
    }
    return put_guest(uop, op) ? 0 : err(XEN_EFAULT);
}

// Version 1 only, as Xen with gnttab=max-ver:1: asking for 2 is -ENOSYS ("as before set_version
// was introduced"), anything else but 1 -EINVAL; the version in force is written back either way.
long set_version(PvVcpu& v, u64 uop) {
    gnttab_set_version_t op;
    if (!get_guest(op, uop)) return err(XEN_EFAULT);
    long rc = 0;
    if (op.version != 1 && op.version != 2) rc = err(XEN_EINVAL);
    else if (op.version > gnt::MAX_VERSION) rc = err(XEN_ENOSYS);
    op.version = v.domain->grants ? v.domain->grants->table.version() : 1;
    return put_guest(uop, op) ? rc : err(XEN_EFAULT);
}

long get_version(PvVcpu& v, u64 uop) {
    gnttab_get_version_t op;
    if (!get_guest(op, uop)) return err(XEN_EFAULT);
    PvDomain* d = domain_by_any_id(v, op.dom);
    if (!d || !d->grants) return err(XEN_ESRCH);
    if (!may_target(*v.domain, *d)) return err(XEN_EPERM);
    op.version = d->grants->table.version();
    return put_guest(uop + offsetof(gnttab_get_version_t, version), op.version) ? 0 : err(XEN_EFAULT);
}

// Version 1 has no status frames: asking for none succeeds, for any a general error.
long get_status_frames(PvVcpu& v, u64 uop, u32 count) {
    if (count != 1) return err(XEN_EINVAL);
    gnttab_get_status_frames_t op;
    if (!get_guest(op, uop)) return err(XEN_EFAULT);
    if (target_table(v, op.dom, &op.status)) op.status = op.nr_frames > 0 ? GNTST_general_error : GNTST_okay;
    return put_guest(uop + offsetof(gnttab_get_status_frames_t, status), op.status) ? 0 : err(XEN_EFAULT);
}

// ---- the list operations: the number of items done when preempted, 0 or -errno ----

long map_list(PvVcpu& v, Ops& ops, Table& ld, u64 uop, u32 count) {
    for (u32 i = 0; i < count; ++i) {
        if (i && hypercall_preempt_check(v)) return i;
        gnttab_map_grant_ref_t op;
        u64 at = uop + u64{i} * sizeof op;
        if (!get_guest(op, at)) return err(XEN_EFAULT);
        ops.map(ld, op);
        if (!put_guest(at, op)) return err(XEN_EFAULT);
    }
    return 0;
}

long unmap_list(PvVcpu& v, Ops& ops, Table& ld, u64 uop, u32 count, X86GrantCtx& ctx) {
    u32 done = 0;
    while (count) {
        u32 batch = min(count, UNMAP_BATCH), n = 0;
        Ops::Unmap work[UNMAP_BATCH];
        bool fault = false;
        for (; n < batch; ++n) {
            gnttab_unmap_grant_ref_t op;
            u64 at = uop + u64{done + n} * sizeof op;
            if (!get_guest(op, at)) {
                fault = true;
                break;
            }
            work[n] = ops.unmap_begin(ld, op);
            if (!put_guest(at + offsetof(gnttab_unmap_grant_ref_t, status), op.status)) {
                ++n;
                fault = true;
                break;
            }
        }
        ctx.flush_tlb();
        for (u32 i = 0; i < n; ++i) ops.unmap_complete(ld, work[i]);
        if (fault) return err(XEN_EFAULT);
        count -= batch;
        done += batch;
        if (count && hypercall_preempt_check(v)) return done;
    }
    return 0;
}

// Returns, as Xen's gnttab_copy, count - i when preempted (the caller turns it back).
long copy_list(PvVcpu& v, Ops& ops, u64 uop, u32 count) {
    for (u32 i = 0; i < count; ++i) {
        if (i && hypercall_preempt_check(v)) return count - i;
        gnttab_copy_t op;
        u64 at = uop + u64{i} * sizeof op;
        if (!get_guest(op, at)) return err(XEN_EFAULT);
        op.status = ops.copy(v.domain->id, op);
        if (!put_guest(at + offsetof(gnttab_copy_t, status), op.status)) return err(XEN_EFAULT);
    }
    return 0;
}

}  // namespace

long do_grant_table_op(PvVcpu& v, const HypercallArgs& a) {
    auto cmd = static_cast<u32>(a.a1), count = static_cast<u32>(a.a3);
    u64 uop = a.a2;
    if (static_cast<i32>(count) < 0) return err(XEN_EINVAL);
    u32 opaque = cmd & ~CMD_MASK;
    cmd &= CMD_MASK;
    if (cmd != GNTTABOP_cache_flush && opaque) return err(XEN_EINVAL);
    Table* ld = table_of(v.domain);
    X86GrantCtx ctx(&v);
    Ops ops(mmu_env(), mmu_engine(), ctx);
    long rc;
    u64 item = 0;
    switch (cmd) {
    case GNTTABOP_map_grant_ref:
        item = sizeof(gnttab_map_grant_ref_t);
        if (!guest_range_ok(uop, u64{count} * item)) return err(XEN_EFAULT);
        rc = ld ? map_list(v, ops, *ld, uop, count) : err(XEN_ENOSYS);
        break;
    case GNTTABOP_unmap_grant_ref:
        item = sizeof(gnttab_unmap_grant_ref_t);
        if (!guest_range_ok(uop, u64{count} * item)) return err(XEN_EFAULT);
        rc = ld ? unmap_list(v, ops, *ld, uop, count, ctx) : err(XEN_ENOSYS);
        break;
    case GNTTABOP_copy:
        item = sizeof(gnttab_copy_t);
        if (!guest_range_ok(uop, u64{count} * item)) return err(XEN_EFAULT);
        rc = copy_list(v, ops, uop, count);
        if (rc > 0) rc = count - rc;
        break;
    case GNTTABOP_setup_table: return setup_table(v, uop, count);
    case GNTTABOP_query_size: return query_size(v, uop, count);
    case GNTTABOP_set_version: return set_version(v, uop);
    case GNTTABOP_get_version: return get_version(v, uop);
    case GNTTABOP_get_status_frames: return get_status_frames(v, uop, count);
    default:
        // transfer, unmap_and_replace, swap_grant_ref, cache_flush, dump_table: not yet.
        return err(XEN_ENOSYS);
    }
    if (rc > 0) return create_continuation(v, __HYPERVISOR_grant_table_op, cmd, uop + u64(rc) * item, count - u32(rc));
    return rc;
}

// ---- a domain's table ----

Result<void> gnttab_domain_init(PvDomain& d, u32 max_grant_frames, u32 max_maptrack_frames) {
    auto* g = heap_new<DomainGrants>(hv_heap(), mmu_env(), mmu_engine(), owner_of(d), d.id, max_grant_frames,
                                     max_maptrack_frames);
    if (!g) return error(XEN_ENOMEM);
    d.grants = g;  // a failing init is undone with the domain (gnttab_domain_free)
    return g->table.init();
}

void gnttab_domain_release(PvDomain& d) {
    Table* t = table_of(&d);
    if (!t) return;
    X86GrantCtx ctx(nullptr);
    Ops ops(mmu_env(), mmu_engine(), ctx);
    ops.release_mappings(*t);
    u32 n = t->nr_frames();
    // The table engine assigned its frames itself: mmu_relinquish's sweep must cover them.
    for (u32 i = 0; i < n; ++i) mmu_cover_frame(d, t->frame_mfn(i));
    {
        SpinGuard g(d.page_alloc_lock);
        d.gnttab_frames_left = n;
    }
    t->release_frames();
}

void gnttab_domain_free(PvDomain& d) {
    if (!d.grants) return;
    heap_delete(hv_heap(), d.grants);
    d.grants = nullptr;
}

bool gnttab_is_table_frame(PvDomain& d, u64 mfn) {
    Table* t = table_of(&d);
    return t && t->is_table_frame(mfn);
}

}  // namespace pv::arch::pv
