// The grant-table operations that involve two domains (GNTTABOP_map_grant_ref, unmap_grant_ref,
// copy) and a mapper's death, over core/grant_table.hpp (whose header explains the tables and the
// references).  Arch-neutral: what the hypervisor must look up or do goes through a context Ctx:
//
//   GrantTable<Env>* ctx.table_of(domid_t id, bool any)  a domain's table, live or dying; any:
//                                                        DOMID_SELF names the caller
//   bool ctx.host_slot(u64 addr, u32 flags, gnt::HostSlot* out)
//                                                        the L1 slot of a host mapping: addr is
//                                                        the caller's linear address, or with
//                                                        GNTMAP_contains_pte the entry's machine
//                                                        address (8-aligned); false if none
//   void ctx.flush_tlb()                                 no CPU may use the caller's old entries
//
// Checks and status codes are Xen 4.17's, in its order; a failing operation leaves every count,
// pin and flag as it found them.
#pragma once
#include "core/grant_table.hpp"
#include "lib/string.hpp"

namespace pv::gnt {

template <GntEnv Env, typename Ctx> class GrantOps {
public:
    using Table = GrantTable<Env>;
    GrantOps(Env& env, PvMmu<Env>& mmu, Ctx& ctx) : env_(env), mmu_(mmu), ctx_(ctx) {}

    // map_grant_ref for the caller's table ld; fills op.status and, on success, op.handle and
    // op.dev_bus_addr.
    void map(Table& ld, gnttab_map_grant_ref& op) {
        const u32 flags = op.flags;
        const bool ro = flags & GNTMAP_readonly;
        if (!(flags & (GNTMAP_device_map | GNTMAP_host_map))) {
            op.status = GNTST_bad_gntref;
            return;
        }
        Table* rd = ctx_.table_of(op.dom, false);
        if (!rd) {
            op.status = GNTST_bad_domain;
            return;
        }
        u32 handle = 0;
        if (!ld.get_handle(&handle)) {
            op.status = GNTST_no_device_space;
            return;
        }
        u32 kinds = 0;
        if (flags & GNTMAP_device_map) kinds += ro ? PIN_DEVR : PIN_DEVW;
        if (flags & GNTMAP_host_map) kinds += ro ? PIN_HSTR : PIN_HSTW;
        u64 mfn = 0;
        i16 st = rd->pin(op.ref, ld.id(), kinds, ro, true, &mfn);
        if (st != GNTST_okay) {
            ld.put_handle(handle);
            op.status = st;
            return;
        }
        // The pin gave one general reference; each kind of mapping holds one, plus a writable
        // type reference when writable.
        Frame f = mmu_.refs().frame(mfn);
        unsigned refcnt = 1, typecnt = 0;
        bool host_created = false;
        HostSlot slot{};
        st = GNTST_okay;
        if ((flags & GNTMAP_device_map) && !ro) {
            if (!mmu_.types().get(f, PageType::writable)) st = GNTST_general_error;
            else ++typecnt;
        }
        if (st == GNTST_okay && (flags & GNTMAP_host_map)) {
            if ((flags & GNTMAP_device_map) && !mmu_.refs().get(f, rd->owner())) st = GNTST_general_error;
            else if (flags & GNTMAP_device_map) ++refcnt;
            if (st == GNTST_okay && !ro) {
                if (!mmu_.types().get(f, PageType::writable)) st = GNTST_general_error;
                else ++typecnt;
            }
            if (st == GNTST_okay) {
                if (!ctx_.host_slot(op.host_addr, flags, &slot) ||
                    !mmu_.install_grant_entry(ld.owner(), slot.table_mfn, slot.index, host_pte(mfn, flags)))
                    st = GNTST_general_error;
                else
                    host_created = true;
            }
        }
        if (st != GNTST_okay) {
            if (host_created) {  // (only reached if a later step could fail; kept for symmetry)
                (void)mmu_.remove_grant_entry(ld.owner(), slot.table_mfn, slot.index, mfn, !ro);
                ctx_.flush_tlb();
            }
            while (typecnt--) mmu_.types().put(f);
            while (refcnt--) mmu_.refs().put(f);
            (void)rd->unpin(op.ref, ld.id(), kinds, ro);
            ld.put_handle(handle);
            op.status = st;
            return;
        }
        ld.set_mapping(handle, rd->id(), op.ref, flags);
        op.dev_bus_addr = mfn << 12;
        op.handle = handle;
        op.status = GNTST_okay;
    }

    // unmap_grant_ref in two halves, as Xen's unmap_common and unmap_common_complete: the first
    // removes the mapping (its L1 entry, its maptrack flags); the caller flushes the TLBs; the
    // second drops the references and pins.  A batch runs every first half, one flush, then
    // every second half.
    struct Unmap {
        Table* rd = nullptr;
        u32 ref = 0;
        u64 mfn = 0;
        u32 done = 0;  // GNTMAP_host_map / GNTMAP_device_map removed, with GNTMAP_readonly
    };
    Unmap unmap_begin(Table& ld, gnttab_unmap_grant_ref& op) {
        Unmap w;
        typename Table::Mapping m;
        if (!ld.get_mapping(op.handle, &m)) {
            op.status = GNTST_bad_handle;
            return w;
        }
        // Xen crashes the caller when the granter is gone (its grants were implicitly unmapped);
        // a stale handle says the same without taking the domain down.
        Table* rd = ctx_.table_of(m.domid, false);
        u64 mfn = 0;
        if (!rd || !rd->pinned_frame(m.ref, ld.id(), &mfn)) {
            op.status = GNTST_bad_handle;
            return w;
        }
        // Xen 4.17 checks the bus address only against a device mapping.
        if (op.dev_bus_addr && (m.flags & GNTMAP_device_map) && op.dev_bus_addr != mfn << 12) {
            op.status = GNTST_bad_dev_addr;
            return w;
        }
        const bool ro = m.flags & GNTMAP_readonly;
        if (op.host_addr && (m.flags & GNTMAP_host_map)) {
            HostSlot slot{};
            if (!ctx_.host_slot(op.host_addr, m.flags, &slot) ||
                !mmu_.remove_grant_entry(ld.owner(), slot.table_mfn, slot.index, mfn, !ro) ||
                !ld.clear_mapping(op.handle, m.domid, m.ref, GNTMAP_host_map)) {
                op.status = GNTST_general_error;
                return w;
            }
            w.done |= GNTMAP_host_map;
        }
        if (op.dev_bus_addr && (m.flags & GNTMAP_device_map) &&
            ld.clear_mapping(op.handle, m.domid, m.ref, GNTMAP_device_map))
            w.done |= GNTMAP_device_map;
        if (w.done) {
            w.done |= m.flags & GNTMAP_readonly;
            w.rd = rd;
            w.ref = m.ref;
            w.mfn = mfn;
        }
        op.status = GNTST_okay;
        return w;
    }
    void unmap_complete(Table& ld, const Unmap& w) {
        if (!w.done) return;
        const bool ro = w.done & GNTMAP_readonly;
        Frame f = mmu_.refs().frame(w.mfn);
        u32 kinds = 0;
        if (w.done & GNTMAP_device_map) {
            drop(f, ro);
            kinds += ro ? PIN_DEVR : PIN_DEVW;
        }
        if (w.done & GNTMAP_host_map) {
            drop(f, ro);
            kinds += ro ? PIN_HSTR : PIN_HSTW;
        }
        (void)w.rd->unpin(w.ref, ld.id(), kinds, ro);
    }

    // A dying mapper gives up every mapping it holds (Xen's gnttab_release_mappings): device
    // mappings' references and all its pins.  Host mappings' references belong to its L1 entries
    // and go with its page tables.
    void release_mappings(Table& ld) {
        u32 limit = ld.maptrack_limit();
        for (u32 h = 0; h < limit; ++h) {
            typename Table::Mapping m;
            if (!ld.get_mapping(h, &m)) continue;
            const bool ro = m.flags & GNTMAP_readonly;
            Table* rd = ctx_.table_of(m.domid, false);
            u64 mfn = 0;
            if (rd && rd->pinned_frame(m.ref, ld.id(), &mfn)) {
                u32 kinds = 0;
                if (m.flags & GNTMAP_device_map) {
                    drop(mmu_.refs().frame(mfn), ro);
                    kinds += ro ? PIN_DEVR : PIN_DEVW;
                }
                if (m.flags & GNTMAP_host_map) kinds += ro ? PIN_HSTR : PIN_HSTW;
                (void)rd->unpin(m.ref, ld.id(), kinds, ro);
            }
            (void)ld.clear_mapping(h, m.domid, m.ref, m.flags & (GNTMAP_device_map | GNTMAP_host_map));
        }
    }

    // One GNTTABOP_copy for caller `self` (its table and id); returns the status.
    i16 copy(domid_t self, const gnttab_copy& op) {
        Buf src, dst;
        const bool src_gref = op.flags & GNTCOPY_source_gref, dst_gref = op.flags & GNTCOPY_dest_gref;
        Table *ts = nullptr, *td = nullptr;
        i16 st = domain(op.source, src_gref, &ts);
        if (st == GNTST_okay) st = domain(op.dest, dst_gref, &td);
        if (st == GNTST_okay) st = claim(self, *ts, op.source, src_gref, true, src);
        if (st == GNTST_okay) st = claim(self, *td, op.dest, dst_gref, false, dst);
        if (st == GNTST_okay && (u32{op.source.offset} + op.len > 4096 || u32{op.dest.offset} + op.len > 4096))
            st = GNTST_bad_copy_arg;
        if (st == GNTST_okay) {
            auto* from = reinterpret_cast<const u8*>(env_.table(src.mfn)) + op.source.offset;
            auto* to = reinterpret_cast<u8*>(env_.table(dst.mfn)) + op.dest.offset;
            mem_move(to, from, op.len);
        }
        release(self, dst, false);
        release(self, src, true);
        return st;
    }

private:
    struct Buf {
        Table* table = nullptr;  // the granter's, when by grant reference
        u32 ref = 0;
        u64 mfn = 0;
        bool have_ref = false, have_type = false, have_pin = false;
    };

    void drop(Frame f, bool ro) {
        if (!ro) mmu_.types().put(f);
        mmu_.refs().put(f);
    }

    // The domains come first (both, before any buffer), as Xen's gnttab_copy_lock_domains: only
    // DOMID_SELF may name a frame directly.
    i16 domain(const decltype(gnttab_copy_t::source)& p, bool gref, Table** t) {
        if (p.domid != DOMID_SELF && !gref) return GNTST_permission_denied;
        *t = ctx_.table_of(p.domid, true);
        return *t ? GNTST_okay : GNTST_bad_domain;
    }
    // Xen's gnttab_copy_claim_buf: a pin (by reference) or a reference (by frame), and a writable
    // type reference for the destination.
    i16 claim(domid_t self, Table& t, const decltype(gnttab_copy_t::source)& p, bool gref, bool readonly, Buf& b) {
        if (gref) {
            i16 st = t.pin(p.u.ref, self, readonly ? PIN_HSTR : PIN_HSTW, readonly, false, &b.mfn);
            if (st != GNTST_okay) return st;
            b.table = &t;
            b.ref = p.u.ref;
            b.have_pin = true;
        } else {
            if (!mmu_.refs().get(mmu_.refs().frame(p.u.gmfn), t.owner())) return GNTST_bad_page;
            b.mfn = p.u.gmfn;
        }
        b.have_ref = true;
        if (!readonly) {
            if (!mmu_.types().get(mmu_.refs().frame(b.mfn), PageType::writable)) return GNTST_general_error;
            b.have_type = true;
        }
        return GNTST_okay;
    }
    void release(domid_t self, Buf& b, bool readonly) {
        if (b.have_pin) (void)b.table->unpin(b.ref, self, readonly ? PIN_HSTR : PIN_HSTW, readonly);
        if (b.have_type) mmu_.types().put(mmu_.refs().frame(b.mfn));
        if (b.have_ref) mmu_.refs().put(mmu_.refs().frame(b.mfn));
        b = Buf{};
    }

    Env& env_;
    PvMmu<Env>& mmu_;
    Ctx& ctx_;
};

}  // namespace pv::gnt
