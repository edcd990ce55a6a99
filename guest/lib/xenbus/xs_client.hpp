// A XenStore client over a domain's store ring (xen/io/xs_wire.h's xenstore_domain_interface),
// what Linux's xenbus_xs.c does for a PV guest: requests go onto the req ring, replies and watch
// events come back on the rsp ring; one request is outstanding at a time, its reply matched by
// req_id, and watch events that arrive meanwhile are queued.
//
// No hypercall here: the event channel is behind Channel, so the host tests run the client
// against the XenStore core (guest/lib/xenstore) in memory, and guests plug in their store
// port (PortChannel, events.hpp).  Errors are Xen's errno values (positive), decoded from the
// XS_ERROR reply's name; the server is trusted only as far as the framing: an index more than a
// ring ahead, or a payload over XENSTORE_PAYLOAD_MAX, fails every later call with EIO.
#pragma once
#include "guest/lib/xenstore/ring.hpp"

namespace xb {

using pv::u32;
using pv::u8;
using pv::usize;

class Channel {
public:
    virtual void notify() = 0;  // tell the other end the ring moved
    virtual void wait() = 0;    // sleep until the other end may have moved it
protected:
    ~Channel() = default;
};

class XsClient {
public:
    XsClient(xenstore_domain_interface* page, Channel& ch) : page_(page), ch_(ch) {}
    XsClient(const XsClient&) = delete;
    XsClient& operator=(const XsClient&) = delete;

    // Each returns 0 or the error.  Values and listings are copied into buf (NUL-terminated,
    // *len without the NUL); E2BIG when buf is too small.
    int read(const char* path, char* buf, u32 size, u32* len, u32 tx = 0);
    int write_bytes(const char* path, const void* value, u32 len, u32 tx = 0);
    int write(const char* path, const char* value, u32 tx = 0);  // a NUL-terminated value
    int mkdir(const char* path, u32 tx = 0);
    int rm(const char* path, u32 tx = 0);
    // Children's names, each NUL-terminated, back to back.
    int directory(const char* path, char* buf, u32 size, u32* len, u32 tx = 0);
    // perms: NUL-separated entries as xs_wire.h spells them ("n0", "r3", ...), len bytes in all.
    int set_perms(const char* path, const char* perms, u32 len, u32 tx = 0);
    int watch(const char* path, const char* token);
    int unwatch(const char* path, const char* token);
    int transaction_start(u32* tx);
    int transaction_end(u32 tx, bool commit);
    int get_domain_path(u32 domid, char* buf, u32 size);
    // The toolstack's (domain 0 only): INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED.
    int introduce(u32 domid, pv::u64 mfn, u32 port);
    int release(u32 domid);
    int is_domain_introduced(u32 domid, bool* yes);
    // Reads an unsigned decimal value.
    int read_u32(const char* path, u32* value, u32 tx = 0);

    // The oldest queued watch event: copies its path and token, true if there was one.
    bool next_event(char* path, u32 path_size, char* token, u32 token_size);
    // Sleeps until a watch event is queued (or the connection failed).
    void wait_event();

    bool failed() const { return failed_; }
    u32 events_dropped() const { return dropped_; }

    static constexpr u32 MAX_EVENTS = 16;
    static constexpr u32 EVENT_BYTES = 256;  // path and token of one queued event

private:
    int request(u32 type, u32 tx, const void* a, u32 alen, const void* b = nullptr, u32 blen = 0,
                const void* c = nullptr, u32 clen = 0);
    int copy_reply(char* buf, u32 size, u32* len);
    int domid_request(u32 type, u32 domid);
    bool put(const void* data, u32 len);
    // Reads what the response ring holds; true if anything moved.
    bool pump();
    void take_message();

    xenstore_domain_interface* page_;
    Channel& ch_;
    u32 next_id_ = 1;
    bool failed_ = false;
    xs::MsgReader in_;  // the message being read
    // The reply to the outstanding request, once it came.
    bool have_reply_ = false;
    u32 reply_type_ = 0;
    u32 reply_len_ = 0;
    char reply_[XENSTORE_PAYLOAD_MAX + 1];
    // Queued watch events: "path\0token\0".
    char events_[MAX_EVENTS][EVENT_BYTES];
    u32 event_head_ = 0, event_count_ = 0, dropped_ = 0;
};

}  // namespace xb
