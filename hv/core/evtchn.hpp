// Event channels: the per-domain port table (EventChannels), the 2-level ABI's shared-memory side
// (the evtchn_2l functions), and the environment the engine needs (EvtchnEnv); the FIFO ABI's is
// core/evtchn_fifo.hpp, and the engine that carries out EVTCHNOP_* and the hypervisor's VIRQs is
// EvtchnOps<Env> (core/evtchn_ops.hpp).  Xen's common/event_channel.c and common/event_2l.c,
// rewritten.
//
// Ports
// -----
// A 2-level domain has ports 0..4095 (64 words of 64 bits in shared_info, hence "2-level": a
// selector bit per word in each vcpu_info, a pending bit per port); a FIFO domain up to 2^17
// (evtchn_fifo.hpp), Xen's max_evtchns.  Each port is free, reserved (port 0
// only: never allocated, its status reads "closed"), unbound (waiting for one named domain to
// bind to it), interdomain (connected to a port of a peer domain, possibly itself), virq, ipi or
// pirq (a physical IRQ of the domain's, core/pirq.hpp, bound through Env).  Each port also names
// the vCPU it notifies.
// Allocation takes the lowest free port up to the domain's max_port (Xen's max_evtchn_port) and
// below the ABI's limit, then -ENOSPC; under the FIFO ABI a free port still LINKED on a queue is
// skipped (Xen's evtchn_is_busy).  As Xen, port records come in buckets of 64 (a page of Xen's
// struct evtchn), added when allocation first reaches them (-ENOMEM when none could be had), and a
// port is "valid" only once its bucket exists: operations on a port beyond answer -EINVAL even
// when it is below the limit.  Buckets stay until the domain dies (destroy()).
//
// Invariants, kept under the domain locks
// ---------------------------------------
// * Interdomain ports come in pairs: port p of A connected to port q of B exactly when q of B
//   is connected to p of A.  Binding and closing change both ends with both domains locked, so
//   holding either domain's lock keeps the pair intact; close turns the surviving end into an
//   unbound port that accepts the closer again (the remote end is not freed: its owner may still
//   be using it).
// * A virq port is in its domain's VIRQ table (global VIRQs: vCPU 0's row) and vice versa.
// * A pirq port is bound to its pirq through Env (pirq_bind) until it is closed (pirq_unbind).
// * Closing a port clears its pending bit, so a reused port starts clean (the guest may still
//   write its own bits).  Mask bits belong to the guest; only unmask touches them here.
//
// Locking
// -------
// One spinlock per domain, always taken with interrupts off, so the hypervisor may raise a VIRQ
// from an interrupt handler.  An operation on two domains (bind_interdomain, close of an
// interdomain port, reset and destruction through close) takes both locks, the lower domid
// first.  close() finds the peer only after locking its own domain: if the peer's domid is lower,
// it drops its lock, takes both in order and looks again (Xen's "goto again"), refusing with
// -EINVAL if the port was rebound to a third domain meanwhile.  send() holds only the sender's
// lock: that keeps its port's pair intact, and the receiving port's notify vCPU is an atomic the
// receiver may change under its own lock (Xen reads it the same way).
//
// 2-level delivery (evtchn_2l)
// ----------------------------
// The guest reads and writes the pending, mask, selector and upcall words concurrently with the
// hypervisor, so every access is atomic (changes are read-modify-writes: lock bts/btr), and
// sequentially consistent.  Sending:
// set the pending bit; if it was already set, stop (the event coalesces).  If the port is
// unmasked, set the word's selector bit in the notify vCPU's vcpu_info; if that was newly set,
// set evtchn_upcall_pending; if that was newly set, kick the vCPU.  Unmask: clear the mask bit;
// if it was set and the port is pending, the same selector/upcall steps.  The order is what
// makes it lossless: the guest clears upcall_pending, then the selector, then the pending bits,
// and a sender that raced with it finds one of them clear and raises it again; an unmask racing
// with a send sees either the pending bit (and raises the upcall itself) or is seen by the
// sender as unmasked.  evtchn_upcall_mask is not looked at: it gates delivery of the upcall (the
// arch code's business), not the bits.
//
// The ABIs ("port ops")
// ---------------------
// A domain starts with the 2-level ABI; its first EVTCHNOP_init_control switches it to FIFO
// (EventChannels::fifo_ becomes non-null), EVTCHNOP_reset switches it back once every port is
// closed, as Xen 4.17.  The engine's port operations (set/clear pending, unmask, is_pending,
// is_busy; Xen's evtchn_port_ops) branch on fifo_, one load on the send path.  fifo_ is changed
// under the domain's lock; it is read without it only by a sender delivering over an interdomain
// port into the domain, and the FIFO state is freed only when no port of the domain is open, so
// no such sender can be inside it (close takes both domains' locks).
//
// FIFO locking: the domain lock (or, for a delivery, the sending domain's), then one or two of
// the target vCPU's queue locks (evtchn_fifo.hpp); never the other way round.
//
// The environment (EvtchnEnv)
// ---------------------------
// The engine reaches other domains, shared memory, the scheduler and the security policy only
// through Env.  Its calls may happen with event-channel locks held and interrupts off, so none
// may call back into event channels; except the four that reach the heap and guest frames
// (alloc_zeroed, free_mem, map_guest_page, unmap_guest_page), which are only called with no
// event-channel lock held: an interrupt handler raises VIRQs under these locks, and the heap's
// lock (or a frame-type change) must never be waited for with one held.  So a bucket is
// reserved before an allocating operation takes its lock (get_free_port uses the reserve), and
// FIFO state and guest frames are had before the lock and given back after it.
#pragma once
#include <atomic>
#include <concepts>
#include <type_traits>

#include "core/evtchn_fifo.hpp"
#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

#include <xen/event_channel.h>

namespace pv {

class EventChannels;

template <typename E>
concept EvtchnEnv = requires(E& env, const E& cenv, domid_t d, domid_t other, unsigned vcpu,
                             evtchn_port_t port, usize bytes, void* mem, void* page, u64 gfn, u32 pirq,
                             bool share) {
    // The event channels of live domain d; nullptr when there is none (-ESRCH).  A table must stay
    // valid while any operation may use it: a domain is freed only after destroy() returned and
    // no operation that could have looked it up is still running (Xen's RCU on domains).
    { env.channels(d) } -> std::same_as<EventChannels*>;
    // d's shared_info page (evtchn_pending[] and evtchn_mask[] are used); nullptr: none yet, and
    // events are then dropped.
    { env.shared_info(d) } -> std::same_as<shared_info_t*>;
    // The vcpu_info of d's vCPU (in shared_info, or where register_vcpu_info put it); nullptr
    // exactly when d has no such vCPU (-ENOENT for binds).
    { env.vcpu_info(d, vcpu) } -> std::same_as<vcpu_info_t*>;
    // evtchn_upcall_pending of d's vCPU went from 0 to 1: make the vCPU notice (wake it if
    // blocked, IPI its CPU if running; Xen's vcpu_kick).
    { env.kick(d, vcpu) } -> std::same_as<void>;
    // port of d just became pending, masked or not: wake any vCPU of d polling it (SCHEDOP_poll;
    // Xen's evtchn_check_pollers).
    { env.wake_pollers(d, port) } -> std::same_as<void>;
    // May d operate on other's event channels (alloc_unbound in it, status, reset)?  Xen's
    // XSM_TARGET: a control domain, or other's device model; not asked when d == other.
    { cenv.controls(d, other) } -> std::same_as<bool>;
    // May d connect to an unbound port of other's?  The XSM interdomain hook (dummy: always).
    { cenv.may_bind(d, other) } -> std::same_as<bool>;
    // Has a controller paused d (Xen's controller_pause_count)?  Needed to reset another domain.
    { cenv.paused_by_controller(d) } -> std::same_as<bool>;
    // Hypervisor memory for port buckets and FIFO state: zeroed, nullptr when out of memory.
    { env.alloc_zeroed(bytes) } -> std::same_as<void*>;
    { env.free_mem(mem) } -> std::same_as<void>;
    // Guest frame gfn of d's mapped for the hypervisor's writes, holding a general and a writable
    // type reference (Xen's map_guest_page); nullptr when d cannot give it (-EINVAL).
    { env.map_guest_page(d, gfn) } -> std::same_as<void*>;
    // Drops what map_guest_page took; page is its result.
    { env.unmap_guest_page(page) } -> std::same_as<void>;
    // Physical IRQs (pirq: d's number); they take only the physical IRQs' own lock, never an
    // event-channel one.  pirq_check (no lock held): EVTCHNOP_bind_pirq's checks before a port
    // is taken, in Xen's order (-EINVAL beyond d's pirqs, -EPERM not mapped, -EEXIST bound).
    // pirq_bind (d's lock held): binds it to port and lets the line interrupt (-EEXIST bound
    // meanwhile, -EBUSY the line is not d's to have).  pirq_unbind (d's lock held): its port is
    // being closed; the line is masked.
    { env.pirq_check(d, pirq) } -> std::same_as<Result<void>>;
    { env.pirq_bind(d, pirq, port, share) } -> std::same_as<Result<void>>;
    { env.pirq_unbind(d, pirq) } -> std::same_as<void>;
};

namespace evtchn {
inline constexpr unsigned BITS_PER_WORD = sizeof(xen_ulong_t) * 8;
inline constexpr evtchn_port_t NR_PORTS = BITS_PER_WORD * BITS_PER_WORD;  // 2-level max_evtchns
static_assert(NR_PORTS == EVTCHN_2L_NR_CHANNELS);
inline constexpr evtchn_port_t FIFO_NR_PORTS = EVTCHN_FIFO_NR_CHANNELS;  // FIFO max_evtchns
// Xen's EVTCHNS_PER_BUCKET on x86-64 (a page of 64-byte struct evtchn): the unit in which ports
// become valid.
inline constexpr evtchn_port_t PORTS_PER_BUCKET = 64;
inline constexpr unsigned MAX_BUCKETS = FIFO_NR_PORTS / PORTS_PER_BUCKET;
// vCPUs a domain may have as far as event channels go (the VIRQ table's rows).
inline constexpr unsigned MAX_VCPUS = 128;
// The per-vCPU VIRQs (bound once per vCPU, never re-bound); all others are global (x86 has no
// per-vCPU arch VIRQs).
bool virq_is_global(u32 virq);
}  // namespace evtchn

enum class PortState : u8 { free, reserved, unbound, interdomain, pirq, virq, ipi };

// What a port is, for dumps and tests (one consistent snapshot).
struct PortInfo {
    PortState state;
    u16 vcpu;           // notify vCPU
    domid_t remote_dom; // unbound: the domain allowed to bind; interdomain: the peer
    u32 value;          // interdomain: the peer's port; virq: the VIRQ; pirq: the PIRQ
};

// The 2-level ABI on a domain's shared memory.  vi may be nullptr (no such vCPU): then only the
// shared_info bits change.
namespace evtchn_2l {
struct Raised {
    bool newly_pending;  // the pending bit went 0 -> 1 (pollers must be woken)
    bool kick;           // evtchn_upcall_pending went 0 -> 1 (the vCPU must be kicked)
};
// Ports at or above NR_PORTS (left valid by a FIFO period) are neither pending nor raised.
Raised set_pending(shared_info_t& si, vcpu_info_t* vi, evtchn_port_t port);
// True when the upcall went 0 -> 1 and the vCPU must be kicked.
bool unmask(shared_info_t& si, vcpu_info_t* vi, evtchn_port_t port);
void clear_pending(shared_info_t& si, evtchn_port_t port);
bool is_pending(const shared_info_t& si, evtchn_port_t port);
bool is_masked(const shared_info_t& si, evtchn_port_t port);
}  // namespace evtchn_2l

// One domain's port table.  Everything that changes it goes through EvtchnOps, which also
// allocates its buckets and FIFO state and frees them at destroy().
class EventChannels {
public:
    // max_port: the highest port the domain may allocate (Xen's max_evtchn_port: ~0 for domain
    // 0, toolstacks give domUs 1023 by default); the ABI's limit applies besides.
    explicit EventChannels(domid_t id, evtchn_port_t max_port = ~evtchn_port_t{0});
    EventChannels(const EventChannels&) = delete;
    EventChannels& operator=(const EventChannels&) = delete;

    domid_t id() const { return id_; }
    evtchn_port_t max_port() const { return max_port_; }
    // Ports [0, valid_ports()) exist; the rest answer -EINVAL whatever the limit.
    evtchn_port_t valid_ports() const { return valid_.load(std::memory_order_acquire); }
    // The ABI's number of ports (Xen's max_evtchns).
    evtchn_port_t abi_ports() const { return fifo() ? evtchn::FIFO_NR_PORTS : evtchn::NR_PORTS; }
    // Using the FIFO ABI (its state), or nullptr for 2-level.
    EvtchnFifo* fifo() const { return fifo_.load(std::memory_order_acquire); }
    // A snapshot of port p (any number; a port not yet valid reads free).
    PortInfo inspect(evtchn_port_t p) const;
    // The port bound to virq for vcpu (global VIRQs: vcpu 0), 0 for none (Xen's
    // guest_enabled_event).
    evtchn_port_t virq_port(u32 virq, u32 vcpu) const;
    // Whether some CPU holds the table's lock (for assertions: Env's heap and frame calls must
    // find it free, see above).
    bool locked() const { return lock_.is_locked(); }
    // Port p's FIFO priority (p valid).
    u8 priority(evtchn_port_t p) const { return port(p).fifo.priority.load(std::memory_order_relaxed); }

private:
    template <EvtchnEnv> friend class EvtchnOps;

    struct Port {
        PortState state = PortState::free;
        domid_t remote_dom = 0;
        std::atomic<u16> notify_vcpu{0};
        u32 value = 0;
        FifoPort fifo;
    };
    static_assert(std::is_trivially_destructible_v<Port>);

    bool valid(evtchn_port_t p) const { return p < valid_.load(std::memory_order_relaxed); }
    static bool usable(PortState s) { return s != PortState::free && s != PortState::reserved; }
    // p < valid_ports().
    Port& port(evtchn_port_t p) { return buckets_[p / evtchn::PORTS_PER_BUCKET][p % evtchn::PORTS_PER_BUCKET]; }
    const Port& port(evtchn_port_t p) const {
        return buckets_[p / evtchn::PORTS_PER_BUCKET][p % evtchn::PORTS_PER_BUCKET];
    }
    u16 notify(evtchn_port_t p) const { return port(p).notify_vcpu.load(std::memory_order_relaxed); }
    // With lock_ held: mem (PORTS_PER_BUCKET ports' worth, zeroed) becomes the next bucket.
    void add_bucket(void* mem);
    // With lock_ held, on a port get_free_port returned.
    void open(evtchn_port_t p, PortState s, u16 vcpu, domid_t remote_dom, u32 value);
    // With lock_ held: back to free, notifying vCPU 0 (its pending state is the engine's).
    void release(evtchn_port_t p);
    evtchn_port_t& virq_slot(u32 virq, u32 vcpu) {
        return virq_port_[evtchn::virq_is_global(virq) ? 0 : vcpu][virq];
    }
    // With lock_ held: status, vcpu and the union member of the port's state, as Xen writes them
    // (the other union bytes keep what the guest passed in).
    void fill_status(evtchn_port_t p, evtchn_status_t& st) const;
    // With lock_ held: ports other than port 0 not free.
    unsigned open_ports() const;

    mutable Spinlock lock_;
    domid_t id_;
    evtchn_port_t max_port_;
    std::atomic<evtchn_port_t> valid_{evtchn::PORTS_PER_BUCKET};
    bool dying_ = false;
    std::atomic<bool> resetting_{false};
    std::atomic<EvtchnFifo*> fifo_{nullptr};
    void* spare_bucket_ = nullptr;  // zeroed memory for the next bucket (EvtchnOps::reserve_bucket)
    Port bucket0_[evtchn::PORTS_PER_BUCKET];
    Port* buckets_[evtchn::MAX_BUCKETS] = {bucket0_};
    evtchn_port_t virq_port_[evtchn::MAX_VCPUS][NR_VIRQS] = {};
};

// The argument of each EVTCHNOP_*, as the hypercall layer copies it in from the guest.
union EvtchnOpArgs {
    evtchn_alloc_unbound_t alloc_unbound;
    evtchn_bind_interdomain_t bind_interdomain;
    evtchn_bind_virq_t bind_virq;
    evtchn_bind_pirq_t bind_pirq;
    evtchn_bind_ipi_t bind_ipi;
    evtchn_close_t close;
    evtchn_send_t send;
    evtchn_status_t status;
    evtchn_bind_vcpu_t bind_vcpu;
    evtchn_unmask_t unmask;
    evtchn_reset_t reset;
    evtchn_init_control_t init_control;
    evtchn_expand_array_t expand_array;
    evtchn_set_priority_t set_priority;
};
// How many bytes of its argument command cmd reads (0: unknown command, which Xen answers with
// -ENOSYS without touching guest memory), and whether the argument goes back to the guest when
// the command succeeds (the whole struct, as Xen's __copy_to_guest).
struct EvtchnOpShape {
    usize size;
    bool copy_back;
};
EvtchnOpShape evtchn_op_shape(int cmd);

}  // namespace pv
