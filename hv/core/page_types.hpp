// PageTypes: the type and type-reference engine of the PV MMU, and the validation of page tables
// and descriptor frames (Xen's get_page_type/put_page_type and promote/demote_l*_table).
//
// Two counts per frame
// --------------------
// Every frame a domain owns has two reference counts (core/page_info.hpp).
//
// The GENERAL count (count_info, core/frame_refs.hpp) counts every use of the frame: the owner's
// allocation reference, each present entry of a validated page table that maps it, a pin, a vCPU
// whose root table it is, a GDT/LDT slot, and the short-lived references the hypervisor takes
// while it works on the frame.  While it is non-zero the frame cannot go back to the allocator,
// whatever its owner does; the put that brings it to zero frees it.
//
// The TYPE (type_info) says which of several mutually exclusive uses the frame is in: writable
// (the guest may write it: it is mapped read-write somewhere), a page table of level 1 to 4, a
// descriptor frame (GDT/LDT), or none.  The TYPE COUNT counts the references that rely on the
// current type: an RW mapping relies on the frame staying writable; an L2 entry relies on its
// target staying a checked L1.  Everyone who takes a type reference holds a general one as well
// (get_page before get_type, put_type before put_page), so the type count never exceeds the
// general count and a frame is never freed with a type reference outstanding.
//
// Why the type can change only at type count zero
// -----------------------------------------------
// A type is a promise to every holder of a type reference.  A frame validated as an L1 maps only
// frames its owner may map, with flags the rules allow; if it could become writable while an L2
// still pointed at it, the guest would rewrite it to map anything, the hypervisor included.  A
// frame mapped writable cannot become a page table for the same reason from the other side.  So
// the type changes only when nobody relies on it, and the first reference of a checked type
// VALIDATES the frame, reading every entry (descriptor) before anyone may use it as that type;
// the last reference of a page-table type DEVALIDATES it.  "No writable mapping of a page table,
// no page table that is writably mapped" is nothing but this rule, as writable is a type.
//
// What holds what
// ---------------
// A validated page table holds, for each present guest entry, the references the entry needs:
//   L1 entry -> a general reference to the frame mapped, plus a writable type reference if RW
//               (MMIO, which is not RAM, carries no references);
//   Ln entry -> a general reference and an L(n-1) type reference to the table it points at.
// They are taken entry by entry as the table validates (type count 0 -> 1) or an entry is
// updated, and dropped as it devalidates (1 -> 0) or the entry is replaced.  L4 slots 256-271
// belong to the hypervisor and hold nothing.  Roots of the graph: pins, vCPU root tables, GDT/LDT
// slots, the allocation references.
//
// Same-level ("linear") entries are refused: an Ln entry must point at a frame that validates as
// L(n-1), and a frame already typed Ln, the table itself included, does not.  Xen allows them
// read-only (get_l*_linear_pagetable); they cost it XSA-182 (writable ones), XSA-240 (chains of
// them: unbounded recursion), and the forced devalidation at domain death that breaks cycles
// of them.  Linux does not use them.  Without them type references point strictly downwards (L4
// -> L3 -> L2 -> L1 -> data), which gives the two properties everything below relies on:
// validation never waits for itself (no deadlock, see Concurrency), and once the roots are gone
// every count drains to zero by ordinary puts, in any order.
//
// Concurrency
// -----------
// count_info and type_info are single 64-bit words changed only by compare-exchange, so several
// CPUs may type, untype, map and unmap the same frames at once without a lock (Xen's scheme).
// A CPU that moves a frame's type count from 0 to 1 for a type needing validation does so with
// VALIDATED clear, which makes the frame its own: others wanting the same type wait until the
// word changes (validated, or given back on failure); others wanting another type fail as the
// count is not zero.  The last put of a page table clears VALIDATED first, with the count still
// 1, devalidates, and only then drops the count.  Waiting happens only for a frame of a lower
// level than every frame the waiter has claimed, so waits cannot form a cycle.  A validation
// that fails gives back every reference it took, in reverse, and restores the type word, so all
// counts and types are as before.  A table writes its entries' stored forms (pv_pte.hpp
// adjust_for_guest) only once all of them passed, so a failing table is left as the guest wrote
// it; a subtable that validated completely before its parent failed keeps the stored forms,
// which mean the same to the guest (as in Xen).
//
// Entry updates serialise on a per-table lock bit in type_info (Xen's page_lock), which also
// holds a type reference and needs the table validated.  A put that would leave only the lock
// holder's reference waits for the unlock, since unlock() never devalidates.  A lock holder, too,
// only ever waits for frames below the table it holds.
//
// A count reaching zero does not take the frame out of the TLBs and paging-structure caches of
// CPUs that ran its owner, so a type change first has the environment flush them
// (MmEnv::flush_for_type_change); only a frame leaving type none, never typed since its owner got
// it, is spared.
//
// Not done (documented gaps): validation is not preemptible (Xen's PGT_partial and hypercall
// continuations); its cost is bounded by the frames the domain owns, each validated once per
// typing.  Cache attributes on RAM frames are refused rather than tracked (Xen's PGC_cacheattr).
#pragma once
#include <atomic>

#include <arch/cpu.hpp>

#include "core/frame_refs.hpp"
#include "core/mm_env.hpp"
#include "core/page_info.hpp"
#include "core/panic.hpp"
#include "core/pv_desc.hpp"
#include "core/pv_pte.hpp"
#include "lib/format.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

// Names for logs: "l1", "writable", ...
const char* page_type_name(PageType t);
// One line describing a frame's counts and type, Xen's "caf=... taf=..." style.
void format_frame(Sink& out, u64 mfn, const PageInfo& p);

template <MmEnv Env> class PageTypes {
public:
    PageTypes(Env& env, FrameRefs<Env>& refs) : env_(env), refs_(refs) {}
    PageTypes(const PageTypes&) = delete;
    PageTypes& operator=(const PageTypes&) = delete;

    // A type reference of type t.  The caller holds a general reference to f.  EINVAL when the
    // frame has another type in use, for t == none, or when the type count would overflow; a
    // validation failure returns the failing entry's error (see get_entry).
    Result<void> get(Frame f, PageType t) {
        if (t == PageType::none) return error(XEN_EINVAL);
        std::atomic<u64>& ti = f.info->use.type_info;
        u64 x = ti.load(std::memory_order_acquire);
        u64 nx;
        for (;;) {
            u64 n = pgt::count(x);
            if (n == pgt::COUNT_MASK) return error(XEN_EINVAL);
            if (n == 0 && pgt::type(x) != t) {
                // Flush before the new type is published: see MmEnv::flush_for_type_change.  A
                // frame still of type none was never writable nor a table since it was assigned
                // (types stay at count 0 until the next change), so nothing can reach it through
                // an old use; this spares a shootdown per fresh frame.
                if (pgt::type(x) != PageType::none)
                    env_.flush_for_type_change(f.mfn, f.info->use.owner);
                nx = pgt::bits(t) | (needs_validation(t) ? 0 : pgt::VALIDATED) | 1;
            } else if (n == 0) {
                nx = x + 1;  // same type: a page table comes back unvalidated, others as they were
            } else if (pgt::type(x) != t) {
                return error(XEN_EINVAL);
            } else if (!(x & pgt::VALIDATED)) {
                // Another CPU is validating or devalidating the frame as t: wait for the outcome.
                while (ti.load(std::memory_order_acquire) == x) arch::cpu_relax();
                x = ti.load(std::memory_order_acquire);
                continue;
            } else {
                nx = x + 1;
            }
            // Acquire: a validated type comes with the contents its validator left.
            if (ti.compare_exchange_weak(x, nx, std::memory_order_acquire, std::memory_order_acquire))
                break;
        }
        if (nx & pgt::VALIDATED) return ok();

        // Count 0 -> 1 with VALIDATED clear: the frame is ours to check.  Nobody else writes the
        // word meanwhile (others wait, fail, or need a reference we alone hold).
        Result<void> r = validate(f, t);
        if (r) {
            ti.fetch_or(pgt::VALIDATED, std::memory_order_release);
        } else {
            u64 cur = nx;
            bool restored = ti.compare_exchange_strong(cur, x, std::memory_order_release);
            PV_ASSERT(restored);
        }
        return r;
    }

    // Drops a type reference; the last one of a page table devalidates it.
    void put(Frame f) {
        std::atomic<u64>& ti = f.info->use.type_info;
        u64 x = ti.load(std::memory_order_relaxed);
        for (;;) {
            // A holder's type is always validated (validation and devalidation own the frame).
            PV_ASSERT(pgt::count(x) != 0 && (x & pgt::VALIDATED));
            u64 nx = x - 1;
            if (pgt::count(nx) == 0 && is_page_table(pgt::type(x))) {
                if (!ti.compare_exchange_weak(x, x & ~pgt::VALIDATED, std::memory_order_acquire,
                                              std::memory_order_relaxed))
                    continue;
                devalidate(f, pgt::type(x));
                ti.fetch_sub(1, std::memory_order_release);
                return;
            }
            if ((nx & (pgt::LOCKED | pgt::COUNT_MASK)) == (pgt::LOCKED | 1)) {
                // Only the lock holder's reference would be left, and unlock() does not
                // devalidate: let it finish first.
                arch::cpu_relax();
                x = ti.load(std::memory_order_relaxed);
                continue;
            }
            if (ti.compare_exchange_weak(x, nx, std::memory_order_release, std::memory_order_relaxed))
                return;
        }
    }

    // The page lock, for updating a table's entries (Xen's page_lock): waits for another holder,
    // then takes a type reference.  False, without waiting, when the frame is not in use with a
    // validated type.  The caller holds a general reference.
    bool lock(Frame f) {
        std::atomic<u64>& ti = f.info->use.type_info;
        for (;;) {
            u64 x = ti.load(std::memory_order_relaxed);
            if (x & pgt::LOCKED) {
                arch::cpu_relax();
                continue;
            }
            u64 n = pgt::count(x);
            if (!(x & pgt::VALIDATED) || n == 0 || n == pgt::COUNT_MASK) return false;
            if (ti.compare_exchange_weak(x, (x + 1) | pgt::LOCKED, std::memory_order_acquire,
                                         std::memory_order_relaxed))
                return true;
        }
    }
    void unlock(Frame f) {
        std::atomic<u64>& ti = f.info->use.type_info;
        u64 x = ti.load(std::memory_order_relaxed);
        do {
            PV_ASSERT((x & pgt::LOCKED) && pgt::count(x) >= 2);
        } while (!ti.compare_exchange_weak(x, (x - 1) & ~pgt::LOCKED, std::memory_order_release,
                                           std::memory_order_relaxed));
    }

    // The pinned flag; the caller holds the type reference the pin keeps (set) or gives back
    // (clear).  Each returns whether it changed the flag.
    bool set_pinned(Frame f) {
        u64 old = f.info->use.type_info.fetch_or(pgt::PINNED, std::memory_order_relaxed);
        return !(old & pgt::PINNED);
    }
    bool clear_pinned(Frame f) {
        std::atomic<u64>& ti = f.info->use.type_info;
        u64 x = ti.load(std::memory_order_relaxed);
        do {
            if (!(x & pgt::PINNED)) return false;
        } while (!ti.compare_exchange_weak(x, x & ~pgt::PINNED, std::memory_order_relaxed));
        return true;
    }

    // The references a present entry e of a level-`level` table of d's needs (see "What holds
    // what").  An L1 entry maps a frame of pg_owner's: d itself, or the foreign domain a
    // privileged d names in mmu_update (Xen's pg_owner; the table's owner is the pt_owner, whose
    // rights decide the flags).  Errors as Xen's: EINVAL for a disallowed flag, a non-RAM or
    // foreign L2-L4 target, a target of the wrong type, or a cache attribute on RAM; EPERM for
    // MMIO pg_owner may not map; EBUSY for an L1 target that is not pg_owner's or is RW on a frame
    // that cannot be writable; a target's own validation error.  On error nothing is held.
    Result<void> get_entry(unsigned level, u64 e, Owner d, Owner pg_owner) {
        if (e & pte::disallowed(level, level == 1 && env_.cache_attrs_permitted(d)))
            return error(XEN_EINVAL);
        Frame t = refs_.frame(pte::mfn(e));
        if (level == 1) {
            if (!t.info) return env_.io_mapping_permitted(pg_owner, t.mfn) ? ok() : error(XEN_EPERM);
            // The direct map keeps RAM write-back; another type here would alias it.
            if (e & pte::CACHE_ATTRS) return error(XEN_EINVAL);
            if (!refs_.get(t, pg_owner)) return error(XEN_EBUSY);
            if ((e & pte::RW) && !get(t, PageType::writable)) {
                refs_.put(t);
                return error(XEN_EBUSY);
            }
            return ok();
        }
        if (!refs_.get(t, d)) return error(XEN_EINVAL);
        Result<void> r = get(t, table_type(level - 1));
        if (!r) refs_.put(t);
        return r;
    }
    // Drops what get_entry took for e (nothing for a not-present entry or MMIO).
    void put_entry(unsigned level, u64 e) {
        if (!pte::present(e)) return;
        Frame t = refs_.frame(pte::mfn(e));
        if (!t.info) return;
        if (level > 1 || (e & pte::RW)) put(t);
        refs_.put(t);
    }
    // What a present entry that passed get_entry is stored as.
    u64 stored_form(unsigned level, u64 e) const {
        if (level == 1 && !env_.ram_frame(pte::mfn(e))) {
            e = pte::mmio_uncacheable(e);
            if (env_.io_read_only(pte::mfn(e))) e &= ~pte::RW;
        }
        return pte::adjust_for_guest(level, e);
    }

    // Entries are read and written atomically: other CPUs' hardware walks them, and sets A/D.
    static u64 load_entry(u64* tab, unsigned i) {
        return std::atomic_ref<u64>(tab[i]).load(std::memory_order_relaxed);
    }
    static void store_entry(u64* tab, unsigned i, u64 v) {
        std::atomic_ref<u64>(tab[i]).store(v, std::memory_order_relaxed);
    }

private:
    Result<void> validate(Frame f, PageType t) {
        if (t == PageType::seg_desc) return validate_descriptors(f);
        unsigned level = table_level(t);
        Owner d = f.info->use.owner;
        u64* tab = env_.table(f.mfn);
        for (unsigned i = 0; i < pte::ENTRIES; ++i) {
            u64 e = load_entry(tab, i);
            if (!pte::is_guest_slot(level, i) || !pte::present(e)) continue;
            if (Result<void> r = get_entry(level, e, d, d); !r) {
                while (i-- > 0)
                    if (pte::is_guest_slot(level, i)) put_entry(level, load_entry(tab, i));
                return r;
            }
        }
        // All passed: now store the forms the hardware will see.
        for (unsigned i = 0; i < pte::ENTRIES; ++i) {
            u64 e = load_entry(tab, i);
            if (!pte::is_guest_slot(level, i) || !pte::present(e)) continue;
            if (u64 s = stored_form(level, e); s != e) store_entry(tab, i, s);
        }
        if (level == 4) env_.init_hypervisor_l4_slots(f.mfn);
        return ok();
    }

    void devalidate(Frame f, PageType t) {
        unsigned level = table_level(t);
        u64* tab = env_.table(f.mfn);
        for (unsigned i = 0; i < pte::ENTRIES; ++i)
            if (pte::is_guest_slot(level, i)) put_entry(level, load_entry(tab, i));
    }

    // Descriptor frames hold no references: every descriptor is checked, then the fixed-up forms
    // are stored.  Their validation survives type count 0, as the guest cannot change the frame
    // without making it writable first, which drops VALIDATED.
    Result<void> validate_descriptors(Frame f) {
        u64* tab = env_.table(f.mfn);
        for (unsigned i = 0; i < desc::PER_FRAME; ++i) {
            u64 d = load_entry(tab, i);
            if (!desc::check_pv64(d)) return error(XEN_EINVAL);
        }
        for (unsigned i = 0; i < desc::PER_FRAME; ++i) {
            u64 orig = load_entry(tab, i);
            u64 d = orig;
            desc::check_pv64(d);
            if (d != orig) store_entry(tab, i, d);
        }
        return ok();
    }

    Env& env_;
    FrameRefs<Env>& refs_;
};

}  // namespace pv
