// EvtchnOps<Env>: the event-channel operations (EVTCHNOP_*, the hypervisor's VIRQs, domain
// death) over the port tables and the 2-level ABI of core/evtchn.hpp, whose header explains the
// states, invariants and locking.  Each operation returns Xen's errno values in Xen's order of
// checks, so a guest cannot tell the two apart.
//
// The hypercall layer calls op() (or the typed members) with the calling domain's table:
//
//   EvtchnOpShape s = evtchn_op_shape(cmd);          // cmd: the low 32 bits, as Xen's int
//   if (!s.size) return -ENOSYS;
//   EvtchnOpArgs a; copy s.size bytes in            // -EFAULT on a fault
//   long rc = ops.op(domain.evtchn, cmd, a);
//   if (rc == 0 && s.copy_back) copy s.size bytes out // -EFAULT on a fault
#pragma once
#include <atomic>

#include <arch/cpu.hpp>

#include "core/evtchn.hpp"
#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

#include <xen/event_channel.h>

namespace pv {

template <EvtchnEnv Env> class EvtchnOps {
public:
    explicit EvtchnOps(Env& env) : env_(env) {}

    // ---- EVTCHNOP_*: self is the calling domain's table (Xen's current->domain) ----

    // HYPERVISOR_event_channel_op(cmd, arg) after the argument was copied in (evtchn_op_shape):
    // 0 or -errno.  init_control and expand_array (FIFO ABI): -ENOSYS, so Linux keeps the
    // 2-level ABI.  bind_pirq: -EPERM, no domain has access to a physical IRQ yet.
    long op(EventChannels& self, int cmd, EvtchnOpArgs& a);

    // A port of dom's that remote_dom (DOMID_SELF: the caller) may bind.  -ESRCH: no dom;
    // -ENOSPC/-EINVAL: no port (dom full or dying); -EPERM: dom is not the caller's to control.
    Result<evtchn_port_t> alloc_unbound(EventChannels& self, domid_t dom, domid_t remote_dom) {
        EventChannels* d = lookup(self, dom);
        if (!d) return error(XEN_ESRCH);
        IrqSpinGuard g(d->lock_);
        Result<evtchn_port_t> port = d->get_free_port();
        if (!port) return port;
        if (d != &self && !env_.controls(self.id(), d->id())) return error(XEN_EPERM);
        d->open(*port, PortState::unbound, 0, remote_dom == DOMID_SELF ? self.id() : remote_dom, 0);
        return port;
    }

    // Connects a new port of the caller's to remote_port of remote_dom, which must be unbound
    // and waiting for the caller.  The new port is set pending at once: the peer may have sent
    // while nobody was bound, and those events were dropped.  -ESRCH: no remote_dom; -ENOSPC /
    // -EINVAL: no local port; -EINVAL: the remote port is not valid or not waiting for us;
    // -EPERM: the policy refuses.
    Result<evtchn_port_t> bind_interdomain(EventChannels& self, domid_t remote_dom,
                                           evtchn_port_t remote_port) {
        EventChannels* rd = lookup(self, remote_dom);
        if (!rd) return error(XEN_ESRCH);
        PairGuard g(self, *rd);
        Result<evtchn_port_t> lport = self.get_free_port();
        if (!lport) return lport;
        if (!rd->valid(remote_port)) return error(XEN_EINVAL);
        const EventChannels::Port& r = rd->ports_[remote_port];
        if (r.state != PortState::unbound || r.remote_dom != self.id()) return error(XEN_EINVAL);
        if (!env_.may_bind(self.id(), rd->id())) return error(XEN_EPERM);
        self.open(*lport, PortState::interdomain, 0, rd->id(), remote_port);
        rd->ports_[remote_port].state = PortState::interdomain;
        rd->ports_[remote_port].remote_dom = self.id();
        rd->ports_[remote_port].value = *lport;
        deliver(self, *lport, 0);
        return lport;
    }

    // -EINVAL: no such VIRQ, or a global VIRQ on a vCPU other than 0 (bind_vcpu moves it later);
    // -ENOENT: no such vCPU; -EEXIST: already bound for that vCPU.
    Result<evtchn_port_t> bind_virq(EventChannels& self, u32 virq, u32 vcpu) {
        if (virq >= NR_VIRQS) return error(XEN_EINVAL);
        if (evtchn::virq_is_global(virq) && vcpu != 0) return error(XEN_EINVAL);
        if (!vcpu_exists(self, vcpu)) return error(XEN_ENOENT);
        IrqSpinGuard g(self.lock_);
        u16& slot = self.virq_slot(virq, vcpu);
        if (slot != 0) return error(XEN_EEXIST);
        Result<evtchn_port_t> port = self.get_free_port();
        if (!port) return port;
        self.open(*port, PortState::virq, static_cast<u16>(vcpu), 0, virq);
        slot = static_cast<u16>(*port);
        return port;
    }

    // -ENOENT: no such vCPU.  The port notifies that vCPU for good.
    Result<evtchn_port_t> bind_ipi(EventChannels& self, u32 vcpu) {
        if (!vcpu_exists(self, vcpu)) return error(XEN_ENOENT);
        IrqSpinGuard g(self.lock_);
        Result<evtchn_port_t> port = self.get_free_port();
        if (!port) return port;
        self.open(*port, PortState::ipi, static_cast<u16>(vcpu), 0, 0);
        return port;
    }

    // Frees the port; the peer of an interdomain port becomes unbound, waiting for us again.
    // -EINVAL: not valid, free, or port 0.
    Result<void> close(EventChannels& self, evtchn_port_t port) { return close_port(self, port); }

    // interdomain: the peer's port becomes pending; ipi: this one; unbound: dropped silently.
    // -EINVAL: anything else (virq and pirq ports included: only the hypervisor raises those).
    Result<void> send(EventChannels& self, evtchn_port_t port) {
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port)) return error(XEN_EINVAL);
        const EventChannels::Port& c = self.ports_[port];
        switch (c.state) {
            case PortState::interdomain: {
                EventChannels* rd = c.remote_dom == self.id() ? &self : env_.channels(c.remote_dom);
                if (rd) deliver(*rd, c.value, rd->notify(c.value));
                return ok();
            }
            case PortState::ipi: deliver(self, port, self.notify(port)); return ok();
            case PortState::unbound: return ok();
            default: return error(XEN_EINVAL);
        }
    }

    // Fills st (st.dom, st.port in).  -ESRCH: no such domain; -EINVAL: port not valid;
    // -EPERM: another domain's, and not ours to control.
    Result<void> status(EventChannels& self, evtchn_status_t& st) {
        EventChannels* d = lookup(self, st.dom);
        if (!d) return error(XEN_ESRCH);
        IrqSpinGuard g(d->lock_);
        if (!d->valid(st.port)) return error(XEN_EINVAL);
        if (d != &self && !env_.controls(self.id(), d->id())) return error(XEN_EPERM);
        d->fill_status(st.port, st);
        return ok();
    }

    // Which vCPU the port notifies from now on; allowed for unbound, interdomain, pirq and
    // global virq ports.  Nothing pending moves: the guest masks, rebinds and unmasks.
    // -ENOENT: no such vCPU (checked first); -EINVAL: port not valid or of another kind.
    Result<void> bind_vcpu(EventChannels& self, evtchn_port_t port, u32 vcpu) {
        if (!vcpu_exists(self, vcpu)) return error(XEN_ENOENT);
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port)) return error(XEN_EINVAL);
        EventChannels::Port& c = self.ports_[port];
        switch (c.state) {
            case PortState::virq:
                if (!evtchn::virq_is_global(c.value)) return error(XEN_EINVAL);
                break;
            case PortState::unbound:
            case PortState::interdomain:
            case PortState::pirq: break;
            default: return error(XEN_EINVAL);
        }
        c.notify_vcpu.store(static_cast<u16>(vcpu), std::memory_order_relaxed);
        return ok();
    }

    // Clears the mask bit and raises the upcall if the port is pending.  A port that is free (or
    // port 0) is left alone, its mask bit included, and the answer is still 0.  -EINVAL: not valid.
    Result<void> unmask(EventChannels& self, evtchn_port_t port) {
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port)) return error(XEN_EINVAL);
        if (!EventChannels::usable(self.ports_[port].state)) return ok();
        u16 v = self.notify(port);
        shared_info_t* si = env_.shared_info(self.id());
        if (si && evtchn_2l::unmask(*si, env_.vcpu_info(self.id(), v), port)) env_.kick(self.id(), v);
        return ok();
    }

    // Closes every port of dom.  -ESRCH: no dom; -EPERM: not ours to control; -EINVAL: another
    // domain not paused by its controller; -EBUSY: a reset of dom is already running; -EAGAIN:
    // ports were bound again while it ran.  Xen preempts a long reset and resumes it through
    // EVTCHNOP_reset_cont; 4096 closes are short enough to run in one go.
    Result<void> reset(EventChannels& self, domid_t dom) {
        EventChannels* d = lookup(self, dom);
        if (!d) return error(XEN_ESRCH);
        if (d != &self && !env_.controls(self.id(), d->id())) return error(XEN_EPERM);
        if (d != &self && !env_.paused_by_controller(d->id())) return error(XEN_EINVAL);
        if (d->resetting_.exchange(true, std::memory_order_acquire)) return error(XEN_EBUSY);
        for (evtchn_port_t p = 1; d->valid(p); ++p) (void)close_port(*d, p);
        unsigned left;
        {
            IrqSpinGuard g(d->lock_);
            left = d->open_ports();
        }
        d->resetting_.store(false, std::memory_order_release);
        return left ? error(XEN_EAGAIN) : ok();
    }

    // 2-level domains have one priority: -EINVAL for a port that is not valid, else -ENOSYS.
    Result<void> set_priority(EventChannels& self, evtchn_port_t port) {
        IrqSpinGuard g(self.lock_);
        return error(self.valid(port) ? XEN_ENOSYS : XEN_EINVAL);
    }

    // SCHEDOP_poll's look at one port (Xen's evtchn_port_poll): 1 pending, 0 not, -EINVAL not a
    // valid port.
    long port_poll(EventChannels& self, evtchn_port_t port) {
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port)) return -static_cast<long>(XEN_EINVAL);
        shared_info_t* si = env_.shared_info(self.id());
        return si && evtchn_2l::is_pending(*si, port) ? 1 : 0;
    }

    // ---- The hypervisor's side ----

    // Raises virq at d: a per-vCPU VIRQ at vcpu, a global one at the vCPU its port notifies
    // (vcpu ignored).  False when the guest has not bound it (the event is dropped).  Callable
    // from interrupt handlers.
    bool raise_virq(EventChannels& d, u32 virq, u32 vcpu) {
        if (virq >= NR_VIRQS) return false;
        bool global = evtchn::virq_is_global(virq);
        if (!global && vcpu >= evtchn::MAX_VCPUS) return false;
        IrqSpinGuard g(d.lock_);
        evtchn_port_t port = d.virq_slot(virq, global ? 0 : vcpu);
        if (port == 0) return false;
        deliver(d, port, d.notify(port));
        return true;
    }

    // Domain death (Xen's evtchn_destroy): no port can be allocated any more, and every port is
    // closed, so no other domain keeps an interdomain port connected to d.
    void destroy(EventChannels& d) {
        {
            IrqSpinGuard g(d.lock_);
            d.dying_ = true;
        }
        for (evtchn_port_t p = 1; d.valid(p); ++p) (void)close_port(d, p);
    }

private:
    // Both tables' locks, lower domid first (one lock when they are the same), interrupts off.
    class PairGuard {
    public:
        PairGuard(EventChannels& a, EventChannels& b)
            : first_(a.id() <= b.id() ? a : b), second_(&a == &b ? nullptr : a.id() <= b.id() ? &b : &a),
              flags_(arch::irq_save()) {
            first_.lock_.lock();
            if (second_) second_->lock_.lock();
        }
        ~PairGuard() {
            if (second_) second_->lock_.unlock();
            first_.lock_.unlock();
            arch::irq_restore(flags_);
        }
        PairGuard(const PairGuard&) = delete;
        PairGuard& operator=(const PairGuard&) = delete;

    private:
        EventChannels& first_;
        EventChannels* second_;
        unsigned long flags_;
    };

    EventChannels* lookup(EventChannels& self, domid_t dom) {
        return dom == DOMID_SELF || dom == self.id() ? &self : env_.channels(dom);
    }
    bool vcpu_exists(EventChannels& d, u32 vcpu) {
        return vcpu < evtchn::MAX_VCPUS && env_.vcpu_info(d.id(), vcpu) != nullptr;
    }

    // Port `port` of d becomes pending at vCPU v (Xen's evtchn_port_set_pending); d's lock, or
    // the lock of the domain whose interdomain port leads here, is held.
    void deliver(EventChannels& d, evtchn_port_t port, u16 v) {
        shared_info_t* si = env_.shared_info(d.id());
        if (!si) return;
        evtchn_2l::Raised r = evtchn_2l::set_pending(*si, env_.vcpu_info(d.id(), v), port);
        if (r.kick) env_.kick(d.id(), v);
        if (r.newly_pending) env_.wake_pollers(d.id(), port);
    }

    Result<void> close_port(EventChannels& d1, evtchn_port_t p1);

    Env& env_;
};

// ---- Out-of-line members of EvtchnOps ----

template <EvtchnEnv Env> Result<void> EvtchnOps<Env>::close_port(EventChannels& d1, evtchn_port_t p1) {
    unsigned long flags = arch::irq_save();
    d1.lock_.lock();
    EventChannels* d2 = nullptr;  // the peer's table, locked too, once known (never d1)
    Errno rc = static_cast<Errno>(0);
    for (;;) {
        if (!d1.valid(p1)) {
            rc = XEN_EINVAL;
            break;
        }
        EventChannels::Port& c = d1.ports_[p1];
        if (c.state == PortState::interdomain) {
            if (d2) {
                // The port was closed and rebound to a third domain while d1 was unlocked: answer
                // as if it had been seen closed, which it was in between.
                if (c.remote_dom != d2->id()) {
                    rc = XEN_EINVAL;
                    break;
                }
            } else if (c.remote_dom != d1.id()) {
                d2 = env_.channels(c.remote_dom);
                if (!d2) {
                    // Env broke its contract (a peer freed while connected); nothing to unbind.
                    c.state = PortState::unbound;
                    continue;
                }
                if (d1.id() < d2->id()) {
                    d2->lock_.lock();
                } else {
                    d1.lock_.unlock();
                    d2->lock_.lock();
                    d1.lock_.lock();
                    continue;  // look again: the port may have changed while d1 was unlocked
                }
            }
        }
        switch (c.state) {
            case PortState::free:
            case PortState::reserved: rc = XEN_EINVAL; break;
            case PortState::unbound:
            case PortState::ipi:
            case PortState::pirq: break;
            case PortState::virq: {
                u16& slot = d1.virq_slot(c.value, d1.notify(p1));
                if (slot == p1) slot = 0;
                break;
            }
            case PortState::interdomain: {
                EventChannels& peer = c.remote_dom == d1.id() ? d1 : *d2;
                EventChannels::Port& r = peer.ports_[c.value];
                r.state = PortState::unbound;
                r.remote_dom = d1.id();
                r.value = 0;
                break;
            }
        }
        if (rc == 0) d1.free_port(p1, env_.shared_info(d1.id()));
        break;
    }
    if (d2) d2->lock_.unlock();
    d1.lock_.unlock();
    arch::irq_restore(flags);
    if (rc) return error(rc);
    return ok();
}

template <EvtchnEnv Env> long EvtchnOps<Env>::op(EventChannels& self, int cmd, EvtchnOpArgs& a) {
    switch (cmd) {
        case EVTCHNOP_alloc_unbound: {
            Result<evtchn_port_t> r = alloc_unbound(self, a.alloc_unbound.dom, a.alloc_unbound.remote_dom);
            if (r) a.alloc_unbound.port = *r;
            return r ? 0 : -static_cast<long>(r.error());
        }
        case EVTCHNOP_bind_interdomain: {
            Result<evtchn_port_t> r =
                bind_interdomain(self, a.bind_interdomain.remote_dom, a.bind_interdomain.remote_port);
            if (r) a.bind_interdomain.local_port = *r;
            return r ? 0 : -static_cast<long>(r.error());
        }
        case EVTCHNOP_bind_virq: {
            Result<evtchn_port_t> r = bind_virq(self, a.bind_virq.virq, a.bind_virq.vcpu);
            if (r) a.bind_virq.port = *r;
            return r ? 0 : -static_cast<long>(r.error());
        }
        case EVTCHNOP_bind_ipi: {
            Result<evtchn_port_t> r = bind_ipi(self, a.bind_ipi.vcpu);
            if (r) a.bind_ipi.port = *r;
            return r ? 0 : -static_cast<long>(r.error());
        }
        case EVTCHNOP_bind_pirq: return -static_cast<long>(XEN_EPERM);
        case EVTCHNOP_close: return close(self, a.close.port).as_return();
        case EVTCHNOP_send: return send(self, a.send.port).as_return();
        case EVTCHNOP_status: return status(self, a.status).as_return();
        case EVTCHNOP_bind_vcpu: return bind_vcpu(self, a.bind_vcpu.port, a.bind_vcpu.vcpu).as_return();
        case EVTCHNOP_unmask: return unmask(self, a.unmask.port).as_return();
        case EVTCHNOP_reset: return reset(self, a.reset.dom).as_return();
        case EVTCHNOP_set_priority: return set_priority(self, a.set_priority.port).as_return();
        case EVTCHNOP_init_control:
        case EVTCHNOP_expand_array:
        default: return -static_cast<long>(XEN_ENOSYS);
    }
}

}  // namespace pv
