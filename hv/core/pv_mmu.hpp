// PvMmu: the operations the PV memory hypercalls perform on frames, over the reference and type
// engine (core/frame_refs.hpp, core/page_types.hpp, whose header explains the invariants).
//
//   mmuext_op PIN_L*_TABLE / UNPIN_TABLE   -> pin_table / unpin_table
//   mmuext_op NEW_BASEPTR / NEW_USER_BASEPTR -> new_baseptr, then put_baseptr on the old root
//   mmu_update MMU_NORMAL_PT_UPDATE / MMU_PT_UPDATE_PRESERVE_AD -> update_entry
//   update_descriptor                      -> update_descriptor
//   set_gdt, CLEAR_PAGE, COPY_PAGE, ...    -> get_page_and_type / put_page_and_type
//   decrease_reservation, domain death     -> release, relinquish
//
// Decoding guest arguments (machine addresses, foreigndom, counts, continuations) is the
// hypercall layer's; here every call names its domain and machine frames, and returns Xen's
// errno values.  Owner d is the domain whose frames an operation names: the caller, or the
// foreign domain a privileged caller acts on (mmuext_op's foreigndom).  mmu_update distinguishes
// the owner of the table written (pt_owner) from the owner of the frames its L1 entries map
// (pg_owner), as Xen does: that is how domain 0 maps a new domain's frames into its own tables.
// Who may name which domain is the hypercall layer's check.
#pragma once
#include <atomic>

#include "core/frame_refs.hpp"
#include "core/mm_env.hpp"
#include "core/page_info.hpp"
#include "core/page_types.hpp"
#include "core/pv_desc.hpp"
#include "core/pv_pte.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

template <MmEnv Env> class PvMmu {
public:
    explicit PvMmu(Env& env) : env_(env), refs_(env), types_(env, refs_) {}
    PvMmu(const PvMmu&) = delete;
    PvMmu& operator=(const PvMmu&) = delete;

    FrameRefs<Env>& refs() { return refs_; }
    PageTypes<Env>& types() { return types_; }

    // ---- Ownership and references ----

    // A frame fresh from the allocator becomes d's (see FrameRefs::assign).
    Result<void> assign(u64 mfn, Owner d) { return refs_.assign(mfn, d); }
    // A general reference to a frame of d's; EINVAL otherwise.
    Result<void> get_page(u64 mfn, Owner d) { return refs_.get(mfn, d); }
    void put_page(u64 mfn) { refs_.put(mfn); }
    // A type reference on top of a general reference the caller holds.
    Result<void> get_page_type(u64 mfn, PageType t) {
        Frame f = refs_.frame(mfn);
        return f.info ? types_.get(f, t) : error(XEN_EINVAL);
    }
    void put_page_type(u64 mfn) { types_.put(refs_.frame(mfn)); }
    // Both at once: EINVAL when d cannot reference the frame, else get_page_type's error.
    Result<void> get_page_and_type(u64 mfn, Owner d, PageType t) {
        Frame f = refs_.frame(mfn);
        if (!refs_.get(f, d)) return error(XEN_EINVAL);
        Result<void> r = types_.get(f, t);
        if (!r) refs_.put(f);
        return r;
    }
    void put_page_and_type(u64 mfn) {
        Frame f = refs_.frame(mfn);
        types_.put(f);
        refs_.put(f);
    }

    // ---- mmuext_op ----

    // Pins mfn as a page table of `level` (1-4): validates it if needed and keeps a general and
    // a type reference until unpin.  Pins do not nest: EINVAL when already pinned.  EINVAL for a
    // bad level or a frame d cannot reference; otherwise the validation's error.
    Result<void> pin_table(Owner d, unsigned level, u64 mfn) {
        if (level < 1 || level > 4) return error(XEN_EINVAL);
        Frame f = refs_.frame(mfn);
        if (!refs_.get(f, d)) return error(XEN_EINVAL);
        if (Result<void> r = types_.get(f, table_type(level)); !r) {
            refs_.put(f);
            return r;
        }
        if (!types_.set_pinned(f)) {
            types_.put(f);
            refs_.put(f);
            return error(XEN_EINVAL);
        }
        return ok();
    }
    // Drops a pin's references (the last type reference devalidates the table).  EINVAL when the
    // frame is not d's or not pinned.
    Result<void> unpin_table(Owner d, u64 mfn) {
        Frame f = refs_.frame(mfn);
        if (!refs_.get(f, d)) return error(XEN_EINVAL);
        if (!types_.clear_pinned(f)) {
            refs_.put(f);
            return error(XEN_EINVAL);
        }
        types_.put(f);  // the pin's references
        refs_.put(f);
        refs_.put(f);  // ours
        return ok();
    }

    // A vCPU changes root table from cur_mfn to mfn (0 for either: no table, as in Xen's
    // guest_table / NEW_USER_BASEPTR).  Takes a general and an L4 type reference to mfn, and
    // returns the MFN whose references the caller drops with put_baseptr() once no CPU runs on
    // it any more: cur_mfn, or 0 when mfn == cur_mfn (nothing changes).  Error: as
    // get_page_and_type, and nothing changes.  (Xen refuses a zero NEW_BASEPTR; its caller does.)
    Result<u64> new_baseptr(Owner d, u64 cur_mfn, u64 mfn) {
        if (mfn == cur_mfn) return u64{0};
        if (mfn != 0) {
            Result<void> r = get_page_and_type(mfn, d, PageType::l4);
            if (!r) return error(r.error());
        }
        return cur_mfn;
    }
    void put_baseptr(u64 mfn) {
        if (mfn != 0) put_page_and_type(mfn);
    }

    // ---- mmu_update ----

    // *(table_mfn, index) = val for d (MMU_NORMAL_PT_UPDATE; preserve_ad:
    // MMU_PT_UPDATE_PRESERVE_AD, keeping the A/D bits the hardware set).  On a page-table page
    // the new entry is checked and takes its references before it is written, and the old one's
    // are dropped after (Xen's mod_l*_entry; an update of only A/D/avail/NX/US/G bits moves no
    // references).  On any other page d may write (its type becomes or stays writable), a plain
    // store, done here so it happens under the writable type.  EINVAL for a bad index, a frame
    // that is not d's, a hypervisor L4 slot, or a page that is neither (a descriptor frame, or a
    // page table being validated elsewhere); else the new entry's error (PageTypes::get_entry),
    // with nothing changed.  A new L1 entry maps a frame of pg_owner's (foreign mappings); the
    // table and any L2-L4 target are d's.
    Result<void> update_entry(Owner d, u64 table_mfn, unsigned index, u64 val, bool preserve_ad) {
        return update_entry(d, table_mfn, index, val, preserve_ad, d);
    }
    Result<void> update_entry(Owner d, u64 table_mfn, unsigned index, u64 val, bool preserve_ad,
                              Owner pg_owner) {
        if (index >= pte::ENTRIES) return error(XEN_EINVAL);
        Frame t = refs_.frame(table_mfn);
        if (!refs_.get(t, d)) return error(XEN_EINVAL);
        Result<void> r = error(XEN_EINVAL);
        if (types_.lock(t)) {
            PageType type = pgt::type(t.info->use.type_info.load(std::memory_order_relaxed));
            if (is_page_table(type)) {
                r = modify_entry(t, table_level(type), index, val, preserve_ad, d, pg_owner);
            } else if (type == PageType::writable) {
                PageTypes<Env>::store_entry(env_.table(t.mfn), index, val);
                r = ok();
            }
            types_.unlock(t);
        } else if (types_.get(t, PageType::writable)) {
            PageTypes<Env>::store_entry(env_.table(t.mfn), index, val);
            types_.put(t);
            r = ok();
        }
        refs_.put(t);
        return r;
    }

    // ---- grant host mappings (core/grant_table.hpp) ----

    // Writes a grant mapping's entry nl1e into slot `index` of L1 table table_mfn of d's (Xen's
    // create_grant_pv_mapping).  The references nl1e stands for were taken by the grant code
    // (a general and, if RW, a writable type reference on the granted frame): the entry takes
    // none of its own, while the old entry's are dropped as in any update.  EINVAL when the
    // frame is not d's or not a validated L1 table; nothing changes then.
    Result<void> install_grant_entry(Owner d, u64 table_mfn, unsigned index, u64 nl1e) {
        if (index >= pte::ENTRIES) return error(XEN_EINVAL);
        Frame t = refs_.frame(table_mfn);
        if (!refs_.get(t, d)) return error(XEN_EINVAL);
        Result<void> r = error(XEN_EINVAL);
        u64 ov = 0;
        if (types_.lock(t)) {
            if (pgt::type(t.info->use.type_info.load(std::memory_order_relaxed)) == PageType::l1) {
                u64* slot = &env_.table(t.mfn)[index];
                ov = std::atomic_ref<u64>(*slot).load(std::memory_order_relaxed);
                if (write_entry(slot, ov, nl1e, false)) r = ok();
            }
            types_.unlock(t);
        }
        refs_.put(t);
        if (r) types_.put_entry(1, ov);
        return r;
    }
    // Clears a grant mapping's entry (Xen's replace_grant_pv_mapping with no new address): the
    // slot must still map `mfn` present, with RW as `writable` says, or EINVAL.  The entry's
    // references are the grant's, which its caller drops once the TLBs are flushed.
    Result<void> remove_grant_entry(Owner d, u64 table_mfn, unsigned index, u64 mfn, bool writable) {
        if (index >= pte::ENTRIES) return error(XEN_EINVAL);
        Frame t = refs_.frame(table_mfn);
        if (!refs_.get(t, d)) return error(XEN_EINVAL);
        Result<void> r = error(XEN_EINVAL);
        if (types_.lock(t)) {
            if (pgt::type(t.info->use.type_info.load(std::memory_order_relaxed)) == PageType::l1) {
                u64* slot = &env_.table(t.mfn)[index];
                u64 ov = std::atomic_ref<u64>(*slot).load(std::memory_order_relaxed);
                bool matches = pte::present(ov) && pte::mfn(ov) == mfn && !!(ov & pte::RW) == writable;
                if (matches && write_entry(slot, ov, 0, false)) r = ok();
            }
            types_.unlock(t);
        }
        refs_.put(t);
        return r;
    }

    // ---- update_descriptor ----

    // Writes descriptor `index` (0-511) of frame mfn of d's, checked and fixed up as in a GDT/LDT
    // frame.  The frame keeps its descriptor type if it has it, else must be writable.  EINVAL
    // for a refused descriptor, a frame d cannot reference, or a frame of another type in use.
    Result<void> update_descriptor(Owner d, u64 mfn, unsigned index, u64 desc) {
        if (index >= desc::PER_FRAME || !desc::check_pv64(desc)) return error(XEN_EINVAL);
        Frame f = refs_.frame(mfn);
        if (!refs_.get(f, d)) return error(XEN_EINVAL);
        PageType now = pgt::type(f.info->use.type_info.load(std::memory_order_relaxed));
        Result<void> r =
            types_.get(f, now == PageType::seg_desc ? PageType::seg_desc : PageType::writable);
        if (r) {
            PageTypes<Env>::store_entry(env_.table(mfn), index, desc);
            types_.put(f);
        }
        refs_.put(f);
        return r ? ok() : error(XEN_EINVAL);
    }

    // ---- giving frames back ----

    // d gives up frame mfn (decrease_reservation; Xen's guest_remove_page): its pin and its
    // allocation reference are dropped.  The frame goes back to the allocator now if nothing else
    // references it, else at its last put.  EINVAL when the frame is not d's.
    Result<void> release(Owner d, u64 mfn) {
        Frame f = refs_.frame(mfn);
        if (!refs_.get(f, d)) return error(XEN_EINVAL);
        if (types_.clear_pinned(f)) {
            types_.put(f);
            refs_.put(f);
        }
        refs_.drop_allocation(f);
        refs_.put(f);
        return ok();
    }

    // XENMEM_exchange's input frames (Xen's steal_page): d gives up frame mfn, but only if
    // nothing but its allocation reference holds it (no mapping, pin, table or descriptor use).
    // The caller then holds the frame's last reference: put_taken() frees it (charged to d until
    // then, as every frame), give_back() returns it to d.  EINVAL when the frame is not d's or
    // is in use.
    Result<void> take_away(Owner d, u64 mfn) {
        Frame f = refs_.frame(mfn);
        if (!refs_.get(f, d)) return error(XEN_EINVAL);
        if (refs_.take_away(f)) return ok();
        refs_.put(f);
        return error(XEN_EINVAL);
    }
    void give_back(u64 mfn) { refs_.give_back(refs_.frame(mfn)); }
    void put_taken(u64 mfn) { refs_.put(refs_.frame(mfn)); }

    // Domain death (Xen's relinquish_memory): release() every frame of d's among
    // [first_mfn, first_mfn + nr), and return how many it found.  d must be dead: no vCPU runs and
    // no operation on its frames is in flight.  One pass suffices in any order: unpinning a table
    // devalidates it, which drops what its entries held; frames still referenced elsewhere (a
    // vCPU's root not yet put, a hypervisor reference) are freed at that reference's put.
    // Callable in chunks, so the caller can preempt between them.
    u64 relinquish(Owner d, u64 first_mfn, u64 nr) {
        u64 found = 0;
        for (u64 m = first_mfn; m - first_mfn < nr; ++m) {
            Frame f = refs_.frame(m);
            if (!f.info || FrameRefs<Env>::count(*f.info) == 0) continue;
            if (release(d, m)) ++found;
        }
        return found;
    }

private:
    // mod_l*_entry: the table is locked, d's, of `level`.
    Result<void> modify_entry(Frame t, unsigned level, unsigned index, u64 nv, bool preserve_ad,
                              Owner d, Owner pg_owner) {
        if (!pte::is_guest_slot(level, index)) return error(XEN_EINVAL);
        u64* slot = &env_.table(t.mfn)[index];
        u64 ov = std::atomic_ref<u64>(*slot).load(std::memory_order_relaxed);
        if (pte::present(nv)) {
            if (nv & pte::disallowed(level, level == 1 && env_.cache_attrs_permitted(d)))
                return error(XEN_EINVAL);
            if (pte::fast_path(ov, nv)) {
                bool written = write_entry(slot, ov, pte::adjust_for_guest(level, nv), preserve_ad);
                return written ? ok() : error(XEN_EBUSY);
            }
            if (Result<void> r = types_.get_entry(level, nv, d, pg_owner); !r) return r;
            u64 stored = types_.stored_form(level, nv);
            if (!write_entry(slot, ov, stored, preserve_ad)) {
                types_.put_entry(level, stored);
                return error(XEN_EBUSY);
            }
        } else if (!write_entry(slot, ov, nv, preserve_ad)) {
            return error(XEN_EBUSY);
        }
        // New references first, old ones after: an entry rewritten to the same target never
        // lets the target's counts touch zero in between.
        types_.put_entry(level, ov);
        return ok();
    }

    // Replaces ov with nv.  Only the hardware may change the entry meanwhile (we hold the page
    // lock), and only its A and D bits: those are carried over when preserve_ad, and otherwise
    // overwritten.  False if the entry changed in any other way, which would be a bug elsewhere;
    // ov ends as the value replaced.
    static bool write_entry(u64* slot, u64& ov, u64 nv, bool preserve_ad) {
        std::atomic_ref<u64> e(*slot);
        for (;;) {
            u64 want = preserve_ad ? nv | (ov & (pte::A | pte::D)) : nv;
            u64 seen = ov;
            if (e.compare_exchange_strong(seen, want, std::memory_order_relaxed)) return true;
            if ((seen ^ ov) & ~(pte::A | pte::D)) return false;
            ov = seen;
        }
    }

    Env& env_;
    FrameRefs<Env> refs_;
    PageTypes<Env> types_;
};

}  // namespace pv
