#include "guest/dom0/xl_backend.hpp"

#include "guest/lib/builder/cpio.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/time.hpp"
#include "lib/string.hpp"

namespace dom0 {

namespace {

constexpr u64 NS_PER_S = 1'000'000'000;
constexpr u64 KIB_PER_PAGE = 4;

// libxl's errors come out of our diagnostics as its logger would print them.
void report(const pv::Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i) print("libxl: error: %s\n", diags.message(i));
}

pv::Result<void> simple_domctl(u32 cmd, u32 domid) {
    xen_domctl op{};
    pv::Diagnostics quiet;
    return pvb::domctl(op, cmd, static_cast<domid_t>(domid), quiet);
}

const char* scheduler_name(u32 id) {
    switch (id) {
    case XEN_SCHEDULER_CREDIT: return "credit";
    case XEN_SCHEDULER_CREDIT2: return "credit2";
    case XEN_SCHEDULER_RTDS: return "rtds";
    case XEN_SCHEDULER_ARINC653: return "arinc653";
    case XEN_SCHEDULER_NULL: return "null";
    default: return "unknown";
    }
}

// HYPERVISOR_xen_version's string answers (each a fixed-size char array) into out.
template <typename T>
void version_string(int cmd, char* out, usize size) {
    T v{};
    if (hc::xen_version(cmd, &v) == 0) pv::format(out, size, "%.*s", static_cast<int>(sizeof(v)), v);
}

// The domain's vCPU affinities (either pointer may be nullptr).
pv::Result<void> affinity_op(u32 cmd, u32 domid, u32 vcpu, u64* hard, u64* soft) {
    u8 hmap[8] = {}, smap[8] = {};
    for (usize i = 0; i < 8; ++i) {
        if (hard) hmap[i] = static_cast<u8>(*hard >> (8 * i));
        if (soft) smap[i] = static_cast<u8>(*soft >> (8 * i));
    }
    xen_domctl op{};
    op.u.vcpuaffinity.vcpu = vcpu;
    op.u.vcpuaffinity.flags = (hard ? XEN_VCPUAFFINITY_HARD : 0u) | (soft ? XEN_VCPUAFFINITY_SOFT : 0u);
    set_xen_guest_handle(op.u.vcpuaffinity.cpumap_hard.bitmap, hmap);
    op.u.vcpuaffinity.cpumap_hard.nr_bits = hard ? 64 : 0;
    set_xen_guest_handle(op.u.vcpuaffinity.cpumap_soft.bitmap, smap);
    op.u.vcpuaffinity.cpumap_soft.nr_bits = soft ? 64 : 0;
    pv::Diagnostics quiet;
    pv::Result<void> r = pvb::domctl(op, cmd, static_cast<domid_t>(domid), quiet);
    if (!r) return r;
    auto mask = [](const u8* m) {
        u64 v = 0;
        for (usize i = 0; i < 8; ++i) v |= u64{m[i]} << (8 * i);
        return v;
    };
    if (hard) *hard = mask(hmap);
    if (soft) *soft = mask(smap);
    return pv::ok();
}

}  // namespace

void XlBackend::init() {
    (void)xs_write(0, "name", "Domain-0");
    (void)xs_write(0, "domid", "0");
}

XlBackend::Record* XlBackend::record(u32 domid) {
    for (Record& r : records_)
        if (r.used && r.domid == domid) return &r;
    return nullptr;
}

pv::Result<void> XlBackend::xs_write(u32 domid, const char* rel, const char* value) {
    char path[96];
    pv::format(path, sizeof(path), "/local/domain/%u/%s", domid, rel);
    const int err = store_.client().write(path, value);
    return err ? pv::error(static_cast<pv::Errno>(err)) : pv::ok();
}

pv::Result<void> XlBackend::list_domains(xl::DomainInfo* out, usize max, usize* count) {
    *count = 0;
    pv::Diagnostics quiet;
    for (u32 next = 0; next < DOMID_FIRST_RESERVED && *count < max;) {
        xen_domctl op{};
        // Xen answers with the first domain whose id is at least `next`.
        pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_getdomaininfo, static_cast<domid_t>(next), quiet);
        if (!r) {
            if (r.error() == XEN_ESRCH) break;
            return r;
        }
        const xen_domctl_getdomaininfo& g = op.u.getdomaininfo;
        xl::DomainInfo& d = out[(*count)++];
        d = xl::DomainInfo{};
        d.domid = g.domain;
        pv::mem_copy(d.handle, g.handle, sizeof(d.handle));
        d.current_kib = g.tot_pages * KIB_PER_PAGE;
        d.max_kib = g.max_pages * KIB_PER_PAGE;
        d.outstanding_kib = g.outstanding_pages * KIB_PER_PAGE;
        d.vcpu_online = g.nr_online_vcpus;
        d.vcpu_max = g.max_vcpu_id + 1;
        d.running = g.flags & XEN_DOMINF_running;
        d.blocked = g.flags & XEN_DOMINF_blocked;
        d.paused = g.flags & XEN_DOMINF_paused;
        d.shutdown = g.flags & XEN_DOMINF_shutdown;
        d.dying = g.flags & XEN_DOMINF_dying;
        d.shutdown_reason = (g.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
        d.cpu_time_ns = g.cpu_time;
        char path[48];
        u32 len = 0;
        pv::format(path, sizeof(path), "/local/domain/%u/name", g.domain);
        if (store_.client().read(path, d.name, sizeof(d.name), &len) != 0) d.name[0] = '\0';
        next = g.domain + 1u;
    }
    return pv::ok();
}

pv::Result<void> XlBackend::host_info(xl::HostInfo& h) {
    pv::Diagnostics quiet;
    xen_sysctl op{};
    if (pv::Result<void> r = pvb::sysctl(op, XEN_SYSCTL_physinfo, quiet); !r) return r;
    const xen_sysctl_physinfo& p = op.u.physinfo;
    h = xl::HostInfo{};
    pv::str_copy(h.host, "pvisor-dom0", sizeof(h.host));
    pv::str_copy(h.release, "1.0", sizeof(h.release));
    pv::str_copy(h.version, "pvisor domain 0", sizeof(h.version));
    pv::str_copy(h.machine, "x86_64", sizeof(h.machine));
    h.nr_cpus = p.nr_cpus;
    h.max_cpu_id = p.max_cpu_id;
    h.nr_nodes = p.nr_nodes;
    h.cores_per_socket = p.cores_per_socket;
    h.threads_per_core = p.threads_per_core;
    h.cpu_khz = p.cpu_khz;
    for (usize i = 0; i < 8; ++i) h.hw_cap[i] = p.hw_cap[i];
    struct Cap {
        u32 bit;
        const char* name;
    };
    static constexpr Cap CAPS[] = {{XEN_SYSCTL_PHYSCAP_pv, " pv"},
                                   {XEN_SYSCTL_PHYSCAP_hvm, " hvm"},
                                   {XEN_SYSCTL_PHYSCAP_hap, " hap"},
                                   {XEN_SYSCTL_PHYSCAP_shadow, " shadow"},
                                   {XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share, " iommu_hap_pt_share"},
                                   {XEN_SYSCTL_PHYSCAP_vmtrace, " vmtrace"},
                                   {XEN_SYSCTL_PHYSCAP_vpmu, " vpmu"},
                                   {XEN_SYSCTL_PHYSCAP_gnttab_v1, " gnttab-v1"},
                                   {XEN_SYSCTL_PHYSCAP_gnttab_v2, " gnttab-v2"}};
    usize n = 0;
    for (const Cap& c : CAPS)
        if (p.capabilities & c.bit) n += pv::format(h.virt_caps + n, sizeof(h.virt_caps) - n, "%s", c.name);
    h.total_pages = p.total_pages;
    h.free_pages = p.free_pages;
    h.outstanding_pages = p.outstanding_pages;
    xen_sysctl sched{};
    if (pvb::sysctl(sched, XEN_SYSCTL_sched_id, quiet))
        pv::str_copy(h.xen_scheduler, scheduler_name(sched.u.sched_id.sched_id), sizeof(h.xen_scheduler));
    const long ver = hc::xen_version(XENVER_version, nullptr);
    h.xen_major = static_cast<u32>(ver >> 16);
    h.xen_minor = static_cast<u32>(ver & 0xffff);
    version_string<xen_extraversion_t>(XENVER_extraversion, h.xen_extra, sizeof(h.xen_extra));
    version_string<xen_capabilities_info_t>(XENVER_capabilities, h.xen_caps, sizeof(h.xen_caps));
    version_string<xen_changeset_info_t>(XENVER_changeset, h.changeset, sizeof(h.changeset));
    version_string<xen_commandline_t>(XENVER_commandline, h.commandline, sizeof(h.commandline));
    xen_compile_info_t ci{};
    if (hc::xen_version(XENVER_compile_info, &ci) == 0) {
        pv::format(h.compiler, sizeof(h.compiler), "%.*s", static_cast<int>(sizeof(ci.compiler)), ci.compiler);
        pv::format(h.compile_by, sizeof(h.compile_by), "%.*s", static_cast<int>(sizeof(ci.compile_by)), ci.compile_by);
        pv::format(h.compile_domain, sizeof(h.compile_domain), "%.*s", static_cast<int>(sizeof(ci.compile_domain)),
                   ci.compile_domain);
        pv::format(h.compile_date, sizeof(h.compile_date), "%.*s", static_cast<int>(sizeof(ci.compile_date)),
                   ci.compile_date);
    }
    xen_platform_parameters_t pp{};
    if (hc::xen_version(XENVER_platform_parameters, &pp) == 0) h.virt_start = pp.virt_start;
    const long pagesize = hc::xen_version(XENVER_pagesize, nullptr);
    h.pagesize = pagesize > 0 ? static_cast<u32>(pagesize) : 0;
    return pv::ok();
}

pv::Result<const xlcfg::DomainConfig*> XlBackend::domain_config(u32 domid) {
    Record* r = record(domid);
    if (!r) return pv::error(XEN_ENOENT);
    return &r->cfg;
}

pv::Result<u32> XlBackend::build(const xlcfg::DomainConfig& cfg) {
    Record* rec = nullptr;
    for (Record& r : records_)
        if (!r.used && !rec) rec = &r;
    if (!rec) return pv::error(XEN_ENOSPC);
    DomainSpec spec;
    spec.name = cfg.name;
    spec.cmdline = cfg.cmdline;
    spec.memory = cfg.memory_mib * pvb::MiB;
    spec.maxmem = cfg.maxmem_mib * pvb::MiB;
    spec.max_vcpus = cfg.maxvcpus;
    spec.vcpus = cfg.vcpus;
    const char* data = nullptr;
    if (pv::Result<void> r = read_file(cfg.kernel, &data, &spec.kernel_size); !r) return pv::error(r.error());
    spec.kernel = reinterpret_cast<const u8*>(data);
    if (cfg.ramdisk[0]) {
        if (pv::Result<void> r = read_file(cfg.ramdisk, &data, &spec.ramdisk_size); !r) return pv::error(r.error());
        spec.ramdisk = reinterpret_cast<const u8*>(data);
    }
    pv::Diagnostics diags;
    pv::Result<domid_t> dom = ts_.create(spec, diags);
    report(diags);
    if (!dom) return pv::error(dom.error());
    // What the builder does not: the scheduler parameters and each vCPU's affinity from the
    // config.  (maxmem is memory/static-max only: Xen 4.17's libxl__build_pre sets max_pages
    // from memory, plus 1 MiB, whatever maxmem says.)
    pv::Result<void> r = pv::ok();
    if (cfg.weight != xl::CreditParams{}.weight || cfg.cap != 0)
        r = pvb::set_credit(*dom, static_cast<pv::u16>(cfg.weight), static_cast<pv::u16>(cfg.cap), diags);
    for (u32 v = 0; r && v < cfg.maxvcpus && v < xlcfg::DomainConfig::MAX_VCPUS; ++v)
        if (cfg.affinity[v] != xlcfg::DomainConfig::ALL_CPUS) r = pvb::set_hard_affinity(*dom, v, cfg.affinity[v], diags);
    if (!r) {
        report(diags);
        pv::Diagnostics quiet;
        (void)ts_.destroy(*dom, quiet);
        return pv::error(r.error());
    }
    rec->used = true;
    rec->handled = false;
    rec->domid = *dom;
    rec->created_ns = loop_.now_ns();
    rec->cfg = cfg;
    return u32{*dom};
}

pv::Result<u32> XlBackend::create(const xlcfg::DomainConfig& cfg) {
    for (const Record& r : records_)
        if (r.used && !pv::str_compare(r.cfg.name, cfg.name)) return pv::error(XEN_EEXIST);
    return build(cfg);
}

pv::Result<void> XlBackend::destroy(u32 domid) {
    pv::Diagnostics diags;
    if (!pvb::domain_info(static_cast<domid_t>(domid), diags)) return pv::error(XEN_ESRCH);
    pv::Result<void> r = ts_.destroy(static_cast<domid_t>(domid), diags);
    report(diags);
    if (Record* rec = record(domid)) rec->used = false;
    return r;
}

pv::Result<void> XlBackend::request_shutdown(u32 domid, xl::ShutdownRequest what) {
    pv::Diagnostics quiet;
    if (!pvb::domain_info(static_cast<domid_t>(domid), quiet)) return pv::error(XEN_ESRCH);
    return xs_write(domid, "control/shutdown", what == xl::ShutdownRequest::reboot ? "reboot" : "poweroff");
}

pv::Result<xl::DomainFate> XlBackend::wait_shutdown(u32 domid) {
    pv::Diagnostics quiet;
    for (;;) {
        pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(static_cast<domid_t>(domid), quiet);
        xl::DomainFate fate;
        if (!info) {
            fate.destroyed = true;
            return fate;
        }
        if (info->flags & XEN_DOMINF_shutdown) {
            fate.reason = (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
            return fate;
        }
        // Until VIRQ_DOM_EXC (or anything else) fires.
        const u64 seen = store_.dom_exc_count();
        while (store_.dom_exc_count() == seen) loop_.run_once(0);
    }
}

pv::Result<void> XlBackend::pause(u32 domid) { return simple_domctl(XEN_DOMCTL_pausedomain, domid); }
pv::Result<void> XlBackend::unpause(u32 domid) { return simple_domctl(XEN_DOMCTL_unpausedomain, domid); }

pv::Result<void> XlBackend::rename(u32 domid, const char* name) {
    pv::Diagnostics quiet;
    if (!pvb::domain_info(static_cast<domid_t>(domid), quiet)) return pv::error(XEN_ESRCH);
    for (const Record& r : records_)
        if (r.used && r.domid != domid && !pv::str_compare(r.cfg.name, name)) return pv::error(XEN_EEXIST);
    if (pv::Result<void> r = xs_write(domid, "name", name); !r) return r;
    console_.rename(domid, name);
    if (Record* r = record(domid)) pv::str_copy(r->cfg.name, name, sizeof(r->cfg.name));
    return pv::ok();
}

pv::Result<xl::CreditParams> XlBackend::sched_credit_get(u32 domid) {
    xen_domctl op{};
    op.u.scheduler_op.sched_id = XEN_SCHEDULER_CREDIT;
    op.u.scheduler_op.cmd = XEN_DOMCTL_SCHEDOP_getinfo;
    pv::Diagnostics quiet;
    if (pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_scheduler_op, static_cast<domid_t>(domid), quiet); !r)
        return pv::error(r.error());
    xl::CreditParams p;
    p.weight = op.u.scheduler_op.u.credit.weight;
    p.cap = op.u.scheduler_op.u.credit.cap;
    return p;
}

pv::Result<void> XlBackend::sched_credit_set(u32 domid, const xl::CreditParams& p) {
    pv::Diagnostics quiet;
    return pvb::set_credit(static_cast<domid_t>(domid), static_cast<pv::u16>(p.weight), static_cast<pv::u16>(p.cap),
                           quiet);
}

namespace {

pv::Result<void> pool_op(u32 cmd, xen_sysctl_credit_schedule* params) {
    xen_sysctl op{};
    op.u.scheduler_op.cpupool_id = 0;
    op.u.scheduler_op.sched_id = XEN_SCHEDULER_CREDIT;
    op.u.scheduler_op.cmd = cmd;
    op.u.scheduler_op.u.sched_credit = *params;
    pv::Diagnostics quiet;
    pv::Result<void> r = pvb::sysctl(op, XEN_SYSCTL_scheduler_op, quiet);
    if (r) *params = op.u.scheduler_op.u.sched_credit;
    return r;
}

}  // namespace

pv::Result<xl::CreditPoolParams> XlBackend::sched_credit_pool_get() {
    xen_sysctl_credit_schedule s{};
    if (pv::Result<void> r = pool_op(XEN_SYSCTL_SCHEDOP_getinfo, &s); !r) return pv::error(r.error());
    xl::CreditPoolParams p;
    p.tslice_ms = s.tslice_ms;
    p.ratelimit_us = s.ratelimit_us;
    p.migration_delay_us = s.vcpu_migr_delay_us;
    return p;
}

pv::Result<void> XlBackend::sched_credit_pool_set(const xl::CreditPoolParams& p) {
    xen_sysctl_credit_schedule s{};
    s.tslice_ms = p.tslice_ms;
    s.ratelimit_us = p.ratelimit_us;
    s.vcpu_migr_delay_us = p.migration_delay_us;
    return pool_op(XEN_SYSCTL_SCHEDOP_putinfo, &s);
}

pv::Result<void> XlBackend::set_memory_target(u32 domid, u64 kib) {
    pv::Diagnostics quiet;
    if (!pvb::domain_info(static_cast<domid_t>(domid), quiet)) return pv::error(XEN_ESRCH);
    char path[64], v[32];
    pv::format(path, sizeof(path), "/local/domain/%u/memory/static-max", domid);
    u32 len = 0;
    u64 max = 0;
    if (store_.client().read(path, v, sizeof(v), &len) == 0 && pv::parse_u64(pv::StrView(v, len), &max) && kib > max)
        return pv::error(XEN_EINVAL);
    pv::format(v, sizeof(v), "%lu", kib);
    return xs_write(domid, "memory/target", v);
}

pv::Result<void> XlBackend::set_max_memory(u32 domid, u64 kib) {
    xen_domctl op{};
    op.u.max_mem.max_memkb = kib + 1024;  // libxl's LIBXL_MAXMEM_CONSTANT of slack
    pv::Diagnostics quiet;
    if (pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_max_mem, static_cast<domid_t>(domid), quiet); !r) return r;
    char v[32];
    pv::format(v, sizeof(v), "%lu", kib);
    return xs_write(domid, "memory/static-max", v);
}

pv::Result<void> XlBackend::vcpu_list(u32 domid, xl::VcpuInfo* out, usize max, usize* count) {
    pv::Diagnostics quiet;
    pv::Result<xen_domctl_getdomaininfo> d = pvb::domain_info(static_cast<domid_t>(domid), quiet);
    if (!d) return pv::error(d.error());
    *count = 0;
    for (u32 v = 0; v <= d->max_vcpu_id && *count < max; ++v) {
        pv::Result<xen_domctl_getvcpuinfo> g = pvb::vcpu_info(static_cast<domid_t>(domid), v, quiet);
        if (!g) return pv::error(g.error());
        xl::VcpuInfo& i = out[(*count)++];
        i = xl::VcpuInfo{};
        i.vcpuid = v;
        i.cpu = g->cpu;
        i.online = g->online;
        i.running = g->running;
        i.blocked = g->blocked;
        i.time_ns = g->cpu_time;
        if (pv::Result<void> r = affinity_op(XEN_DOMCTL_getvcpuaffinity, domid, v, &i.hard_affinity, &i.soft_affinity);
            !r)
            return r;
    }
    return pv::ok();
}

pv::Result<void> XlBackend::vcpu_pin(u32 domid, u32 vcpu, const u64* hard, const u64* soft) {
    u64 h = hard ? *hard : 0, s = soft ? *soft : 0;
    return affinity_op(XEN_DOMCTL_setvcpuaffinity, domid, vcpu, hard ? &h : nullptr, soft ? &s : nullptr);
}

pv::Result<void> XlBackend::vcpu_set_online(u32 domid, u32 n) {
    pv::Diagnostics quiet;
    pv::Result<xen_domctl_getdomaininfo> d = pvb::domain_info(static_cast<domid_t>(domid), quiet);
    if (!d) return pv::error(d.error());
    for (u32 v = 0; v <= d->max_vcpu_id; ++v) {
        char rel[40];
        pv::format(rel, sizeof(rel), "cpu/%u/availability", v);
        if (pv::Result<void> r = xs_write(domid, rel, v < n ? "online" : "offline"); !r) return r;
    }
    return pv::ok();
}

pv::Result<void> XlBackend::read_hypervisor_console(pv::Sink& out, bool clear) {
    // Incremental reads from index 0, as xl dmesg's libxl_xen_console_read_line.
    char buf[512];
    u32 index = 0;
    for (;;) {
        xen_sysctl op{};
        op.u.readconsole.clear = clear;
        op.u.readconsole.incremental = 1;
        op.u.readconsole.index = index;
        set_xen_guest_handle(op.u.readconsole.buffer, buf);
        op.u.readconsole.count = sizeof(buf);
        pv::Diagnostics quiet;
        if (pv::Result<void> r = pvb::sysctl(op, XEN_SYSCTL_readconsole, quiet); !r) return r;
        const u32 n = op.u.readconsole.count;
        if (!n) return pv::ok();
        out.put(buf, n < sizeof(buf) ? n : sizeof(buf));
        index = op.u.readconsole.index;
        clear = false;
    }
}

pv::Result<u64> XlBackend::uptime_seconds(u32 domid) {
    const u64 now = loop_.now_ns();
    if (domid == 0) return now / NS_PER_S;  // system time counts from the boot, domain 0's too
    Record* r = record(domid);
    if (!r) return pv::error(XEN_ESRCH);
    return (now - r->created_ns) / NS_PER_S;
}

u64 XlBackend::wallclock_seconds() {
    volatile shared_info_t* s = loop_.shared();
    return s->wc_sec + (u64{s->wc_sec_hi} << 32) + loop_.now_ns() / NS_PER_S;
}

namespace {

// Typed bytes into the attached domain's console ring.
class ConsoleInput final : public Terminal::RawInput {
public:
    ConsoleInput(ConsoleService& c, u32 domid) : c_(c), domid_(domid) {}
    void bytes(const char* s, usize n) override {
        // The ring has room for 1 KiB; what does not fit is dropped, as a full UART would.
        (void)c_.input(domid_, s, n);
    }
private:
    ConsoleService& c_;
    u32 domid_;
};

}  // namespace

pv::Result<void> XlBackend::console(u32 domid) {
    pv::Diagnostics quiet;
    if (!pvb::domain_info(static_cast<domid_t>(domid), quiet)) return pv::error(XEN_ESRCH);
    static char hist[xb::ConsoleBuffer::HISTORY];
    const usize n = console_.history(domid, hist, sizeof(hist));
    console_flush();
    console_write(hist, n);
    ConsoleInput in(console_, domid);
    console_.set_attached(domid);
    term_.set_raw(&in);
    // Until Ctrl-] or the domain is gone.  Its shutdown is acted on meanwhile (on_poweroff and
    // the others), as xl's daemon does while the console client runs: a guest that powers off
    // with on_poweroff="destroy" ends the session.
    while (term_.raw_active() && pvb::domain_info(static_cast<domid_t>(domid), quiet)) serve();
    term_.set_raw(nullptr);
    console_.set_attached(DOMID_INVALID);
    console_write("\n", 1);
    return pv::ok();
}

pv::Result<void> XlBackend::read_file(const char* path, const char** data, usize* size) {
    while (*path == '/') ++path;
    pv::Diagnostics quiet;
    pvb::CpioEntry e;
    if (!pvb::cpio_find(reinterpret_cast<const u8*>(si_->mod_start), si_->mod_len, path, e, quiet))
        return pv::error(XEN_ENOENT);
    *data = reinterpret_cast<const char*>(e.data);
    *size = e.size;
    return pv::ok();
}

void XlBackend::act_on_shutdown(Record& r, u32 reason) {
    const xlcfg::Action a = reason == SHUTDOWN_poweroff ? r.cfg.on_poweroff
                            : reason == SHUTDOWN_reboot ? r.cfg.on_reboot
                            : reason == SHUTDOWN_watchdog ? r.cfg.on_watchdog
                                                          : r.cfg.on_crash;
    if (reason == SHUTDOWN_crash) print("dom0: domain %u (%s) crashed\n", r.domid, r.cfg.name);
    if (a == xlcfg::Action::preserve) {
        r.handled = true;
        return;
    }
    // The restarts build the same config again: restart after destroying the old domain,
    // rename-restart keeping it (preserved) as "<name>-<domid>", as xl's daemon does.
    static xlcfg::DomainConfig again;
    again = r.cfg;
    const u32 domid = r.domid;
    if (a == xlcfg::Action::rename_restart) {
        char name[xlcfg::DomainConfig::NAME_LEN];
        pv::format(name, sizeof(name), "%.40s-%u", again.name, domid);
        (void)rename(domid, name);
        r.handled = true;
    } else {
        pv::Diagnostics diags;
        (void)ts_.destroy(static_cast<domid_t>(domid), diags);
        report(diags);
        r.used = false;
    }
    if (a == xlcfg::Action::destroy) return;
    pv::Result<u32> dom = build(again);
    if (!dom) {
        print("dom0: restarting %s failed: %d\n", again.name, dom.error());
        return;
    }
    (void)unpause(*dom);
}

void XlBackend::serve() {
    loop_.run_once(0);
    if (store_.dom_exc_count() == dom_exc_seen_) return;
    dom_exc_seen_ = store_.dom_exc_count();
    reap();  // on_poweroff, on_reboot, on_crash
}

void XlBackend::reap() {
    pv::Diagnostics quiet;
    for (Record& r : records_) {
        if (!r.used || r.handled) continue;
        pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(static_cast<domid_t>(r.domid), quiet);
        if (!info) {
            r.used = false;  // destroyed behind our back
            continue;
        }
        if (info->flags & XEN_DOMINF_shutdown)
            act_on_shutdown(r, (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask);
    }
}

}  // namespace dom0
