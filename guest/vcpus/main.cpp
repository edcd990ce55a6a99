// vcpus.elf: an example domU with several vCPUs, brought up and taken down as a Linux PV guest
// does (arch/x86/xen/smp_pv.c, drivers/xen/cpu_hotplug.c).  The builder starts vCPU 0 only;
// every other vCPU is the guest's business:
//
//   * up: the first time, VCPUOP_initialise with a context of its own (entry, stack, our page
//     tables, flat kernel segments: cpu_initialize_context), then VCPUOP_up; later, VCPUOP_up
//     alone, and the vCPU resumes after the VCPUOP_down it made;
//   * down: the vCPU itself calls VCPUOP_down (Linux's play_dead), and vCPU 0 waits until
//     VCPUOP_is_up says so.
//
// What is wanted comes from XenStore, as libxl writes it: cpu/<n>/availability "online" or
// "offline", at creation for every vCPU below maxvcpus and by `xl vcpu-set`.  vCPU 0 watches
// "cpu" and acts on each change; vCPU 0 itself stays online (as Linux keeps CPU 0).  A secondary
// vCPU counts heartbeats, sleeping 1 ms between them with SCHEDOP_poll, and vCPU 0 reports it
// online once its counter moves.  Console lines (all from vCPU 0):
//
//   vcpus: <n> vCPUs, <k> online at start
//   vcpus: vcpu <i> online            (running: its heartbeat advanced)
//   vcpus: vcpu <i> offline           (VCPUOP_is_up answered 0)
//   vcpus: vcpu <i>: <what> failed: <errno>
//
// and it obeys control/shutdown as hello does.
#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "guest/lib/time.hpp"
#include "guest/lib/xenbus/domu.hpp"
#include "lib/format.hpp"

namespace {

using namespace pvg;  // NOLINT

constexpr unsigned MAX_VCPUS = 8;
constexpr usize STACK_SIZE = 16384;
constexpr char CPU_TOKEN[] = "cpu";
constexpr u64 MS = 1'000'000;
constexpr u64 STATE_WAIT_NS = 5'000 * MS;

struct Secondary {
    volatile u64 heartbeats = 0;
    volatile bool down_requested = false;
    bool initialised = false;
    bool online = false;  // as vCPU 0 last saw it
};

constinit xb::Domu g_domu;
constinit const start_info_t* g_si = nullptr;
constinit Secondary g_cpu[MAX_VCPUS];
alignas(16) constinit u8 g_stacks[MAX_VCPUS][STACK_SIZE];

u64 now_ns(unsigned vcpu) { return vcpu_system_time_ns(g_domu.shared()->vcpu_info[vcpu].time); }

// Sleeps in SCHEDOP_poll on no port, so the other vCPUs (and domains) get the CPU.
void nap(unsigned vcpu, u64 ns) { (void)xb::poll(nullptr, 0, now_ns(vcpu) + ns); }

// A secondary vCPU's life: heartbeats, and down when asked, resuming here when brought up again.
extern "C" [[noreturn]] void secondary_main(u64 id) {
    Secondary& self = g_cpu[id];
    for (;;) {
        self.heartbeats = self.heartbeats + 1;
        if (self.down_requested) {
            self.down_requested = false;
            (void)hc::vcpu_op(VCPUOP_down, static_cast<unsigned>(id), nullptr);
        }
        nap(static_cast<unsigned>(id), MS);
    }
}

// cpu_initialize_context: what the new vCPU starts with.
long initialise(unsigned id) {
    static vcpu_guest_context_t ctx;
    ctx = {};
    ctx.flags = VGCF_in_kernel;
    ctx.user_regs.rip = reinterpret_cast<uptr>(&secondary_main);
    ctx.user_regs.rdi = id;
    // As if called: the ABI wants RSP + 8 16-byte aligned at a function's first instruction.
    ctx.user_regs.rsp = reinterpret_cast<uptr>(g_stacks[id] + STACK_SIZE) - 8;
    ctx.user_regs.cs = FLAT_KERNEL_CS;
    ctx.user_regs.ss = FLAT_KERNEL_SS;
    ctx.user_regs.ds = ctx.user_regs.es = FLAT_KERNEL_DS;
    ctx.user_regs.rflags = 1u << 9;
    ctx.kernel_ss = FLAT_KERNEL_SS;
    ctx.kernel_sp = ctx.user_regs.rsp;
    const auto* p2m = reinterpret_cast<const unsigned long*>(g_si->mfn_list);
    ctx.ctrlreg[3] = xen_pfn_to_cr3(p2m[(g_si->pt_base - reinterpret_cast<uptr>(__image_start)) >> PAGE_SHIFT]);
    return hc::vcpu_op(VCPUOP_initialise, id, &ctx);
}

// Polls (napping) until cond() holds; false after STATE_WAIT_NS.
template <typename F> bool wait_for(F cond) {
    const u64 end = now_ns(0) + STATE_WAIT_NS;
    while (!cond()) {
        if (now_ns(0) >= end) return false;
        nap(0, MS);
    }
    return true;
}

void bring_up(unsigned id) {
    Secondary& c = g_cpu[id];
    if (!c.initialised) {
        if (const long rc = initialise(id)) {
            print("vcpus: vcpu %u: VCPUOP_initialise failed: %ld\n", id, rc);
            return;
        }
        c.initialised = true;
    }
    const u64 beats = c.heartbeats;
    if (const long rc = hc::vcpu_op(VCPUOP_up, id, nullptr)) {
        print("vcpus: vcpu %u: VCPUOP_up failed: %ld\n", id, rc);
        return;
    }
    if (!wait_for([&] { return c.heartbeats != beats; })) {
        print("vcpus: vcpu %u: up, but it does not run\n", id);
        return;
    }
    c.online = true;
    print("vcpus: vcpu %u online\n", id);
}

void take_down(unsigned id) {
    Secondary& c = g_cpu[id];
    c.down_requested = true;
    if (!wait_for([&] { return hc::vcpu_op(VCPUOP_is_up, id, nullptr) == 0; })) {
        print("vcpus: vcpu %u: VCPUOP_down failed: still up\n", id);
        return;
    }
    c.online = false;
    print("vcpus: vcpu %u offline\n", id);
}

// Compares each vCPU's availability node with its state and acts (handle_vcpu_hotplug_event).
void apply_availability(unsigned n) {
    for (unsigned id = 1; id < n; ++id) {
        char path[40], v[16];
        u32 len = 0;
        pv::format(path, sizeof(path), "cpu/%u/availability", id);
        if (g_domu.store().read(path, v, sizeof(v), &len) != 0) continue;
        const pv::StrView want(v, len);
        if (want.equals("online") && !g_cpu[id].online) bring_up(id);
        else if (want.equals("offline") && g_cpu[id].online) take_down(id);
    }
}

// The domain's vCPU count: VCPUOP_is_up answers ENOENT past the last one.
unsigned count_vcpus() {
    unsigned n = 1;
    while (n < MAX_VCPUS && hc::vcpu_op(VCPUOP_is_up, n, nullptr) >= 0) ++n;
    return n;
}

}  // namespace

extern "C" [[noreturn]] void guest_main(const start_info_t* si) {
    g_si = si;
    if (!g_domu.init(si)) shutdown(SHUTDOWN_crash);  // no console to say why
    const unsigned n = count_vcpus();
    unsigned online = 0;
    for (unsigned id = 0; id < n; ++id) {
        char path[40], v[16];
        u32 len = 0;
        pv::format(path, sizeof(path), "cpu/%u/availability", id);
        if (g_domu.store().read(path, v, sizeof(v), &len) == 0 && pv::StrView(v, len).equals("online")) ++online;
    }
    print("vcpus: %u vCPUs, %u online at start\n", n, online);
    if (const int err = g_domu.watch_shutdown()) print("vcpus: cannot watch control/shutdown: %d\n", err);
    // The watch fires once as it is set: that first event brings the online vCPUs up.
    if (const int err = g_domu.store().watch(CPU_TOKEN, CPU_TOKEN)) print("vcpus: cannot watch cpu: %d\n", err);
    for (;;) {
        char path[64], token[16];
        while (g_domu.store().next_event(path, sizeof(path), token, sizeof(token))) {
            const pv::StrView t(token);
            if (t.equals(CPU_TOKEN)) {
                apply_availability(n);
            } else if (t.equals(xb::Domu::SHUTDOWN_TOKEN)) {
                const int reason = g_domu.shutdown_reason();
                if (reason < 0) continue;
                print("vcpus: %s requested, goodbye\n", reason == SHUTDOWN_reboot ? "reboot" : "poweroff");
                console_flush();
                shutdown(static_cast<unsigned>(reason));
            }
        }
        g_domu.wait_store_or_console(0);
    }
}
