#include "guest/lib/console_ring.hpp"

#include "guest/lib/console.hpp"
#include "guest/lib/entry_state.hpp"
#include "guest/lib/hypercall.hpp"

namespace pvg {

namespace {

constinit volatile xencons_interface* g_ring = nullptr;
constinit bool g_wait = false;
constinit u32 g_notify_port = 0;  // 0: no notification
// Yields before a full ring's output is dropped: domain 0 polls every few milliseconds.
constexpr unsigned MAX_YIELDS = 20000;

void ring_write(const char* s, usize n) {
    XENCONS_RING_IDX prod = g_ring->out_prod;
    unsigned yields = 0;
    for (usize i = 0; i < n; ++i, ++prod) {
        while (prod - g_ring->out_cons >= sizeof(g_ring->out)) {
            if (!g_wait || yields++ == MAX_YIELDS) {
                g_ring->out_prod = prod;
                return;
            }
            g_ring->out_prod = prod;
            hc::sched_op(SCHEDOP_yield, nullptr);
        }
        g_ring->out[MASK_XENCONS_IDX(prod, g_ring->out)] = s[i];
        asm volatile("" ::: "memory");  // the byte before the index (x86 keeps stores in order)
    }
    g_ring->out_prod = prod;
    if (g_notify_port) {
        evtchn_send_t send{g_notify_port};
        (void)hc::event_channel_op(EVTCHNOP_send, &send);
    }
}

}  // namespace

xencons_interface* console_ring(const start_info_t* si) {
    const auto* m2p = reinterpret_cast<const unsigned long*>(MACH2PHYS_VIRT_START);
    return reinterpret_cast<xencons_interface*>(reinterpret_cast<uptr>(__image_start) +
                                                (m2p[si->console.domU.mfn] << PAGE_SHIFT));
}

void use_console_ring(const start_info_t* si, bool wait_for_space, bool notify) {
    g_ring = console_ring(si);
    g_wait = wait_for_space;
    g_notify_port = notify ? si->console.domU.evtchn : 0;
    set_console_writer(ring_write);
}

}  // namespace pvg
