// The FIFO event-channel ABI's shared-memory side (Xen's common/event_fifo.c, rewritten): one
// domain's event array and per-vCPU queues.  The engine (core/evtchn_ops.hpp) owns the switch
// from the 2-level ABI, the guest pages and the locking around this class; evtchn.hpp says who
// holds which lock when.
//
// Guest memory
// ------------
// The EVENT ARRAY is up to 128 guest pages of 1024 event words, added one at a time by
// EVTCHNOP_expand_array; a word is PENDING | MASKED | LINKED | BUSY | a 17-bit LINK.  Each vCPU
// has a CONTROL BLOCK (EVTCHNOP_init_control): a READY word with a bit per priority and the HEAD
// of each of its 16 queues.  A queue is a singly linked list threaded through the event words:
// HEAD names the first port, each LINKED word's LINK the next; the guest consumes from HEAD,
// clearing LINKED as it goes, and the hypervisor appends at the tail, which only it knows
// (Queue::tail, never read from the guest).  Nothing the guest writes is followed: the
// hypervisor reads a word only at ports below its own page count and writes heads only into
// the control block it mapped, so a hostile guest corrupts its own queues and nothing else.
//
// Appending (set_pending), with the queue's lock held
// ---------------------------------------------------
// Set PENDING; if the port is unmasked and was not LINKED, set LINKED and link it behind the
// tail, atomically "iff the tail is still LINKED": the guest may be unlinking the tail at that
// moment, and then the queue is empty and the port becomes HEAD instead.  The link is a cmpxchg
// that keeps every bit the guest may change meanwhile (MASKED, PENDING, LINKED); the guest may
// flip MASKED forever, so after one failure BUSY is set, which a well-behaved guest honours by
// not unmasking, and a few more tries bound the loop (then the port is taken as linked: only a
// guest that ignores BUSY loses an event).  A port that became HEAD of an empty queue sets the
// queue's READY bit, and a READY bit that went 0 -> 1 marks the vCPU's upcall pending.  As in
// Xen, the queue locks are taken before PENDING is set and held until the port is on its list:
// the guest is not to be woken for an event not yet visibly pending on a queue.
//
// Moving between queues
// ---------------------
// A port's queue is (notify vCPU, priority), both changeable while it is LINKED.  Each port
// remembers the queue it was last appended to (FifoPort::last_queue); set_pending locks that
// queue and the new one (in address order), and when the port moves it clears the old queue's
// tail if the port was it, so a later append to the old queue does not link behind a port now
// on another list.  Holding the old queue's lock across that check is what keeps two CPUs from
// appending one port to two queues.
#pragma once
#include <atomic>

#include "core/xen_abi.hpp"
#include "lib/spinlock.hpp"
#include "lib/types.hpp"

#include <xen/event_channel.h>

namespace pv {

namespace fifo {
inline constexpr evtchn_port_t WORDS_PER_PAGE = PAGE_SIZE / sizeof(event_word_t);
inline constexpr unsigned MAX_PAGES = EVTCHN_FIFO_NR_CHANNELS / WORDS_PER_PAGE;
inline constexpr unsigned NR_QUEUES = EVTCHN_FIFO_MAX_QUEUES;
inline constexpr unsigned MAX_VCPUS = 128;  // as evtchn::MAX_VCPUS
static_assert(WORDS_PER_PAGE == 1024 && MAX_PAGES == 128);
}  // namespace fifo

// The FIFO state of one port, kept in its port record whatever the domain's ABI (Xen's struct
// evtchn priority, fifo_lastq and pending).
struct FifoPort {
    std::atomic<u8> priority{EVTCHN_FIFO_PRIORITY_DEFAULT};
    // Raised while its event word had no page: re-raised when the page comes (never cleared,
    // as Xen's flag).
    std::atomic<bool> pending{false};
    // vCPU << 8 | priority of the queue it was last appended to.
    std::atomic<u32> last_queue{0};
};

class EvtchnFifo {
public:
    struct Queue {
        Spinlock lock;
        evtchn_port_t tail = 0;  // the last port appended; 0: none known
        u8 priority = 0;
    };
    // One vCPU's queues.
    struct Vcpu {
        Vcpu() {
            for (unsigned i = 0; i < fifo::NR_QUEUES; ++i) queue[i].priority = static_cast<u8>(i);
        }
        std::atomic<evtchn_fifo_control_block_t*> control{nullptr};
        void* control_page = nullptr;  // the mapped guest page holding it
        Queue queue[fifo::NR_QUEUES];
    };

    struct Raised {
        bool mark;           // a READY bit went 0 -> 1: mark the vCPU's upcall pending
        bool newly_pending;  // PENDING went 0 -> 1: wake pollers
    };

    // The event word of port, nullptr when its page is missing.  Callable without the domain's
    // lock (pages are published before the count, and never change while this object lives).
    event_word_t* word(evtchn_port_t port) const;
    // Ports covered by event-array pages.
    evtchn_port_t nr_words() const { return nr_words_.load(std::memory_order_acquire); }
    bool array_full() const { return nr_words() / fifo::WORDS_PER_PAGE >= fifo::MAX_PAGES; }
    // With the domain's lock held, after !array_full(): page (a guest page) covers the next
    // WORDS_PER_PAGE ports.
    void add_page(event_word_t* page);
    event_word_t* page(unsigned i) const { return pages_[i]; }

    Vcpu* vcpu(unsigned v) const { return v < fifo::MAX_VCPUS ? vcpus_[v] : nullptr; }
    // With the domain's lock held: v's queues (v < MAX_VCPUS, none yet).
    void set_vcpu(unsigned v, Vcpu* q) { vcpus_[v] = q; }
    // v's control block, at most once.
    static void set_control(Vcpu& q, evtchn_fifo_control_block_t* cb) {
        q.control.store(cb, std::memory_order_release);
    }

    // Port becomes pending at vCPU v (fp: the port's record).  v must have queues.
    Raised set_pending(evtchn_port_t port, FifoPort& fp, unsigned v);
    void clear_pending(evtchn_port_t port);
    // Clears MASKED; true when the port is pending and must be raised again (set_pending).
    bool unmask(evtchn_port_t port);
    bool is_pending(evtchn_port_t port) const;
    // Still on a queue (LINKED): the port may not be reused yet.
    bool is_busy(evtchn_port_t port) const;

private:
    static u32 queue_id(unsigned v, unsigned prio) { return v << 8 | prio; }
    Queue* queue_of(u32 id) const;
    // Appends link behind the tail word iff it is still LINKED; false: it was not, the queue is
    // empty.
    static bool set_link(event_word_t* tail, evtchn_port_t link);

    std::atomic<evtchn_port_t> nr_words_{0};
    event_word_t* pages_[fifo::MAX_PAGES] = {};
    Vcpu* vcpus_[fifo::MAX_VCPUS] = {};
};

}  // namespace pv
