// The XenStore ring protocol (xen/io/xs_wire.h): a domain's xenstore_domain_interface page holds a
// request ring and a response ring of XENSTORE_RING_SIZE bytes with free-running 32-bit
// indices.  The page is shared with a domain that may be hostile: indices are read once, and a
// producer more than a ring ahead of the consumer, or a payload longer than
// XENSTORE_PAYLOAD_MAX, marks the connection broken (the page's `error` field, as xenstored's
// ignore_connection), after which nothing more is read from it.
//
// RingConn is the server side of one domain: `service()` moves complete requests into the
// Xenstored core and queued replies and events onto the response ring.  The caller signals the
// domain's event channel when `service()` says something moved (the event-channel and mapping
// plumbing is the platform's; nothing here makes a hypercall).
#pragma once
#include "guest/lib/xenstore/xenstored.hpp"

namespace xs {

class RingConn {
public:
    RingConn(u32 domid, xenstore_domain_interface* page) : domid_(domid), page_(page) {}

    // Reads requests (while the domain's output queue is below the quota, so a domain that
    // does not consume its replies stops being served rather than filling memory) and writes
    // queued output.  Returns true if either index moved (notify the domain).
    bool service(Xenstored& store);

    bool broken() const { return broken_; }

private:
    bool read_requests(Xenstored& store);
    bool write_responses(Xenstored& store);
    void fail(u32 error);

    u32 domid_;
    xenstore_domain_interface* page_;
    bool broken_ = false;
    // The request being assembled: header, then payload.
    union {
        xsd_sockmsg hdr_;
        u8 hdr_bytes_[sizeof(xsd_sockmsg)];
    };
    u32 hdr_used_ = 0;
    u32 body_used_ = 0;
    u8 body_[XENSTORE_PAYLOAD_MAX];
    // Output: bytes of the front message already on the ring.
    u32 out_done_ = 0;
};

}  // namespace xs
