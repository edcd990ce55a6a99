#include "guest/lib/xenbus/events.hpp"

#include "guest/lib/hypercall.hpp"
#include "guest/lib/pte.hpp"

namespace xb {

namespace {

alignas(4096) constinit u8 g_shared_page[4096];
constinit volatile shared_info_t* g_shared = nullptr;

}  // namespace

volatile shared_info_t* shared_info(const start_info_t* si) {
    if (g_shared) return g_shared;
    const u64 pte = (si->shared_info & PTE_ADDR) | PTE_P | PTE_RW | PTE_A | PTE_D;
    if (hc::update_va_mapping(reinterpret_cast<uptr>(g_shared_page), pte, UVMF_INVLPG | UVMF_LOCAL) != 0)
        return nullptr;
    g_shared = reinterpret_cast<volatile shared_info_t*>(g_shared_page);
    return g_shared;
}

long evtchn_alloc_unbound(domid_t remote, u32* port) {
    evtchn_alloc_unbound_t a{};
    a.dom = DOMID_SELF;
    a.remote_dom = remote;
    long rc = hc::event_channel_op(EVTCHNOP_alloc_unbound, &a);
    if (rc == 0) *port = a.port;
    return rc;
}

long evtchn_bind_interdomain(domid_t remote, u32 remote_port, u32* port) {
    evtchn_bind_interdomain_t b{};
    b.remote_dom = remote;
    b.remote_port = remote_port;
    long rc = hc::event_channel_op(EVTCHNOP_bind_interdomain, &b);
    if (rc == 0) *port = b.local_port;
    return rc;
}

long evtchn_bind_virq(u32 virq, u32* port) {
    evtchn_bind_virq_t b{};
    b.virq = virq;
    b.vcpu = 0;
    long rc = hc::event_channel_op(EVTCHNOP_bind_virq, &b);
    if (rc == 0) *port = b.port;
    return rc;
}

long evtchn_send(u32 port) {
    evtchn_send_t s{};
    s.port = port;
    return hc::event_channel_op(EVTCHNOP_send, &s);
}

long evtchn_close(u32 port) {
    evtchn_close_t c{};
    c.port = port;
    return hc::event_channel_op(EVTCHNOP_close, &c);
}

bool test_and_clear_pending(volatile shared_info_t* s, u32 port) {
    constexpr u32 BITS = sizeof(xen_ulong_t) * 8;
    auto* word = const_cast<xen_ulong_t*>(&s->evtchn_pending[port / BITS]);
    const xen_ulong_t bit = xen_ulong_t{1} << (port % BITS);
    return (__atomic_fetch_and(word, ~bit, __ATOMIC_ACQ_REL) & bit) != 0;
}

long poll(const u32* ports, unsigned n, u64 timeout_ns) {
    if (n > POLL_MAX_PORTS) return -XEN_EINVAL;
    evtchn_port_t list[POLL_MAX_PORTS];
    for (unsigned i = 0; i < n; ++i) list[i] = ports[i];
    sched_poll_t p{};
    set_xen_guest_handle(p.ports, list);
    p.nr_ports = n;
    p.timeout = timeout_ns;
    return hc::sched_op(SCHEDOP_poll, &p);
}

}  // namespace xb
