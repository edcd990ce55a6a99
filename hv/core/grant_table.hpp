// Grant tables, version 1 (Xen's common/grant_table.c, the PV half of arch/x86/pv/grant_table.c):
// how one domain lets another map or copy one of its frames, and the references that keep such a
// frame alive and of the right type while it is in use.
//
// The three tables
// ----------------
// A domain's GRANT TABLE is an array of grant_entry_v1_t {flags, domid, frame} in frames the
// hypervisor lends the domain (Xen's xenheap pages shared with the guest): owned by the domain,
// so it maps them like its own memory (setup_table gives their MFNs), but held by the hypervisor
// with a general and a writable type reference for the table's life, so they can never become page
// tables or descriptor frames under the hypervisor's writes.  The granter writes an entry
// (GTF_permit_access, the grantee's domid, the frame); the hypervisor sets GTF_reading and
// GTF_writing while the grant is in use, which tells the granter when it may revoke it.
//
// Beside it, invisible to the guest, each entry has an ACTIVE entry: the grantee, the frame and a
// pin word with four 8-bit counts (host-CPU writable/read-only mappings, device writable/
// read-only), Xen's GNTPIN_*.  The first pin checks the shared entry (type, domid, readonly) and
// latches the frame; later pins by the same grantee trust the latch, so a granter changing its
// entry while the grant is pinned changes nothing until the last unpin (Xen's semantics, which
// is why a granter must check GTF_reading/writing before reusing the frame).
//
// The MAPPING domain's MAPTRACK table records each map_grant_ref: {granter, ref, GNTMAP flags};
// its index is the handle unmap_grant_ref takes.  It is allocated a page of entries at a time up
// to the domain's max_maptrack_frames.
//
// References
// ----------
// A device mapping (GNTMAP_device_map) takes a general reference on the granted frame, plus a
// writable type reference unless read-only; a host mapping (GNTMAP_host_map) the same again, and
// writes an L1 entry for the mapper (PvMmu::install_grant_entry).  For a PV mapper the entry OWNS
// the host mapping's references, as in Xen (gnttab_release_host_mappings is false for PV): an L1
// table that devalidates, or a guest that overwrites the entry, drops them like any entry's; an
// unmap clears the entry without dropping and then drops them itself.  Unmap checks that the
// entry still maps the frame with the same RW before clearing it, so the references are dropped
// exactly once whichever way the entry goes.  Either way the frame cannot be freed while mapped,
// nor become a page table while writably mapped.  A copy holds a general (and for its
// destination a writable type) reference only for the copy.
//
// Death
// -----
// A dying domain first gives up what it maps (release_mappings: device mappings' references and
// every pin it holds; host mappings' references go with its page tables), then its table frames
// (release_frames: the hypervisor's references go, the frames follow their last user).  Grants
// other domains still hold on it keep their pins and their frames' references: the dying domain's
// granted frames stay alive until those domains unmap, and its grant table records stay until
// the domain record is freed (the arch keeps the domain until its last frame goes).  Once its
// frames are released no shared entry is written any more.
//
// Locking: each table has one lock for its frames and active entries, and one for its maptrack;
// no path holds two of them, and none holds one across a page-table update.
#pragma once
#include <atomic>
#include <initializer_list>

#include "core/mm_env.hpp"
#include "core/pv_mmu.hpp"
#include "core/pv_pte.hpp"
#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

#include <xen/grant_table.h>

namespace pv {

// What the grant tables need besides the MMU environment: hypervisor memory for the active and
// maptrack records, and zeroed frames to lend as table frames.
template <typename E>
concept GntEnv = MmEnv<E> && requires(E& env, usize bytes, void* p, u64 mfn) {
    { env.alloc_zeroed(bytes) } -> std::same_as<void*>;  // nullptr when out of memory
    { env.free_mem(p) } -> std::same_as<void>;
    { env.alloc_table_frame() } -> std::same_as<u64>;     // a zeroed free frame, 0 when none
    { env.free_table_frame(mfn) } -> std::same_as<void>;  // give back one never assigned
};

namespace gnt {

inline constexpr u32 ENTRIES_PER_FRAME = 4096 / sizeof(grant_entry_v1_t);
inline constexpr u32 INITIAL_FRAMES = 1;      // Xen's INITIAL_NR_GRANT_FRAMES
inline constexpr u32 MAPTRACK_PER_FRAME = 256;  // Xen's 16-byte grant_mapping records a page
inline constexpr u32 MAX_VERSION = 1;           // as Xen booted with gnttab=max-ver:1

// The pin word (Xen's GNTPIN_*): four 8-bit counts.
inline constexpr u32 PIN_HSTW = 1u << 0, PIN_HSTR = 1u << 8, PIN_DEVW = 1u << 16, PIN_DEVR = 1u << 24;
inline constexpr u32 PIN_HSTW_MASK = 0xffu, PIN_HSTR_MASK = 0xffu << 8, PIN_DEVW_MASK = 0xffu << 16;
inline constexpr u32 PIN_OVERFLOW = 0x80808080u;  // refuse before any count reaches its top bit

// The L1 entry of a host mapping (Xen's grant_to_pte_flags then adjust_guest_l1e): present,
// accessed, dirty, NX; user with GNTMAP_application_map, RW unless read-only, the guest's three
// available bits from the flags.  No _PAGE_GNTTAB: Xen 4.17's release builds define it as 0.
inline u64 host_pte(u64 mfn, u32 flags) {
    u64 e = pte::make(mfn, pte::P | pte::A | pte::D | pte::NX);
    if (flags & GNTMAP_application_map) e |= pte::US;
    if (!(flags & GNTMAP_readonly)) e |= pte::RW;
    e |= u64{(flags >> _GNTMAP_guest_avail0) & 7} << 9;
    return pte::adjust_for_guest(1, e);
}

// Where a host mapping's L1 entry is: resolved by the arch from host_addr (a linear address, or
// with GNTMAP_contains_pte the entry's machine address).
struct HostSlot {
    u64 table_mfn;
    unsigned index;
};

}  // namespace gnt

template <GntEnv Env> class GrantTable {
public:
    struct Active {
        u32 pin;
        domid_t domid;  // the grantee, while pinned
        u64 mfn;        // the frame latched by the first pin
    };
    struct Mapping {
        u32 ref;        // while in use; on the free list, the next free handle
        u16 flags;      // GNTMAP_*; 0: free
        domid_t domid;  // the granter
    };

    GrantTable(Env& env, PvMmu<Env>& mmu, Owner owner, domid_t id, u32 max_frames, u32 max_maptrack_frames)
        : env_(env), mmu_(mmu), owner_(owner), id_(id), max_frames_(max_frames),
          max_maptrack_frames_(max_maptrack_frames) {}
    GrantTable(const GrantTable&) = delete;
    GrantTable& operator=(const GrantTable&) = delete;
    ~GrantTable() {
        release_frames();
        for (u32 i = 0; i < nr_frames_; ++i) env_.free_mem(active_[i]);
        for (u32 i = 0; i < maptrack_limit_ / gnt::MAPTRACK_PER_FRAME; ++i) env_.free_mem(maptrack_[i]);
        env_.free_mem(frames_);
        env_.free_mem(active_);
        env_.free_mem(maptrack_);
    }

    // The bookkeeping arrays and the first table frame (Xen's grant_table_init).  ENOMEM.
    Result<void> init() {
        if (max_frames_ < gnt::INITIAL_FRAMES) return error(XEN_EINVAL);
        frames_ = static_cast<u64*>(env_.alloc_zeroed(max_frames_ * sizeof(u64)));
        active_ = static_cast<Active**>(env_.alloc_zeroed(max_frames_ * sizeof(Active*)));
        if (max_maptrack_frames_)
            maptrack_ = static_cast<Mapping**>(env_.alloc_zeroed(max_maptrack_frames_ * sizeof(Mapping*)));
        if (!frames_ || !active_ || (max_maptrack_frames_ && !maptrack_)) return error(XEN_ENOMEM);
        SpinGuard g(lock_);
        return grow(gnt::INITIAL_FRAMES) ? ok() : Result<void>(error(XEN_ENOMEM));
    }

    domid_t id() const { return id_; }
    Owner owner() const { return owner_; }
    u32 max_frames() const { return max_frames_; }
    u32 nr_frames() {
        SpinGuard g(lock_);
        return nr_frames_;
    }
    u32 version() const { return 1; }

    // setup_table's work: the table grown to nr frames (GNTST_general_error beyond the limit or
    // out of memory), and their MFNs through out(i, mfn).
    template <typename Out> i16 setup(u32 nr, Out out) {
        SpinGuard g(lock_);
        if (nr > max_frames_ || dead_) return GNTST_general_error;
        if (nr > nr_frames_ && !grow(nr)) return GNTST_general_error;
        i16 st = GNTST_okay;
        for (u32 i = 0; i < nr; ++i)
            if (!out(i, frames_[i])) st = GNTST_bad_virt_addr;
        return st;
    }

    // Whether mfn is one of the table's frames (for the arch's accounting of lent frames).
    // Lock-free: it is asked from the frame-freeing path, which may run under lock_ (grow).
    bool is_table_frame(u64 mfn) const {
        u32 n = __atomic_load_n(&nr_frames_, __ATOMIC_ACQUIRE);
        for (u32 i = 0; i < n; ++i)
            if (frames_[i] == mfn) return true;
        return false;
    }

    // The MFN of frame i < nr_frames() (lock-free, as is_table_frame).
    u64 frame_mfn(u32 i) const { return frames_[i]; }

    // Domain death, step 2: the table frames' hypervisor references go; from here no shared entry
    // is read or written (new pins fail).  Idempotent.
    void release_frames() {
        u32 n;
        {
            SpinGuard g(lock_);
            if (dead_) return;
            dead_ = true;
            n = nr_frames_;
        }
        // Outside the lock: a put may free the frame, and the freeing path asks is_table_frame.
        for (u32 i = 0; i < n; ++i) mmu_.put_page_and_type(frames_[i]);
    }

    // ---- the grantee's side: pins on this table's entries ----

    // Pins entry `ref` for grantee ld (map_grant_ref's and the copy's first half, Xen's
    // _set_status_v1 and get_paged_frame): kinds is the sum of PIN_* increments to add, all
    // read-only or all writable as `readonly` says; map says the pin is for a mapping (sub-page
    // grants refused).  On GNTST_okay *mfn is the frame and one general reference to it is held
    // for the caller.
    i16 pin(u32 ref, domid_t ld, u32 kinds, bool readonly, bool map, u64* mfn) {
        SpinGuard g(lock_);
        if (ref >= nr_frames_ * gnt::ENTRIES_PER_FRAME) return GNTST_bad_gntref;
        Active& act = active(ref);
        if (act.pin && (act.domid != ld || (act.pin & gnt::PIN_OVERFLOW))) return GNTST_general_error;
        if (dead_) return GNTST_general_error;
        bool first = act.pin == 0;
        if (first || (!readonly && !(act.pin & (gnt::PIN_HSTW_MASK | gnt::PIN_DEVW_MASK)))) {
            if (i16 st = set_status(ref, act, readonly, map, ld); st != GNTST_okay) return st;
        }
        u64 frame = first ? u64{shared(ref).frame} : act.mfn;  // the entry is ours while GTF_reading
        if (!mmu_.refs().get(mmu_.refs().frame(frame), owner_)) {
            clear_flags(ref, act, readonly);
            return first ? GNTST_bad_page : GNTST_bad_domain;
        }
        if (first) {
            act.domid = ld;
            act.mfn = frame;
        }
        act.pin += kinds;
        *mfn = frame;
        return GNTST_okay;
    }

    // Drops pins taken by pin() (not the frame reference), clearing GTF_writing/GTF_reading when
    // the last such pin goes.  False, changing nothing, when ld holds no such pins (a stale
    // record).
    bool unpin(u32 ref, domid_t ld, u32 kinds, bool readonly) {
        SpinGuard g(lock_);
        if (ref >= nr_frames_ * gnt::ENTRIES_PER_FRAME) return false;
        Active& act = active(ref);
        if (!act.pin || act.domid != ld) return false;
        for (u32 k : {gnt::PIN_HSTW, gnt::PIN_HSTR, gnt::PIN_DEVW, gnt::PIN_DEVR})
            if ((kinds & (k * 0xffu)) && (act.pin & (k * 0xffu)) < (kinds & (k * 0xffu))) return false;
        act.pin -= kinds;
        clear_flags(ref, act, readonly);
        return true;
    }

    // The frame ld has pinned under ref (for unmap); false when ld holds no pin there.
    bool pinned_frame(u32 ref, domid_t ld, u64* mfn) {
        SpinGuard g(lock_);
        if (ref >= nr_frames_ * gnt::ENTRIES_PER_FRAME) return false;
        Active& act = active(ref);
        if (!act.pin || act.domid != ld) return false;
        *mfn = act.mfn;
        return true;
    }

    // The pin word of ref, for tests.
    u32 pin_of(u32 ref) {
        SpinGuard g(lock_);
        return ref < nr_frames_ * gnt::ENTRIES_PER_FRAME ? active(ref).pin : 0;
    }
    // The shared entry of ref, for tests (nullptr beyond the table or after release_frames).
    grant_entry_v1_t* entry(u32 ref) {
        SpinGuard g(lock_);
        return ref < nr_frames_ * gnt::ENTRIES_PER_FRAME && !dead_ ? &shared(ref) : nullptr;
    }

    // ---- the mapper's side: the maptrack ----

    // A free handle, or false when the limit is reached (GNTST_no_device_space) or memory is out.
    bool get_handle(u32* handle) {
        SpinGuard g(maptrack_lock_);
        if (free_head_ == NO_HANDLE) {
            u32 page = maptrack_limit_ / gnt::MAPTRACK_PER_FRAME;
            if (page >= max_maptrack_frames_) return false;
            auto* m = static_cast<Mapping*>(env_.alloc_zeroed(gnt::MAPTRACK_PER_FRAME * sizeof(Mapping)));
            if (!m) return false;
            maptrack_[page] = m;
            for (u32 i = 0; i < gnt::MAPTRACK_PER_FRAME; ++i) free_handle_locked(maptrack_limit_ + i, m[i]);
            maptrack_limit_ += gnt::MAPTRACK_PER_FRAME;
        }
        *handle = free_head_;
        Mapping& m = mapping(free_head_);
        free_head_ = m.ref;
        if (free_head_ == NO_HANDLE) free_tail_ = NO_HANDLE;
        m.ref = 0;
        return true;
    }
    void put_handle(u32 handle) {
        SpinGuard g(maptrack_lock_);
        Mapping& m = mapping(handle);
        m.flags = 0;
        free_handle_locked(handle, m);
    }
    // Records a completed mapping under its handle.
    void set_mapping(u32 handle, domid_t rd, u32 ref, u32 flags) {
        SpinGuard g(maptrack_lock_);
        Mapping& m = mapping(handle);
        m.domid = rd;
        m.ref = ref;
        m.flags = static_cast<u16>(flags);
    }
    // A copy of the mapping under handle; false for a handle out of range or free.
    bool get_mapping(u32 handle, Mapping* out) {
        SpinGuard g(maptrack_lock_);
        if (handle >= maptrack_limit_ || !mapping(handle).flags) return false;
        *out = mapping(handle);
        return true;
    }
    // Clears bits of a mapping's flags if it is still (rd, ref) with those bits; the handle goes
    // back to the free list once no mapping flag is left.  False when it changed meanwhile.
    bool clear_mapping(u32 handle, domid_t rd, u32 ref, u32 bits) {
        SpinGuard g(maptrack_lock_);
        if (handle >= maptrack_limit_) return false;
        Mapping& m = mapping(handle);
        if (!m.flags || m.domid != rd || m.ref != ref || (m.flags & bits) != bits) return false;
        m.flags = static_cast<u16>(m.flags & ~bits);
        if (!(m.flags & (GNTMAP_device_map | GNTMAP_host_map))) {
            m.flags = 0;
            free_handle_locked(handle, m);
        }
        return true;
    }
    u32 maptrack_limit() {
        SpinGuard g(maptrack_lock_);
        return maptrack_limit_;
    }
    u32 mappings_in_use() {
        SpinGuard g(maptrack_lock_);
        u32 n = 0;
        for (u32 h = 0; h < maptrack_limit_; ++h) n += mapping(h).flags != 0;
        return n;
    }

private:
    static constexpr u32 NO_HANDLE = ~0u;

    Active& active(u32 ref) { return active_[ref / gnt::ENTRIES_PER_FRAME][ref % gnt::ENTRIES_PER_FRAME]; }
    grant_entry_v1_t& shared(u32 ref) {
        auto* f = reinterpret_cast<grant_entry_v1_t*>(env_.table(frames_[ref / gnt::ENTRIES_PER_FRAME]));
        return f[ref % gnt::ENTRIES_PER_FRAME];
    }
    Mapping& mapping(u32 h) { return maptrack_[h / gnt::MAPTRACK_PER_FRAME][h % gnt::MAPTRACK_PER_FRAME]; }
    void free_handle_locked(u32 h, Mapping& m) {
        m.ref = NO_HANDLE;
        if (free_tail_ == NO_HANDLE) free_head_ = h;
        else mapping(free_tail_).ref = h;
        free_tail_ = h;
    }

    // Frames [nr_frames_, nr): allocated, lent to the domain, held writable by the hypervisor.
    // On failure the table keeps the frames it had.  Under lock_.
    bool grow(u32 nr) {
        u32 have = nr_frames_;
        for (u32 i = have; i < nr; ++i) {
            auto* act = static_cast<Active*>(env_.alloc_zeroed(gnt::ENTRIES_PER_FRAME * sizeof(Active)));
            u64 mfn = act ? env_.alloc_table_frame() : 0;
            bool held = false;
            if (mfn) {
                if (mmu_.assign(mfn, owner_)) {
                    // The hypervisor's own references (Xen's SHARE_rw): never a table.
                    held = static_cast<bool>(mmu_.get_page_and_type(mfn, owner_, PageType::writable));
                    if (!held) (void)mmu_.release(owner_, mfn);  // cannot happen to a fresh frame
                } else {
                    env_.free_table_frame(mfn);
                }
            }
            if (!held) {
                env_.free_mem(act);
                return false;
            }
            frames_[i] = mfn;
            active_[i] = act;
            __atomic_store_n(&nr_frames_, i + 1, __ATOMIC_RELEASE);
        }
        return true;
    }

    // Xen's _set_status_v1: marks the shared entry in use for ld, retrying a bounded number of
    // times against a guest rewriting it.  An entry already pinned by ld is not rechecked
    // (only its readonly flag for a new writer).
    i16 set_status(u32 ref, const Active& act, bool readonly, bool map, domid_t ld) {
        auto* raw = reinterpret_cast<u32*>(&shared(ref));
        u32 mask = GTF_type_mask | (map ? GTF_sub_page : 0);
        u32 cur = __atomic_load_n(raw, __ATOMIC_RELAXED);
        for (unsigned tries = 0;; ++tries) {
            u32 flags = cur & 0xffff, domid = cur >> 16;
            if (!act.pin && ((flags & mask) != GTF_permit_access || domid != ld)) return GNTST_general_error;
            u32 want = cur | GTF_reading;
            if (!readonly) {
                if (flags & GTF_readonly) return GNTST_general_error;
                want |= GTF_writing;
            }
            if (__atomic_compare_exchange_n(raw, &cur, want, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                return GNTST_okay;
            if (tries == 4) return GNTST_general_error;  // the guest keeps changing it
        }
    }
    // After a pin went (or a first pin failed): GTF_writing goes with the last writer (when the
    // pin was a writer's), GTF_reading with the last pin.
    void clear_flags(u32 ref, const Active& act, bool readonly) {
        if (dead_) return;
        u16 clear = 0;
        if (!readonly && !(act.pin & (gnt::PIN_HSTW_MASK | gnt::PIN_DEVW_MASK))) clear |= GTF_writing;
        if (!act.pin) clear |= GTF_reading;
        if (clear) __atomic_fetch_and(&shared(ref).flags, static_cast<u16>(~clear), __ATOMIC_RELEASE);
    }

    Env& env_;
    PvMmu<Env>& mmu_;
    const Owner owner_;
    const domid_t id_;
    const u32 max_frames_, max_maptrack_frames_;

    Spinlock lock_;  // frames, active entries, dead_
    u64* frames_ = nullptr;
    Active** active_ = nullptr;
    u32 nr_frames_ = 0;
    bool dead_ = false;

    Spinlock maptrack_lock_;
    Mapping** maptrack_ = nullptr;
    u32 maptrack_limit_ = 0;
    u32 free_head_ = NO_HANDLE, free_tail_ = NO_HANDLE;
};

}  // namespace pv
