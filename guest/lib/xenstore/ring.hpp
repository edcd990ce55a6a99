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

// Reassembles xs_wire messages from a ring's bytes — the header, then its payload — for either
// end: the server reading requests, a client reading replies and events.
class MsgReader {
public:
    // Takes what the message still needs of the `avail` bytes at index `cons` of `ring`
    // (XENSTORE_RING_SIZE bytes); returns how many.  Nothing once the header announces more
    // than XENSTORE_PAYLOAD_MAX (bad()).
    u32 take(const char* ring, u32 cons, u32 avail);
    bool bad() const { return have_header() && hdr_.len > XENSTORE_PAYLOAD_MAX; }
    bool complete() const { return have_header() && !bad() && body_used_ == hdr_.len; }
    const xsd_sockmsg& header() const { return hdr_; }
    // The payload, with room for a NUL after it; valid until the next take().
    char* body() { return body_; }
    // Starts the next message.
    void reset() { hdr_used_ = body_used_ = 0; }

private:
    bool have_header() const { return hdr_used_ == sizeof(xsd_sockmsg); }

    union {
        xsd_sockmsg hdr_;
        u8 hdr_bytes_[sizeof(xsd_sockmsg)];
    };
    u32 hdr_used_ = 0;
    u32 body_used_ = 0;
    char body_[XENSTORE_PAYLOAD_MAX + 1];
};

class RingConn {
public:
    RingConn(u32 domid, xenstore_domain_interface* page) : domid_(domid), page_(page) {}

    // Reads requests (while the domain's output queue is below the quota, so a domain that
    // does not consume its replies stops being served rather than filling memory, and at most
    // max_requests of them, so one busy domain cannot hold the server) and writes queued output.
    // Returns true if either index moved (notify the domain).
    bool service(Xenstored& store, u32 max_requests = ~u32{0});

    // Whether the last service() stopped at max_requests with request bytes still waiting: the
    // caller serves again without waiting for an event.
    bool more() const { return more_; }
    bool broken() const { return broken_; }

private:
    bool read_requests(Xenstored& store, u32 max_requests);
    bool write_responses(Xenstored& store);
    void fail(u32 error);

    u32 domid_;
    xenstore_domain_interface* page_;
    bool broken_ = false;
    bool more_ = false;
    MsgReader request_;  // the request being assembled
    // Output: bytes of the front message already on the ring.
    u32 out_done_ = 0;
};

}  // namespace xs
