// The machine's physical memory map, as the boot loader (E820 via Multiboot) reports it, cleaned
// up, and the boot-time allocator that lives on it until the buddy allocator takes over.
//
// Firmware maps are unsorted and overlap, sometimes with conflicting types.  MemoryMap keeps its
// entries sanitized at every step (sorted, disjoint, adjacent equal types merged), so a query
// never has to think about overlaps.  Where two types claim the same byte the more restrictive one
// wins, in the order of MemType below: treating a reserved byte as RAM can corrupt firmware state,
// while the opposite only wastes memory.  Linux's and Xen's sanitize_e820_map resolve conflicts the
// same way (the larger E820 type wins, with ACPI types placed between RAM and reserved here).
#pragma once
#include "lib/format.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

// Ordered from least to most restrictive: a conflict resolves to the larger value.
enum class MemType : u8 { ram, acpi_reclaim, acpi_nvs, reserved, unusable };

// E820 types 1-5 map to the types above; anything else (persistent memory, vendor types) is
// reserved, since the hypervisor must not hand it out as RAM.
MemType mem_type_from_e820(u32 e820_type);
u32 mem_type_to_e820(MemType t);
const char* mem_type_name(MemType t);

struct MemRange {
    u64 start;
    u64 end;  // exclusive
    MemType type;

    u64 size() const { return end - start; }
};

class MemoryMap {
public:
    static constexpr usize CAPACITY = 128;

    MemoryMap() = default;
    MemoryMap(const MemoryMap&) = delete;
    MemoryMap& operator=(const MemoryMap&) = delete;

    // Adds [start, end) with the given type, resolving overlaps (see above).  An empty range is
    // accepted and ignored.  EINVAL when start > end; ENOSPC when the sanitized map would need
    // more than CAPACITY entries, in which case the map is left exactly as it was.
    Result<void> add(u64 start, u64 end, MemType type);
    // The boot loader's (base, length) form; EINVAL when base + length overflows.
    Result<void> add_region(u64 base, u64 length, MemType type);
    // Marks the RAM inside [start, end) reserved, for memory the hypervisor owns before the page
    // allocator exists (its image, boot modules, boot allocations, the first MiB).  Other types and
    // holes in the range are left alone: an ACPI NVS range must stay NVS for dom0's sake.  Errors as
    // for add().
    Result<void> reserve(u64 start, u64 end);
    void clear() { count_ = 0; }

    usize size() const { return count_; }
    const MemRange& operator[](usize i) const { return entries_[i]; }
    const MemRange* begin() const { return entries_; }
    const MemRange* end() const { return entries_ + count_; }

    // The type covering addr, or false when addr lies in a hole.
    bool type_at(u64 addr, MemType* out) const;
    // True when every byte of [start, end) is RAM (an empty range is trivially RAM).
    bool is_ram(u64 start, u64 end) const;

    // The RAM ranges shrunk to whole pages (start rounded up, end rounded down), skipping those that
    // hold no whole page.  for (MemRange r : map.ram_ranges()) ...
    class RamIterator {
    public:
        RamIterator(const MemoryMap& m, usize i) : m_(m), i_(i) { skip(); }
        MemRange operator*() const;
        RamIterator& operator++() {
            ++i_;
            skip();
            return *this;
        }
        bool operator!=(const RamIterator& o) const { return i_ != o.i_; }

    private:
        void skip();
        const MemoryMap& m_;
        usize i_;
    };
    struct RamRanges {
        const MemoryMap& m;
        RamIterator begin() const { return RamIterator(m, 0); }
        RamIterator end() const { return RamIterator(m, m.count_); }
    };
    RamRanges ram_ranges() const { return RamRanges{*this}; }

    // The page-aligned end of the highest RAM range (0 without RAM).  RAM carved out by reserve()
    // no longer counts, so size the frame table before reserving the top of memory.
    u64 max_ram_addr() const;
    // Bytes of RAM in whole pages, as ram_ranges() yields them.
    u64 total_ram() const;

    void dump(Sink& out) const;

private:
    // The type [start, end) gets where it overlaps an existing entry of type old.
    enum class Paint : u8 { add, reserve };
    Result<void> paint(u64 start, u64 end, MemType type, Paint mode);

    MemRange entries_[CAPACITY] = {};
    usize count_ = 0;
    // The next map is built here and copied back only when it fits, so a failed add or reserve
    // never leaves a half-updated map.
    MemRange scratch_[CAPACITY] = {};
};

// Hands out physical memory from the map's RAM before the buddy allocator exists (the frame table
// itself, early page tables).  Each allocation is reserved in the map, so whatever later feeds the
// buddy allocator from ram_ranges() cannot give it away a second time.  Boot time only: no lock.
class BootAllocator {
public:
    explicit BootAllocator(MemoryMap& map) : map_(map) {}

    // count pages, wholly below the address `below`, aligned to `align` bytes (a power of two, at
    // least a page).  The highest fitting address is taken, as Xen's alloc_boot_pages does, to keep
    // low memory for what needs it (real-mode trampolines, 32-bit DMA).  EINVAL for count 0 or a
    // bad alignment, ENOMEM when nothing fits, ENOSPC when the map cannot record the reservation.
    Result<u64> alloc_pages(u64 count, u64 below = ~u64{0}, u64 align = PAGE_SIZE);
    u64 allocated_bytes() const { return allocated_; }

private:
    MemoryMap& map_;
    u64 allocated_ = 0;
};

}  // namespace pv
