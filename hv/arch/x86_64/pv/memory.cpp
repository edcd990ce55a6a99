// A domain's memory: the reservation hypercalls (XENMEM_populate_physmap, increase_reservation,
// decrease_reservation, current/maximum_reservation; Xen's common/memory.c), the accounting of
// the frames a domain owns (Xen's tot_pages against max_pages, page_alloc.c's assign_pages and
// free_domheap_pages), and giving everything back when the domain dies (Xen's
// domain_relinquish_resources / relinquish_memory).
//
// Accounting.  A frame joins a domain fresh from the allocator, zeroed, with the allocation
// reference (FrameRefs::assign), and counts in nr_pages (Xen's tot_pages) from then until the put
// that frees it, not until the domain gives it up: a frame ballooned out or left behind by a dead
// domain while domain 0 still maps it stays charged to its owner until that last put
// (X86MmEnv::free_frame -> memory_frame_freed).  Charging happens under the domain's
// page_alloc_lock together with the assignment, and is refused once the domain is dying, so
// nothing joins a domain after relinquish has swept it.  The shared_info frame is the
// hypervisor's page lent to the domain (Xen's xenheap page): owned by the domain so the domain
// and domain 0 may map it, but not charged, and never given up by decrease_reservation.
//
// A dying domain whose frames are still referenced elsewhere (domain 0's foreign mappings) stays
// a zombie: its record and its domid stay taken, because every frame still names it as owner and
// a new domain with the same Owner could otherwise reference them.  The put of its last frame
// calls the drained hook, where the domain's record may go.
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/buddy.hpp"
#include "core/console.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

#include <xen/memory.h>

namespace pv::arch::pv {
namespace {

constexpr long err(Errno e) { return -static_cast<long>(e); }

// Xen's max_order() for x86: CONFIG_DOMU_MAX_ORDER (9) for an ordinary domain; a control domain
// gets CONFIG_CTLDOM_MAX_ORDER (the allocator's largest, 18), which also covers the hardware
// domain's 12.  The order that counts is the caller's, whoever the target.
unsigned max_order(const PvDomain& caller) { return caller.privileged ? FrameAllocator::MAX_ORDER : 9; }
// Populate-on-demand extents are bounded by the allocator's MAX_ORDER in Xen (20 on x86).
constexpr unsigned POD_MAX_ORDER = 20;

// rcu_lock_domain_by_any_id.
PvDomain* domain_by_any_id(PvVcpu& v, domid_t id) { return id == DOMID_SELF ? v.domain : domain_find(id); }

// The dummy XSM policy's XSM_TARGET: a domain may act on itself; a privileged one on any.
bool may_target(const PvDomain& caller, const PvDomain& target) { return &caller == &target || caller.privileged; }

void (*g_drained_hook)(PvDomain&) = nullptr;

// Charges 2^order frames to d and assigns them (Xen's assign_pages): false when d is dying or
// would exceed max_pages.  The frames are zeroed first: they may hold another domain's data.
bool assign_extent(PvDomain& d, u64 mfn, unsigned order) {
    const u64 n = u64{1} << order;
    for (u64 i = 0; i < n; ++i) mem_set(phys_to_virt((mfn + i) << PAGE_SHIFT), 0, PAGE_SIZE);
    SpinGuard g(d.page_alloc_lock);
    if (d.is_dying || n > d.max_pages || d.nr_pages > d.max_pages - n) return false;
    for (u64 i = 0; i < n; ++i) {
        // A frame fresh from the allocator has no references: this cannot fail.
        if (!mmu_assign(d, mfn + i)) panic("d%u: a free frame %#lx cannot be assigned", d.id, mfn + i);
    }
    d.nr_pages += n;
    return true;
}

// An extent of 2^order frames for d (alloc_domheap_pages), its first frame, or nothing.  The
// address_bits of mem_flags (0: any) must hold every frame; the allocator takes no such limit, so
// an extent above it is refused rather than searched for.
Result<u64> alloc_extent(PvDomain& d, unsigned order, unsigned address_bits) {
    auto r = mm::frames().alloc(order);
    if (!r) return error(r.error());
    const u64 mfn = *r;
    bool fits = address_bits == 0 || address_bits >= 64 ||
                ((mfn + (u64{1} << order)) << PAGE_SHIFT) <= (u64{1} << address_bits);
    if (order) (void)mm::frames().split(mfn, order);  // each frame goes back on its own
    if (fits && assign_extent(d, mfn, order)) return mfn;
    for (u64 i = 0; i < (u64{1} << order); ++i) (void)mm::frames().free(mfn + i, 0);
    return error(XEN_ENOMEM);
}

// struct memop_args.
struct Memop {
    PvDomain* d;
    u64 list;  // guest address of the xen_pfn_t array (0: none, increase_reservation only)
    u32 nr_extents;
    unsigned order;
    unsigned address_bits;
    bool pod;
    u32 done;
    bool preempted;
};

u64 list_slot(const Memop& a, u32 i) { return a.list + u64{i} * sizeof(xen_pfn_t); }

// Xen's increase_reservation: extents anywhere, their first frames written back if there is a
// list.  Stops at the first failure; a.done counts the extents given.
void increase_reservation(PvVcpu& v, Memop& a) {
    if (a.list && !guest_array_ok(list_slot(a, a.done))) return;
    if (a.order > max_order(*v.domain)) return;
    u32 i = a.done;
    for (; i < a.nr_extents; ++i) {
        if (i != a.done && hypercall_preempt_check(v)) {
            a.preempted = true;
            break;
        }
        auto mfn = alloc_extent(*a.d, a.order, a.address_bits);
        if (!mfn) break;
        xen_pfn_t out = *mfn;
        if (a.list && !put_guest(list_slot(a, i), out)) break;
    }
    a.done = i;
}

// Xen's populate_physmap for a PV domain: the list holds gpfns on the way in and the extents'
// first frames on the way out; the M2P learns gpfn + j for each frame.
void populate_physmap(PvVcpu& v, Memop& a) {
    if (!guest_array_ok(list_slot(a, a.done))) return;
    if (a.order > (a.pod ? POD_MAX_ORDER : max_order(*v.domain))) return;
    u32 i = a.done;
    for (; i < a.nr_extents; ++i) {
        if (i != a.done && hypercall_preempt_check(v)) {
            a.preempted = true;
            break;
        }
        xen_pfn_t gpfn;
        if (!get_guest(gpfn, list_slot(a, i))) break;
        if (a.pod) {
            // Populate-on-demand is an HVM matter: for a PV target the extent counts as done,
            // but a domain may not ask it for itself.
            if (a.d == v.domain) break;
            continue;
        }
        auto mfn = alloc_extent(*a.d, a.order, a.address_bits);
        if (!mfn) break;
        for (u64 j = 0; j < (u64{1} << a.order); ++j) m2p_set(*mfn + j, gpfn + j);
        xen_pfn_t out = *mfn;
        if (!put_guest(list_slot(a, i), out)) break;
    }
    a.done = i;
}

// Xen's guest_remove_page for a PV domain, whose gmfns are machine frames: 0, or EINVAL for a
// frame that does not exist, ENXIO for one that is not d's.  The shared_info frame is not the
// domain's to give back (Xen's xenheap page is never freed by it): accepted, nothing changes.
Result<void> guest_remove_page(PvDomain& d, u64 mfn) {
    if (mfn >= mm::frames().nr_frames()) return error(XEN_EINVAL);
    if (mfn == d.shared_info_mfn && mmu_owned_by(d, mfn)) return ok();
    if (gnttab_is_table_frame(d, mfn) && mmu_owned_by(d, mfn)) return ok();  // lent the same way
    return mmu_release(d, mfn) ? ok() : error(XEN_ENXIO);
}

void decrease_reservation(PvVcpu& v, Memop& a) {
    if (!guest_array_ok(list_slot(a, a.done)) || a.order > max_order(*v.domain)) return;
    u32 i = a.done;
    for (; i < a.nr_extents; ++i) {
        if (i != a.done && hypercall_preempt_check(v)) {
            a.preempted = true;
            break;
        }
        xen_pfn_t gmfn;
        if (!get_guest(gmfn, list_slot(a, i))) break;
        bool failed = false;
        for (u64 j = 0; j < (u64{1} << a.order) && !failed; ++j) failed = !guest_remove_page(*a.d, gmfn + j);
        if (failed) break;
    }
    a.done = i;
}

// XENMEM_exchange's bookkeeping for one chunk: the first frame of each input extent taken and of
// each output extent allocated, in frames of the allocator's (a chunk is at most 2^max_order
// extents on one side and one on the other).
class ChunkList {
public:
    explicit ChunkList(u64 entries) {
        while ((PAGE_SIZE << order_) < entries * sizeof(u64)) ++order_;
        auto r = mm::frames().alloc(order_);
        if (!r) return;
        mfn_ = *r;
        slots_ = static_cast<u64*>(phys_to_virt(mfn_ << PAGE_SHIFT));
    }
    ~ChunkList() {
        if (slots_) (void)mm::frames().free(mfn_, order_);
    }
    ChunkList(const ChunkList&) = delete;
    ChunkList& operator=(const ChunkList&) = delete;
    u64* slots() const { return slots_; }

private:
    unsigned order_ = 0;
    u64 mfn_ = 0;
    u64* slots_ = nullptr;
};

struct Exchange {
    PvDomain* d;
    u64 in_list, out_list;
    unsigned in_order, out_order, in_chunk, out_chunk, address_bits;
};

void give_back_extents(const u64* firsts, u64 n, unsigned order) {
    for (u64 j = 0; j < n; ++j)
        for (u64 k = 0; k < (u64{1} << order); ++k) mmu_give_back(firsts[j] + k);
}

// One chunk of XENMEM_exchange (chunk i): takes 2^in_chunk input extents from the domain (each
// frame held by nothing but its allocation: EINVAL otherwise, and every frame taken goes back),
// allocates 2^out_chunk output extents (ENOMEM), frees the input frames, and gives the domain
// the new ones, each output extent's pseudo-physical frame read from the output list and its
// machine frame written back there (EFAULT).  0 or -errno.
long exchange_chunk(const Exchange& x, u64 i) {
    const u64 n_in = u64{1} << x.in_chunk, n_out = u64{1} << x.out_chunk;
    ChunkList list(n_in + n_out);
    if (!list.slots()) return err(XEN_ENOMEM);
    u64* in = list.slots();
    u64* out = in + n_in;
    for (u64 j = 0; j < n_in; ++j) {
        xen_pfn_t gmfn;
        long rc = get_guest(gmfn, x.in_list + ((i << x.in_chunk) + j) * sizeof gmfn) ? 0 : err(XEN_EFAULT);
        for (u64 k = 0; rc == 0 && k < (u64{1} << x.in_order); ++k) {
            if (mmu_take_away(*x.d, gmfn + k)) continue;
            for (u64 b = 0; b < k; ++b) mmu_give_back(gmfn + b);
            rc = err(XEN_EINVAL);
        }
        if (rc) {
            give_back_extents(in, j, x.in_order);
            return rc;
        }
        in[j] = gmfn;
    }
    for (u64 j = 0; j < n_out; ++j) {
        auto r = mm::frames().alloc(x.out_order);
        if (r && (!x.address_bits || ((*r + (u64{1} << x.out_order)) << PAGE_SHIFT) <= (u64{1} << x.address_bits))) {
            if (x.out_order) (void)mm::frames().split(*r, x.out_order);
            out[j] = *r;
            continue;
        }
        if (r) (void)mm::frames().free(*r, x.out_order);
        for (u64 b = 0; b < j; ++b)
            for (u64 k = 0; k < (u64{1} << x.out_order); ++k) (void)mm::frames().free(out[b] + k, 0);
        give_back_extents(in, n_in, x.in_order);
        return err(XEN_ENOMEM);
    }
    for (u64 j = 0; j < n_in; ++j)
        for (u64 k = 0; k < (u64{1} << x.in_order); ++k) mmu_put_taken(in[j] + k);
    long rc = 0;
    for (u64 j = 0; j < n_out; ++j) {
        if (!assign_extent(*x.d, out[j], x.out_order)) {
            // Dying (or, raced by its own vCPUs, at max_pages): the rest goes back unused.
            for (u64 b = j; b < n_out; ++b)
                for (u64 k = 0; k < (u64{1} << x.out_order); ++k) (void)mm::frames().free(out[b] + k, 0);
            return x.d->is_dying ? 0 : err(XEN_ENOMEM);
        }
        const u64 slot = x.out_list + ((i << x.out_chunk) + j) * sizeof(xen_pfn_t);
        xen_pfn_t gpfn;
        if (!get_guest(gpfn, slot)) {
            rc = err(XEN_EFAULT);
            continue;
        }
        for (u64 k = 0; k < (u64{1} << x.out_order); ++k) m2p_set(out[j] + k, gpfn + k);
        xen_pfn_t mfn = out[j];
        if (!put_guest(slot, mfn)) rc = err(XEN_EFAULT);
    }
    return rc;
}

}  // namespace

// XENMEM_increase_reservation, decrease_reservation, populate_physmap.  As in Xen, every refusal
// is a count: the number of extents done so far (start_extent, from the command's upper bits in a
// continuation), so a bad argument, an unknown domain or a target the caller may not touch all
// return it, never an errno.
long memory_reservation_op(PvVcpu& v, unsigned op, u64 start_extent, u64 arg) {
    xen_memory_reservation_t r;
    const long start = static_cast<long>(start_extent);
    if (!get_guest(r, arg)) return start;
    if (r.nr_extents > (~0u >> MEMOP_EXTENT_SHIFT)) return start;  // no room to encode a continuation
    if (start_extent >= r.nr_extents) return start;
    PvDomain* d = domain_by_any_id(v, r.domid);
    if (!d) return start;
    Memop a{};
    a.d = d;
    mem_copy(&a.list, &r.extent_start, sizeof a.list);
    a.nr_extents = static_cast<u32>(r.nr_extents);
    a.order = r.extent_order;
    a.done = static_cast<u32>(start_extent);
    // construct_memop_from_reservation: an address width below the machine's top limits the
    // extents, one that leaves no page is refused; a NUMA node is checked as propagate_node (one
    // node here, so beyond that it changes nothing).
    unsigned bits = XENMEMF_get_address_bits(r.mem_flags);
    const u64 max_page = mm::frames().nr_frames();  // get_order_from_pages(max_page) + PAGE_SHIFT
    unsigned machine_bits = PAGE_SHIFT + (max_page <= 1 ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(max_page - 1)));
    if (bits && bits < machine_bits) {
        if (bits <= PAGE_SHIFT) return start;
        a.address_bits = bits;
    }
    if (!(r.mem_flags & XENMEMF_vnode) && XENMEMF_get_node(r.mem_flags) != 0xff) {
        if (v.domain->privileged ? XENMEMF_get_node(r.mem_flags) >= 64 : (r.mem_flags & XENMEMF_exact_node_request) != 0)
            return start;
    }
    a.pod = op == XENMEM_populate_physmap && (r.mem_flags & XENMEMF_populate_on_demand);
    if (!may_target(*v.domain, *d)) return start;

    switch (op) {
    case XENMEM_increase_reservation: increase_reservation(v, a); break;
    case XENMEM_decrease_reservation: decrease_reservation(v, a); break;
    default: populate_physmap(v, a); break;
    }
    if (a.preempted)
        return create_continuation(v, __HYPERVISOR_memory_op, op | (u64{a.done} << MEMOP_EXTENT_SHIFT), arg);
    return a.done;
}

// XENMEM_current_reservation / maximum_reservation: -ESRCH for an unknown domain, -EPERM for
// another domain's unless privileged.
long memory_reservation_query(PvVcpu& v, unsigned op, u64 arg) {
    domid_t id;
    if (!get_guest(id, arg)) return err(XEN_EFAULT);
    PvDomain* d = domain_by_any_id(v, id);
    if (!d) return err(XEN_ESRCH);
    if (!may_target(*v.domain, *d)) return err(XEN_EPERM);
    SpinGuard g(d->page_alloc_lock);
    return static_cast<long>(op == XENMEM_current_reservation ? d->nr_pages : d->max_pages);
}

// XENMEM_exchange (Xen's memory_exchange): the domain's frames of the input extents for new ones
// of the output extents' order, chunk by chunk (a chunk: as many extents on the smaller-order
// side as make one of the other), with Xen's checks in Xen's order: an order beyond the caller's
// max_order EPERM; nr_exchanged past the input, differing domains, or totals that differ EINVAL;
// lists that are not guest memory EFAULT; an unknown domain ESRCH, another's unless privileged
// EPERM.  nr_exchanged tells the guest how many input extents were exchanged, on failure too,
// and lets a continuation resume.
long memory_exchange(PvVcpu& v, u64 arg) {
    xen_memory_exchange_t ex;
    if (!get_guest(ex, arg)) return err(XEN_EFAULT);
    const u64 done_field = arg + offsetof(xen_memory_exchange_t, nr_exchanged);
    auto finish = [&](long rc) { return put_guest(done_field, ex.nr_exchanged) ? rc : err(XEN_EFAULT); };
    Exchange x{};
    x.in_order = ex.in.extent_order;
    x.out_order = ex.out.extent_order;
    if (max(x.in_order, x.out_order) > max_order(*v.domain)) return finish(err(XEN_EPERM));
    const u64 n_in = ex.in.nr_extents, n_out = ex.out.nr_extents;
    if (ex.nr_exchanged > n_in || ex.in.domid != ex.out.domid || (~0ull >> x.in_order) < n_in ||
        (~0ull >> x.out_order) < n_out || (n_in << x.in_order) != (n_out << x.out_order))
        return finish(err(XEN_EINVAL));
    if (ex.nr_exchanged == n_in) return 0;
    mem_copy(&x.in_list, &ex.in.extent_start, sizeof x.in_list);
    mem_copy(&x.out_list, &ex.out.extent_start, sizeof x.out_list);
    constexpr u64 W = sizeof(xen_pfn_t);
    if (!guest_range_ok(x.in_list + ex.nr_exchanged * W, (n_in - ex.nr_exchanged) * W)) return finish(err(XEN_EFAULT));
    u64 out_first;
    if (x.in_order <= x.out_order) {
        x.in_chunk = x.out_order - x.in_order;
        out_first = ex.nr_exchanged >> x.in_chunk;
    } else {
        x.out_chunk = x.in_order - x.out_order;
        out_first = ex.nr_exchanged << x.out_chunk;
    }
    if (!guest_range_ok(x.out_list + out_first * W, (n_out - out_first) * W)) return finish(err(XEN_EFAULT));
    x.d = domain_by_any_id(v, ex.in.domid);
    if (!x.d) return finish(err(XEN_ESRCH));
    if (!may_target(*v.domain, *x.d)) return finish(err(XEN_EPERM));
    x.address_bits = XENMEMF_get_address_bits(ex.out.mem_flags);
    if (x.address_bits >= 64) x.address_bits = 0;
    const u64 first = ex.nr_exchanged >> x.in_chunk;
    for (u64 i = first; i < (n_in >> x.in_chunk); ++i) {
        if (i != first && hypercall_preempt_check(v)) {
            ex.nr_exchanged = i << x.in_chunk;
            if (!put_guest(done_field, ex.nr_exchanged)) return err(XEN_EFAULT);
            return create_continuation(v, __HYPERVISOR_memory_op, u64{XENMEM_exchange}, arg);
        }
        if (long rc = exchange_chunk(x, i); rc || x.d->is_dying) {
            ex.nr_exchanged = i << x.in_chunk;
            return finish(rc);
        }
    }
    ex.nr_exchanged = n_in;
    return finish(0);
}

// The last reference to mfn, a frame of owner's, is gone (X86MmEnv::free_frame): uncharged from
// its domain, back to the allocator, and a dying domain's last frame calls the drained hook.
void memory_frame_freed(u64 mfn, Owner owner) {
    PvDomain* d = domain_find(static_cast<domid_t>(static_cast<u32>(owner) - 1));
    bool drained = false;
    if (d) {
        SpinGuard g(d->page_alloc_lock);
        if (mfn == d->shared_info_mfn) {
            d->shared_info_mfn = 0;  // gone: the domain's record must not use its page any more
        } else if (d->gnttab_frames_left && gnttab_is_table_frame(*d, mfn)) {
            --d->gnttab_frames_left;  // a lent grant-table frame, not charged
        } else if (d->nr_pages > 0) {
            --d->nr_pages;
        } else {
            pv_err("d%u: frame %#lx freed with nothing charged\n", d->id, mfn);
        }
        // Drained: nothing of the domain's is left, its shared_info page included.
        drained = d->is_dying && d->nr_pages == 0 && d->shared_info_mfn == 0 && d->gnttab_frames_left == 0;
    }
    if (!mm::frames().free(mfn, 0)) pv_err("frame %#lx of owner %u: refused by the allocator\n", mfn, static_cast<u32>(owner));
    if (drained && g_drained_hook) g_drained_hook(*d);
}

void mmu_on_drained(void (*hook)(PvDomain&)) { g_drained_hook = hook; }

// The sweep runs in chunks of the frame table, resumable from d.relinquish_next, and stops for a
// continuation when the running vCPU has something more urgent (its caller, destroydomain,
// continues itself).
bool mmu_relinquish(PvDomain& d) {
    constexpr u64 CHUNK = 4096;
    {
        SpinGuard g(d.page_alloc_lock);
        d.is_dying = true;
    }
    const u64 nr = min(mmu_nr_frames(), d.frames_hi.load() + 1);
    d.relinquish_next = max(d.relinquish_next, d.frames_lo.load());
    bool first = true;
    while (d.relinquish_next < nr) {
        if (!first) {
            PvVcpu* c = current();
            if (c && hypercall_preempt_check(*c)) return false;
        }
        first = false;
        u64 n = min(CHUNK, nr - d.relinquish_next);
        mmu_release_range(d, d.relinquish_next, n);
        d.relinquish_next += n;
    }
    return true;
}

}  // namespace pv::arch::pv
