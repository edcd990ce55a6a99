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

bool RingConn::service(Xenstored& store) {
    if (broken_) return false;
    bool moved = write_responses(store);
    moved |= read_requests(store);
    moved |= write_responses(store);  // the replies to what was just read
    return moved;
}

bool RingConn::read_requests(Xenstored& store) {
    bool moved = false;
    while (!broken_ && store.output_bytes(domid_) < store.quotas().out_bytes) {
        u32 cons = read_once(page_->req_cons);
        u32 prod = read_once(page_->req_prod);
        u32 avail = prod - cons;
        if (avail > XENSTORE_RING_SIZE) {
            fail(XENSTORE_ERROR_RINGIDX);
            return moved;
        }
        if (avail == 0) return moved;
        // Copy what fits into the header, then the body.
        u32 want = hdr_used_ < sizeof(xsd_sockmsg) ? static_cast<u32>(sizeof(xsd_sockmsg)) - hdr_used_
                                                   : hdr_.len - body_used_;
        u32 n = avail < want ? avail : want;
        u32 off = MASK_XENSTORE_IDX(cons);
        u32 first = XENSTORE_RING_SIZE - off < n ? XENSTORE_RING_SIZE - off : n;
        u8* dst = hdr_used_ < sizeof(xsd_sockmsg) ? hdr_bytes_ + hdr_used_ : body_ + body_used_;
        pv::mem_copy(dst, page_->req + off, first);
        pv::mem_copy(dst + first, page_->req, n - first);
        write_once(page_->req_cons, cons + n);
        moved = true;
        if (hdr_used_ < sizeof(xsd_sockmsg)) {
            hdr_used_ += n;
            if (hdr_used_ < sizeof(xsd_sockmsg)) continue;
            if (hdr_.len > XENSTORE_PAYLOAD_MAX) {
                fail(XENSTORE_ERROR_PROTO);
                return moved;
            }
        } else {
            body_used_ += n;
        }
        if (hdr_used_ == sizeof(xsd_sockmsg) && body_used_ == hdr_.len) {
            xsd_sockmsg h = hdr_;
            hdr_used_ = body_used_ = 0;
            store.handle(domid_, h, body_, h.len);
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
