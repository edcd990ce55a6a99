// The port table and the 2-level ABI's bit operations (design: evtchn.hpp).
#include "core/evtchn.hpp"

#include <new>

namespace pv {

bool evtchn::virq_is_global(u32 virq) {
    switch (virq) {
        case VIRQ_TIMER:
        case VIRQ_DEBUG:
        case VIRQ_XENOPROF:
        case VIRQ_XENPMU: return false;
        default: return true;
    }
}

// ---------------------------------------------------------------------------------------------
// evtchn_2l: every access to the guest's words is atomic and sequentially consistent; the steps'
// order is the protocol (evtchn.hpp).

namespace {

constexpr unsigned word_of(evtchn_port_t port) { return port / evtchn::BITS_PER_WORD; }
constexpr xen_ulong_t bit_of(unsigned index) { return xen_ulong_t{1} << (index % evtchn::BITS_PER_WORD); }

bool test_and_set(xen_ulong_t& w, xen_ulong_t bit) { return __atomic_fetch_or(&w, bit, __ATOMIC_SEQ_CST) & bit; }
bool test_and_clear(xen_ulong_t& w, xen_ulong_t bit) {
    return __atomic_fetch_and(&w, ~bit, __ATOMIC_SEQ_CST) & bit;
}
bool test(const xen_ulong_t& w, xen_ulong_t bit) { return __atomic_load_n(&w, __ATOMIC_SEQ_CST) & bit; }

// The selector bit of the port's word, then the upcall flag (Xen's vcpu_mark_events_pending):
// true when the upcall flag went 0 -> 1.
bool raise_upcall(vcpu_info_t& vi, evtchn_port_t port) {
    if (test_and_set(vi.evtchn_pending_sel, bit_of(word_of(port)))) return false;
    return !(__atomic_fetch_or(&vi.evtchn_upcall_pending, u8{1}, __ATOMIC_SEQ_CST) & 1);
}

}  // namespace

evtchn_2l::Raised evtchn_2l::set_pending(shared_info_t& si, vcpu_info_t* vi, evtchn_port_t port) {
    if (port >= evtchn::NR_PORTS) return {false, false};
    unsigned w = word_of(port);
    if (test_and_set(si.evtchn_pending[w], bit_of(port))) return {false, false};
    bool kick = !test(si.evtchn_mask[w], bit_of(port)) && vi && raise_upcall(*vi, port);
    return {true, kick};
}

bool evtchn_2l::unmask(shared_info_t& si, vcpu_info_t* vi, evtchn_port_t port) {
    if (port >= evtchn::NR_PORTS) return false;
    unsigned w = word_of(port);
    return test_and_clear(si.evtchn_mask[w], bit_of(port)) && test(si.evtchn_pending[w], bit_of(port)) &&
           vi && raise_upcall(*vi, port);
}

void evtchn_2l::clear_pending(shared_info_t& si, evtchn_port_t port) {
    if (port < evtchn::NR_PORTS) (void)test_and_clear(si.evtchn_pending[word_of(port)], bit_of(port));
}

bool evtchn_2l::is_pending(const shared_info_t& si, evtchn_port_t port) {
    return port < evtchn::NR_PORTS && test(si.evtchn_pending[word_of(port)], bit_of(port));
}

bool evtchn_2l::is_masked(const shared_info_t& si, evtchn_port_t port) {
    return port >= evtchn::NR_PORTS || test(si.evtchn_mask[word_of(port)], bit_of(port));
}

// ---------------------------------------------------------------------------------------------
// EventChannels

EventChannels::EventChannels(domid_t id, evtchn_port_t max_port)
    : id_(id), max_port_(max_port < 0x7fffffffu ? max_port : 0x7fffffffu) {  // Xen: at most INT_MAX
    // Port 0 is never handed out, so a zero in the VIRQ table means "unbound" and guests can use
    // 0 as "no port".
    bucket0_[0].state = PortState::reserved;
}

PortInfo EventChannels::inspect(evtchn_port_t p) const {
    IrqSpinGuard g(lock_);
    if (!valid(p)) return {PortState::free, 0, 0, 0};
    const Port& c = port(p);
    return {c.state, notify(p), c.remote_dom, c.value};
}

evtchn_port_t EventChannels::virq_port(u32 virq, u32 vcpu) const {
    if (virq >= NR_VIRQS || vcpu >= evtchn::MAX_VCPUS) return 0;
    IrqSpinGuard g(lock_);
    return virq_port_[evtchn::virq_is_global(virq) ? 0 : vcpu][virq];
}

void EventChannels::add_bucket(void* mem) {
    evtchn_port_t valid = valid_.load(std::memory_order_relaxed);
    auto* b = static_cast<Port*>(mem);
    for (evtchn_port_t i = 0; i < evtchn::PORTS_PER_BUCKET; ++i) new (&b[i]) Port();
    buckets_[valid / evtchn::PORTS_PER_BUCKET] = b;
    // Lock-free readers check valid_ before touching a port: the bucket first.
    valid_.store(valid + evtchn::PORTS_PER_BUCKET, std::memory_order_release);
}

void EventChannels::open(evtchn_port_t p, PortState s, u16 vcpu, domid_t remote_dom, u32 value) {
    Port& c = port(p);
    c.state = s;
    c.notify_vcpu.store(vcpu, std::memory_order_relaxed);
    c.remote_dom = remote_dom;
    c.value = value;
    // Xen's evtchn_port_init under FIFO; under 2-level the priority is not seen, and the switch
    // to FIFO sets every port's to the default anyway.
    c.fifo.priority.store(EVTCHN_FIFO_PRIORITY_DEFAULT, std::memory_order_relaxed);
}

void EventChannels::release(evtchn_port_t p) {
    Port& c = port(p);
    c.state = PortState::free;
    c.notify_vcpu.store(0, std::memory_order_relaxed);
    c.remote_dom = 0;
    c.value = 0;
}

void EventChannels::fill_status(evtchn_port_t p, evtchn_status_t& st) const {
    const Port& c = port(p);
    switch (c.state) {
        case PortState::free:
        case PortState::reserved: st.status = EVTCHNSTAT_closed; break;
        case PortState::unbound:
            st.status = EVTCHNSTAT_unbound;
            st.u.unbound.dom = c.remote_dom;
            break;
        case PortState::interdomain:
            st.status = EVTCHNSTAT_interdomain;
            st.u.interdomain.dom = c.remote_dom;
            st.u.interdomain.port = c.value;
            break;
        case PortState::pirq:
            st.status = EVTCHNSTAT_pirq;
            st.u.pirq = c.value;
            break;
        case PortState::virq:
            st.status = EVTCHNSTAT_virq;
            st.u.virq = c.value;
            break;
        case PortState::ipi: st.status = EVTCHNSTAT_ipi; break;
    }
    st.vcpu = notify(p);
}

unsigned EventChannels::open_ports() const {
    unsigned n = 0;
    for (evtchn_port_t p = 1; valid(p); ++p) n += usable(port(p).state);
    return n;
}

// ---------------------------------------------------------------------------------------------

EvtchnOpShape evtchn_op_shape(int cmd) {
    switch (cmd) {
        case EVTCHNOP_alloc_unbound: return {sizeof(evtchn_alloc_unbound_t), true};
        case EVTCHNOP_bind_interdomain: return {sizeof(evtchn_bind_interdomain_t), true};
        case EVTCHNOP_bind_virq: return {sizeof(evtchn_bind_virq_t), true};
        case EVTCHNOP_bind_pirq: return {sizeof(evtchn_bind_pirq_t), true};
        case EVTCHNOP_bind_ipi: return {sizeof(evtchn_bind_ipi_t), true};
        case EVTCHNOP_close: return {sizeof(evtchn_close_t), false};
        case EVTCHNOP_send: return {sizeof(evtchn_send_t), false};
        case EVTCHNOP_status: return {sizeof(evtchn_status_t), true};
        case EVTCHNOP_bind_vcpu: return {sizeof(evtchn_bind_vcpu_t), false};
        case EVTCHNOP_unmask: return {sizeof(evtchn_unmask_t), false};
        case EVTCHNOP_reset: return {sizeof(evtchn_reset_t), false};
        case EVTCHNOP_init_control: return {sizeof(evtchn_init_control_t), true};
        case EVTCHNOP_expand_array: return {sizeof(evtchn_expand_array_t), false};
        case EVTCHNOP_set_priority: return {sizeof(evtchn_set_priority_t), false};
        default: return {0, false};
    }
}

}  // namespace pv
