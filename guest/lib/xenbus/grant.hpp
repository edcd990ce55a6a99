// Grant tables v1 from a PV kernel: granting our own frames to another domain, and mapping
// frames another domain granted us.
//
// GrantTable: our table's first frame (GNTTABOP_setup_table, which for a PV domain answers with
// the machine frames of the table) mapped at a page of .bss.  Entries below
// GNTTAB_NR_RESERVED_ENTRIES belong to the toolstack (console and xenstore); a kernel grants from
// FIRST_FREE_REF up.  Granting writes frame and domid first and the flags last, revoking clears
// the flags only if no mapping is in progress (GTF_reading/GTF_writing), as Linux's
// gnttab_end_foreign_access_ref.
//
// GrantMapper: GNTTABOP_map_grant_ref with GNTMAP_host_map at the linear address of one of the
// .bss pages its owner hands it (Pages<N>: as many as mappings it holds at once).  Xen replaces
// the page's entry with the granted frame (dropping our own frame's reference) and clears it on
// unmap, so after GNTTABOP_unmap_grant_ref the slot's original entry is written back with
// update_va_mapping.
#pragma once
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

namespace xb {

using namespace pvg;  // NOLINT

inline constexpr grant_ref_t FIRST_FREE_REF = GNTTAB_NR_RESERVED_ENTRIES;

class GrantTable {
public:
    // setup_table of one frame for the calling domain and its mapping; 0 or a negative errno
    // (GNTST_* statuses are returned as -EINVAL with the status in *status).
    long init(i16* status = nullptr);
    // Lets `to` map (or copy) our frame `mfn`; ref must be within the first frame.
    long grant(grant_ref_t ref, domid_t to, u64 mfn, bool readonly);
    // Ends the grant: -EBUSY while the other side still maps it.
    long revoke(grant_ref_t ref);
    // An entry's flags as they are now (GTF_reading/GTF_writing while the other side maps it);
    // 0 for a reference outside the mapped frame.
    u16 flags(grant_ref_t ref) const { return entries_ && ref < ENTRIES ? entries_[ref].flags : u16{0}; }
    // The entries' count in the mapped frame.
    static constexpr u32 ENTRIES = 4096 / sizeof(grant_entry_v1_t);

private:
    volatile grant_entry_v1_t* entries_ = nullptr;
};

// The machine frame behind one of our pages (through the p2m in start_info.mfn_list).
u64 virt_to_mfn(const start_info_t* si, const void* p);

class GrantMapper {
public:
    struct Slot {
        u64 original;  // the page's own entry, put back after an unmap
        bool used;
    };
    // Where grants are mapped: N pages of the caller's .bss (4 KiB entries in the bootstrap
    // region) and their slot records.
    template <unsigned N> struct Pages {
        alignas(4096) u8 page[N][4096];
        Slot slot[N];
    };

    struct Mapping {
        void* va = nullptr;
        grant_handle_t handle = 0;
        unsigned slot = 0;
    };

    template <unsigned N>
    GrantMapper(const start_info_t* si, Pages<N>& pages) : si_(si), pages_(pages.page), slots_(pages.slot), count_(N) {}

    // Maps grant `ref` of domain `dom` read-write (or read-only).  Returns 0, -ENOSPC when every
    // slot is in use, or the GNTST_* status (negative, as Xen's) of the map.
    long map(domid_t dom, grant_ref_t ref, bool readonly, Mapping* out);
    // Unmaps and puts the slot's own page back; 0 or the GNTST_* status / errno.
    long unmap(const Mapping& m);

private:
    const start_info_t* si_;
    u8 (*pages_)[4096];
    Slot* slots_;
    unsigned count_;
};

}  // namespace xb
