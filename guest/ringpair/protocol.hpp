// The ring pair's protocol: what the server (the xenbus front end: it grants the ring and
// allocates the event channel) and the client (the back end: it maps and binds them) exchange,
// and where they meet in XenStore.  Paths are the split-driver convention libxl sets up for a
// device: domain 0's toolstack writes both halves before the domains run,
//
//   /local/domain/<S>/device/ring/0/    owner S, readable by C:
//       backend = /local/domain/<C>/backend/ring/<S>/0, backend-id = C, state
//       ring-ref, event-channel            (written by the server)
//   /local/domain/<C>/backend/ring/<S>/0/ owner C, readable by S:
//       frontend = /local/domain/<S>/device/ring/0, frontend-id = S, state
//
// and the two ends move their `state` through XenbusState (xen/io/xenbus.h): the server to
// Initialised once the ring is granted and published, the client to Connected once it mapped and
// bound them; then `rounds` requests go one way and as many responses the other, and both close.
#pragma once
#include <stdint.h>

#include "guest/lib/types.hpp"

// xen/io/ring.h's barriers, which an OS provides: x86 keeps stores ordered, loads ordered, but
// a store may pass a later load, which only the full barrier prevents.
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
extern "C" void* memset(void* dst, int c, size_t n);  // SHARED_RING_INIT's (guest/lib/libc.cpp)
#include <xen/io/ring.h>

namespace ringpair {

using namespace pvg;  // NOLINT

inline constexpr u32 PAYLOAD = 52;

struct Request {
    u32 id;
    u32 len;   // bytes of data used
    u32 sum;   // checksum of data[0..len)
    u8 data[PAYLOAD];
};
struct Response {
    u32 id;
    u32 status;  // 0: the request's checksum matched its payload
    u32 sum;     // the client's checksum of the payload it received
    u32 pad;
};
static_assert(sizeof(Request) == 64 && sizeof(Response) == 16);

DEFINE_RING_TYPES(rp, Request, Response);

// Fletcher-32 over the bytes: order-sensitive, so a torn or shuffled payload shows.
inline u32 checksum(const u8* p, u32 n) {
    u32 a = 0xffff, b = 0xffff;
    for (u32 i = 0; i < n; ++i) {
        a = (a + p[i]) % 65535;
        b = (b + a) % 65535;
    }
    return (b << 16) | a;
}

// Request i's payload: a length and bytes that depend on i only.
inline u32 fill_payload(u32 i, u8* out) {
    u32 len = 1 + (i * 7) % PAYLOAD;
    u32 x = i * 2654435761u + 1;
    for (u32 k = 0; k < len; ++k) {
        x = x * 1103515245u + 12345u;
        out[k] = static_cast<u8>(x >> 16);
    }
    return len;
}

}  // namespace ringpair
