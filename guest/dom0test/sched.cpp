// dom0test's scheduler and lifecycle tests, chosen by mode= on its command line (issue 4's
// acceptance tests).  Each builds its domUs from the initrd's domu.elf with the guest library's
// builder, as the manifest run does, and measures them through domctl alone:
//
// * mode=fair, on a machine of one pCPU: two CPU-bound domUs (domutest's burn mode) with credit
//   weights 256 and 512 (pinned to pCPU 0 by hard affinity too).  After a warm-up, domain 0
//   sleeps through a measured window (SCHEDOP_poll with a timeout: it takes next to no CPU)
//   and reads each domain's cpu_time (getdomaininfo: the sum of its vCPUs' runstate running
//   time) before and after: the 512 domain must get 2x the 256 one's time (+-10%).  Then a
//   domU with cap 25 alone, the rest of the pCPU idle: at most 25% + 5% of its window.
//   One pCPU because credit1 hands out credit for the whole machine: with a second, idle pCPU
//   each of the pair is entitled to more than it can get on pCPU 0, neither runs out of
//   credit, and they share it 1:1 (so on Xen 4.17 as on pvisor).
// * mode=smp: two burn domUs with no affinity on a machine of 2+ pCPUs.  During the window
//   domain 0 samples getvcpuinfo every few milliseconds: both must run at once on different
//   pCPUs at some sample, both burn counters (a shared page, below) and cpu_times must
//   advance, and together they must get more than one pCPU's worth of the window.
// * mode=cycles: 100 create/run/destroy cycles of a small domU (its normal checks, then
//   poweroff), with sysctl physinfo's free_pages back at its starting value after each.
// * mode=control, on a machine of 2+ pCPUs: one burn domU through the rest of the control
//   interface.  Built but not yet started, getvcpucontext of its vCPU 0 must return what the
//   builder's setvcpucontext set (rip, rsp, rsi, selectors, kernel_ss/sp, ctrlreg[3], flags
//   exactly VGCF_in_kernel|VGCF_online as it has neither FPU state nor run, debug registers)
//   and the real CR0/CR4 bits Xen reports.  Running: pausedomain freezes its cpu_time and burn
//   counter over 200 ms and sets XEN_DOMINF_paused; paused twice, one unpause leaves it paused;
//   the second starts it again; a third is EINVAL.  Hard affinity to pCPU 0, then to pCPU 1:
//   getvcpuinfo's cpu follows within a second and it keeps running there.  settimeoffset 0,
//   +1000 and -3600: its shared_info wallclock (wc_sec, through a foreign mapping) moves by
//   exactly the offset.
//
// Burn domUs never stop; they count their loop iterations into their console page
// (domutest/burn.hpp), which domain 0 maps (a foreign mapping) to read.  Figures go on info
// lines, since they differ from run to run; check lines say only whether a tolerance held.
#include "guest/dom0test/dom0test.hpp"
#include "guest/domutest/burn.hpp"
#include "guest/lib/builder/builder.hpp"
#include "guest/lib/builder/foreign.hpp"
#include "guest/lib/builder/xenctl.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/time.hpp"
#include "lib/format.hpp"

namespace dom0t {
namespace {

constexpr u64 MS = 1'000'000;
constexpr u64 PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_A = 1u << 5, PTE_D = 1u << 6, PTE_ADDR = 0x000ffffffffff000ull;

// Windows in guest (system) time.  The credit scheduler accounts every 30 ms; a few seconds
// hold ~100 accounting periods, which evens out QEMU's uneven progress under TCG.
constexpr u64 WARMUP = 500 * MS;
constexpr u64 FAIR_WINDOW = 6000 * MS;
constexpr u64 CAP_WINDOW = 3000 * MS;
constexpr u64 SMP_WINDOW = 2000 * MS;
constexpr u64 SMP_SAMPLE = 20 * MS;
constexpr unsigned CYCLES = 100, CYCLES_EVERY = 10;
constexpr u64 CONTROL_SPAN = 200 * MS;     // mode=control: each measured span
constexpr u64 AFFINITY_WAIT = 1000 * MS;   // and the bound on waiting for a vCPU to move

const char* const BURN_CMDLINE = "mode=burn";
constexpr u64 BURN_MEMORY = 4 * pv::MiB;
const char* const CYCLE_CMDLINE = "shutdown=poweroff expect_mem=4M";
constexpr u64 CYCLE_MEMORY = 4 * pv::MiB;

alignas(4096) constinit u8 g_shared_page[4096];
volatile shared_info_t* g_shared;
char g_console[4096];

bool map_shared_info() {
    const u64 pte = (g_si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    long rc = hc::update_va_mapping(reinterpret_cast<uptr>(g_shared_page), pte, UVMF_INVLPG | UVMF_LOCAL);
    if (!check("sched.shared_info", rc == 0, "update_va_mapping: %ld", rc)) return false;
    g_shared = reinterpret_cast<volatile shared_info_t*>(g_shared_page);
    return true;
}

}  // namespace

u64 now_ns() { return vcpu_system_time_ns(g_shared->vcpu_info[0].time); }

// Sleeps until system time `until`: SCHEDOP_poll on no port wakes at its timeout (or on any
// event, hence the loop).
void sleep_until(u64 until) {
    evtchn_port_t none = 0;
    while (now_ns() < until) {
        sched_poll_t p{};
        set_xen_guest_handle(p.ports, &none);
        p.nr_ports = 0;
        p.timeout = until;
        hc::sched_op(SCHEDOP_poll, &p);
    }
}

// Free pages once they are back at baseline, or after two seconds: a hypervisor may return a
// destroyed domain's last frames a little later (Xen frees some of them in an RCU callback
// after destroydomain has returned), so a count taken at once can be short.
u64 await_memory(u64 baseline) {
    u64 after = await_free_pages(baseline);
    const u64 end = now_ns() + 2'000'000'000ull;
    while (after < baseline && now_ns() < end) {
        sleep_until(now_ns() + 1'000'000);
        after = await_free_pages(baseline);
    }
    return after;
}

namespace {

pvb::BuildConfig config(const char* cmdline, u64 memory) {
    pvb::BuildConfig cfg;
    cfg.cmdline = cmdline;
    cfg.memory = memory;
    cfg.self_pt_base = g_si->pt_base;
    cfg.self_virt_base = reinterpret_cast<uptr>(__image_start);
    cfg.kernel = find_file("domu.elf", &cfg.kernel_size);
    return cfg;
}

// A running burn domU and what was measured of it.
struct Burner {
    const char* name = "";
    pvb::BuiltDomain dom;
    pvb::BuildConfig cfg;
    u64 cpu0 = 0, cpu1 = 0;          // cpu_time at the window's start and end
    u64 count0 = 0, count1 = 0;      // its burn counter then
    u64 delta() const { return cpu1 - cpu0; }
};

// Builds a burn domU with the given credit weight and cap (0: none) and, unless `cpus` is 0,
// hard affinity to those pCPUs; then starts it.  Checks <prefix>.<name>.start.
bool start_burner(Burner& b, const char* prefix, const char* name, u16 weight, u16 cap, u64 cpus) {
    b.name = name;
    b.cfg = config(BURN_CMDLINE, BURN_MEMORY);
    pv::Diagnostics diags;
    pv::Result<void> r = b.cfg.kernel ? pvb::build_domain(b.cfg, b.dom, diags) : pv::error(XEN_ENOENT);
    if (r) r = pvb::set_credit(b.dom.domid, weight, cap, diags);
    if (r && cpus) r = pvb::set_hard_affinity(b.dom.domid, 0, cpus, diags);
    if (r) r = pvb::unpause(b.dom.domid, diags);
    report(diags);
    char check_name[64];
    pv::format(check_name, sizeof check_name, "%s.%s.start", prefix, name);
    if (!check(check_name, r.ok(), "%s", b.cfg.kernel ? first_error(diags) : "no domu.elf in the initrd")) return false;
    info("%s: d%u, weight %u, cap %u, affinity %#lx", name, b.dom.domid, weight, cap, cpus);
    return true;
}

u64 cpu_time(const Burner& b) {
    pv::Diagnostics diags;
    pv::Result<xen_domctl_getdomaininfo> i = pvb::domain_info(b.dom.domid, diags);
    report(diags);
    return i ? i->cpu_time : 0;
}

// The burn counter in the domU's console page.
u64 burn_count(const Burner& b) {
    pv::Diagnostics diags;
    pvb::ForeignWindow win(b.dom.domid, b.cfg.self_pt_base, b.cfg.self_virt_base, diags);
    const u8* page = win.map(b.dom.console_mfn);
    u64 n = page ? *reinterpret_cast<const volatile u64*>(page + BURN_COUNTER_OFFSET) : 0;
    (void)win.release();
    report(diags);
    return n;
}

void sample_start(Burner& b) {
    b.cpu0 = cpu_time(b);
    b.count0 = burn_count(b);
}
void sample_end(Burner& b) {
    b.cpu1 = cpu_time(b);
    b.count1 = burn_count(b);
}

// Percent of the window, with one decimal, for info lines.
struct Permille {
    u64 whole, tenth;
};
Permille percent(u64 part, u64 window) {
    u64 pm = window ? part * 1000 / window : 0;
    return {pm / 10, pm % 10};
}

void report_burner(const Burner& b, u64 window) {
    Permille p = percent(b.delta(), window);
    info("%s: cpu_time %lu ms of the %lu ms window (%lu.%lu%%), burn counter +%lu", b.name, b.delta() / MS,
         window / MS, p.whole, p.tenth, b.count1 - b.count0);
}

// Destroys every burner started, then checks the memory came back.
void destroy_all(Burner* bs, usize n, const char* prefix, u64 baseline) {
    bool ok = true;
    pv::Diagnostics diags;
    for (usize i = 0; i < n; ++i)
        if (bs[i].dom.domid != DOMID_INVALID) ok &= pvb::destroy(bs[i].dom.domid, DESTROY_POLLS, diags).ok();
    report(diags);
    char name[64];
    pv::format(name, sizeof name, "%s.destroy", prefix);
    check(name, ok, "%s", first_error(diags));
    u64 after = await_memory(baseline);
    pv::format(name, sizeof name, "%s.memory_returned", prefix);
    check(name, after == baseline, "free pages %lu at start, %lu at the end", baseline, after);
}

void run_fair(u64 baseline) {
    Burner pair[2];
    Burner &light = pair[0], &heavy = pair[1];
    if (start_burner(light, "fair", "w256", 256, 0, 1u << 0) && start_burner(heavy, "fair", "w512", 512, 0, 1u << 0)) {
        sleep_until(now_ns() + WARMUP);
        for (Burner& b : pair) sample_start(b);
        const u64 t0 = now_ns();
        sleep_until(t0 + FAIR_WINDOW);
        for (Burner& b : pair) sample_end(b);
        const u64 window = now_ns() - t0;
        pv::Diagnostics diags;
        pv::Result<xen_domctl_getvcpuinfo> li = pvb::vcpu_info(light.dom.domid, 0, diags);
        pv::Result<xen_domctl_getvcpuinfo> hi = pvb::vcpu_info(heavy.dom.domid, 0, diags);
        report(diags);
        for (const Burner& b : pair) report_burner(b, window);
        // 512:256 = 2 within 10%: 1.8 <= heavy / light <= 2.2.
        const u64 l = light.delta(), h = heavy.delta();
        const u64 ratio_milli = l ? h * 1000 / l : 0;
        info("fair: w512/w256 = %lu.%03lu (expected 2 +-10%%), together %lu%% of pCPU 0", ratio_milli / 1000,
             ratio_milli % 1000, percent(l + h, window).whole);
        check("fair.pinned", li && hi && li->cpu == 0 && hi->cpu == 0, "getvcpuinfo cpu: w256 %d, w512 %d",
              li ? static_cast<int>(li->cpu) : -1, hi ? static_cast<int>(hi->cpu) : -1);
        check("fair.both_ran", l > 0 && h > 0 && light.count1 > light.count0 && heavy.count1 > heavy.count0,
              "cpu_time +%lu and +%lu ns, counters +%lu and +%lu", l, h, light.count1 - light.count0,
              heavy.count1 - heavy.count0);
        check("fair.weight_ratio_1_to_2", l > 0 && 10 * h >= 18 * l && 10 * h <= 22 * l, "w512/w256 = %lu.%03lu",
              ratio_milli / 1000, ratio_milli % 1000);
    }
    destroy_all(pair, 2, "fair", baseline);

    // The capped domain alone: the rest of the pCPU stays idle.
    Burner capped;
    if (start_burner(capped, "cap", "cap25", 256, 25, 0)) {
        sleep_until(now_ns() + WARMUP);
        sample_start(capped);
        const u64 t0 = now_ns();
        sleep_until(t0 + CAP_WINDOW);
        sample_end(capped);
        const u64 window = now_ns() - t0;
        report_burner(capped, window);
        // A cap of 25: at most 25% of one pCPU, +5 points.
        const u64 c = capped.delta();
        Permille cp = percent(c, window);
        check("cap.ran", c > 0 && capped.count1 > capped.count0, "cpu_time +%lu ns", c);
        check("cap.at_most_25_percent", 100 * c <= 30 * window, "%lu.%lu%% of the window", cp.whole, cp.tenth);
    }
    destroy_all(&capped, 1, "cap", baseline);
}

void run_smp(u64 baseline) {
    Burner bs[2];
    Burner &a = bs[0], &b = bs[1];
    if (start_burner(a, "smp", "a", 256, 0, 0) && start_burner(b, "smp", "b", 256, 0, 0)) {
        sleep_until(now_ns() + WARMUP);
        for (Burner& x : bs) sample_start(x);
        const u64 t0 = now_ns();
        unsigned samples = 0, apart = 0, both_running = 0;
        u64 cpus_seen_a = 0, cpus_seen_b = 0;
        for (u64 t = t0 + SMP_SAMPLE; t <= t0 + SMP_WINDOW; t += SMP_SAMPLE) {
            sleep_until(t);
            pv::Diagnostics diags;
            pv::Result<xen_domctl_getvcpuinfo> ia = pvb::vcpu_info(a.dom.domid, 0, diags);
            pv::Result<xen_domctl_getvcpuinfo> ib = pvb::vcpu_info(b.dom.domid, 0, diags);
            report(diags);
            if (!ia || !ib) continue;
            ++samples;
            if (ia->cpu < 64) cpus_seen_a |= u64{1} << ia->cpu;
            if (ib->cpu < 64) cpus_seen_b |= u64{1} << ib->cpu;
            // Domain 0 itself takes a pCPU to sample, so with two pCPUs the burners are rarely
            // both running at that moment; their cpu fields say where each runs or last ran.
            if (ia->running && ib->running) ++both_running;
            if (ia->cpu != ib->cpu) ++apart;
        }
        for (Burner& x : bs) sample_end(x);
        const u64 window = now_ns() - t0;
        for (const Burner& x : bs) report_burner(x, window);
        info("smp: %u samples, both running in %u, on different pCPUs in %u; pCPUs seen: a %#lx, b %#lx", samples,
             both_running, apart, cpus_seen_a, cpus_seen_b);
        info("smp: together %lu%% of one pCPU", percent(a.delta() + b.delta(), window).whole);
        check("smp.both_ran", a.delta() > 0 && b.delta() > 0 && a.count1 > a.count0 && b.count1 > b.count0,
              "cpu_time +%lu and +%lu ns, counters +%lu and +%lu", a.delta(), b.delta(), a.count1 - a.count0,
              b.count1 - b.count0);
        check("smp.different_pcpus", apart > 0, "never seen running on different pCPUs in %u samples", samples);
        // Two at once: more than one pCPU's worth of running time in the window.
        check("smp.concurrent", a.delta() + b.delta() > window, "%lu + %lu ns in a %lu ns window", a.delta(),
              b.delta(), window);
    }
    destroy_all(bs, 2, "smp", baseline);
}

// Whether the domU's console ring holds its PASS verdict.
bool verdict_passed(StrView ring) {
    for (usize pos = 0; pos < ring.len;) {
        usize end = ring.find('\n', pos);
        if (ring.substr(pos, end - pos).starts_with("domu: verdict: PASS")) return true;
        pos = end + 1;
    }
    return false;
}

void run_cycles(u64 baseline) {
    pvb::BuildConfig cfg = config(CYCLE_CMDLINE, CYCLE_MEMORY);
    if (!check("cycles.kernel", cfg.kernel != nullptr, "no domu.elf in the initrd")) return;
    unsigned built = 0, passed = 0, destroyed = 0, leaks = 0;
    bool told = false;  // the first failing cycle's messages are shown, not every one's
    const u64 t0 = now_ns();
    for (unsigned i = 1; i <= CYCLES; ++i) {
        pv::Diagnostics diags;
        pvb::BuiltDomain dom;
        if (pvb::build_domain(cfg, dom, diags)) {
            ++built;
            pv::Result<void> r = pvb::unpause(dom.domid, diags);
            pv::Result<unsigned> code = r ? pvb::wait_for_shutdown(dom.domid, SHUTDOWN_POLLS, diags)
                                          : pv::Result<unsigned>(pv::error(r.error()));
            pv::Result<usize> n = pvb::read_console(dom, cfg, g_console, sizeof g_console, diags);
            if (code && *code == SHUTDOWN_poweroff && n && verdict_passed(StrView(g_console, *n))) ++passed;
            else if (!told) info("cycle %u: d%u did not pass (shutdown code %d)", i, dom.domid, code ? static_cast<int>(*code) : -1);
            if (pvb::destroy(dom.domid, DESTROY_POLLS, diags)) ++destroyed;
        }
        if (diags.count() && !told) {
            told = true;
            info("cycle %u:", i);
            report(diags);
        }
        const u64 after = await_memory(baseline);
        if (after != baseline) ++leaks;
        if (i % CYCLES_EVERY == 0) {
            char name[64];
            pv::format(name, sizeof name, "cycles.memory_after_%u", i);
            info("after %u cycles (%lu ms): free pages %lu (%lu at start)", i, (now_ns() - t0) / MS, after, baseline);
            check(name, after == baseline, "free pages %lu at start, %lu after %u cycles", baseline, after, i);
        }
    }
    check("cycles.all_built", built == CYCLES, "%u of %u built", built, CYCLES);
    check("cycles.all_passed", passed == CYCLES, "%u of %u shut down with a PASS verdict", passed, CYCLES);
    check("cycles.all_destroyed", destroyed == CYCLES, "%u of %u destroyed", destroyed, CYCLES);
    check("cycles.memory_every_cycle", leaks == 0, "free pages not back after %u cycles", leaks);
}


// ---- mode=control: the domctls of a domain's life not covered above ----

alignas(16) vcpu_guest_context_t g_ctx;

// A result as the hypercall's return value, for details: 0 or -errno.
int rc_of(const pv::Result<void>& r) { return r.ok() ? 0 : -static_cast<int>(r.error()); }

pv::Result<void> domctl_quiet(u32 cmd, domid_t dom) {
    pv::Diagnostics diags;
    xen_domctl op{};
    return pvb::domctl(op, cmd, dom, diags);
}

bool domain_paused(const Burner& b) {
    pv::Diagnostics diags;
    pv::Result<xen_domctl_getdomaininfo> i = pvb::domain_info(b.dom.domid, diags);
    report(diags);
    return i && (i->flags & XEN_DOMINF_paused);
}

// cpu_time and burn counter across `span` of domain 0 sleeping.
struct Progress {
    u64 cpu, count;
};
Progress progress_over(const Burner& b, u64 span) {
    const u64 c0 = cpu_time(b), n0 = burn_count(b);
    sleep_until(now_ns() + span);
    return {cpu_time(b) - c0, burn_count(b) - n0};
}

// getvcpucontext of the built, never-run vCPU 0: what the builder set (fill_vcpu_context)
// comes back as Xen's arch_get_info_guest reports it.
void control_context(const Burner& b) {
    pv::Diagnostics diags;
    xen_domctl op{};
    op.u.vcpucontext.vcpu = 0;
    set_xen_guest_handle(op.u.vcpucontext.ctxt, &g_ctx);
    pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_getvcpucontext, b.dom.domid, diags);
    report(diags);
    if (!check("control.context.get", r.ok(), "%s", first_error(diags))) return;
    const vcpu_guest_context_t& c = g_ctx;
    const cpu_user_regs_t& u = c.user_regs;
    const pvb::DomainLayout& L = b.dom.layout;
    info("context: flags %#lx, rflags %#lx, cr0 %#lx, cr4 %#lx, dr6 %#lx, dr7 %#lx, ds/es/fs/gs %#x/%#x/%#x/%#x, "
         "vm_assist %#lx, callbacks %#lx/%#lx/%#lx, gdt_ents %lu",
         c.flags, u.rflags, c.ctrlreg[0], c.ctrlreg[4], c.debugreg[6], c.debugreg[7], u.ds, u.es, u.fs, u.gs,
         c.vm_assist, c.event_callback_eip, c.failsafe_callback_eip, c.syscall_callback_eip, c.gdt_ents);
    check("control.context.rip", u.rip == b.dom.entry, "rip %#lx, the entry is %#lx", u.rip, b.dom.entry);
    check("control.context.rsp", u.rsp == L.stack_top(), "rsp %#lx, the stack top is %#lx", u.rsp, L.stack_top());
    check("control.context.rsi", u.rsi == L.va(L.start_info_pfn), "rsi %#lx, start_info at %#lx", u.rsi,
          L.va(L.start_info_pfn));
    check("control.context.selectors", u.cs == FLAT_KERNEL_CS && u.ss == FLAT_KERNEL_SS,
          "cs %#x, ss %#x", u.cs, u.ss);
    check("control.context.kernel_stack", c.kernel_ss == FLAT_KERNEL_SS && c.kernel_sp == L.stack_top(),
          "kernel_ss %#lx, kernel_sp %#lx", c.kernel_ss, c.kernel_sp);
    check("control.context.cr3", c.ctrlreg[3] == xen_pfn_to_cr3(b.dom.l4_mfn) && c.ctrlreg[1] == 0,
          "ctrlreg[3] %#lx (L4 at mfn %#lx), ctrlreg[1] %#lx", c.ctrlreg[3], b.dom.l4_mfn, c.ctrlreg[1]);
    // Exactly: no VGCF_i387_valid, since the builder gave no FPU state and the vCPU never ran.
    check("control.context.flags", c.flags == (VGCF_in_kernel | VGCF_online), "flags %#lx", c.flags);
    // Xen reports the real CR0 (less TS) and the CR4 bits a PV guest sees, not zeroes.
    constexpr u64 CR0_PE = 1u << 0, CR0_TS = 1u << 3, CR0_PG = 1u << 31, CR4_PAE = 1u << 5;
    check("control.context.cr0_cr4", (c.ctrlreg[0] & (CR0_PE | CR0_PG | CR0_TS)) == (CR0_PE | CR0_PG) &&
                                         (c.ctrlreg[4] & CR4_PAE) != 0,
          "ctrlreg[0] %#lx, ctrlreg[4] %#lx", c.ctrlreg[0], c.ctrlreg[4]);
    check("control.context.rflags_if", (u.rflags & (1u << 9)) != 0, "rflags %#lx", u.rflags);
    check("control.context.debugregs", c.debugreg[6] == 0xffff0ff0 && c.debugreg[7] == 0x400,
          "dr6 %#lx, dr7 %#lx", c.debugreg[6], c.debugreg[7]);
}

void control_pause(const Burner& b) {
    const Progress before = progress_over(b, CONTROL_SPAN);
    check("control.pause.running_before", before.cpu > 0 && before.count > 0, "cpu_time +%lu ns, counter +%lu",
          before.cpu, before.count);
    pv::Result<void> r1 = domctl_quiet(XEN_DOMCTL_pausedomain, b.dom.domid);
    const bool flag1 = domain_paused(b);
    const Progress paused = progress_over(b, CONTROL_SPAN);
    check("control.pause.paused", r1.ok() && flag1, "pausedomain %d, XEN_DOMINF_paused %d",
          rc_of(r1), flag1);
    check("control.pause.cpu_time_frozen", paused.cpu == 0 && paused.count == 0,
          "cpu_time +%lu ns, counter +%lu while paused", paused.cpu, paused.count);
    // A second pause: the count is 2, and one unpause leaves the domain paused.
    pv::Result<void> r2 = domctl_quiet(XEN_DOMCTL_pausedomain, b.dom.domid);
    pv::Result<void> u1 = domctl_quiet(XEN_DOMCTL_unpausedomain, b.dom.domid);
    const bool flag2 = domain_paused(b);
    const Progress still = progress_over(b, CONTROL_SPAN);
    check("control.pause.twice_needs_two_unpauses", r2.ok() && u1.ok() && flag2 && still.cpu == 0 && still.count == 0,
          "second pause %d, first unpause %d, XEN_DOMINF_paused %d, cpu_time +%lu ns, counter +%lu",
          rc_of(r2), rc_of(u1), flag2, still.cpu, still.count);
    pv::Result<void> u2 = domctl_quiet(XEN_DOMCTL_unpausedomain, b.dom.domid);
    const bool flag3 = domain_paused(b);
    const Progress after = progress_over(b, CONTROL_SPAN);
    check("control.unpause.runs_again", u2.ok() && !flag3 && after.cpu > 0 && after.count > 0,
          "unpause %d, XEN_DOMINF_paused %d, cpu_time +%lu ns, counter +%lu", rc_of(u2),
          flag3, after.cpu, after.count);
    pv::Result<void> u3 = domctl_quiet(XEN_DOMCTL_unpausedomain, b.dom.domid);
    check("control.unpause.not_paused_einval", !u3.ok() && u3.error() == XEN_EINVAL, "unpause of a running domain: %d",
          rc_of(u3));
    info("pause: cpu_time +%lu ms before, +%lu while paused, +%lu paused twice, +%lu after (each %lu ms)",
         before.cpu / MS, paused.cpu / MS, still.cpu / MS, after.cpu / MS, CONTROL_SPAN / MS);
}

// Hard affinity to `cpu` alone; then waits (a short while) for getvcpuinfo to say the vCPU is
// there, and measures it over a span: it must stay there and keep running.
void control_affinity(const Burner& b, unsigned cpu) {
    pv::Diagnostics diags;
    pv::Result<void> r = pvb::set_hard_affinity(b.dom.domid, 0, u64{1} << cpu, diags);
    int seen = -1;
    const u64 t0 = now_ns();
    for (u64 end = t0 + AFFINITY_WAIT; r;) {
        pv::Result<xen_domctl_getvcpuinfo> i = pvb::vcpu_info(b.dom.domid, 0, diags);
        seen = i ? static_cast<int>(i->cpu) : -1;
        if (seen == static_cast<int>(cpu) || now_ns() >= end) break;
        sleep_until(now_ns() + 5 * MS);
    }
    const u64 waited = now_ns() - t0;
    report(diags);
    char name[64];
    pv::format(name, sizeof name, "control.affinity.to_cpu%u", cpu);
    check(name, r.ok() && seen == static_cast<int>(cpu), "setvcpuaffinity %s, getvcpuinfo cpu %d",
          r.ok() ? "ok" : first_error(diags), seen);
    const Progress p = progress_over(b, CONTROL_SPAN);
    pv::Diagnostics d2;
    pv::Result<xen_domctl_getvcpuinfo> i = pvb::vcpu_info(b.dom.domid, 0, d2);
    report(d2);
    pv::format(name, sizeof name, "control.affinity.runs_on_cpu%u", cpu);
    check(name, i && i->cpu == cpu && p.cpu > 0 && p.count > 0, "cpu %d, cpu_time +%lu ns, counter +%lu",
          i ? static_cast<int>(i->cpu) : -1, p.cpu, p.count);
    info("affinity cpu%u: there after %lu ms, then cpu_time +%lu ms in %lu ms", cpu, waited / MS, p.cpu / MS,
         CONTROL_SPAN / MS);
}

struct Wallclock {
    u32 version, sec, nsec, sec_hi;
    i64 seconds() const { return static_cast<i64>((u64{sec_hi} << 32) | sec); }
};

Wallclock read_wallclock(const Burner& b) {
    pv::Diagnostics diags;
    pvb::ForeignWindow win(b.dom.domid, b.cfg.self_pt_base, b.cfg.self_virt_base, diags);
    const u8* page = win.map(b.dom.shared_info_mfn);
    Wallclock w{};
    if (page) {
        const volatile shared_info_t* s = reinterpret_cast<const volatile shared_info_t*>(page);
        w = {s->wc_version, s->wc_sec, s->wc_nsec, s->xen_wc_sec_hi};
    }
    (void)win.release();
    report(diags);
    return w;
}

pv::Result<void> set_time_offset(const Burner& b, i64 seconds) {
    pv::Diagnostics diags;
    xen_domctl op{};
    op.u.settimeoffset.time_offset_seconds = seconds;
    pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_settimeoffset, b.dom.domid, diags);
    report(diags);
    return r;
}

// settimeoffset: the domain's wallclock (shared_info's wc_sec, read through a foreign mapping)
// moves by the offset, relative to the offset 0.
void control_timeoffset(const Burner& b) {
    constexpr i64 AHEAD = 1000, BEHIND = -3600;
    pv::Result<void> r0 = set_time_offset(b, 0);
    const Wallclock w0 = read_wallclock(b);
    pv::Result<void> r1 = set_time_offset(b, AHEAD);
    const Wallclock w1 = read_wallclock(b);
    pv::Result<void> r2 = set_time_offset(b, BEHIND);
    const Wallclock w2 = read_wallclock(b);
    info("wallclock: offset 0: %u.%09u (version %u), %+ld: %u.%09u, %+ld: %u.%09u", w0.sec, w0.nsec, w0.version,
         AHEAD, w1.sec, w1.nsec, BEHIND, w2.sec, w2.nsec);
    check("control.timeoffset.accepted", r0.ok() && r1.ok() && r2.ok(), "settimeoffset: %d, %d, %d",
          rc_of(r0), rc_of(r1), rc_of(r2));
    const i64 s0 = w0.seconds(), s1 = w1.seconds(), s2 = w2.seconds();
    check("control.timeoffset.wallclock", s0 > 0 && s1 - s0 == AHEAD && s2 - s0 == BEHIND && w1.nsec == w0.nsec &&
                                              w2.nsec == w0.nsec && w2.version % 2 == 0,
          "wc_sec %ld, %ld, %ld for offsets 0, %ld, %ld", s0, s1, s2, AHEAD, BEHIND);
}

// sysctl sched_id and getdomaininfolist: the scheduler is credit (Xen booted with sched=credit),
// and the list from domain 0 holds domain 0 first, then the control domU.
void control_sysctls(const Burner& b) {
    pv::Diagnostics diags;
    xen_sysctl op{};
    pv::Result<void> r = pvb::sysctl(op, XEN_SYSCTL_sched_id, diags);
    check("control.sched_id", r.ok() && op.u.sched_id.sched_id == XEN_SCHEDULER_CREDIT, "%s, sched_id %u",
          r.ok() ? "ok" : first_error(diags), r.ok() ? op.u.sched_id.sched_id : 0u);
    static xen_domctl_getdomaininfo infos[8];
    xen_sysctl list{};
    list.u.getdomaininfolist.first_domain = 0;
    list.u.getdomaininfolist.max_domains = 8;
    set_xen_guest_handle(list.u.getdomaininfolist.buffer, infos);
    r = pvb::sysctl(list, XEN_SYSCTL_getdomaininfolist, diags);
    u32 n = r.ok() ? list.u.getdomaininfolist.num_domains : 0;
    check("control.getdomaininfolist", r.ok() && n == 2 && infos[0].domain == 0 && infos[1].domain == b.dom.domid,
          "%s, %u domains, first %u, second %u", r.ok() ? "ok" : first_error(diags), n, n ? infos[0].domain : 0u,
          n > 1 ? infos[1].domain : 0u);
    report(diags);
}

// max_mem is a hard limit: with it at the domU's current size, populate_physmap for it adds
// nothing (the reservation calls report extents done, never an errno); raised again, one page.
void control_max_mem(const Burner& b) {
    pv::Diagnostics diags;
    pv::Result<xen_domctl_getdomaininfo> info = pvb::domain_info(b.dom.domid, diags);
    if (!check("control.max_mem.info", info.ok(), "%s", first_error(diags))) return;
    u64 pages = info->tot_pages;
    xen_domctl op{};
    op.u.max_mem.max_memkb = pages * 4;
    pv::Result<void> r = pvb::domctl(op, XEN_DOMCTL_max_mem, b.dom.domid, diags);
    check("control.max_mem.set_to_current", r.ok(), "%s", first_error(diags));
    static xen_pfn_t extent;
    extent = pages + 16;  // a pfn beyond the domU's memory
    xen_memory_reservation_t res{};
    set_xen_guest_handle(res.extent_start, &extent);
    res.nr_extents = 1;
    res.extent_order = 0;
    res.domid = b.dom.domid;
    long done = hc::memory_op(XENMEM_populate_physmap, &res);
    check("control.max_mem.populate_refused", done == 0, "populate_physmap: %ld", done);
    op = {};
    op.u.max_mem.max_memkb = (pages + 1) * 4;
    r = pvb::domctl(op, XEN_DOMCTL_max_mem, b.dom.domid, diags);
    extent = pages + 16;
    done = hc::memory_op(XENMEM_populate_physmap, &res);
    check("control.max_mem.populate_one_more", r.ok() && done == 1, "max_mem %s, populate_physmap: %ld",
          r.ok() ? "ok" : first_error(diags), done);
    pv::Result<xen_domctl_getdomaininfo> after = pvb::domain_info(b.dom.domid, diags);
    check("control.max_mem.tot_pages", after.ok() && after->tot_pages == pages + 1, "tot_pages %lu, expected %lu",
          after.ok() ? static_cast<unsigned long>(after->tot_pages) : 0ul, static_cast<unsigned long>(pages + 1));
    report(diags);
}

void run_control(u64 baseline) {
    Burner b;
    b.name = "ctl";
    b.cfg = config(BURN_CMDLINE, BURN_MEMORY);
    pv::Diagnostics diags;
    pv::Result<void> r = b.cfg.kernel ? pvb::build_domain(b.cfg, b.dom, diags) : pv::error(XEN_ENOENT);
    report(diags);
    if (check("control.build", r.ok(), "%s", b.cfg.kernel ? first_error(diags) : "no domu.elf in the initrd")) {
        control_context(b);
        pv::Diagnostics d2;
        pv::Result<void> u = pvb::unpause(b.dom.domid, d2);
        report(d2);
        if (check("control.start", u.ok(), "%s", first_error(d2))) {
            control_pause(b);
            control_affinity(b, 0);
            control_affinity(b, 1);
            control_timeoffset(b);
            control_sysctls(b);
            control_max_mem(b);
        }
    }
    destroy_all(&b, 1, "control", baseline);
}

}  // namespace

void run_mode(StrView mode, u64 baseline) {
    if (!map_shared_info()) return;
    if (mode.equals("fair")) run_fair(baseline);
    else if (mode.equals("smp")) run_smp(baseline);
    else if (mode.equals("cycles")) run_cycles(baseline);
    else if (mode.equals("control")) run_control(baseline);
    else if (mode.equals("attack")) run_attacks();
    else if (mode.equals("fuzz")) run_fuzz();
    else check_fail("sched.mode", "unknown mode=%.*s", static_cast<int>(mode.len), mode.ptr);
}

}  // namespace dom0t
