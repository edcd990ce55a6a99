#include "guest/dom0/toolstack.hpp"

#include "core/bzimage.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "lib/format.hpp"

#include <xen/io/xenbus.h>

namespace dom0 {

namespace {

// libxl's default (LIBXL_MAX_MAPTRACK_FRAMES_DEFAULT, also Xen's limit): domUs map grants.
constexpr u32 MAPTRACK_FRAMES = 1024;

// Bound on the wait for a destroyed domain to leave getdomaininfo (polls with a yield between).
constexpr u64 DESTROY_POLLS = 2'000'000;

// A permission list for SET_PERMS: the owner (no access for others), then one reader.
u32 perms_owner_reader(char* buf, usize size, u32 owner, u32 reader) {
    usize n = pv::format(buf, size, "n%u", owner) + 1;
    n += pv::format(buf + n, size - n, "r%u", reader) + 1;
    return static_cast<u32>(n);
}

}  // namespace

// Perms as libxl sets them: the domain's directory is dom0's, readable by the domain; the
// nodes a domain writes (data, control/shutdown and the other OWN_NODES, the console frontend)
// are its own.
int Toolstack::write_tree(domid_t dom, const DomainSpec& spec, const pvb::BuiltDomain& b) {
    xb::XsClient& xs = store_.client();
    char base[40], path[96], v[32], perms[32];
    pv::format(base, sizeof(base), "/local/domain/%u", dom);
    u32 tx = 0;
    int err = xs.transaction_start(&tx);
    if (err) return err;
    auto put = [&](const char* rel, const char* value) {
        if (err) return;
        pv::format(path, sizeof(path), "%s/%s", base, rel);
        err = xs.write(path, value, tx);
    };
    auto own = [&](const char* rel, u32 n) {
        if (err) return;
        pv::format(path, sizeof(path), "%s/%s", base, rel);
        err = xs.set_perms(path, perms, n, tx);
    };
    if (!(err = xs.mkdir(base, tx)))
        err = xs.set_perms(base, perms, perms_owner_reader(perms, sizeof(perms), 0, dom), tx);
    put("name", spec.name);
    pv::format(v, sizeof(v), "%u", dom);
    put("domid", v);
    pv::format(v, sizeof(v), "%lu", spec.maxmem / 1024);
    put("memory/static-max", v);
    pv::format(v, sizeof(v), "%lu", spec.memory / 1024);
    put("memory/target", v);
    for (u32 i = 0; i < spec.max_vcpus && !err; ++i) {
        char rel[32];
        pv::format(rel, sizeof(rel), "cpu/%u/availability", i);
        put(rel, i < spec.vcpus ? "online" : "offline");
    }
    pv::format(v, sizeof(v), "%u", b.store_evtchn);
    put("store/port", v);
    pv::format(v, sizeof(v), "%lu", b.store_mfn);
    put("store/ring-ref", v);
    // libxl__domain_make's nodes the domain writes: Linux announces its control features
    // (control/feature-*) and fails loudly when it may not.
    static constexpr const char* OWN_NODES[] = {"control/shutdown", "control/feature-poweroff",
                                                "control/feature-reboot", "control/feature-suspend",
                                                "control/sysrq", "data", "drivers", "feature", "attr", "error"};
    for (const char* node : OWN_NODES) put(node, "");
    pv::format(v, sizeof(v), "%lu", b.console_mfn);
    put("console/ring-ref", v);
    pv::format(v, sizeof(v), "%u", b.console_evtchn);
    put("console/port", v);
    put("console/limit", "1048576");
    put("console/type", "xenconsoled");
    put("console/output", "pty");
    const u32 n = perms_owner_reader(perms, sizeof(perms), dom, 0);
    for (const char* node : OWN_NODES) own(node, n);
    own("console", n);
    if (err) {
        (void)xs.transaction_end(tx, false);
        return err;
    }
    return xs.transaction_end(tx, true);
}

Toolstack::Toolstack(const start_info_t* si, StoreService& store, ConsoleService& console)
    : si_(si),
      store_(store),
      console_(console),
      own_tables_(si->pt_base, reinterpret_cast<uptr>(__image_start)),
      scratch_(si, reinterpret_cast<uptr>(__image_start), own_tables_) {}

pv::Result<void> Toolstack::scratch(const DomainSpec& spec, pvb::BuildConfig& cfg, pv::Diagnostics& diags) {
    pv::Result<pv::KernelImage> k = pv::kernel_probe(spec.kernel, spec.kernel_size, diags);
    if (!k) return pv::error(k.error());
    const u64 pages = spec.memory / pvb::PAGE_SIZE;
    const u64 p2m_bytes = pages > pvb::STATIC_P2M_PAGES ? pv::align_up(pages * sizeof(u64), pvb::PAGE_SIZE) : 0;
    const u64 unpack_bytes = k->elf ? 0 : pv::align_up<u64>(k->decompressed_size, pvb::PAGE_SIZE);
    if (!p2m_bytes && !unpack_bytes) return pv::ok();
    pv::Result<u8*> buf = scratch_.reserve(p2m_bytes + unpack_bytes, diags);
    if (!buf) {
        if (unpack_bytes) diags.error("the kernel decompresses to %lu MiB", (unpack_bytes + pvb::MiB - 1) / pvb::MiB);
        return pv::error(buf.error());
    }
    if (p2m_bytes) {
        cfg.p2m = reinterpret_cast<u64*>(*buf);
        cfg.p2m_entries = pages;
    }
    if (unpack_bytes) {
        cfg.unpack_buf = *buf + p2m_bytes;
        cfg.unpack_size = unpack_bytes;
    }
    return pv::ok();
}

pv::Result<domid_t> Toolstack::create(const DomainSpec& spec, pv::Diagnostics& diags) {
    pvb::BuildConfig cfg;
    if (pv::Result<void> s = scratch(spec, cfg, diags); !s) return pv::error(s.error());
    cfg.kernel = spec.kernel;
    cfg.kernel_size = spec.kernel_size;
    cfg.ramdisk = spec.ramdisk;
    cfg.ramdisk_size = spec.ramdisk_size;
    cfg.memory = spec.memory;
    cfg.maxmem = spec.maxmem;
    cfg.max_vcpus = spec.max_vcpus;
    cfg.cmdline = spec.cmdline;
    cfg.max_maptrack_frames = MAPTRACK_FRAMES;
    cfg.self_pt_base = si_->pt_base;
    cfg.self_virt_base = reinterpret_cast<uptr>(__image_start);
    pvb::BuiltDomain b;
    pv::Result<void> r = pvb::build_domain(cfg, b, diags);
    if (!r) return pv::error(r.error());
    const domid_t dom = b.domid;
    int err = write_tree(dom, spec, b);
    if (!err) err = store_.client().introduce(dom, b.store_mfn, b.store_evtchn);
    if (err) diags.error("d%u: XenStore: %s", dom, xs::error_string(err));
    long rc = err ? 0 : console_.attach(dom, spec.name, b.console_evtchn);
    if (rc) diags.error("d%u: console backend: %ld", dom, rc);
    if (err || rc) {
        pv::Diagnostics quiet;
        (void)destroy(dom, quiet);
        return pv::error(XEN_EIO);
    }
    return dom;
}

int Toolstack::add_device(const char* type, domid_t front, domid_t back) {
    xb::XsClient& xs = store_.client();
    char fdir[96], bdir[96], path[128], v[16], perms[32];
    pv::format(fdir, sizeof(fdir), "/local/domain/%u/device/%s/0", front, type);
    pv::format(bdir, sizeof(bdir), "/local/domain/%u/backend/%s/%u/0", back, type, front);
    u32 tx = 0;
    int err = xs.transaction_start(&tx);
    if (err) return err;
    auto put = [&](const char* dir, const char* key, const char* value) {
        if (err) return;
        pv::format(path, sizeof(path), "%s/%s", dir, key);
        err = xs.write(path, value, tx);
    };
    auto own = [&](const char* dir, u32 owner, u32 reader) {
        if (!err) err = xs.set_perms(dir, perms, perms_owner_reader(perms, sizeof(perms), owner, reader), tx);
    };
    pv::format(v, sizeof(v), "%u", XenbusStateInitialising);
    put(fdir, "state", v);
    put(fdir, "backend", bdir);
    put(bdir, "state", v);
    put(bdir, "frontend", fdir);
    pv::format(v, sizeof(v), "%u", back);
    put(fdir, "backend-id", v);
    pv::format(v, sizeof(v), "%u", front);
    put(bdir, "frontend-id", v);
    // The directories and every node in them: owned by their domain, readable by the other.
    own(fdir, front, back);
    const char* fkeys[] = {"state", "backend", "backend-id"};
    const char* bkeys[] = {"state", "frontend", "frontend-id"};
    for (const char* k : fkeys) {
        pv::format(path, sizeof(path), "%s/%s", fdir, k);
        own(path, front, back);
    }
    own(bdir, back, front);
    for (const char* k : bkeys) {
        pv::format(path, sizeof(path), "%s/%s", bdir, k);
        own(path, back, front);
    }
    if (err) {
        (void)xs.transaction_end(tx, false);
        return err;
    }
    return xs.transaction_end(tx, true);
}

pv::Result<void> Toolstack::destroy(domid_t dom, pv::Diagnostics& diags) {
    console_.drain(dom);
    xen_domctl op{};
    pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_destroydomain, dom, diags);
    if (!r) return r;
    // The domain is dying now: xenstored lets go of it as VIRQ_DOM_EXC would make it, and the
    // console goes too; only then can its last frames (mapped by us) return to the hypervisor.
    store_.check_domains();
    console_.detach(dom);
    char path[40];
    pv::format(path, sizeof(path), "/local/domain/%u", dom);
    (void)store_.client().rm(path);
    pv::Diagnostics quiet;
    for (u64 i = 0; i < DESTROY_POLLS; ++i) {
        pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(dom, quiet);
        if (!info && info.error() == XEN_ESRCH) return pv::ok();
        hc::sched_op(SCHEDOP_yield, nullptr);
    }
    diags.error("d%u still exists after XEN_DOMCTL_destroydomain", dom);
    return pv::error(XEN_ETIMEDOUT);
}

}  // namespace dom0
