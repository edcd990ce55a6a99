// Event channels for PV domains: the x86 environment of the arch-neutral engine
// (core/evtchn_ops.hpp), the event_channel_op hypercall, and upcall delivery — on every return
// to a guest, an unmasked pending upcall enters the guest's event callback through a bounce
// frame with events masked (Xen's TBF_INTERRUPT), as Xen's test_all_events does.
#include <arch/layout.hpp>
#include <arch/mm.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/evtchn_ops.hpp"
#include "core/heap.hpp"
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

PvVcpu* find_vcpu(domid_t d, unsigned vcpu) {
    PvDomain* dom = domain_find(d);
    return dom && vcpu < dom->max_vcpus ? dom->vcpu[vcpu] : nullptr;
}

class X86EvtchnEnv {
public:
    EventChannels* channels(domid_t d) {
        PvDomain* dom = domain_find(d);
        return dom ? dom->evtchn : nullptr;
    }
    shared_info_t* shared_info(domid_t d) {
        PvDomain* dom = domain_find(d);
        return dom ? dom->shared_info : nullptr;
    }
    vcpu_info_t* vcpu_info(domid_t d, unsigned vcpu) {
        PvVcpu* v = find_vcpu(d, vcpu);
        return v ? v->vcpu_info : nullptr;
    }
    // A running vCPU sees the upcall on its way back to the guest; a blocked one wakes.
    void kick(domid_t d, unsigned vcpu) {
        if (PvVcpu* v = find_vcpu(d, vcpu)) vcpu_kick(*v);
    }
    void wake_pollers(domid_t d, evtchn_port_t port) {
        if (PvDomain* dom = domain_find(d)) vcpu_wake_pollers(*dom, port);
    }
    // Xen's XSM_TARGET through the dummy policy: a privileged (control) domain.
    bool controls(domid_t d, domid_t) const {
        PvDomain* dom = domain_find(d);
        return dom && dom->privileged;
    }
    bool may_bind(domid_t, domid_t) const { return true; }
    bool paused_by_controller(domid_t d) const {
        PvDomain* dom = domain_find(d);
        return dom && dom->controller_pause_count.load() > 0;
    }
    void* alloc_zeroed(usize bytes) {
        void* p = hv_heap().alloc(bytes);
        if (p) mem_set(p, 0, bytes);
        return p;
    }
    void free_mem(void* p) { hv_heap().free(p); }
    // A PV guest names machine frames (gfn == mfn); Xen's get_page_from_gfn then
    // get_page_type(PGT_writable_page).  The direct map is the persistent mapping.
    void* map_guest_page(domid_t d, u64 gfn) {
        PvDomain* dom = domain_find(d);
        if (!dom || gfn >= mm::frames().nr_frames() || !mmu_get_writable(*dom, gfn)) return nullptr;
        return phys_to_virt(gfn << PAGE_SHIFT);
    }
    void unmap_guest_page(void* page) { mmu_put_writable(virt_to_phys(page) >> PAGE_SHIFT); }
    // Physical IRQs: physdev.cpp's.
    Result<void> pirq_check(domid_t d, u32 pirq) {
        PvDomain* dom = domain_find(d);
        return dom ? physdev_pirq_check(*dom, pirq) : error(XEN_ESRCH);
    }
    Result<void> pirq_bind(domid_t d, u32 pirq, evtchn_port_t port, bool) {
        PvDomain* dom = domain_find(d);
        return dom ? physdev_pirq_bind(*dom, pirq, port) : error(XEN_ESRCH);
    }
    void pirq_unbind(domid_t d, u32 pirq) {
        if (PvDomain* dom = domain_find(d)) physdev_pirq_unbind(*dom, pirq);
    }
};
static_assert(EvtchnEnv<X86EvtchnEnv>);

X86EvtchnEnv g_env;
EvtchnOps<X86EvtchnEnv> g_ops(g_env);

}  // namespace

void events_destroy_domain(PvDomain& d) { g_ops.destroy(*d.evtchn); }

long do_event_channel_op(PvVcpu& v, const HypercallArgs& a) {
    int cmd = static_cast<int>(a.a1);
    EvtchnOpShape s = evtchn_op_shape(cmd);
    if (!s.size) return -static_cast<long>(XEN_ENOSYS);
    EvtchnOpArgs args;
    if (!copy_from_guest(&args, a.a2, s.size)) return -static_cast<long>(XEN_EFAULT);
    long rc = g_ops.op(*v.domain->evtchn, cmd, args);
    if (rc == 0 && s.copy_back && !copy_to_guest(a.a2, &args, s.size)) return -static_cast<long>(XEN_EFAULT);
    return rc;
}

void send_virq(PvVcpu& v, u32 virq) {
    if (v.domain->evtchn) g_ops.raise_virq(*v.domain->evtchn, virq, v.id);
}

// physdev.cpp's interrupt handler: a bound line fired.
bool events_raise_pirq(domid_t d, evtchn_port_t port, u32 pirq) {
    PvDomain* dom = domain_find(d);
    return dom && dom->evtchn && g_ops.raise_pirq(*dom->evtchn, port, pirq);
}

long evtchn_port_poll(PvDomain& d, evtchn_port_t port) { return g_ops.port_poll(*d.evtchn, port); }

void deliver_upcall(PvVcpu& v, TrapFrame& f) {
    vcpu_info_t* vi = v.vcpu_info;
    if (!vi || !vi->evtchn_upcall_pending || vi->evtchn_upcall_mask || !v.event_callback) return;
    if (!bounce(v, f, v.event_callback, false, 0, true))
        domain_crash(*v.domain, f, "fault writing the event-callback frame to the guest stack");
}

}  // namespace pv::arch::pv
