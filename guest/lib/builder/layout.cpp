#include "guest/lib/builder/layout.hpp"

#include "lib/string.hpp"

namespace pvb {

namespace {

// libxenguest computes the page-table extents in 48-bit form (VIRT_BITS_X86_64): VIRT_BASE
// 0xffffffff80000000 becomes 0xffff80000000, whose L4 index is still 511.
constexpr u64 VADDR_MASK = (u64{1} << 48) - 1;
constexpr unsigned LEVEL_BITS = 9;
constexpr u64 ENTRIES = u64{1} << LEVEL_BITS;
// Mapped slack after the boot stack that Linux relies on for its early allocations.
constexpr u64 PADDING_PAGES = 512 * KiB / PAGE_SIZE;
constexpr u64 BOOTSTRAP_ALIGN_MASK = 4 * MiB - 1;

constexpr u64 pages_for(u64 bytes) { return (bytes + PAGE_SIZE - 1) >> PAGE_SHIFT; }
constexpr u64 low_mask(unsigned bits) { return (u64{1} << bits) - 1; }

// count_pgtables for the first (and here only) mapping of [from, to]: one L4 for the whole
// space, then per level as many tables as the range touches, allocated from `pfn` in the order
// L4, L3s, L2s, L1s.  Returns the number of table frames.
u64 count_tables(u64 from, u64 to, u64 pfn, PtLevel (&levels)[4]) {
    levels[3] = {0, VADDR_MASK, pfn, 1};
    u64 n = 1;
    for (int l = 2; l >= 0; --l) {
        const unsigned bits = PAGE_SHIFT + static_cast<unsigned>(l + 1) * LEVEL_BITS;
        PtLevel& lv = levels[l];
        lv.from = from & ~low_mask(bits);
        lv.to = to | low_mask(bits);
        lv.pfn = pfn + n;
        lv.count = ((lv.to - lv.from) >> bits) + 1;
        n += lv.count;
    }
    return n;
}

}  // namespace

Result<DomainLayout> compute_layout(const LayoutInput& in, Diagnostics& diags) {
    DomainLayout L;
    L.virt_base = in.virt_base;
    L.nr_pages = in.nr_pages;
    if (in.virt_kstart < in.virt_base || in.virt_kend <= in.virt_kstart ||
        !is_aligned(in.virt_kstart - in.virt_base, PAGE_SIZE)) {
        diags.error("kernel extent 0x%lx-0x%lx does not start on a page at or above VIRT_BASE 0x%lx",
                    in.virt_kstart, in.virt_kend, in.virt_base);
        return error(XEN_EINVAL);
    }
    // Pieces are allocated upwards from the kernel; anything below it is padding.
    u64 pfn = (in.virt_kstart - in.virt_base) >> PAGE_SHIFT;
    auto alloc = [&](Segment& s, u64 bytes) {
        s.pfn = pfn;
        s.pages = pages_for(bytes);
        s.vstart = L.va(pfn);
        pfn += s.pages;
    };
    alloc(L.kernel, in.virt_kend - in.virt_kstart);
    if (in.ramdisk_size && !in.unmapped_ramdisk) alloc(L.ramdisk, in.ramdisk_size);
    alloc(L.p2m, in.nr_pages * sizeof(u64));
    L.start_info_pfn = pfn++;
    L.xenstore_pfn = pfn++;
    L.console_pfn = pfn++;

    // alloc_pgtables_pv: the tables must map themselves, the boot stack and the padding, and
    // their number depends on how far that reaches, so iterate to a fixed point.
    const u64 extra = 1 + PADDING_PAGES;  // the boot stack, the padding
    u64 pages = extra;
    u64 try_end = 0;  // last byte of the bootstrap mapping
    for (;;) {
        u64 end = 0;
        if (add_overflows(L.va(pfn), pages * PAGE_SIZE, &end) || (end | BOOTSTRAP_ALIGN_MASK) == ~u64{0}) {
            diags.error("the bootstrap region from 0x%lx does not fit below the top of the address space",
                        in.virt_base);
            return error(XEN_EINVAL);
        }
        try_end = end | BOOTSTRAP_ALIGN_MASK;
        const u64 from = in.virt_base & VADDR_MASK, to = try_end & VADDR_MASK;
        if (((to - from) >> PAGE_SHIFT) >= in.nr_pages) {
            diags.error("not enough memory for the initial mapping: it needs %lu pages, the domain has %lu",
                        ((to - from) >> PAGE_SHIFT) + 1, in.nr_pages);
            return error(XEN_ENOMEM);
        }
        pages = count_tables(from, to, pfn, L.levels) + extra;
        if (L.va(pfn) + pages * PAGE_SIZE <= try_end + 1) break;
    }
    alloc(L.pgtables, (pages - extra) * PAGE_SIZE);
    L.bootstack_pfn = pfn++;
    L.virt_pgtab_end = try_end + 1;
    pfn = (L.virt_pgtab_end - in.virt_base) >> PAGE_SHIFT;
    if (in.ramdisk_size && in.unmapped_ramdisk) {
        alloc(L.ramdisk, in.ramdisk_size);
        L.ramdisk_unmapped = true;
    }
    if (pfn > in.nr_pages) {
        diags.error("the domain's %lu pages cannot hold its layout (%lu pages)", in.nr_pages, pfn);
        return error(XEN_ENOMEM);
    }
    L.alloc_end_pfn = pfn;
    return L;
}

// ---------------------------------------------------------------------------------------------
// Writing the frames.

Result<u8*> DomainImage::map_pfn(u64 pfn) {
    if (pfn >= layout.nr_pages) {
        diags.error("pfn 0x%lx is beyond the domain's %lu pages", pfn, layout.nr_pages);
        return error(XEN_EINVAL);
    }
    u8* p = mapper.map(p2m[pfn]);
    if (!p) {
        diags.error("cannot map pfn 0x%lx (mfn 0x%lx)", pfn, p2m[pfn]);
        return error(XEN_EFAULT);
    }
    return p;
}

Result<void> DomainImage::clear_allocated() {
    auto clear = [&](u64 first, u64 end) -> Result<void> {
        for (u64 pfn = first; pfn < end; ++pfn) {
            Result<u8*> p = map_pfn(pfn);
            if (!p) return error(p.error());
            mem_set(*p, 0, PAGE_SIZE);
        }
        return ok();
    };
    Result<void> r = clear(layout.kernel.pfn, layout.bootstack_pfn + 1);
    if (r && layout.ramdisk_unmapped) r = clear(layout.ramdisk.pfn, layout.ramdisk.end_pfn());
    return r;
}

Result<void> DomainImage::write_phys(u64 pa, const u8* src, u64 len) {
    while (len) {
        const u64 off = pa & (PAGE_SIZE - 1);
        const u64 n = min(len, PAGE_SIZE - off);
        Result<u8*> p = map_pfn(pa >> PAGE_SHIFT);
        if (!p) return error(p.error());
        if (src) {
            mem_copy(*p + off, src, n);
            src += n;
        } else {
            mem_set(*p + off, 0, n);
        }
        pa += n;
        len -= n;
    }
    return ok();
}

namespace {

// pv::elf_load's destination: guest virtual addresses in the bootstrap region.
class KernelTarget final : public ElfLoadTarget {
public:
    explicit KernelTarget(DomainImage& img) : img_(img) {}
    Result<void> copy(u64 dest, const u8* src, u64 len) override { return write(dest, src, len); }
    Result<void> zero(u64 dest, u64 len) override { return write(dest, nullptr, len); }

private:
    Result<void> write(u64 dest, const u8* src, u64 len) {
        const DomainLayout& L = img_.layout;
        if (dest < L.kernel.vstart || len > L.va(L.kernel.end_pfn()) - dest) return error(XEN_ERANGE);
        return img_.write_phys(dest - L.virt_base, src, len);
    }
    DomainImage& img_;
};

}  // namespace

Result<void> load_kernel(DomainImage& img, const ElfInfo& elf, const XenGuestParams& params) {
    KernelTarget target(img);
    return elf_load(elf, params, target, img.diags);
}

Result<void> load_ramdisk(DomainImage& img, const u8* data, u64 size) {
    if (size > img.layout.ramdisk.pages * PAGE_SIZE) return error(XEN_ERANGE);
    return img.write_phys(img.layout.ramdisk.pfn << PAGE_SHIFT, data, size);
}

Result<void> write_p2m(DomainImage& img) {
    return img.write_phys(img.layout.p2m.pfn << PAGE_SHIFT, reinterpret_cast<const u8*>(img.p2m),
                          img.layout.nr_pages * sizeof(u64));
}

Result<void> build_page_tables(DomainImage& img) {
    const DomainLayout& L = img.layout;
    // The leaves map the whole bootstrap region from pfn 0.
    const PtLevel area = {L.virt_base & VADDR_MASK, (L.virt_pgtab_end - 1) & VADDR_MASK, 0, 0};
    for (int l = 3; l >= 0; --l) {
        const PtLevel& table = L.levels[l];
        const PtLevel& child = l > 0 ? L.levels[l - 1] : area;
        const unsigned shift = PAGE_SHIFT + static_cast<unsigned>(l) * LEVEL_BITS;
        const u64 lo = max(table.from, child.from), hi = min(table.to, child.to);
        if (lo > hi) continue;
        u64 child_pfn = child.pfn + ((lo - child.from) >> shift);
        u64 mapped_pfn = ~u64{0};
        u64* entries = nullptr;
        for (u64 p = (lo - table.from) >> shift; p <= (hi - table.from) >> shift; ++p, ++child_pfn) {
            const u64 table_pfn = table.pfn + p / ENTRIES;
            if (table_pfn != mapped_pfn) {
                Result<u8*> m = img.map_pfn(table_pfn);
                if (!m) return error(m.error());
                entries = reinterpret_cast<u64*>(*m);
                mapped_pfn = table_pfn;
            }
            if (child_pfn >= L.nr_pages) return error(XEN_ERANGE);
            u64 prot = l > 0 ? UPPER_PROT : L1_PROT;
            // The tables themselves are mapped read-only: Xen refuses to type a frame as a page
            // table while a writable mapping of it exists.
            if (l == 0 && child_pfn >= L.pgtables.pfn && child_pfn < L.pgtables.end_pfn()) prot &= ~PTE_RW;
            entries[p % ENTRIES] = (img.p2m[child_pfn] << PAGE_SHIFT) | prot;
        }
    }
    return ok();
}

// ---------------------------------------------------------------------------------------------
// start_info and the vCPU.

void fill_start_info(start_info_t& si, const DomainLayout& L, const u64* p2m, const StartInfoInput& in) {
    mem_set(&si, 0, sizeof(si));
    str_copy(si.magic, "xen-3.0-x86_64", sizeof(si.magic));
    si.nr_pages = L.nr_pages;
    si.shared_info = in.shared_info_mfn << PAGE_SHIFT;
    si.pt_base = L.pgtables.vstart;
    si.nr_pt_frames = L.pgtables.pages;
    si.mfn_list = L.p2m.vstart;
    // libxenguest sets SIF_VIRT_P2M_4TOOLS for every domain it builds (xc_dom_allocate).
    si.flags = SIF_VIRT_P2M_4TOOLS | (L.ramdisk_unmapped ? SIF_MOD_START_PFN : 0);
    si.store_mfn = p2m[L.xenstore_pfn];
    si.store_evtchn = in.store_evtchn;
    si.console.domU.mfn = p2m[L.console_pfn];
    si.console.domU.evtchn = in.console_evtchn;
    if (L.ramdisk.pages) {
        // libxenguest reports the segment, so the length is rounded up to whole pages.
        si.mod_start = L.ramdisk_unmapped ? L.ramdisk.pfn : L.ramdisk.vstart;
        si.mod_len = L.ramdisk.pages * PAGE_SIZE;
    }
    str_copy(reinterpret_cast<char*>(si.cmd_line), in.cmdline, MAX_GUEST_CMDLINE);
}

void fill_vcpu_context(vcpu_guest_context_t& ctx, const DomainLayout& L, const u64* p2m, u64 entry) {
    mem_set(&ctx, 0, sizeof(ctx));
    ctx.user_regs.rip = entry;
    ctx.user_regs.rsp = L.stack_top();
    ctx.user_regs.rsi = L.va(L.start_info_pfn);
    ctx.user_regs.rflags = 1u << 9;  // IF: events are masked by vcpu_info, not by the flag
    ctx.debugreg[6] = 0xffff0ff0;    // the architectural reset values of DR6 and DR7
    ctx.debugreg[7] = 0x00000400;
    ctx.flags = VGCF_in_kernel | VGCF_online;
    ctx.ctrlreg[3] = xen_pfn_to_cr3(p2m[L.pgtables.pfn]);
    ctx.user_regs.cs = FLAT_KERNEL_CS;
    ctx.user_regs.ss = FLAT_KERNEL_SS;
    ctx.user_regs.ds = ctx.user_regs.es = ctx.user_regs.fs = ctx.user_regs.gs = FLAT_KERNEL_DS;
    ctx.kernel_ss = FLAT_KERNEL_SS;
    // libxenguest assigns the 32-bit alias (user_regs.esp), truncating the stack pointer; the
    // full value is what it means, and what a guest entering user mode before stack_switch
    // would need.
    ctx.kernel_sp = L.stack_top();
}

}  // namespace pvb
