// The FIFO ABI's queues (design: evtchn_fifo.hpp).  Every access to a guest word is atomic and
// sequentially consistent: the guest changes the same words concurrently.
#include "core/evtchn_fifo.hpp"

namespace pv {
namespace {

constexpr event_word_t bit(unsigned b) { return event_word_t{1} << b; }

bool test(const event_word_t* w, unsigned b) { return __atomic_load_n(w, __ATOMIC_SEQ_CST) & bit(b); }
bool test_and_set(event_word_t* w, unsigned b) { return __atomic_fetch_or(w, bit(b), __ATOMIC_SEQ_CST) & bit(b); }
void set(event_word_t* w, unsigned b) { (void)__atomic_fetch_or(w, bit(b), __ATOMIC_SEQ_CST); }
void clear(event_word_t* w, unsigned b) { (void)__atomic_fetch_and(w, ~bit(b), __ATOMIC_SEQ_CST); }

// Locks one queue, or two in address order (Xen's order, so no two CPUs deadlock).
void lock_pair(EvtchnFifo::Queue* a, EvtchnFifo::Queue* b) {
    if (a == b) {
        a->lock.lock();
    } else if (a < b) {
        a->lock.lock();
        b->lock.lock();
    } else {
        b->lock.lock();
        a->lock.lock();
    }
}
void unlock_pair(EvtchnFifo::Queue* a, EvtchnFifo::Queue* b) {
    if (a != b) b->lock.unlock();
    a->lock.unlock();
}

// The cmpxchg tries after BUSY is set: the guest may still clear MASKED, PENDING and LINKED
// once each (set MASKED, too, but only a guest ignoring BUSY flips it again).
constexpr unsigned LINK_TRIES = 4;

}  // namespace

event_word_t* EvtchnFifo::word(evtchn_port_t port) const {
    if (port >= nr_words()) return nullptr;  // acquire: the page pointer below is published
    return pages_[port / fifo::WORDS_PER_PAGE] + port % fifo::WORDS_PER_PAGE;
}

void EvtchnFifo::add_page(event_word_t* page) {
    evtchn_port_t n = nr_words_.load(std::memory_order_relaxed);
    pages_[n / fifo::WORDS_PER_PAGE] = page;
    nr_words_.store(n + fifo::WORDS_PER_PAGE, std::memory_order_release);
}

EvtchnFifo::Queue* EvtchnFifo::queue_of(u32 id) const {
    Vcpu* v = vcpu(id >> 8);
    return v ? &v->queue[id & 0xff] : nullptr;
}

bool EvtchnFifo::set_link(event_word_t* tail, evtchn_port_t link) {
    // One try: LINKED clear means the guest consumed the tail, so the queue is empty; a failed
    // cmpxchg means the word changed under us (and `cur` now holds what it is).
    auto try_link = [tail, link](event_word_t& cur) -> int {
        if (!(cur & bit(EVTCHN_FIFO_LINKED))) return 0;
        event_word_t next = (cur & ~(bit(EVTCHN_FIFO_BUSY) | EVTCHN_FIFO_LINK_MASK)) | link;
        return __atomic_compare_exchange_n(tail, &cur, next, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 1 : -1;
    };
    event_word_t cur = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
    int r = try_link(cur);
    if (r >= 0) return r;
    set(tail, EVTCHN_FIFO_BUSY);  // the guest must not unmask the tail meanwhile
    cur = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < LINK_TRIES; ++i) {
        r = try_link(cur);
        if (r == 1) return true;  // the new word has BUSY clear
        if (r == 0) {
            clear(tail, EVTCHN_FIFO_BUSY);
            return false;
        }
    }
    // A guest that ignores BUSY: give up, as if linked (Xen does the same).
    clear(tail, EVTCHN_FIFO_BUSY);
    return true;
}

EvtchnFifo::Raised EvtchnFifo::set_pending(evtchn_port_t port, FifoPort& fp, unsigned v) {
    event_word_t* w = word(port);
    if (!w) {
        fp.pending.store(true, std::memory_order_relaxed);  // raised again when its page arrives
        return {false, false};
    }
    Vcpu& target = *vcpu(v);
    // Lock the port's new queue and the one it was last appended to; both may change meanwhile
    // (bind_vcpu, set_priority, another append moving it), so look again once locked.
    Queue* q = nullptr;
    Queue* old_q = nullptr;
    bool locked = false;
    for (unsigned i = 0; i < 3 && !locked; ++i) {
        q = &target.queue[fp.priority.load(std::memory_order_relaxed)];
        old_q = queue_of(fp.last_queue.load(std::memory_order_acquire));
        if (!old_q) old_q = q;
        lock_pair(q, old_q);
        Queue* last = queue_of(fp.last_queue.load(std::memory_order_acquire));
        locked = q == &target.queue[fp.priority.load(std::memory_order_relaxed)] && old_q == (last ? last : q);
        if (!locked) unlock_pair(q, old_q);
    }
    bool was_pending = test_and_set(w, EVTCHN_FIFO_PENDING);
    if (!locked) return {false, !was_pending};  // the queues kept changing: the event is lost (as in Xen)

    bool linked = true;  // nothing to announce unless the port became a HEAD
    evtchn_fifo_control_block_t* cb = target.control.load(std::memory_order_acquire);
    // No control block: the guest must not unmask before it made one, so the event only pends.
    if (cb && !test(w, EVTCHN_FIFO_MASKED) && !test_and_set(w, EVTCHN_FIFO_LINKED)) {
        if (old_q->tail == port) old_q->tail = 0;  // the old queue is empty now
        if (old_q != q) {
            fp.last_queue.store(queue_id(v, q->priority), std::memory_order_release);
            old_q->lock.unlock();
            old_q = q;
        }
        linked = q->tail && set_link(word(q->tail), port);
        if (!linked) __atomic_store_n(&cb->head[q->priority], port, __ATOMIC_SEQ_CST);
        q->tail = port;
    }
    unlock_pair(q, old_q);
    bool mark = !linked && !(__atomic_fetch_or(&cb->ready, u32{1} << q->priority, __ATOMIC_SEQ_CST) &
                            (u32{1} << q->priority));
    return {mark, !was_pending};
}

void EvtchnFifo::clear_pending(evtchn_port_t port) {
    // Only PENDING: the guest unlinks (and skips) an event that is no longer pending.
    if (event_word_t* w = word(port)) clear(w, EVTCHN_FIFO_PENDING);
}

bool EvtchnFifo::unmask(evtchn_port_t port) {
    event_word_t* w = word(port);
    if (!w) return false;
    clear(w, EVTCHN_FIFO_MASKED);
    return test(w, EVTCHN_FIFO_PENDING);
}

bool EvtchnFifo::is_pending(evtchn_port_t port) const {
    const event_word_t* w = word(port);
    return w && test(w, EVTCHN_FIFO_PENDING);
}

bool EvtchnFifo::is_busy(evtchn_port_t port) const {
    const event_word_t* w = word(port);
    return w && test(w, EVTCHN_FIFO_LINKED);
}

}  // namespace pv
