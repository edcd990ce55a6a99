// The arch-neutral rules of the control interface (Xen 4.17's domctl/sysctl), kept apart from
// the hypercall layer so the host tests can exercise them:
//
// * createdomain's configuration checks, in Xen's order: common/domain.c sanitise_domain_config,
//   x86's arch_sanitise_domain_config, then the checks domain_create makes as it builds
//   (scheduler/cpupool, x86 emulation flags, grant table limits).  What pvisor cannot do is
//   refused as a Xen without it refuses it (no HVM, no IOMMU, no vPMU, no vmtrace, one cpupool).
// * The domain id a createdomain gets: the one asked for (1 .. DOMID_FIRST_RESERVED-1, -EEXIST
//   when taken) or, for 0 or a reserved id, the next free one after Xen's "rover", the last id
//   handed out (wrapping to 1; -ENOMEM when none is free).
// * getdomaininfo's flags from the state of the domain and its vCPUs.
// * xenctl_bitmap <-> cpumask conversions (setvcpuaffinity/getvcpuaffinity).
#pragma once
#include "core/xen_ctl.hpp"
#include "lib/bitmap.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv::domctl {

// What this hypervisor supports, as createdomain's checks need it.
struct CreateLimits {
    u32 max_vcpus;        // a PV domain's vCPU limit (Xen: MAX_VIRT_CPUS; ours: the VIRQ table's rows)
    i32 default_grant_frames = 64;       // Xen's opt_max_grant_frames
    i32 default_maptrack_frames = 1024;  // Xen's opt_max_maptrack_frames
    u32 max_grant_version = 2;           // Xen's opt_gnttab_max_version on x86
};

// The checks of a createdomain request; on success `c` is as Xen copies it back (PV: oos_off
// set).  Errors as Xen 4.17 returns them.
Result<void> check_createdomain(xen_domctl_createdomain& c, const CreateLimits& lim);

// Xen's domid rover.  is_free(id) says whether id names no domain (live or dying).
class DomidAllocator {
public:
    template <typename IsFree> Result<domid_t> allocate(domid_t requested, IsFree is_free) {
        if (requested > 0 && requested < DOMID_FIRST_RESERVED) {
            if (!is_free(requested)) return error(XEN_EEXIST);
            return requested;
        }
        // The ids after the rover, wrapping from the last ordinary id to 1, up to (not including)
        // the rover itself, which is never tried (Xen's loop stops there).
        u32 id = rover_;
        for (u32 n = 0; n < DOMID_FIRST_RESERVED - 1u; ++n) {
            id = id + 1 >= DOMID_FIRST_RESERVED ? 1 : id + 1;
            if (id == rover_) break;
            if (is_free(static_cast<domid_t>(id))) {
                rover_ = static_cast<domid_t>(id);
                return rover_;
            }
        }
        return error(XEN_ENOMEM);
    }
    domid_t rover() const { return rover_; }

private:
    domid_t rover_ = 0;
};

// One vCPU as getdomaininfo sees it.
struct VcpuInfoState {
    bool down;      // offline (Xen's _VPF_down)
    bool blocked;   // waiting for an event (Xen's _VPF_blocked)
    bool running;   // on a physical CPU now
};
// The domain as getdomaininfo sees it.
struct DomainInfoState {
    bool dead;                 // destruction finished (Xen's DOMDYING_dead)
    bool shut_down;
    bool paused_by_controller;  // controller_pause_count > 0
    bool hvm;
    u32 shutdown_code;         // NO_SHUTDOWN_CODE until set
};
inline constexpr u32 NO_SHUTDOWN_CODE = ~u32{0};  // Xen's SHUTDOWN_CODE_INVALID

// Accumulates vCPUs in id order, then gives the flags and counts of xen_domctl_getdomaininfo.
class DomainInfoFlags {
public:
    void add_vcpu(unsigned id, const VcpuInfoState& v);
    u32 flags(const DomainInfoState& d) const;
    u32 nr_online() const { return nr_online_; }
    u32 max_vcpu_id() const { return max_vcpu_id_; }  // XEN_INVALID_MAX_VCPU_ID without vCPUs

private:
    u32 nr_online_ = 0;
    u32 max_vcpu_id_ = XEN_INVALID_MAX_VCPU_ID;
    bool all_blocked_ = true;
    bool any_running_ = false;
};

// max_mem: KiB to pages, clamped as Xen clamps to its 32-bit max_pages.
inline u64 max_pages_from_kb(u64 kb) {
    u64 pages = kb >> 2;
    return pages > 0xffffffffull ? 0xffffffffull : pages;
}

// xenctl_bitmap conversions over a guest byte map of nr_bits bits and a CPU mask of nbits
// (Xen's nr_cpu_ids).  copy_bytes: how many bytes are exchanged with the guest; the rest of the
// guest's map is written as zeroes (to the guest) or ignored (from it).
inline u32 xenctl_guest_bytes(u32 nr_bits) { return static_cast<u32>((u64{nr_bits} + 7) / 8); }
inline u32 xenctl_copy_bytes(u32 nr_bits, unsigned nbits) {
    u32 g = xenctl_guest_bytes(nr_bits), ours = (nbits + 7) / 8;
    return g < ours ? g : ours;
}
// From the guest: bytes[0 .. copy_bytes) as read; bits past nr_bits in the last byte ignored.
template <usize N> Bitmap<N> cpumask_from_bytes(const u8* bytes, u32 copy_bytes, u32 nr_bits, unsigned nbits) {
    Bitmap<N> m;
    for (u32 i = 0; i < copy_bytes; ++i) {
        u8 b = bytes[i];
        if ((nr_bits & 7) && i + 1 == xenctl_guest_bytes(nr_bits)) b = static_cast<u8>(b & ~(0xffu << (nr_bits & 7)));
        for (unsigned bit = 0; bit < 8; ++bit)
            if ((b >> bit) & 1 && i * 8 + bit < nbits && i * 8 + bit < N) m.set(i * 8 + bit);
    }
    return m;
}
// To the guest: the mask's first copy_bytes bytes.
template <usize N> void cpumask_to_bytes(const Bitmap<N>& m, u8* bytes, u32 copy_bytes, unsigned nbits) {
    for (u32 i = 0; i < copy_bytes; ++i) {
        u8 b = 0;
        for (unsigned bit = 0; bit < 8; ++bit)
            if (i * 8 + bit < nbits && i * 8 + bit < N && m.test(i * 8 + bit)) b = static_cast<u8>(b | (1u << bit));
        bytes[i] = b;
    }
}

}  // namespace pv::domctl
