// XENMEM_machine_memory_map's map (machine_map.hpp).
#include "core/machine_map.hpp"

namespace pv {

void MachineMap::set_firmware(const MemoryRange* map, usize n) {
    n_ = 0;
    for (usize i = 0; i < n && n_ < MAX_ENTRIES; ++i) {
        if (!map[i].length) continue;
        // Insertion sort by base: the firmware's order is not guaranteed.
        usize j = n_++;
        while (j > 0 && map_[j - 1].base > map[i].base) {
            map_[j] = map_[j - 1];
            --j;
        }
        map_[j] = map[i];
    }
}

bool MachineMap::denied(u64 pfn) const {
    for (usize i = 0; i < ndenied_; ++i)
        if (pfn >= denied_[i].first && pfn <= denied_[i].last) return true;
    return false;
}

bool MachineMap::deny(u64 first, u64 last) {
    if (first > last) return false;
    // Merge with every range it touches, then insert in order.
    usize i = 0;
    while (i < ndenied_) {
        FrameRange& r = denied_[i];
        if (r.last + 1 < first || last + 1 < r.first) {
            ++i;
            continue;
        }
        first = r.first < first ? r.first : first;
        last = r.last > last ? r.last : last;
        for (usize k = i; k + 1 < ndenied_; ++k) denied_[k] = denied_[k + 1];
        --ndenied_;
    }
    if (ndenied_ == MAX_DENIED) return false;
    usize j = ndenied_++;
    while (j > 0 && denied_[j - 1].first > first) {
        denied_[j] = denied_[j - 1];
        --j;
    }
    denied_[j] = FrameRange{first, last};
    return true;
}

}  // namespace pv
