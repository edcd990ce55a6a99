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

}  // namespace

void run_mode(StrView mode, u64 baseline) {
    if (!map_shared_info()) return;
    if (mode.equals("fair")) run_fair(baseline);
    else if (mode.equals("smp")) run_smp(baseline);
    else if (mode.equals("cycles")) run_cycles(baseline);
    else check_fail("sched.mode", "unknown mode=%.*s", static_cast<int>(mode.len), mode.ptr);
}

}  // namespace dom0t
