// EvtchnOps<Env>: the event-channel operations (EVTCHNOP_*, the hypervisor's VIRQs, domain
// death) over the port tables of core/evtchn.hpp, whose header explains the states, invariants,
// locking and the two ABIs (2-level, FIFO: core/evtchn_fifo.hpp).  Each operation returns Xen's
// errno values in Xen's order of checks, so a guest cannot tell the two apart.
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
#include <new>

#include <arch/cpu.hpp>

#include "core/evtchn.hpp"
#include "core/evtchn_fifo.hpp"
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
    // 0 or -errno.
    long op(EventChannels& self, int cmd, EvtchnOpArgs& a);

    // A port of dom's that remote_dom (DOMID_SELF: the caller) may bind.  -ESRCH: no dom;
    // -ENOSPC/-EINVAL/-ENOMEM: no port (dom full or dying, no memory); -EPERM: dom is not the
    // caller's to control.
    Result<evtchn_port_t> alloc_unbound(EventChannels& self, domid_t dom, domid_t remote_dom) {
        EventChannels* d = lookup(self, dom);
        if (!d) return error(XEN_ESRCH);
        // A bucket is reserved only for a caller that may allocate there: a refused caller must
        // not make the hypervisor spend memory on another domain's table.  Where Xen would
        // allocate the bucket and then refuse, it refuses without it.
        const bool allowed = d == &self || env_.controls(self.id(), d->id());
        if (allowed) reserve_bucket(*d);
        IrqSpinGuard g(d->lock_);
        Result<evtchn_port_t> port = get_free_port(*d);
        if (!port && !(!allowed && port.error() == XEN_ENOMEM)) return port;
        if (!allowed) return error(XEN_EPERM);
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
        reserve_bucket(self);
        PairGuard g(self, *rd);
        Result<evtchn_port_t> lport = get_free_port(self);
        if (!lport) return lport;
        if (!rd->valid(remote_port)) return error(XEN_EINVAL);
        EventChannels::Port& r = rd->port(remote_port);
        if (r.state != PortState::unbound || r.remote_dom != self.id()) return error(XEN_EINVAL);
        if (!env_.may_bind(self.id(), rd->id())) return error(XEN_EPERM);
        self.open(*lport, PortState::interdomain, 0, rd->id(), remote_port);
        r.state = PortState::interdomain;
        r.remote_dom = self.id();
        r.value = *lport;
        deliver(self, *lport, 0);
        return lport;
    }

    // -EINVAL: no such VIRQ, or a global VIRQ on a vCPU other than 0 (bind_vcpu moves it later);
    // -ENOENT: no such vCPU; -EEXIST: already bound for that vCPU.
    Result<evtchn_port_t> bind_virq(EventChannels& self, u32 virq, u32 vcpu) {
        if (virq >= NR_VIRQS) return error(XEN_EINVAL);
        if (evtchn::virq_is_global(virq) && vcpu != 0) return error(XEN_EINVAL);
        if (!vcpu_exists(self, vcpu)) return error(XEN_ENOENT);
        reserve_bucket(self);
        IrqSpinGuard g(self.lock_);
        evtchn_port_t& slot = self.virq_slot(virq, vcpu);
        if (slot != 0) return error(XEN_EEXIST);
        Result<evtchn_port_t> port = get_free_port(self);
        if (!port) return port;
        self.open(*port, PortState::virq, static_cast<u16>(vcpu), 0, virq);
        slot = *port;
        return port;
    }

    // A port for physical IRQ pirq (mapped by PHYSDEVOP_map_pirq), notifying vCPU 0 (Xen's
    // evtchn_bind_pirq).  Env checks and binds the pirq: -EINVAL / -EPERM / -EEXIST before a port
    // is taken (bad pirq, not mapped, bound already), -EBUSY after (the line is not the domain's
    // to have); then the port's errors.
    Result<evtchn_port_t> bind_pirq(EventChannels& self, u32 pirq, bool will_share) {
        if (Result<void> r = env_.pirq_check(self.id(), pirq); !r) return error(r.error());
        reserve_bucket(self);
        IrqSpinGuard g(self.lock_);
        Result<evtchn_port_t> port = get_free_port(self);
        if (!port) return port;
        if (Result<void> r = env_.pirq_bind(self.id(), pirq, *port, will_share); !r) return error(r.error());
        self.open(*port, PortState::pirq, 0, 0, pirq);
        return port;
    }

    // -ENOENT: no such vCPU.  The port notifies that vCPU for good.
    Result<evtchn_port_t> bind_ipi(EventChannels& self, u32 vcpu) {
        if (!vcpu_exists(self, vcpu)) return error(XEN_ENOENT);
        reserve_bucket(self);
        IrqSpinGuard g(self.lock_);
        Result<evtchn_port_t> port = get_free_port(self);
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
        const EventChannels::Port& c = self.port(port);
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
        EventChannels::Port& c = self.port(port);
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

    // Clears the mask bit (2-level: shared_info's; FIFO: the event word's MASKED) and raises the
    // event again if the port is pending.  A port that is free (or port 0) is left alone, its
    // mask bit included, and the answer is still 0.  -EINVAL: not valid.
    Result<void> unmask(EventChannels& self, evtchn_port_t port) {
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port)) return error(XEN_EINVAL);
        if (!EventChannels::usable(self.port(port).state)) return ok();
        u16 v = self.notify(port);
        if (EvtchnFifo* f = self.fifo()) {
            if (f->unmask(port)) deliver(self, port, v);
            return ok();
        }
        shared_info_t* si = env_.shared_info(self.id());
        if (si && evtchn_2l::unmask(*si, env_.vcpu_info(self.id(), v), port)) env_.kick(self.id(), v);
        return ok();
    }

    // Closes every port of dom, then (all closed) returns it to the 2-level ABI.  -ESRCH: no dom;
    // -EPERM: not ours to control; -EINVAL: another domain not paused by its controller; -EBUSY:
    // a reset of dom is already running; -EAGAIN: ports were bound again while it ran (it stays
    // FIFO).  Xen preempts a long reset and resumes it through EVTCHNOP_reset_cont; closes are
    // short enough to run in one go.
    Result<void> reset(EventChannels& self, domid_t dom) {
        EventChannels* d = lookup(self, dom);
        if (!d) return error(XEN_ESRCH);
        if (d != &self && !env_.controls(self.id(), d->id())) return error(XEN_EPERM);
        if (d != &self && !env_.paused_by_controller(d->id())) return error(XEN_EINVAL);
        if (d->resetting_.exchange(true, std::memory_order_acquire)) return error(XEN_EBUSY);
        for (evtchn_port_t p = 1; d->valid(p); ++p) (void)close_port(*d, p);
        unsigned left;
        EvtchnFifo* fifo = nullptr;
        {
            IrqSpinGuard g(d->lock_);
            left = d->open_ports();
            if (!left) fifo = d->fifo_.exchange(nullptr, std::memory_order_acq_rel);
        }
        free_fifo(fifo);
        d->resetting_.store(false, std::memory_order_release);
        return left ? error(XEN_EAGAIN) : ok();
    }

    // -EINVAL: port not valid, or priority beyond EVTCHN_FIFO_PRIORITY_MIN; -ENOSYS: a 2-level
    // domain; -EACCES: a free port.  Only later events go to the new priority's queue.
    Result<void> set_priority(EventChannels& self, evtchn_port_t port, u32 priority) {
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port)) return error(XEN_EINVAL);
        if (!self.fifo()) return error(XEN_ENOSYS);
        if (!EventChannels::usable(self.port(port).state)) return error(XEN_EACCES);
        if (priority > EVTCHN_FIFO_PRIORITY_MIN) return error(XEN_EINVAL);
        self.port(port).fifo.priority.store(static_cast<u8>(priority), std::memory_order_relaxed);
        return ok();
    }

    // EVTCHNOP_init_control: vCPU a.vcpu's FIFO control block at a.offset in guest frame
    // a.control_gfn (a.link_bits is set for the guest).  The first one switches the domain to
    // FIFO: every port keeps its 2-level pending state (raised again when its event-array page
    // arrives) and gets the default priority.  -ENOENT: no such vCPU; -EINVAL: the block would
    // cross the page or is not 8-byte aligned, the vCPU has one already, or the frame is not
    // the domain's to write; -ENOMEM.  Memory and the frame are had before the lock (evtchn.hpp).
    Result<void> init_control(EventChannels& self, evtchn_init_control_t& a) {
        a.link_bits = EVTCHN_FIFO_LINK_BITS;
        if (!vcpu_exists(self, a.vcpu)) return error(XEN_ENOENT);
        if (a.offset > PAGE_SIZE - sizeof(evtchn_fifo_control_block_t)) return error(XEN_EINVAL);
        if (a.offset & 7) return error(XEN_EINVAL);
        EvtchnFifo* fresh = nullptr;  // the domain's FIFO state, if this is the switch
        if (!self.fifo()) {
            fresh = new_fifo(self);
            if (!fresh) return error(XEN_ENOMEM);
        }
        auto* queues = make<EvtchnFifo::Vcpu>();  // for a vCPU made after the switch
        void* page = env_.map_guest_page(self.id(), a.control_gfn);
        Result<void> r = page ? ok() : error(XEN_EINVAL);
        if (page) {
            IrqSpinGuard g(self.lock_);
            EvtchnFifo* f = self.fifo();
            bool switching = !f && fresh;
            if (switching) f = fresh;
            r = f ? attach_control(*f, a, page, queues) : error(XEN_ENOMEM);  // f: reset meanwhile
            if (r) page = nullptr;
            if (r && switching) {
                fresh = nullptr;
                switch_to_fifo(self, f);
            }
        }
        if (page) env_.unmap_guest_page(page);
        if (queues) unmake(queues);
        free_fifo(fresh);
        return r;
    }

    // EVTCHNOP_expand_array: guest frame gfn becomes the next page of 1024 event words; events
    // raised at its ports meanwhile are raised now.  -EOPNOTSUPP: a 2-level domain; -ENOSPC: all
    // 128 pages there; -EINVAL: not the domain's frame to write.  The frame is taken before the
    // lock (evtchn.hpp), so the checks are made again under it.
    Result<void> expand_array(EventChannels& self, u64 gfn) {
        if (Result<void> r = can_expand(self); !r) return r;
        void* page = env_.map_guest_page(self.id(), gfn);
        if (!page) return error(XEN_EINVAL);
        Result<void> r = ok();
        {
            IrqSpinGuard g(self.lock_);
            r = check_expand(self);
            if (r) {
                EvtchnFifo& f = *self.fifo();
                evtchn_port_t first = f.nr_words();
                f.add_page(static_cast<event_word_t*>(page));
                page = nullptr;
                for (evtchn_port_t p = first; p < f.nr_words() && self.valid(p); ++p)
                    if (self.port(p).fifo.pending.load(std::memory_order_relaxed)) deliver(self, p, self.notify(p));
            }
        }
        if (page) env_.unmap_guest_page(page);
        return r;
    }

    // SCHEDOP_poll's look at one port (Xen's evtchn_port_poll): 1 pending, 0 not, -EINVAL not a
    // valid port or a free one.
    long port_poll(EventChannels& self, evtchn_port_t port) {
        IrqSpinGuard g(self.lock_);
        if (!self.valid(port) || !EventChannels::usable(self.port(port).state)) return -static_cast<long>(XEN_EINVAL);
        return is_pending(self, port) ? 1 : 0;
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

    // A physical IRQ fired: port of d's becomes pending if it is still bound to pirq (it may
    // have been closed, or reused, since the interrupt handler looked).  Callable from
    // interrupt handlers.
    bool raise_pirq(EventChannels& d, evtchn_port_t port, u32 pirq) {
        IrqSpinGuard g(d.lock_);
        if (!d.valid(port)) return false;
        const EventChannels::Port& c = d.port(port);
        if (c.state != PortState::pirq || c.value != pirq) return false;
        deliver(d, port, d.notify(port));
        return true;
    }

    // Domain death (Xen's evtchn_destroy): no port can be allocated any more, and every port is
    // closed, so no other domain keeps an interdomain port connected to d; then the FIFO state
    // and its guest pages go, and every bucket but the first (the table reads as 64 closed
    // ports until it is freed).
    void destroy(EventChannels& d) {
        {
            IrqSpinGuard g(d.lock_);
            d.dying_ = true;
        }
        for (evtchn_port_t p = 1; d.valid(p); ++p) (void)close_port(d, p);
        EvtchnFifo* fifo;
        void* spare;
        unsigned nr;
        {
            IrqSpinGuard g(d.lock_);
            fifo = d.fifo_.exchange(nullptr, std::memory_order_acq_rel);
            spare = d.spare_bucket_;
            d.spare_bucket_ = nullptr;
            nr = d.valid_ports() / evtchn::PORTS_PER_BUCKET;
            d.valid_.store(evtchn::PORTS_PER_BUCKET, std::memory_order_release);
        }
        // Nobody reaches the buckets beyond the first any more: dying, no port can be allocated,
        // and none is connected.
        for (unsigned b = 1; b < nr; ++b) {
            env_.free_mem(d.buckets_[b]);
            d.buckets_[b] = nullptr;
        }
        if (spare) env_.free_mem(spare);
        free_fifo(fifo);
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

    // The lowest free port of d's (Xen's get_free_port), with d's lock held: -EINVAL once d is
    // dying, -ENOSPC past its limits, -ENOMEM when a new bucket cannot be had.
    Result<evtchn_port_t> get_free_port(EventChannels& d) {
        if (d.dying_) return error(XEN_EINVAL);
        evtchn_port_t limit = d.abi_ports();
        for (evtchn_port_t p = 0; p <= d.max_port_; ++p) {
            if (p >= limit) break;
            if (d.valid(p)) {
                if (d.port(p).state == PortState::free && !is_busy(d, p)) return p;
                continue;
            }
            // Xen allocates the next bucket here; it stays valid even if the caller then fails.
            if (!d.spare_bucket_) return error(XEN_ENOMEM);
            d.add_bucket(d.spare_bucket_);
            d.spare_bucket_ = nullptr;
            return p;
        }
        return error(XEN_ENOSPC);
    }
    // With no lock held, before an allocation: a zeroed bucket in reserve for get_free_port, if
    // d has none (none when out of memory: the allocation that needs one answers -ENOMEM).
    void reserve_bucket(EventChannels& d) {
        {
            IrqSpinGuard g(d.lock_);
            if (d.spare_bucket_ || d.dying_) return;
        }
        void* mem = env_.alloc_zeroed(sizeof(EventChannels::Port) * evtchn::PORTS_PER_BUCKET);
        if (!mem) return;
        {
            IrqSpinGuard g(d.lock_);
            if (!d.spare_bucket_ && !d.dying_) {
                d.spare_bucket_ = mem;
                mem = nullptr;
            }
        }
        if (mem) env_.free_mem(mem);  // another CPU reserved one meanwhile, or d died
    }

    // ---- Port operations under either ABI (Xen's evtchn_port_ops), with a lock held that keeps
    // the port's state (evtchn.hpp) ----

    // Port `port` of d becomes pending at vCPU v (Xen's evtchn_port_set_pending); d's lock, or
    // the lock of the domain whose interdomain port leads here, is held.
    void deliver(EventChannels& d, evtchn_port_t port, u16 v) {
        if (EvtchnFifo* f = d.fifo()) {
            if (!f->vcpu(v)) return;  // a vCPU made after the switch, without queues yet
            EvtchnFifo::Raised r = f->set_pending(port, d.port(port).fifo, v);
            if (r.mark) mark_events_pending(d, v);
            if (r.newly_pending) env_.wake_pollers(d.id(), port);
            return;
        }
        shared_info_t* si = env_.shared_info(d.id());
        if (!si) return;
        evtchn_2l::Raised r = evtchn_2l::set_pending(*si, env_.vcpu_info(d.id(), v), port);
        if (r.kick) env_.kick(d.id(), v);
        if (r.newly_pending) env_.wake_pollers(d.id(), port);
    }
    // Xen's vcpu_mark_events_pending.
    void mark_events_pending(EventChannels& d, u16 v) {
        vcpu_info_t* vi = env_.vcpu_info(d.id(), v);
        if (vi && !(__atomic_fetch_or(&vi->evtchn_upcall_pending, u8{1}, __ATOMIC_SEQ_CST) & 1)) env_.kick(d.id(), v);
    }
    void clear_pending(EventChannels& d, evtchn_port_t port) {
        if (EvtchnFifo* f = d.fifo()) {
            f->clear_pending(port);
        } else if (shared_info_t* si = env_.shared_info(d.id())) {
            evtchn_2l::clear_pending(*si, port);
        }
    }
    bool is_pending(EventChannels& d, evtchn_port_t port) {
        if (EvtchnFifo* f = d.fifo()) return f->is_pending(port);
        shared_info_t* si = env_.shared_info(d.id());
        return si && evtchn_2l::is_pending(*si, port);
    }
    bool is_busy(EventChannels& d, evtchn_port_t port) {
        EvtchnFifo* f = d.fifo();
        return f && f->is_busy(port);
    }

    // ---- FIFO state (evtchn_fifo.hpp) ----

    template <typename T> T* make() {
        void* mem = env_.alloc_zeroed(sizeof(T));
        return mem ? new (mem) T() : nullptr;
    }
    template <typename T> void unmake(T* obj) {
        obj->~T();
        env_.free_mem(obj);
    }
    // With no lock held: FIFO state with queues for every vCPU d has (Xen's setup_control_block
    // for each and setup_event_array), nullptr when out of memory.
    EvtchnFifo* new_fifo(EventChannels& d) {
        EvtchnFifo* f = make<EvtchnFifo>();
        if (!f) return nullptr;
        for (unsigned v = 0; v < fifo::MAX_VCPUS; ++v) {
            if (!vcpu_exists(d, v)) continue;
            EvtchnFifo::Vcpu* q = make<EvtchnFifo::Vcpu>();
            if (!q) {
                free_fifo(f);
                return nullptr;
            }
            f->set_vcpu(v, q);
        }
        return f;
    }
    // With d's lock held: page (mapped) holds a.vcpu's control block (Xen's map_control_block);
    // queues are used if the vCPU has none (and then set to nullptr).
    Result<void> attach_control(EvtchnFifo& f, const evtchn_init_control_t& a, void* page,
                                EvtchnFifo::Vcpu*& queues) {
        EvtchnFifo::Vcpu* q = f.vcpu(a.vcpu);
        if (!q) {
            if (!queues) return error(XEN_ENOMEM);
            f.set_vcpu(a.vcpu, queues);
            q = queues;
            queues = nullptr;
        }
        if (q->control.load(std::memory_order_relaxed)) return error(XEN_EINVAL);
        q->control_page = page;
        EvtchnFifo::set_control(*q, reinterpret_cast<evtchn_fifo_control_block_t*>(static_cast<u8*>(page) + a.offset));
        return ok();
    }
    // With d's lock held: d uses f from now on (Xen's setup_ports: pending 2-level ports keep
    // their event, every port gets the default priority).
    void switch_to_fifo(EventChannels& d, EvtchnFifo* f) {
        evtchn_port_t prev = d.abi_ports();
        d.fifo_.store(f, std::memory_order_release);
        shared_info_t* si = env_.shared_info(d.id());
        for (evtchn_port_t p = 1; p < prev && d.valid(p); ++p) {
            FifoPort& fp = d.port(p).fifo;
            if (si && evtchn_2l::is_pending(*si, p)) fp.pending.store(true, std::memory_order_relaxed);
            fp.priority.store(EVTCHN_FIFO_PRIORITY_DEFAULT, std::memory_order_relaxed);
        }
    }
    // expand_array's checks, in Xen's order, with d's lock held (the FIFO state is only read
    // under it) or taking it.
    static Result<void> check_expand(EventChannels& d) {
        EvtchnFifo* f = d.fifo();
        if (!f) return error(XEN_EOPNOTSUPP);
        if (f->array_full()) return error(XEN_ENOSPC);
        return ok();
    }
    static Result<void> can_expand(EventChannels& d) {
        IrqSpinGuard g(d.lock_);
        return check_expand(d);
    }
    // With no lock held and f unreachable (detached, or never published): its guest pages'
    // references and its memory go.
    void free_fifo(EvtchnFifo* f) {
        if (!f) return;
        for (unsigned v = 0; v < fifo::MAX_VCPUS; ++v) {
            EvtchnFifo::Vcpu* q = f->vcpu(v);
            if (!q) continue;
            if (q->control_page) env_.unmap_guest_page(q->control_page);
            unmake(q);
        }
        for (unsigned i = 0; i < fifo::MAX_PAGES && f->page(i); ++i) env_.unmap_guest_page(f->page(i));
        unmake(f);
    }

    EventChannels* lookup(EventChannels& self, domid_t dom) {
        return dom == DOMID_SELF || dom == self.id() ? &self : env_.channels(dom);
    }
    bool vcpu_exists(EventChannels& d, u32 vcpu) {
        return vcpu < evtchn::MAX_VCPUS && env_.vcpu_info(d.id(), vcpu) != nullptr;
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
        EventChannels::Port& c = d1.port(p1);
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
            case PortState::ipi: break;
            case PortState::pirq: env_.pirq_unbind(d1.id(), c.value); break;
            case PortState::virq: {
                evtchn_port_t& slot = d1.virq_slot(c.value, d1.notify(p1));
                if (slot == p1) slot = 0;
                break;
            }
            case PortState::interdomain: {
                EventChannels& peer = c.remote_dom == d1.id() ? d1 : *d2;
                EventChannels::Port& r = peer.port(c.value);
                r.state = PortState::unbound;
                r.remote_dom = d1.id();
                r.value = 0;
                break;
            }
        }
        if (rc == 0) {
            // A stale pending bit would fire at the next owner of the port.
            clear_pending(d1, p1);
            d1.release(p1);
        }
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
        case EVTCHNOP_bind_pirq: {
            Result<evtchn_port_t> r =
                bind_pirq(self, a.bind_pirq.pirq, (a.bind_pirq.flags & BIND_PIRQ__WILL_SHARE) != 0);
            if (r) a.bind_pirq.port = *r;
            return r ? 0 : -static_cast<long>(r.error());
        }
        case EVTCHNOP_close: return close(self, a.close.port).as_return();
        case EVTCHNOP_send: return send(self, a.send.port).as_return();
        case EVTCHNOP_status: return status(self, a.status).as_return();
        case EVTCHNOP_bind_vcpu: return bind_vcpu(self, a.bind_vcpu.port, a.bind_vcpu.vcpu).as_return();
        case EVTCHNOP_unmask: return unmask(self, a.unmask.port).as_return();
        case EVTCHNOP_reset: return reset(self, a.reset.dom).as_return();
        case EVTCHNOP_set_priority:
            return set_priority(self, a.set_priority.port, a.set_priority.priority).as_return();
        case EVTCHNOP_init_control: return init_control(self, a.init_control).as_return();
        case EVTCHNOP_expand_array: return expand_array(self, a.expand_array.array_gfn).as_return();
        default: return -static_cast<long>(XEN_ENOSYS);
    }
}

}  // namespace pv
