#include "core/memmap.hpp"

namespace pv {

MemType mem_type_from_e820(u32 e820_type) {
    switch (e820_type) {
    case 1: return MemType::ram;
    case 3: return MemType::acpi_reclaim;
    case 4: return MemType::acpi_nvs;
    case 5: return MemType::unusable;
    default: return MemType::reserved;
    }
}

u32 mem_type_to_e820(MemType t) {
    switch (t) {
    case MemType::ram: return 1;
    case MemType::acpi_reclaim: return 3;
    case MemType::acpi_nvs: return 4;
    case MemType::unusable: return 5;
    case MemType::reserved: break;
    }
    return 2;
}

const char* mem_type_name(MemType t) {
    switch (t) {
    case MemType::ram: return "RAM";
    case MemType::acpi_reclaim: return "ACPI data";
    case MemType::acpi_nvs: return "ACPI NVS";
    case MemType::reserved: return "reserved";
    case MemType::unusable: return "unusable";
    }
    return "?";
}

Result<void> MemoryMap::add(u64 start, u64 end, MemType type) {
    return paint(start, end, type, Paint::add);
}

Result<void> MemoryMap::add_region(u64 base, u64 length, MemType type) {
    u64 end;
    if (add_overflows(base, length, &end)) return error(XEN_EINVAL);
    return add(base, end, type);
}

Result<void> MemoryMap::reserve(u64 start, u64 end) {
    return paint(start, end, MemType::reserved, Paint::reserve);
}

// One sweep over the sorted entries writes the new map into scratch_: entries outside
// [start, end) are copied, the overlapping parts get their new type, and (for add) the holes
// inside [start, end) are filled.  emit() merges a piece into its predecessor when they touch and
// agree, which is all the sanitizing a map that was already sanitized needs.
Result<void> MemoryMap::paint(u64 start, u64 end, MemType type, Paint mode) {
    if (start > end) return error(XEN_EINVAL);
    if (start == end) return ok();

    usize out = 0;
    bool overflow = false;
    auto emit = [&](u64 a, u64 b, MemType t) {
        if (a >= b) return;
        if (out && scratch_[out - 1].end == a && scratch_[out - 1].type == t) {
            scratch_[out - 1].end = b;
            return;
        }
        if (out == CAPACITY) {
            overflow = true;
            return;
        }
        scratch_[out++] = MemRange{a, b, t};
    };
    auto repaint = [&](MemType old) {
        if (mode == Paint::reserve) return old == MemType::ram ? MemType::reserved : old;
        return old < type ? type : old;
    };

    u64 cursor = start;  // [start, cursor) has been emitted
    for (usize i = 0; i < count_ && !overflow; ++i) {
        const MemRange& e = entries_[i];
        if (e.start < start) emit(e.start, min(e.end, start), e.type);
        if (mode == Paint::add && e.start > cursor && cursor < end) emit(cursor, min(e.start, end), type);
        u64 a = max(e.start, start);
        u64 b = min(e.end, end);
        if (a < b) emit(a, b, repaint(e.type));
        if (e.end > end) emit(max(e.start, end), e.end, e.type);
        cursor = max(cursor, e.end);
    }
    if (mode == Paint::add && cursor < end) emit(cursor, end, type);
    if (overflow) return error(XEN_ENOSPC);

    for (usize i = 0; i < out; ++i) entries_[i] = scratch_[i];
    count_ = out;
    return ok();
}

bool MemoryMap::type_at(u64 addr, MemType* out) const {
    for (const MemRange& e : *this) {
        if (addr < e.start) break;
        if (addr < e.end) {
            *out = e.type;
            return true;
        }
    }
    return false;
}

bool MemoryMap::is_ram(u64 start, u64 end) const {
    if (start >= end) return true;
    // Adjacent RAM entries are always merged, so a RAM range is covered by at most one entry.
    for (const MemRange& e : *this)
        if (e.type == MemType::ram && e.start <= start && end <= e.end) return true;
    return false;
}

MemRange MemoryMap::RamIterator::operator*() const {
    const MemRange& e = m_.entries_[i_];
    return MemRange{align_up(e.start, PAGE_SIZE), align_down(e.end, PAGE_SIZE), MemType::ram};
}

void MemoryMap::RamIterator::skip() {
    for (; i_ < m_.count_; ++i_) {
        const MemRange& e = m_.entries_[i_];
        // align_up would wrap for a start in the last page of the address space; such a range
        // holds no whole page anyway.
        if (e.type != MemType::ram || e.start > ~u64{0} - (PAGE_SIZE - 1)) continue;
        if (align_up(e.start, PAGE_SIZE) < align_down(e.end, PAGE_SIZE)) return;
    }
}

u64 MemoryMap::max_ram_addr() const {
    u64 top = 0;
    for (MemRange r : ram_ranges()) top = r.end;
    return top;
}

u64 MemoryMap::total_ram() const {
    u64 total = 0;
    for (MemRange r : ram_ranges()) total += r.size();
    return total;
}

void MemoryMap::dump(Sink& out) const {
    for (const MemRange& e : *this)
        format(out, " [%016lx, %016lx) %s\n", static_cast<unsigned long>(e.start),
               static_cast<unsigned long>(e.end), mem_type_name(e.type));
}

Result<u64> BootAllocator::alloc_pages(u64 count, u64 below, u64 align) {
    if (count == 0 || align < PAGE_SIZE || (align & (align - 1))) return error(XEN_EINVAL);
    u64 size;
    if (mul_overflows(count, PAGE_SIZE, &size)) return error(XEN_ENOMEM);
    below = align_down(below, PAGE_SIZE);

    bool found = false;
    u64 pa = 0;
    // Ranges come in ascending order; the last fit is the highest one.
    for (MemRange r : map_.ram_ranges()) {
        u64 top = min(r.end, below);
        if (top < size || top - size < r.start) continue;
        u64 candidate = align_down(top - size, align);
        if (candidate < r.start) continue;
        pa = candidate;
        found = true;
    }
    if (!found) return error(XEN_ENOMEM);

    Result<void> res = map_.reserve(pa, pa + size);
    if (!res) return error(res.error());
    allocated_ += size;
    return pa;
}

}  // namespace pv
