#include "guest/lib/builder/builder.hpp"

#include "core/bzimage.hpp"
#include "core/machine_map.hpp"
#include "guest/lib/builder/foreign.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/hypercall.hpp"
#include "lib/string.hpp"

namespace pvb {

namespace {

static_assert(sizeof(xen_pfn_t) == sizeof(u64));

// The p2m (pfn -> mfn) of a domain under construction when the caller gives none.  One domain
// is built at a time.
constinit xen_pfn_t g_static_p2m[STATIC_P2M_PAGES];

// libxl's LIBXL_MAXMEM_CONSTANT: max_mem is the domain's memory plus 1 MiB.
constexpr u64 MAXMEM_SLACK_KB = 1024;
constexpr u32 E820_RAM = 1;  // the BIOS's (and Xen's asm/e820.h) type of usable RAM

Result<void> create(const BuildConfig& cfg, BuiltDomain& out, Diagnostics& diags) {
    xen_domctl op{};
    xen_domctl_createdomain& c = op.u.createdomain;
    c.ssidref = 0;
    c.flags = 0;  // PV: no HVM, no HAP
    c.max_vcpus = cfg.max_vcpus;
    c.max_evtchn_port = 1023;   // libxl's default event_channels
    c.max_grant_frames = 64;    // libxl's and Xen's default
    c.max_maptrack_frames = cfg.max_maptrack_frames;
    c.grant_opts = XEN_DOMCTL_GRANT_version(1);
    c.arch.emulation_flags = 0;  // PV: nothing emulated
    // Domain id 0 in the request means "allocate one"; the new id comes back in op.domain.
    Result<void> r = domctl(op, XEN_DOMCTL_createdomain, 0, diags);
    if (!r) return r;
    out.domid = op.domain;

    op = {};
    op.u.max_vcpus.max = cfg.max_vcpus;
    if (!(r = domctl(op, XEN_DOMCTL_max_vcpus, out.domid, diags))) return r;
    op = {};
    op.u.address_size.size = 64;
    if (!(r = domctl(op, XEN_DOMCTL_set_address_size, out.domid, diags))) return r;
    op = {};
    op.u.max_mem.max_memkb = cfg.memory / KiB + MAXMEM_SLACK_KB;
    if (!(r = domctl(op, XEN_DOMCTL_max_mem, out.domid, diags))) return r;
    // The memory map the kernel sees (XENMEM_memory_map): all RAM up to maxmem, above what it
    // starts with, so that it may balloon up.
    E820Out ram{0, cfg.maxmem > cfg.memory ? cfg.maxmem : cfg.memory, E820_RAM};
    xen_foreign_memory_map_t map{};
    map.domid = out.domid;
    map.map.nr_entries = 1;
    set_xen_guest_handle(map.map.buffer, &ram);
    Result<long> rc = hypercall_result(pvg::hc::memory_op(XENMEM_set_memory_map, &map), "XENMEM_set_memory_map", diags);
    return rc ? ok() : error(rc.error());
}

Result<void> populate(domid_t dom, u64* p2m, u64 nr_pages, Diagnostics& diags) {
    for (u64 pfn = 0; pfn < nr_pages; ++pfn) p2m[pfn] = pfn;
    xen_memory_reservation res{};
    set_xen_guest_handle(res.extent_start, p2m);
    res.nr_extents = nr_pages;
    res.extent_order = 0;
    res.domid = dom;
    Result<long> r = hypercall_result(pvg::hc::memory_op(XENMEM_populate_physmap, &res),
                                      "XENMEM_populate_physmap", diags);
    if (!r) return error(r.error());
    if (static_cast<u64>(*r) != nr_pages) {
        diags.error("XENMEM_populate_physmap gave d%u %ld of %lu pages", dom, *r, nr_pages);
        return error(XEN_ENOMEM);
    }
    return ok();
}

Result<u32> alloc_unbound(domid_t dom, Diagnostics& diags) {
    evtchn_alloc_unbound_t a{};
    a.dom = dom;
    a.remote_dom = 0;  // the backends (xenstored, xenconsoled) would live in dom0
    Result<long> r = hypercall_result(pvg::hc::event_channel_op(EVTCHNOP_alloc_unbound, &a),
                                      "EVTCHNOP_alloc_unbound", diags);
    if (!r) return error(r.error());
    return u32{a.port};
}

// The toolstack's grant entries (libxenguest's xc_dom_gnttab_seed, through its compat path for
// PV): GNTTAB_RESERVED_CONSOLE and GNTTAB_RESERVED_XENSTORE let domain 0's console backend and
// xenstored map those pages by grant, as Xen 4.17's xenstored does.  The table's first frame
// comes from GNTTABOP_setup_table on the new domain and is written through a foreign mapping.
Result<void> seed_grants(ForeignWindow& win, domid_t dom, u64 console_mfn, u64 store_mfn, Diagnostics& diags) {
    xen_pfn_t frame = 0;
    gnttab_setup_table_t op{};
    op.dom = dom;
    op.nr_frames = 1;
    set_xen_guest_handle(op.frame_list, &frame);
    Result<long> r = hypercall_result(pvg::hc::grant_table_op(GNTTABOP_setup_table, &op, 1),
                                      "GNTTABOP_setup_table", diags);
    if (!r) return error(r.error());
    if (op.status != GNTST_okay) {
        diags.error("GNTTABOP_setup_table for d%u: status %d", dom, op.status);
        return error(XEN_EINVAL);
    }
    u8* p = win.map(frame);
    if (!p) return error(XEN_EFAULT);
    auto* gnttab = reinterpret_cast<grant_entry_v1_t*>(p);
    const u64 frames[] = {console_mfn, store_mfn};
    const grant_ref_t refs[] = {GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE};
    for (unsigned i = 0; i < 2; ++i) {
        gnttab[refs[i]].domid = 0;  // the backends live in domain 0
        gnttab[refs[i]].frame = static_cast<u32>(frames[i]);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        gnttab[refs[i]].flags = GTF_permit_access;
    }
    return win.release();
}

Result<void> write_images(DomainImage& img, const BuildConfig& cfg, const ElfInfo& elf,
                          const XenGuestParams& params) {
    Result<void> r = img.clear_allocated();
    if (r) r = load_kernel(img, elf, params);
    if (r && cfg.ramdisk_size) r = load_ramdisk(img, cfg.ramdisk, cfg.ramdisk_size);
    if (r) r = write_p2m(img);
    if (r) r = build_page_tables(img);
    return r;
}

Result<void> setup_shared_info(ForeignWindow& win, u64 mfn, Diagnostics& diags) {
    u8* p = win.map(mfn);
    if (!p) {
        diags.error("cannot map the shared_info frame 0x%lx", mfn);
        return error(XEN_EFAULT);
    }
    auto* s = reinterpret_cast<shared_info_t*>(p);
    mem_set(s, 0, sizeof(*s));
    for (auto& v : s->vcpu_info) v.evtchn_upcall_mask = 1;
    return win.release();
}

Result<void> build_inner(const BuildConfig& cfg, BuiltDomain& out, Diagnostics& diags) {
    Result<KernelImage> image = kernel_probe(cfg.kernel, cfg.kernel_size, diags);
    if (!image) return error(image.error());
    const u8* kernel = image->elf;
    usize kernel_size = image->elf_size;
    if (!kernel) {
        static XzDecoder xz;  // ~28 KiB of LZMA state: not on the stack
        if (Result<void> u = kernel_decompress(*image, xz, cfg.unpack_buf, cfg.unpack_size, diags); !u) return u;
        kernel = cfg.unpack_buf;
        kernel_size = image->decompressed_size;
    }
    ElfInfo elf;
    XenGuestParams params;
    Result<void> r = elf_parse(kernel, kernel_size, elf, diags);
    if (r) r = xen_parse_guest(elf, params, diags);
    if (!r) {
        diags.error("the kernel is not a usable 64-bit Xen PV image");
        return r;
    }
    if (params.feature_required(XENFEAT_auto_translated_physmap)) {
        diags.error("the kernel requires auto-translated physmap: PV autotranslate is not supported");
        return error(XEN_EOPNOTSUPP);
    }
    const u64 nr_pages = cfg.memory >> PAGE_SHIFT;
    if (nr_pages == 0 || !is_aligned(cfg.memory, PAGE_SIZE)) {
        diags.error("memory 0x%lx: must be whole pages, at least one", cfg.memory);
        return error(XEN_EINVAL);
    }
    u64* const p2m = cfg.p2m ? cfg.p2m : g_static_p2m;
    const u64 p2m_entries = cfg.p2m ? cfg.p2m_entries : STATIC_P2M_PAGES;
    if (nr_pages > p2m_entries) {
        diags.error("%lu MiB: the p2m table holds %lu MiB", cfg.memory / MiB, p2m_entries * PAGE_SIZE / MiB);
        return error(XEN_ENOMEM);
    }
    if (cfg.max_vcpus == 0) {
        diags.error("a domain needs at least one vCPU");
        return error(XEN_EINVAL);
    }
    LayoutInput in;
    in.virt_base = params.virt_base;
    in.virt_kstart = params.virt_kstart;
    in.virt_kend = params.virt_kend;
    in.nr_pages = nr_pages;
    in.ramdisk_size = cfg.ramdisk_size;
    in.unmapped_ramdisk = params.unmapped_initrd;
    Result<DomainLayout> layout = compute_layout(in, diags);
    if (!layout) return error(layout.error());
    out.layout = *layout;
    const DomainLayout& L = out.layout;

    if (!(r = create(cfg, out, diags))) return r;
    if (!(r = populate(out.domid, p2m, nr_pages, diags))) return r;

    ForeignWindow win(out.domid, cfg.self_pt_base, cfg.self_virt_base, diags);
    DomainImage img{L, p2m, win, diags};
    if (!(r = write_images(img, cfg, elf, params))) return r;

    Result<u32> store = alloc_unbound(out.domid, diags);
    if (!store) return error(store.error());
    out.store_evtchn = *store;
    Result<u32> console = alloc_unbound(out.domid, diags);
    if (!console) return error(console.error());
    out.console_evtchn = *console;
    out.console_mfn = p2m[L.console_pfn];
    out.store_mfn = p2m[L.xenstore_pfn];
    if (!(r = seed_grants(win, out.domid, out.console_mfn, out.store_mfn, diags))) return r;

    Result<xen_domctl_getdomaininfo> info = domain_info(out.domid, diags);
    if (!info) return error(info.error());
    out.shared_info_mfn = info->shared_info_frame;

    start_info_t si;
    StartInfoInput sin;
    sin.cmdline = cfg.cmdline;
    sin.shared_info_mfn = out.shared_info_mfn;
    sin.store_evtchn = out.store_evtchn;
    sin.console_evtchn = out.console_evtchn;
    fill_start_info(si, L, p2m, sin);
    if (!(r = img.write_phys(L.start_info_pfn << PAGE_SHIFT, reinterpret_cast<const u8*>(&si), sizeof(si))))
        return r;

    if (params.virt_hypercall != XenGuestParams::UNSET) {
        xen_domctl op{};
        op.u.hypercall_init.gmfn = p2m[(params.virt_hypercall - L.virt_base) >> PAGE_SHIFT];
        if (!(r = domctl(op, XEN_DOMCTL_hypercall_init, out.domid, diags))) return r;
    }

    // No writable mapping of a table may remain when Xen validates them for the pin.
    if (!(r = win.release())) return r;
    mmuext_op_t pin{};
    pin.cmd = MMUEXT_PIN_L4_TABLE;
    pin.arg1.mfn = p2m[L.pgtables.pfn];
    Result<long> rc = hypercall_result(pvg::hc::mmuext_op(&pin, 1, nullptr, out.domid),
                                       "mmuext_op(MMUEXT_PIN_L4_TABLE)", diags);
    if (!rc) return error(rc.error());

    if (!(r = setup_shared_info(win, out.shared_info_mfn, diags))) return r;

    vcpu_guest_context_t ctx;
    fill_vcpu_context(ctx, L, p2m, params.virt_entry);
    out.entry = params.virt_entry;
    out.l4_mfn = p2m[L.pgtables.pfn];
    xen_domctl op{};
    op.u.vcpucontext.vcpu = 0;
    set_xen_guest_handle(op.u.vcpucontext.ctxt, &ctx);
    return domctl(op, XEN_DOMCTL_setvcpucontext, out.domid, diags);
}

}  // namespace

Result<void> build_domain(const BuildConfig& cfg, BuiltDomain& out, Diagnostics& diags) {
    out = BuiltDomain{};
    Result<void> r = build_inner(cfg, out, diags);
    if (!r && out.domid != DOMID_INVALID) {
        xen_domctl op{};
        (void)domctl(op, XEN_DOMCTL_destroydomain, out.domid, diags);
        out.domid = DOMID_INVALID;
    }
    return r;
}

Result<void> unpause(domid_t dom, Diagnostics& diags) {
    xen_domctl op{};
    return domctl(op, XEN_DOMCTL_unpausedomain, dom, diags);
}

Result<unsigned> wait_for_shutdown(domid_t dom, u64 max_polls, Diagnostics& diags) {
    for (u64 i = 0; i < max_polls; ++i) {
        Result<xen_domctl_getdomaininfo> info = domain_info(dom, diags);
        if (!info) return error(info.error());
        if (info->flags & XEN_DOMINF_shutdown)
            return (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
        pvg::hc::sched_op(SCHEDOP_yield, nullptr);
    }
    diags.error("d%u did not shut down within %lu polls", dom, max_polls);
    return error(XEN_ETIMEDOUT);
}

Result<void> destroy(domid_t dom, u64 max_polls, Diagnostics& diags) {
    xen_domctl op{};
    Result<void> r = domctl(op, XEN_DOMCTL_destroydomain, dom, diags);
    if (!r) return r;
    // Destruction finishes after an RCU grace period: until then getdomaininfo still lists
    // the domain, as dying.
    Diagnostics quiet;
    for (u64 i = 0; i < max_polls; ++i) {
        Result<xen_domctl_getdomaininfo> info = domain_info(dom, quiet);
        if (!info && info.error() == XEN_ESRCH) return ok();
        pvg::hc::sched_op(SCHEDOP_yield, nullptr);
    }
    diags.error("d%u still exists %lu polls after XEN_DOMCTL_destroydomain", dom, max_polls);
    return error(XEN_ETIMEDOUT);
}

Result<usize> read_console(const BuiltDomain& d, const BuildConfig& cfg, char* buf, usize size,
                           Diagnostics& diags) {
    ForeignWindow win(d.domid, cfg.self_pt_base, cfg.self_virt_base, diags);
    const u8* p = win.map(d.console_mfn);
    if (!p || size == 0) return error(XEN_EFAULT);
    const auto* ring = reinterpret_cast<const xencons_interface*>(p);
    const XENCONS_RING_IDX prod = ring->out_prod;
    XENCONS_RING_IDX cons = ring->out_cons;
    usize n = 0;
    // At most one ring's worth: a guest that claims more has wrapped over its own output.
    if (prod - cons > sizeof(ring->out)) cons = prod - static_cast<XENCONS_RING_IDX>(sizeof(ring->out));
    for (; cons != prod && n + 1 < size; ++cons) buf[n++] = ring->out[MASK_XENCONS_IDX(cons, ring->out)];
    buf[n] = '\0';
    Result<void> r = win.release();
    if (!r) return error(r.error());
    return n;
}

const char* shutdown_name(unsigned code) {
    // Indexed by the SHUTDOWN_* values of public/sched.h, which are 0..5 in order.
    static constexpr const char* NAMES[] = {"poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset"};
    static_assert(SHUTDOWN_poweroff == 0 && SHUTDOWN_crash == 3 && SHUTDOWN_soft_reset == 5);
    return code < array_size(NAMES) ? NAMES[code] : nullptr;
}

}  // namespace pvb
