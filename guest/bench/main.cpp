// The benchmark kernel's entry, its setup, the hypercall metrics and the report (bench.hpp).
//
// Setup: the shared info page mapped, the periodic timer stopped (as Linux does; it would
// interrupt the measurements 100 times a second of guest time), the trap table and callbacks of
// entry.S installed.  Events stay masked except where a metric unmasks them.
#include "guest/bench/bench.hpp"
#include "guest/lib/cmdline.hpp"

extern "C" {
void bench_syscall_entry();
void bench_pf_entry();
void bench_event_entry();
}

namespace bench {

constinit Samples g_samples{};

namespace {

alignas(4096) constinit char shared_info_page[4096];

unsigned g_reported = 0;

// Shell sort: a few thousand samples, no allocation.
void sort(u64* v, unsigned n) {
    for (unsigned gap = n / 2; gap; gap /= 2)
        for (unsigned i = gap; i < n; ++i) {
            u64 x = v[i];
            unsigned j = i;
            for (; j >= gap && v[j - gap] > x; j -= gap) v[j] = v[j - gap];
            v[j] = x;
        }
}

}  // namespace

void report(const char* metric, Samples& s) { report(metric, s.v, s.n); }

void report(const char* metric, u64* v, unsigned n) {
    if (n == 0) {
        report_error(metric, "no samples");
        return;
    }
    sort(v, n);
    print("bench: %s median=%llu min=%llu max=%llu iters=%u\n", metric, static_cast<unsigned long long>(v[n / 2]),
          static_cast<unsigned long long>(v[0]), static_cast<unsigned long long>(v[n - 1]), n);
    ++g_reported;
}

void report_error(const char* metric, const char* fmt, ...) {
    print("bench: %s error (", metric);
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
    print(")\n");
}

const u64* l1e_ptr(u64 addr) {
    const u64* t = reinterpret_cast<const u64*>(g_si->pt_base);
    const auto* m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);
    for (unsigned level = 4; level > 1; --level) {
        u64 e = t[(addr >> (PAGE_SHIFT + 9 * (level - 1))) & 511];
        if (!(e & PTE_P)) return nullptr;
        u64 pfn = m2p[(e & PTE_ADDR) >> PAGE_SHIFT];
        if (pfn >= g_si->nr_pages) return nullptr;
        t = reinterpret_cast<const u64*>(VIRT_BASE + (pfn << PAGE_SHIFT));
    }
    return &t[(addr >> PAGE_SHIFT) & 511];
}

long make_readonly(const volatile void* page) {
    const u64* e = l1e_ptr(va(page));
    if (!e) return -XEN_EFAULT;
    return hc::update_va_mapping(va(page), *e & ~PTE_RW, UVMF_INVLPG | UVMF_LOCAL);
}

namespace {

// The TSC at domain 0's first instruction (start.S): with -icount shift=0, the guest time since
// QEMU started, so firmware, boot loader and hypervisor boot together.
void bench_boot() {
    g_samples.n = 1;
    g_samples.v[0] = entry_state.tsc;
    report("boot_to_dom0", g_samples);
}

void bench_hypercalls() {
    run("null_hypercall", 200, 2000, [] {
        long rc = hc::xen_version(XENVER_version, nullptr);
        if (rc >= 0) return true;
        report_error("null_hypercall", "xen_version: %ld", rc);
        return false;
    });

    static multicall_entry_t calls[32];
    for (auto& c : calls) {
        c = {};
        c.op = __HYPERVISOR_xen_version;
        c.args[0] = XENVER_version;
    }
    run("multicall_32_noop", 100, 1000, [] {
        long rc = hc::multicall(calls, 32);
        if (rc == 0 && static_cast<long>(calls[31].result) >= 0) return true;
        report_error("multicall_32_noop", "multicall: %ld, last result %ld", rc,
                     static_cast<long>(calls[31].result));
        return false;
    });
}

}  // namespace

void setup() {
    u64 pte = (g_si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    long rc = hc::update_va_mapping(va(shared_info_page), pte, UVMF_INVLPG | UVMF_LOCAL);
    if (rc) {
        print("bench: setup error (mapping shared info: %ld)\n", rc);
        shutdown(SHUTDOWN_crash);
    }
    g_shared = reinterpret_cast<volatile shared_info_t*>(shared_info_page);
    rc = hc::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr);
    if (rc) print("bench: info: stop_periodic_timer: %ld\n", rc);

    static trap_info_t traps[2]{};
    traps[0].vector = 14;
    traps[0].cs = FLAT_KERNEL_CS;
    traps[0].address = va(reinterpret_cast<const void*>(&bench_pf_entry));
    callback_register_t syscall_cb{};
    syscall_cb.type = CALLBACKTYPE_syscall;
    syscall_cb.address = va(reinterpret_cast<const void*>(&bench_syscall_entry));
    callback_register_t event_cb{};
    event_cb.type = CALLBACKTYPE_event;
    event_cb.address = va(reinterpret_cast<const void*>(&bench_event_entry));
    long t = hc::set_trap_table(traps), s = hc::callback_op(CALLBACKOP_register, &syscall_cb),
         e = hc::callback_op(CALLBACKOP_register, &event_cb);
    if (t || s || e) {
        print("bench: setup error (set_trap_table %ld, syscall callback %ld, event callback %ld)\n", t, s, e);
        shutdown(SHUTDOWN_crash);
    }
}

namespace {

// The TSC must be the CPU's, not an emulation: two RDTSCs in a row differ by about one
// instruction under -icount shift=0.
void print_context() {
    u64 a = rdtsc();
    u64 b = rdtsc();
    xen_extraversion_t extra{};
    long v = hc::xen_version(XENVER_version, nullptr);
    hc::xen_version(XENVER_extraversion, extra);
    print("bench: info: hypervisor %ld.%ld%.*s, nr_pages %lu, rdtsc back to back %llu\n", v >> 16, v & 0xffff,
          static_cast<int>(sizeof extra), extra, g_si->nr_pages, static_cast<unsigned long long>(b - a));
}

}  // namespace
}  // namespace bench

using namespace bench;
using pv::StrView;
using pv::str_nlen;

// Domain 0 runs the metrics; any other domain is the partner of domains.cpp.  `run=smp2` on
// the command line (a machine of two or more pCPUs): only the two-CPU interdomain ping-pong.
extern "C" [[noreturn]] void guest_main(start_info_t* si) {
    g_si = si;
    if (!(si->flags & SIF_INITDOMAIN)) partner_main();
    print("bench: start\n");
    if (si->nr_pages < MIN_PAGES) {
        print("bench: setup error (%lu pages: the metrics need dom0_mem of at least 48M)\n", si->nr_pages);
        shutdown(SHUTDOWN_crash);
    }
    const char* cmd = reinterpret_cast<const char*>(si->cmd_line);
    const bool two_cpus = cmdline_value(StrView(cmd, str_nlen(cmd, MAX_GUEST_CMDLINE)), "run").equals("smp2");
    setup();
    print_context();

    if (!two_cpus) {
        bench_boot();
        bench_hypercalls();
        bench_mmu();
        bench_user();
        bench_events();
    }
    bench_domains(reinterpret_cast<const u8*>(si->mod_start), si->mod_len, two_cpus);
    print("bench: done (%u metrics)\n", g_reported);
    shutdown(SHUTDOWN_poweroff);
}
