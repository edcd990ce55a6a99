// The domain-0 builder: turns the kernel boot module into a running 64-bit PV domain laid out
// exactly as Xen's dom0 builder does (xen/arch/x86/pv/dom0_build.c; xen-pv-abi.md §1.3), since
// guest kernels depend on the details:
//
//   VIRT_BASE -> pfn 0, 1:1 for the whole bootstrap region, each element page aligned:
//   [kernel][initrd][p2m list][start_info][page tables][boot stack] ... padding to 4 MiB
//
// with the page tables in dom0's order [L4][L1][L2][L3][L1]..., all of them mapped read-only in
// the region, and the registers of xen-pv-abi.md §1.5.
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/elf.hpp"
#include "core/evtchn.hpp"
#include "core/heap.hpp"
#include "lib/string.hpp"

#include <xen/features.h>

namespace pv::arch::pv {
namespace {

constexpr u64 L1_PROT = paging::PTE_P | paging::PTE_W | paging::PTE_A | paging::PTE_U;
constexpr u64 LN_PROT = paging::PTE_P | paging::PTE_W | paging::PTE_A | paging::PTE_D | paging::PTE_U;

// Where things go, all as guest virtual addresses (Xen's v_start, vkern_start, ...).
struct Layout {
    u64 v_start, kern_start, kern_end, initrd_start, initrd_end, p2m_start, p2m_end, si_start, pt_start,
        pt_end, stack_start, stack_end, v_end;
    u64 nr_pt_pages;
};

u64 nr_tables(u64 lo, u64 hi, unsigned shift) {
    u64 size = u64{1} << shift;
    return (align_up(hi, size) - align_down(lo, size)) >> shift;
}

Layout compute_layout(const XenGuestParams& p, u64 initrd_len, u64 nr_pages) {
    Layout l{};
    l.v_start = p.virt_base;
    l.kern_start = p.virt_kstart;
    l.kern_end = p.virt_kend;
    l.initrd_start = align_up(l.kern_end, PAGE_SIZE);
    l.initrd_end = l.initrd_start + initrd_len;
    l.p2m_start = align_up(l.initrd_end, PAGE_SIZE);
    l.p2m_end = l.p2m_start + nr_pages * sizeof(u64);
    l.si_start = align_up(l.p2m_end, PAGE_SIZE);
    u64 si_end = l.si_start + sizeof(start_info_t) + sizeof(dom0_vga_console_info_t);
    l.pt_start = align_up(si_end, PAGE_SIZE);
    // As many table pages as the region they map needs, which grows with them (Xen's loop).
    for (l.nr_pt_pages = 2;; ++l.nr_pt_pages) {
        l.pt_end = l.pt_start + l.nr_pt_pages * PAGE_SIZE;
        l.stack_start = l.pt_end;
        l.stack_end = l.stack_start + PAGE_SIZE;
        l.v_end = align_up(l.stack_end, 4 * MiB);
        if (l.v_end - l.stack_end < 512 * KiB) l.v_end += 4 * MiB;
        u64 need = 1 + nr_tables(l.v_start, l.v_end, 39) + nr_tables(l.v_start, l.v_end, 30) +
                   nr_tables(l.v_start, l.v_end, 21);
        if (need <= l.nr_pt_pages) break;
    }
    return l;
}

// Loads ELF segments into dom0's frames: guest VA -> pfn (bootstrap 1:1) -> mfn -> direct map.
class Dom0Target final : public ElfLoadTarget {
public:
    Dom0Target(const PvDomain& d, u64 v_start) : d_(d), v_start_(v_start) {}
    Result<void> copy(u64 dest, const u8* src, u64 len) override { return each(dest, len, src); }
    Result<void> zero(u64 dest, u64 len) override { return each(dest, len, nullptr); }

private:
    Result<void> each(u64 dest, u64 len, const u8* src) {
        while (len) {
            u64 pfn = (dest - v_start_) >> PAGE_SHIFT;
            if (dest < v_start_ || pfn >= d_.nr_pages) return error(XEN_EINVAL);
            u64 off = dest & (PAGE_SIZE - 1);
            u64 n = min(len, PAGE_SIZE - off);
            auto* to = static_cast<u8*>(phys_to_virt(d_.p2m[pfn] << PAGE_SHIFT)) + off;
            if (src) {
                mem_copy(to, src, n);
                src += n;
            } else {
                mem_set(to, 0, n);
            }
            dest += n;
            len -= n;
        }
        return ok();
    }
    const PvDomain& d_;
    u64 v_start_;
};

void* pfn_virt(const PvDomain& d, u64 pfn) { return phys_to_virt(d.p2m[pfn] << PAGE_SHIFT); }
u64 va_to_pfn(const Layout& l, u64 va) { return (va - l.v_start) >> PAGE_SHIFT; }

// The hypercall page (xen-pv-abi.md §1.6): a 32-byte stub per hypercall, int3 elsewhere.
void fill_hypercall_page(u8* page) {
    mem_set(page, 0xcc, PAGE_SIZE);
    for (u32 i = 0; i < PAGE_SIZE / 32; ++i) {
        u8* p = page + i * 32;
        if (i == __HYPERVISOR_iret) {
            // push %rcx; push %r11; push %rax; mov $23,%eax; syscall — the guest jumps here.
            const u8 stub[] = {0x51, 0x41, 0x53, 0x50, 0xb8, 0, 0, 0, 0, 0x0f, 0x05};
            mem_copy(p, stub, sizeof stub);
            mem_copy(p + 5, &i, 4);
            continue;
        }
        // push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret
        const u8 stub[] = {0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3};
        mem_copy(p, stub, sizeof stub);
        mem_copy(p + 4, &i, 4);
    }
}

bool allocate_memory(PvDomain& d, u64 nr_pages) {
    d.p2m = static_cast<u64*>(hv_heap().alloc(nr_pages * sizeof(u64)));
    if (!d.p2m) return false;
    // Frame by frame: each is given to the domain on its own and comes back to the allocator
    // on its own when its last reference goes (the buddy allocator hands out neighbouring
    // frames in a row, so the memory is still mostly contiguous).
    for (u64 pfn = 0; pfn < nr_pages; ++pfn) {
        auto r = mm::frames().alloc(0);
        if (!r) return false;
        d.p2m[pfn] = *r;
        mem_set(phys_to_virt(*r << PAGE_SHIFT), 0, PAGE_SIZE);
        m2p_set(*r, pfn);
        if (!mmu_assign(d, *r)) return false;
    }
    d.nr_pages = d.max_pages = nr_pages;
    return true;
}

// Page tables for [v_start, v_end), in the frames of the page-table area, dom0's order.
void build_page_tables(PvDomain& d, const Layout& l) {
    u64 next_pt = va_to_pfn(l, l.pt_start);
    auto take = [&]() {
        u64 pfn = next_pt++;
        return pfn;
    };
    u64 l4_pfn = take();
    u64* l4 = static_cast<u64*>(pfn_virt(d, l4_pfn));
    // The hypervisor's slots: the M2P (read-only, user) and everything else the hypervisor
    // maps, shared with its own tables.
    fill_hypervisor_l4_slots(l4);

    u64* l3 = nullptr;
    u64* l2 = nullptr;
    u64* l1 = nullptr;
    for (u64 va = l.v_start; va < l.v_end; va += PAGE_SIZE) {
        unsigned i4 = static_cast<unsigned>((va >> 39) & 511), i3 = static_cast<unsigned>((va >> 30) & 511),
                 i2 = static_cast<unsigned>((va >> 21) & 511), i1 = static_cast<unsigned>((va >> 12) & 511);
        if (!l1 || i1 == 0) {
            u64 l1_pfn = take();
            l1 = static_cast<u64*>(pfn_virt(d, l1_pfn));
            if (!l2 || i2 == 0) {
                u64 l2_pfn = take();
                l2 = static_cast<u64*>(pfn_virt(d, l2_pfn));
                if (!l3 || i3 == 0) {
                    u64 l3_pfn = take();
                    l3 = static_cast<u64*>(pfn_virt(d, l3_pfn));
                    l4[i4] = (d.p2m[l3_pfn] << PAGE_SHIFT) | LN_PROT;
                }
                l3[i3] = (d.p2m[l2_pfn] << PAGE_SHIFT) | LN_PROT;
            }
            l2[i2] = (d.p2m[l1_pfn] << PAGE_SHIFT) | LN_PROT;
        }
        u64 pfn = va_to_pfn(l, va);
        u64 prot = L1_PROT;
        // Page-table pages are never writable by the guest.
        if (va >= l.pt_start && va < l.pt_end) prot &= ~paging::PTE_W;
        l1[i1] = (d.p2m[pfn] << PAGE_SHIFT) | prot;
    }
    d.vcpu[0]->kernel_cr3 = d.p2m[l4_pfn] << PAGE_SHIFT;
}

}  // namespace

PvDomain* build_dom0(const Dom0Input& in) {
    Diagnostics diags;
    ElfInfo elf;
    XenGuestParams parms;
    auto report = [&diags](const char* what) {
        for (usize i = 0; i < diags.count(); ++i)
            pv_err("dom0 kernel: %s: %s\n", diags[i].severity == Severity::error ? "error" : "warning",
                   diags.message(i));
        pv_err("dom0 kernel: %s\n", what);
    };
    if (!elf_parse(in.kernel, in.kernel_len, elf, diags) || !xen_parse_guest(elf, parms, diags)) {
        report("not a usable 64-bit Xen PV kernel");
        return nullptr;
    }
    for (usize i = 0; i < diags.count(); ++i) pv_warn("dom0 kernel: %s\n", diags.message(i));
    // Xen (initdom_check_parms): a kernel that lists its features must declare it can be dom0.
    if (parms.saw_note(XEN_ELFNOTE_SUPPORTED_FEATURES) && !parms.feature_supported(XENFEAT_dom0)) {
        pv_err("dom0 kernel: does not support XENFEAT_dom0 (SUPPORTED_FEATURES)\n");
        return nullptr;
    }

    u64 nr_pages = in.mem_bytes >> PAGE_SHIFT;
    Layout l = compute_layout(parms, in.initrd_len, nr_pages);
    if ((l.v_end - l.v_start) >> PAGE_SHIFT > nr_pages) {
        pv_err("dom0 kernel: the bootstrap region (%lu KiB) needs more than dom0_mem (%lu KiB)\n",
               (l.v_end - l.v_start) / KiB, in.mem_bytes / KiB);
        return nullptr;
    }
    if (l.v_end > HV_VIRT_START && l.v_start < HV_VIRT_END) {
        pv_err("dom0 kernel: the bootstrap region %#lx-%#lx overlaps the hypervisor\n", l.v_start, l.v_end);
        return nullptr;
    }

    auto* d = heap_new<PvDomain>(hv_heap());
    if (!d) return nullptr;
    d->id = 0;
    d->privileged = true;
    if (!allocate_memory(*d, nr_pages)) {
        pv_err("dom0: out of memory for %lu pages\n", nr_pages);
        return nullptr;
    }

    // Shared info: one hypervisor-allocated page the guest maps by its machine address.
    void* si = mm::alloc_pages(0);
    if (!si) return nullptr;
    mem_set(si, 0, PAGE_SIZE);
    d->shared_info = static_cast<shared_info_t*>(si);
    d->shared_info_mfn = virt_to_phys(si) >> PAGE_SHIFT;
    if (!mmu_assign(*d, d->shared_info_mfn)) return nullptr;  // the guest may map it
    for (auto& v : d->shared_info->vcpu_info) v.evtchn_upcall_mask = 1;
    sched_add_domain(*d);
    for (unsigned i = 0; i < in.nr_vcpus; ++i) {
        if (!vcpu_create(*d, i)) {
            pv_err("dom0: out of memory for vCPU %u\n", i);
            return nullptr;
        }
    }
    publish_wallclock(*d);
    d->evtchn = heap_new<EventChannels>(hv_heap(), domid_t{0});
    if (!d->evtchn) return nullptr;
    events_register_domain(*d);

    build_page_tables(*d, l);

    Dom0Target target(*d, l.v_start);
    if (!elf_load(elf, parms, target, diags)) {
        report("loading the kernel failed");
        return nullptr;
    }
    if (in.initrd && !target.copy(l.initrd_start, in.initrd, in.initrd_len)) {
        pv_err("dom0: cannot place the initrd\n");
        return nullptr;
    }
    if (parms.virt_hypercall != XenGuestParams::UNSET)
        fill_hypercall_page(static_cast<u8*>(pfn_virt(*d, va_to_pfn(l, parms.virt_hypercall))));

    // The guest's p2m list, then start_info.
    for (u64 pfn = 0; pfn < nr_pages; ++pfn) {
        u64 va = l.p2m_start + pfn * sizeof(u64);
        auto* slot = reinterpret_cast<u64*>(static_cast<u8*>(pfn_virt(*d, va_to_pfn(l, va))) + (va & (PAGE_SIZE - 1)));
        *slot = d->p2m[pfn];
    }
    auto* si_info = static_cast<start_info_t*>(pfn_virt(*d, va_to_pfn(l, l.si_start)));
    str_copy(si_info->magic, "xen-3.0-x86_64", sizeof si_info->magic);
    si_info->nr_pages = nr_pages;
    si_info->shared_info = d->shared_info_mfn << PAGE_SHIFT;
    si_info->flags = SIF_PRIVILEGED | SIF_INITDOMAIN;
    si_info->pt_base = l.pt_start;
    si_info->nr_pt_frames = l.nr_pt_pages;
    si_info->mfn_list = l.p2m_start;
    if (in.initrd) {
        si_info->mod_start = parms.unmapped_initrd ? va_to_pfn(l, l.initrd_start) : l.initrd_start;
        if (parms.unmapped_initrd) si_info->flags |= SIF_MOD_START_PFN;
        si_info->mod_len = in.initrd_len;
    }
    str_copy(reinterpret_cast<char*>(si_info->cmd_line), in.cmdline, sizeof si_info->cmd_line);

    // Type and pin the initial tables, as the guest would with mmuext_op: every entry is
    // validated like any guest-made table, so a builder bug cannot slip a bad mapping in.
    if (auto r = mmu_pin_root(*d, d->vcpu[0]->kernel_cr3 >> PAGE_SHIFT); !r) {
        pv_err("dom0: its initial page tables do not validate: %s\n", errno_name(r.error()));
        return nullptr;
    }

    // Registers at entry (xen-pv-abi.md §1.5).
    PvVcpu& v0 = *d->vcpu[0];
    v0.initialised = true;
    TrapFrame& r = v0.regs;
    mem_set(&r, 0, sizeof r);
    r.rip = parms.virt_entry;
    r.rsp = l.stack_end;
    r.rsi = l.si_start;
    r.cs = FLAT_KERNEL_CS64;
    r.ss = FLAT_KERNEL_SS64;
    r.rflags = (1u << 9) | 2;

    pv_info("dom0: %lu MiB, kernel %#lx-%#lx, bootstrap %#lx-%#lx, entry %#lx, %lu page-table pages\n",
            (nr_pages << PAGE_SHIFT) / MiB, l.kern_start, l.kern_end, l.v_start, l.v_end, parms.virt_entry,
            l.nr_pt_pages);
    d->state = DomainState::running;
    return d;
}

}  // namespace pv::arch::pv
