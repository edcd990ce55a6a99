#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>

#include "core/console.hpp"
#include "core/heap.hpp"
#include "core/page_info.hpp"
#include "core/panic.hpp"
#include "lib/string.hpp"

extern "C" char __text_start[], __text_end[], __rodata_start[], __rodata_end[], __data_start[],
    __bss_end[], bsp_stack_block[];

namespace pv::arch::mm {
namespace {

constexpr u64 BOOT_WINDOW = 1 * GiB;  // what the boot page tables map at IMAGE_VIRT_BASE

BootAllocator* g_boot_alloc = nullptr;
u64 g_pt_pages = 0;
u64 g_frametable_bytes = 0;
FrameAllocator g_frames;
bool g_buddy_ready = false;

u64 alloc_pt_page() {
    if (g_buddy_ready) {
        auto r = g_frames.alloc(0);
        if (!r) return 0;
        ++g_pt_pages;
        return *r << PAGE_SHIFT;
    }
    // Before the switch, table pages are written through the boot window: keep them below it.
    auto r = g_boot_alloc->alloc_pages(1, BOOT_WINDOW);
    if (!r) return 0;
    ++g_pt_pages;
    return *r;
}

u64 image_phys(const void* va) { return reinterpret_cast<u64>(va) - IMAGE_VIRT_BASE; }

void must(Result<void> r, const char* what) {
    if (!r) panic("cannot map %s: %s", what, errno_name(r.error()));
}

class DirectMapPages final : public PageSource {
public:
    void* alloc_pages(unsigned order) override { return mm::alloc_pages(order); }
    void free_pages(void* p, unsigned order) override { mm::free_pages(p, order); }
};
DirectMapPages g_heap_pages;

}  // namespace

FrameAllocator& frames() { return g_frames; }

namespace {
u64 g_ram_pages = 0;
}
void set_ram_pages(u64 pages) { g_ram_pages = pages; }
u64 ram_pages() { return g_ram_pages; }

void* alloc_pages(unsigned order) {
    auto r = g_frames.alloc(order);
    return r ? phys_to_virt(*r << PAGE_SHIFT) : nullptr;
}

void free_pages(void* p, unsigned order) {
    auto r = g_frames.free(virt_to_phys(p) >> PAGE_SHIFT, order);
    if (!r) pv_err("free_pages(%p, %u): %s\n", p, order, errno_name(r.error()));
}

void map_hv_pages(u64 va, u64 pa, u64 npages, u64 flags) {
    must(paging::hv_tables().map(va, pa, npages * PAGE_SIZE, flags), "hypervisor pages");
}

void init_paging(MemoryMap& map, u64 ram_end) {
    static BootAllocator boot_alloc(map);
    g_boot_alloc = &boot_alloc;
    paging::set_table_window(IMAGE_VIRT_BASE);

    u64 max_ram = ram_end;
    auto& pt = paging::hv_tables();
    u64 root = alloc_pt_page();
    if (!root) panic("no memory for the page tables");
    mem_set(paging::table_virt(root), 0, PAGE_SIZE);
    pt.init(root, alloc_pt_page);

    // The image, section by section: text R+X, rodata R, data and bss RW+NX.
    auto map_image = [&](const char* from, const char* to, u64 flags, const char* what) {
        u64 va = reinterpret_cast<u64>(from);
        must(pt.map(va, image_phys(from), reinterpret_cast<u64>(to) - va, flags), what);
    };
    map_image(__text_start, __text_end, paging::MAP_TEXT, "text");
    map_image(__rodata_start, __rodata_end, paging::MAP_RO, "rodata");
    map_image(__data_start, __bss_end, paging::MAP_RW, "data");
    // The BSP's stack block starts with its guard page: leave it unmapped.
    pt.unmap_page(reinterpret_cast<u64>(bsp_stack_block));

    // Direct map: the low 4 GiB whole (firmware tables live in reserved ranges there, as in
    // Xen), and all RAM above, with 2 MiB pages.
    u64 direct_end = align_up(max(max_ram, 4 * GiB), 2 * MiB);
    if (direct_end > DIRECTMAP_SIZE) panic("RAM beyond %#lx cannot be direct-mapped", DIRECTMAP_SIZE);
    must(pt.map(DIRECTMAP_VIRT_START, 0, direct_end, paging::MAP_RW, true), "direct map");

    // Frame table: one PageInfo per frame up to the top of RAM.
    u64 nr_frames = max_ram >> PAGE_SHIFT;
    g_frametable_bytes = align_up(nr_frames * sizeof(PageInfo), PAGE_SIZE);
    auto ft = boot_alloc.alloc_pages(g_frametable_bytes / PAGE_SIZE, ~u64{0}, 2 * MiB);
    if (!ft) panic("no memory for the frame table (%lu KiB)", g_frametable_bytes / KiB);
    must(pt.map(FRAMETABLE_VIRT_START, *ft, g_frametable_bytes, paging::MAP_RW, true), "frame table");

    write_cr3(root);
    paging::set_table_window(DIRECTMAP_VIRT_START);
    write_cr4(read_cr4() | CR4_PGE);
}

void init_allocators(MemoryMap& map) {
    u64 nr_frames = g_frametable_bytes / sizeof(PageInfo);
    auto* table = reinterpret_cast<PageInfo*>(FRAMETABLE_VIRT_START);
    if (auto r = g_frames.init(table, nr_frames); !r) panic("frame allocator: %s", errno_name(r.error()));
    for (MemRange r : map.ram_ranges()) {
        u64 first = r.start >> PAGE_SHIFT;
        u64 last = min(r.end >> PAGE_SHIFT, nr_frames);
        if (first >= last) continue;
        if (auto res = g_frames.add_free_range(first, last - first); !res)
            panic("frame allocator: range %#lx-%#lx: %s", r.start, r.end, errno_name(res.error()));
    }
    g_buddy_ready = true;
    hv_heap().init(g_heap_pages);
}

Footprint footprint() {
    Footprint f{};
    f.image_bytes = static_cast<u64>(__bss_end - __text_start);
    f.pagetable_bytes = g_pt_pages * PAGE_SIZE;
    f.frametable_bytes = g_frametable_bytes;
    f.heap_bytes = hv_heap().stats().pages_held * PAGE_SIZE;
    f.total_ram = g_frames.total_frames() * PAGE_SIZE;
    f.free_ram = g_frames.free_frames() * PAGE_SIZE;
    return f;
}

}  // namespace pv::arch::mm
