#include "guest/lib/xenstore/ring.hpp"

namespace xs {

namespace {

// The other side writes the page concurrently: each shared index is read exactly once per use.
u32 read_once(const u32& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }
void write_once(u32& v, u32 x) { __atomic_store_n(&v, x, __ATOMIC_RELEASE); }

}  // namespace

void RingConn::fail(u32 error) {
    broken_ = true;
    write_once(page_->error, error);
}

bool RingConn::service(Xenstored& store, u32 max_requests) {
    if (broken_) return false;
    bool moved = write_responses(store);
    moved |= read_requests(store, max_requests);
    moved |= write_responses(store);  // the replies to what was just read
    return moved;
}

bool RingConn::read_requests(Xenstored& store, u32 max_requests) {
    bool moved = false;
    u32 handled = 0;
    more_ = false;
    while (!broken_ && store.output_bytes(domid_) < store.quotas().out_bytes) {
        if (handled == max_requests) {
            more_ = read_once(page_->req_prod) != read_once(page_->req_cons);
            return moved;
        }
        u32 cons = read_once(page_->req_cons);
        u32 prod = read_once(page_->req_prod);
        u32 avail = prod - cons;
        if (avail > XENSTORE_RING_SIZE) {
            fail(XENSTORE_ERROR_RINGIDX);
            return moved;
        }
        if (avail == 0) return moved;
        const u32 n = request_.take(page_->req, cons, avail);
        write_once(page_->req_cons, cons + n);
        moved = true;
        if (request_.bad()) {
            fail(XENSTORE_ERROR_PROTO);
            return moved;
        }
        if (request_.complete()) {
            const xsd_sockmsg h = request_.header();
            request_.reset();
            store.handle(domid_, h, request_.body(), h.len);
            ++handled;
        }
    }
    return moved;
}

bool RingConn::write_responses(Xenstored& store) {
    bool moved = false;
    while (const OutMsg* m = store.peek_output(domid_)) {
        u32 cons = read_once(page_->rsp_cons);
        u32 prod = read_once(page_->rsp_prod);
        if (prod - cons > XENSTORE_RING_SIZE) {
            fail(XENSTORE_ERROR_RINGIDX);
            return moved;
        }
        u32 space = XENSTORE_RING_SIZE - (prod - cons);
        if (space == 0) return moved;
        u32 total = static_cast<u32>(sizeof(xsd_sockmsg)) + m->hdr.len;
        u32 n = total - out_done_ < space ? total - out_done_ : space;
        for (u32 i = 0; i < n; ++i) {  // header and payload are not contiguous in OutMsg
            u32 at = out_done_ + i;
            u8 byte = at < sizeof(xsd_sockmsg)
                          ? reinterpret_cast<const u8*>(&m->hdr)[at]
                          : reinterpret_cast<const u8*>(m + 1)[at - sizeof(xsd_sockmsg)];
            page_->rsp[MASK_XENSTORE_IDX(prod + i)] = static_cast<char>(byte);
        }
        write_once(page_->rsp_prod, prod + n);
        moved = true;
        out_done_ += n;
        if (out_done_ < total) return moved;
        out_done_ = 0;
        store.pop_output(domid_);
    }
    return moved;
}

}  // namespace xs
