// dom0test: a PV64 domain-0 kernel that builds, runs and destroys domUs with the guest
// library's domain builder (guest/lib/builder), one after another, and reports each as check
// lines.  It is a kernel of its own rather than a mode of pvtest: pvtest's checks are the
// differential test of the PV ABI and must stay comparable line by line, while this one needs
// the builder, a cpio reader and an initrd, and reports a different set of checks.
//
// Xen hands a PV dom0 its kernel and a single initrd module, so the domUs travel inside the
// initrd: a cpio "newc" archive (made by guest/dom0test/mkinitrd.py) holding the domU ELFs,
// ramdisks and a text `manifest`, one domU a line:
//
//   <name> <kernel file> <memory> <expected shutdown> <ramdisk file or -> <domU command line...>
//
// For each: build (check domu.<name>.build), unpause, wait for the shutdown and compare its
// reason (domu.<name>.shutdown), relay the domU's own check lines from its console ring as
// domu.<name>.<check> (and its verdict as domu.<name>.verdict), destroy it, and check the
// hypervisor's free memory is back where it was before the domain existed
// (domu.<name>.memory_returned).
//
// With mode=fair|smp|cycles|control on its command line, dom0test runs one of the scheduler and
// lifecycle tests of sched.cpp instead (the same initrd, only its domu.elf); with mode=attack or
// mode=fuzz, the hostile domUs of attack.cpp beside a victim (attack-initrd.cpio).
#include "guest/dom0test/dom0test.hpp"
#include "guest/lib/builder/builder.hpp"
#include "guest/lib/builder/cpio.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/check.hpp"
#include "guest/lib/cmdline.hpp"
#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"
#include "lib/format.hpp"

#include <xen/arch-x86/cpufeatureset.h>
#include <xen/arch-x86/xen-mca.h>
#include <xen/platform.h>

namespace dom0t {

const start_info_t* g_si;
const u8* g_initrd;
usize g_initrd_size;

void report(const pv::Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i) info("%s", diags.message(i));
    if (diags.dropped()) info("(%zu more messages dropped)", diags.dropped());
}

const char* first_error(const pv::Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i)
        if (diags[i].severity == pv::Severity::error) return diags.message(i);
    return "no detail";
}

const u8* find_file(StrView name, usize* size) {
    pv::Diagnostics diags;
    pvb::CpioEntry e;
    if (!pvb::cpio_find(g_initrd, g_initrd_size, name, e, diags)) {
        report(diags);
        return nullptr;
    }
    *size = e.size;
    return e.data;
}

u64 await_free_pages(u64 baseline) {
    pv::Diagnostics diags;
    u64 now = 0;
    for (u64 i = 0; i < MEMORY_POLLS; ++i) {
        pv::Result<u64> f = pvb::free_pages(diags);
        if (!f) break;
        now = *f;
        if (now >= baseline) break;
        hc::sched_op(SCHEDOP_yield, nullptr);
    }
    return now;
}

namespace {

char g_console[4096];

// A name-qualified check name in a static buffer (check lines are printed at once).
const char* name_of(StrView domu, StrView what) {
    static char buf[160];
    pv::format(buf, sizeof(buf), "domu.%.*s.%.*s", static_cast<int>(domu.len), domu.ptr,
               static_cast<int>(what.len), what.ptr);
    return buf;
}

// <prefix>.<name>, in a static buffer.
const char* relayed_name(StrView prefix, StrView name) {
    static char buf[160];
    pv::format(buf, sizeof(buf), "%.*s.%.*s", static_cast<int>(prefix.len), prefix.ptr, static_cast<int>(name.len),
               name.ptr);
    return buf;
}

}  // namespace

bool relay(StrView prefix, StrView domu, StrView text) {
    bool verdict_pass = false, verdict_seen = false;
    usize pos = 0;
    while (pos < text.len) {
        usize end = text.find('\n', pos);
        StrView line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.starts_with("domu: check ")) {
            StrView rest = line.substr(12);
            usize colon = rest.find(':');
            StrView name = rest.substr(0, colon), result = rest.substr(colon + 1);
            if (result.equals(" PASS")) {
                check_pass(relayed_name(prefix, name));
            } else {
                // " FAIL (detail)": pass the detail on without the wrapping.
                if (result.starts_with(" FAIL (") && result.len > 8) result = result.substr(7, result.len - 8);
                check_fail(relayed_name(prefix, name), "%.*s", static_cast<int>(result.len), result.ptr);
            }
        } else if (line.starts_with("domu: verdict: ")) {
            verdict_seen = true;
            verdict_pass = line.substr(15).starts_with("PASS");
            info("%.*s: %.*s", static_cast<int>(domu.len), domu.ptr, static_cast<int>(line.len), line.ptr);
        } else if (line.len) {
            info("%.*s: %.*s", static_cast<int>(domu.len), domu.ptr, static_cast<int>(line.len), line.ptr);
        }
    }
    return verdict_seen && verdict_pass;
}

namespace {

unsigned reason_code(StrView s) {
    for (unsigned code = 0; code <= SHUTDOWN_soft_reset; ++code)
        if (const char* n = pvb::shutdown_name(code); n && s.equals(n)) return code;
    return ~0u;
}

void run_domu(StrView line) {
    usize pos = 0;
    StrView name = next_word(line, &pos), kernel = next_word(line, &pos), mem = next_word(line, &pos);
    StrView expect = next_word(line, &pos), ramdisk = next_word(line, &pos);
    StrView cmdline = line.substr(pos);
    while (cmdline.len && cmdline[0] == ' ') cmdline = cmdline.substr(1);
    char cmd[MAX_GUEST_CMDLINE];
    pv::format(cmd, sizeof(cmd), "%.*s", static_cast<int>(cmdline.len), cmdline.ptr);

    pvb::BuildConfig cfg;
    cfg.cmdline = cmd;
    cfg.self_pt_base = g_si->pt_base;
    cfg.self_virt_base = reinterpret_cast<uptr>(__image_start);
    const unsigned expected = reason_code(expect);
    if (!pv::parse_size(mem, &cfg.memory) || expected == ~0u || ramdisk.empty()) {
        check_fail(name_of(name, "manifest"), "bad manifest line: %.*s", static_cast<int>(line.len), line.ptr);
        return;
    }
    cfg.kernel = find_file(kernel, &cfg.kernel_size);
    if (!ramdisk.equals("-")) cfg.ramdisk = find_file(ramdisk, &cfg.ramdisk_size);
    if (!check(name_of(name, "files"), cfg.kernel && (cfg.ramdisk || ramdisk.equals("-")),
               "%.*s or %.*s is not in the initrd", static_cast<int>(kernel.len), kernel.ptr,
               static_cast<int>(ramdisk.len), ramdisk.ptr))
        return;

    pv::Diagnostics diags;
    pv::Result<u64> before = pvb::free_pages(diags);
    pvb::BuiltDomain dom;
    pv::Result<void> built = pvb::build_domain(cfg, dom, diags);
    report(diags);
    if (!check(name_of(name, "build"), built.ok(), "%s", first_error(diags))) return;
    const pvb::DomainLayout& L = dom.layout;
    info("%.*s: d%u, %lu pages: kernel pfn %#lx+%lu, p2m %#lx, start_info %#lx, page tables %#lx+%lu, "
         "stack %#lx, mapped to %#lx", static_cast<int>(name.len), name.ptr, dom.domid, L.nr_pages, L.kernel.pfn,
         L.kernel.pages, L.p2m.pfn, L.start_info_pfn, L.pgtables.pfn, L.pgtables.pages, L.bootstack_pfn,
         L.virt_pgtab_end);

    pv::Diagnostics run;
    pv::Result<void> started = pvb::unpause(dom.domid, run);
    pv::Result<unsigned> code = started ? pvb::wait_for_shutdown(dom.domid, SHUTDOWN_POLLS, run)
                                        : pv::Result<unsigned>(pv::error(started.error()));
    report(run);
    if (code) {
        const char* got = pvb::shutdown_name(*code);
        check(name_of(name, "shutdown"), *code == expected, "shut down with code %u (%s), expected %s", *code,
              got ? got : "a code set by the guest", pvb::shutdown_name(expected));
    } else {
        check_fail(name_of(name, "shutdown"), "%s", first_error(run));
    }

    pv::Diagnostics console;
    pv::Result<usize> n = pvb::read_console(dom, cfg, g_console, sizeof(g_console), console);
    report(console);
    if (n) {
        char prefix[64];
        pv::format(prefix, sizeof prefix, "domu.%.*s", static_cast<int>(name.len), name.ptr);
        bool passed = relay(prefix, name, StrView(g_console, *n));
        check(name_of(name, "verdict"), passed, "the domU's console ring holds no PASS verdict");
    } else {
        check_fail(name_of(name, "verdict"), "cannot read the console ring: %s", first_error(console));
    }

    pv::Diagnostics end;
    pv::Result<void> gone = pvb::destroy(dom.domid, DESTROY_POLLS, end);
    report(end);
    check(name_of(name, "destroy"), gone.ok(), "%s", first_error(end));
    if (before) {
        u64 after = await_free_pages(*before);
        info("%.*s: free pages %lu before, %lu after", static_cast<int>(name.len), name.ptr, *before, after);
        check(name_of(name, "memory_returned"), after == *before, "free pages %lu before, %lu after", *before, after);
    }
}

// What `xl info` shows as hw_caps and xen_commandline.  physinfo's hw_cap: the CPU's feature
// words in Xen's featureset order (word 0 CPUID.1:EDX, word 2 CPUID.0x80000001:EDX, ...), so an
// x86-64 CPU has FPU, TSC and LM.  XENVER_commandline: the hypervisor's own command line, the
// image name the loader puts first already dropped (both tests boot "console=com1 ...").
void check_host_info() {
    xen_sysctl op{};
    pv::Diagnostics diags;
    if (pvb::sysctl(op, XEN_SYSCTL_physinfo, diags)) {
        const u32* cap = op.u.physinfo.hw_cap;
        info("hw_cap %08x:%08x:%08x:%08x:%08x:%08x:%08x:%08x", cap[0], cap[1], cap[2], cap[3], cap[4], cap[5],
             cap[6], cap[7]);
        auto has = [cap](unsigned feature) { return (cap[feature / 32] >> (feature % 32)) & 1; };
        CHECK("host.hw_cap", has(XEN_X86_FEATURE_FPU) && has(XEN_X86_FEATURE_TSC) && has(XEN_X86_FEATURE_LM));
    } else {
        check_fail("host.hw_cap", "%s", first_error(diags));
    }
    xen_commandline_t line{};
    const long rc = hc::xen_version(XENVER_commandline, &line);
    const StrView l(line, pv::str_nlen(line, sizeof(line)));
    info("hypervisor command line: %.*s", static_cast<int>(l.len), l.ptr);
    check("host.xen_commandline", rc == 0 && l.starts_with("console=") && !cmdline_value(l, "dom0_mem").empty(),
          "rc %ld", rc);
}

// The platform calls Linux as domain 0 makes about the physical CPUs: XENPF_get_cpuinfo (its
// xen-pcpu driver) and the mca hypercall's XEN_MC_physcpuinfo and XEN_MC_fetch (its mcelog).
long platform_op(xen_platform_op_t& op) {
    op.interface_version = XENPF_INTERFACE_VERSION;
    return pvg::hypercall(__HYPERVISOR_platform_op, reinterpret_cast<u64>(&op));
}

long mca(xen_mc_t& op) {
    op.interface_version = XEN_MCA_INTERFACE_VERSION;
    return pvg::hypercall(__HYPERVISOR_mca, reinterpret_cast<u64>(&op));
}

void check_platform() {
    xen_sysctl phys{};
    pv::Diagnostics diags;
    const u32 cpus = pvb::sysctl(phys, XEN_SYSCTL_physinfo, diags) ? phys.u.physinfo.nr_cpus : 0;
    xen_platform_op_t op{};
    op.cmd = XENPF_get_cpuinfo;
    op.u.pcpu_info.xen_cpuid = 0;
    long rc = platform_op(op);
    check("platform.get_cpuinfo_cpu0",
          rc == 0 && op.u.pcpu_info.flags == XEN_PCPU_FLAGS_ONLINE && op.u.pcpu_info.max_present + 1 == cpus,
          "rc %ld flags %u max_present %u (%u CPUs)", rc, op.u.pcpu_info.flags, op.u.pcpu_info.max_present, cpus);
    op = {};
    op.cmd = XENPF_get_cpuinfo;
    op.u.pcpu_info.xen_cpuid = cpus;
    rc = platform_op(op);
    check("platform.get_cpuinfo_absent", rc == 0 && op.u.pcpu_info.flags == XEN_PCPU_FLAGS_INVALID,
          "rc %ld flags %u", rc, op.u.pcpu_info.flags);
    op = {};
    op.cmd = XENPF_get_cpuinfo;
    op.interface_version = XENPF_INTERFACE_VERSION + 1;
    rc = pvg::hypercall(__HYPERVISOR_platform_op, reinterpret_cast<u64>(&op));
    CHECK_EQ("platform.bad_version", rc, -XEN_EACCES);

    xen_mc_t mc{};
    mc.cmd = XEN_MC_physcpuinfo;
    rc = mca(mc);
    check("mca.physcpuinfo_count", rc == 0 && mc.u.mc_physcpuinfo.ncpus == cpus, "rc %ld ncpus %u (%u CPUs)", rc,
          mc.u.mc_physcpuinfo.ncpus, cpus);
    static xen_mc_logical_cpu_t logical[4];
    mc = {};
    mc.cmd = XEN_MC_physcpuinfo;
    mc.u.mc_physcpuinfo.ncpus = 4;
    set_xen_guest_handle(mc.u.mc_physcpuinfo.info, logical);
    rc = mca(mc);
    u32 n = mc.u.mc_physcpuinfo.ncpus;
    bool numbered = rc == 0 && n == (cpus < 4 ? cpus : 4);
    for (u32 i = 0; numbered && i < n; ++i) numbered = logical[i].mc_cpunr == i && logical[i].mc_nmsrvals >= 1;
    check("mca.physcpuinfo_cpus", numbered, "rc %ld ncpus %u, cpu0 nr %u apic %u vendor '%.12s'", rc, n,
          logical[0].mc_cpunr, logical[0].mc_apicid, logical[0].mc_vendorid);
    static u8 telemetry[4096];
    mc = {};
    mc.cmd = XEN_MC_fetch;
    mc.u.mc_fetch.flags = XEN_MC_NONURGENT;
    set_xen_guest_handle(mc.u.mc_fetch.data, reinterpret_cast<struct mc_info*>(telemetry));
    rc = mca(mc);
    check("mca.fetch_nodata", rc == 0 && (mc.u.mc_fetch.flags & XEN_MC_NODATA), "rc %ld flags %#x", rc,
          mc.u.mc_fetch.flags);
    mc = {};
    mc.cmd = XEN_MC_physcpuinfo;
    mc.interface_version = XEN_MCA_INTERFACE_VERSION + 1;
    rc = pvg::hypercall(__HYPERVISOR_mca, reinterpret_cast<u64>(&mc));
    CHECK_EQ("mca.bad_version", rc, -XEN_EACCES);
}

}  // namespace
}  // namespace dom0t

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    using namespace dom0t;
    g_si = si;
    set_report_prefix("dom0test");
    print("dom0test: start\n");
    CHECK_EQ_HEX("dom0.initdomain", si->flags & (SIF_PRIVILEGED | SIF_INITDOMAIN), SIF_PRIVILEGED | SIF_INITDOMAIN);
    // Without MOD_START_PFN in our notes, the initrd is mapped and mod_start is its address.
    g_initrd = reinterpret_cast<const u8*>(si->mod_start);
    g_initrd_size = si->mod_len;
    if (!CHECK("dom0.initrd", si->mod_start && si->mod_len)) finish();

    pv::Diagnostics diags;
    pv::Result<u64> baseline = pvb::free_pages(diags);
    report(diags);
    if (!check("dom0.physinfo", baseline.ok(), "%s", first_error(diags))) finish();
    info("free pages at start: %lu", *baseline);
    check_host_info();
    check_platform();

    // The scheduler and lifecycle tests (sched.cpp) instead of the manifest's domUs.
    StrView mode = cmdline_value(guest_cmdline(si),
                                 "mode");
    if (!mode.empty()) {
        run_mode(mode, *baseline);
        finish();
    }

    usize size = 0;
    const u8* manifest = find_file("manifest", &size);
    if (!check("dom0.manifest", manifest != nullptr, "no file `manifest` in the initrd")) finish();
    StrView text(reinterpret_cast<const char*>(manifest), size);
    unsigned domus = 0;
    for (usize pos = 0; pos < text.len;) {
        usize end = text.find('\n', pos);
        StrView line = text.substr(pos, end - pos);
        pos = end + 1;
        usize p = 0;
        StrView first = next_word(line, &p);
        if (first.empty() || first[0] == '#') continue;
        run_domu(line);
        ++domus;
    }
    info("%u domUs run", domus);
    // After the domUs: Xen frees what the pirq calls allocated later (RCU), which a domU's
    // memory_returned would see; the wait below covers it.
    check_physdev();
    u64 after = await_free_pages(*baseline);
    check("dom0.memory_returned", after == *baseline, "free pages %lu at start, %lu at the end", *baseline, after);
    finish();
}
