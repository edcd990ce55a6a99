// XENMEM_machine_memory_map's answer (Xen 4.17's arch_memory_op): the firmware's E820 map, plus a
// reserved entry for each stretch of a hole between E820 entries that domain 0 may not map
// (Xen's iomem_caps: everything but the local APIC and I/O APIC pages, the MSI window
// 0xfee00000-0xfeefffff and, on AMD, the HyperTransport range below 1 TiB).  Linux as the
// initial domain reads it first thing (xen_memory_setup) and BUG()s without it.
//
// The walk is Xen's: entries in address order; before each, every denied stretch of the hole
// since the previous entry becomes an E820_RESERVED entry (what follows the last entry adds
// nothing, as in Xen).  A stored map needs room for
// one entry more than the firmware map has (-EINVAL otherwise, as Xen checks before copying).
#pragma once
#include "core/bootinfo.hpp"
#include "lib/types.hpp"

namespace pv {

struct E820Out {
    u64 addr;
    u64 size;
    u32 type;
} __attribute__((packed));  // Xen's struct e820entry (20 bytes)
static_assert(sizeof(E820Out) == 20);

struct FrameRange {
    u64 first, last;  // inclusive page frame numbers
};

class MachineMap {
public:
    static constexpr usize MAX_ENTRIES = BootInfo::MAX_MEMORY_RANGES;
    static constexpr usize MAX_DENIED = 16;

    // The firmware map (sorted here) and the frames domain 0 may not map.
    void set_firmware(const MemoryRange* map, usize n);
    bool deny(u64 first_pfn, u64 last_pfn);
    // Whether domain 0 may not map frame pfn (Xen's iomem_access_permitted, for MMIO).
    bool denied(u64 pfn) const;

    // Produces the entries in order through emit(index, entry, firmware_left): firmware_left is
    // how many firmware entries remain counting this one (0 for an added reserved entry), which
    // Xen's buffer-size checks need.  Returns how many entries there are; emit returns false to
    // stop (the count is then meaningless).
    template <typename F> usize walk(F emit) const;
    usize firmware_entries() const { return n_; }

    // The frames below nr_frames that are I/O rather than RAM, as Xen's arch_init_memory hands
    // them to dom_io: the whole first MiB (BIOS data, option ROMs, the VGA window, whatever RAM
    // is there too), and every frame not wholly inside a RAM or unusable entry.  Calls
    // f(first, end) for each stretch [first, end), in order.  Without a firmware map only the
    // first MiB is reported.
    template <typename F> void io_frames(u64 nr_frames, F f) const;

private:
    MemoryRange map_[MAX_ENTRIES];
    usize n_ = 0;
    FrameRange denied_[MAX_DENIED];
    usize ndenied_ = 0;
};

template <typename F> usize MachineMap::walk(F emit) const {
    usize n = 0;
    u64 s = 0;  // first frame not yet covered
    for (usize i = 0; i < n_; ++i) {
        const u64 start = map_[i].base >> 12;
        // The hole [s, start): every denied stretch in it (denied_ is sorted and merged).
        for (usize d = 0; d < ndenied_ && s < start; ++d) {
            u64 a = denied_[d].first > s ? denied_[d].first : s;
            u64 b = denied_[d].last + 1 < start ? denied_[d].last + 1 : start;
            if (a >= b) continue;
            if (!emit(n, E820Out{a << 12, (b - a) << 12, MemoryRange::RESERVED}, usize{0})) return n;
            ++n;
        }
        if (!emit(n, E820Out{map_[i].base, map_[i].length, map_[i].type}, n_ - i)) return n;
        ++n;
        u64 end = (map_[i].base + map_[i].length + 0xfff) >> 12;
        if (end > s) s = end;
    }
    return n;
}

template <typename F> void MachineMap::io_frames(u64 nr_frames, F f) const {
    constexpr u64 LOW_MIB = 0x100;
    u64 pfn = 0;  // first frame not yet classified
    auto io_until = [&](u64 end) {
        if (end > nr_frames) end = nr_frames;
        if (pfn < end) f(pfn, end);
        if (end > pfn) pfn = end;
    };
    io_until(LOW_MIB);
    if (!n_) return;
    for (usize i = 0; i < n_ && pfn < nr_frames; ++i) {
        if (map_[i].type != MemoryRange::AVAILABLE && map_[i].type != MemoryRange::BAD) continue;
        // Only whole frames are RAM; a partial frame at either end is I/O.
        const u64 first = (map_[i].base + 0xfff) >> 12;
        const u64 end = (map_[i].base + map_[i].length) >> 12;
        io_until(first);
        if (end > pfn) pfn = end;
    }
    io_until(nr_frames);
}

}  // namespace pv
