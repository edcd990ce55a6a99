// The domain-0 builder: turns the kernel boot module into a running 64-bit PV domain laid out
// exactly as Xen's dom0 builder does (xen/arch/x86/pv/dom0_build.c; xen-pv-abi.md §1.3), since
// guest kernels depend on the details:
//
//   VIRT_BASE -> pfn 0, 1:1 for the whole bootstrap region, each element page aligned:
//   [kernel][initrd][p2m list][start_info][page tables][boot stack] ... padding to 4 MiB
//
// with the page tables in dom0's order [L4][L1][L2][L3][L1]..., all of them mapped read-only in
// the region, and the registers of xen-pv-abi.md §1.5.  With an INIT_P2M note the p2m list is
// mapped at the note's address instead, by frames (and tables) after the bootstrap allocation;
// core/dom0_layout.hpp computes where everything goes.
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>

#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/dom0_layout.hpp"
#include "core/elf.hpp"
#include "core/heap.hpp"
#include "core/pv_pte.hpp"
#include "lib/string.hpp"

#include <xen/features.h>

namespace pv::arch::pv {
namespace {

// Xen's L1_PROT marks the entries as the guest kernel's (bit 52), as adjust_guest_l1e would: left
// out, validation takes them for user mappings and makes them global.
constexpr u64 L1_PROT = paging::PTE_P | paging::PTE_W | paging::PTE_A | paging::PTE_U | pte::GUEST_KERNEL;
constexpr u64 LN_PROT = paging::PTE_P | paging::PTE_W | paging::PTE_A | paging::PTE_D | paging::PTE_U;

using Layout = Dom0Layout;

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
u64 va_to_pfn(const Layout& l, u64 va) { return l.va_to_pfn(va); }

}  // namespace

// The hypercall page (xen-pv-abi.md §1.6): a 32-byte stub per hypercall, int3 elsewhere.  Also
// XEN_DOMCTL_hypercall_init's.
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

namespace {

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
    d.nr_pages = nr_pages;
    d.max_pages = 0xffffffff;  // as Xen's dom0 builder: no limit, domain 0 may balloon up
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

// INIT_P2M (Xen's setup_pv_physmap): maps the p2m list at its own address under the initial L4,
// page by page, taking frames from first_p2m_pfn on in the walk's order (a new L3, L2, L1 where
// the entry above is empty, then the p2m page), and fills it.  The tables are typed and
// validated with the rest when the L4 is pinned; nothing maps them.  Returns the frames taken.
u64 map_separate_p2m(PvDomain& d, const Layout& l) {
    u64 next = l.first_p2m_pfn;
    auto* l4 = static_cast<u64*>(phys_to_virt(d.vcpu[0]->kernel_cr3));
    for (u64 va = l.p2m_start; va < l.p2m_end; va = align_down(va, PAGE_SIZE) + PAGE_SIZE) {
        u64* t = l4;
        for (unsigned shift = 39; shift > 12; shift -= 9) {
            u64& e = t[(va >> shift) & 511];
            if (!(e & paging::PTE_P)) e = (d.p2m[next++] << PAGE_SHIFT) | LN_PROT;
            t = static_cast<u64*>(phys_to_virt(e & paging::PTE_ADDR));
        }
        u64 page_pfn = next++;
        t[(va >> 12) & 511] = (d.p2m[page_pfn] << PAGE_SHIFT) | L1_PROT | paging::PTE_D;
        // The entries of pfns whose slots lie in this page.
        auto* page = static_cast<u8*>(pfn_virt(d, page_pfn));
        u64 lo = va, hi = min(align_down(va, PAGE_SIZE) + PAGE_SIZE, l.p2m_end);
        for (u64 a = lo; a < hi; a += sizeof(u64)) {
            u64 mfn = d.p2m[(a - l.p2m_start) / sizeof(u64)];
            mem_copy(page + (a & (PAGE_SIZE - 1)), &mfn, sizeof mfn);
        }
    }
    return next - l.first_p2m_pfn;
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
    Layout l;
    // The same Diagnostics (a second one would not fit the boot stack), from its next message.
    if (usize seen = diags.count(); !dom0_compute_layout(parms, in.initrd_len, nr_pages, l, diags)) {
        for (usize i = seen; i < diags.count(); ++i) pv_err("dom0 kernel: %s\n", diags.message(i));
        return nullptr;
    }

    // No port limit of its own (Xen's dom0 max_evtchn_port -1): the ABI's applies, 4095 for
    // 2-level and 2^17 - 1 for FIFO.
    DomainConfig config{0, true, in.nr_vcpus, in.nr_vcpus, ~evtchn_port_t{0}, false};
    Result<PvDomain*> created = domain_create(config);
    if (!created) {
        pv_err("dom0: cannot create the domain: %s\n", errno_name(created.error()));
        return nullptr;
    }
    PvDomain* d = *created;
    if (!allocate_memory(*d, nr_pages)) {
        pv_err("dom0: out of memory for %lu pages\n", nr_pages);
        return nullptr;
    }


    build_page_tables(*d, l);
    if (l.p2m_separate && map_separate_p2m(*d, l) != l.nr_p2m_frames) {
        pv_err("dom0: the p2m list's mapping took other frames than planned\n");
        return nullptr;
    }

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

    // The guest's p2m list (unless INIT_P2M placed it), then start_info.
    for (u64 pfn = 0; !l.p2m_separate && pfn < nr_pages; ++pfn) {
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
    si_info->first_p2m_pfn = l.first_p2m_pfn;
    si_info->nr_p2m_frames = l.nr_p2m_frames;
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
    if (l.p2m_separate)
        pv_info("dom0: p2m list at %#lx-%#lx (INIT_P2M), %lu frames with its page tables from pfn %#lx\n",
                l.p2m_start, l.p2m_end, l.nr_p2m_frames, l.first_p2m_pfn);
    d->state = DomainState::running;
    return d;
}

}  // namespace pv::arch::pv
