// libFuzzer target: the XenStore core (guest/lib/xenstore) as domain 0 runs it, driven by three
// clients at once: domain 0 (privileged) and domain 2 hand whole requests to the core, domain 1
// writes raw bytes into its ring page (torn headers, bogus lengths and indices) and consumes the
// response ring however it likes.  The input is a sequence of actions; small quotas and a small
// arena make the limits reachable.  Properties beyond "no memory error, no UB, no hang":
//   * every reply answers the request it follows: same req_id and tx_id, the request's type or
//     XS_ERROR, a payload within XENSTORE_PAYLOAD_MAX; watch events have "path\0token\0";
//   * domain 2 never owns more nodes than its quota, nor queues more output than its quota
//     plus one message;
//   * the ring indices the core writes never run ahead of what the client allowed;
//   * destroying the store gives every byte of the arena back (nothing unreachable was leaked).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "guest/lib/xenstore/ring.hpp"
#include "guest/lib/xenstore/xenstored.hpp"

namespace {

using fuzz::Input;


void check_output(xs::Xenstored& store, uint32_t dom, const xsd_sockmsg* req) {
    bool replied = false;
    while (const xs::OutMsg* m = store.peek_output(dom)) {
        FUZZ_CHECK(m->hdr.len <= XENSTORE_PAYLOAD_MAX);
        const char* data = reinterpret_cast<const char*>(m + 1);
        if (m->hdr.type == XS_WATCH_EVENT) {
            FUZZ_CHECK(m->hdr.len >= 2 && data[m->hdr.len - 1] == '\0');
            FUZZ_CHECK(std::memchr(data, '\0', m->hdr.len - 1) != nullptr);
        } else if (req) {
            FUZZ_CHECK(!replied);
            replied = true;
            FUZZ_CHECK(m->hdr.req_id == req->req_id && m->hdr.tx_id == req->tx_id);
            FUZZ_CHECK(m->hdr.type == req->type || m->hdr.type == XS_ERROR);
        }
        store.pop_output(dom);
    }
}

void run(Input& in, xs::Arena& arena) {
    xs::Quotas q;
    q.nodes = 40;
    q.node_size = 512;
    q.watches = 6;
    q.transactions = 3;
    q.trans_nodes = 30;
    q.out_bytes = 4096;
    xs::Xenstored store(arena, q);
    if (!store.init()) return;
    // Domains 1 and 2 introduced, with their homes, as a toolstack does.
    for (const char* introduce : {"1\0" "77\0" "3", "2\0" "78\0" "4"}) {
        xsd_sockmsg h{XS_INTRODUCE, 0, 0, 0};
        h.len = static_cast<uint32_t>(std::strlen(introduce) + 1 + 3 + 2);
        store.handle(0, h, introduce, h.len);
        check_output(store, 0, nullptr);
    }
    for (const char* home : {"/local/domain/1", "/local/domain/2"}) {
        xsd_sockmsg h{XS_MKDIR, 0, 0, static_cast<uint32_t>(std::strlen(home) + 1)};
        store.handle(0, h, home, h.len);
        check_output(store, 0, nullptr);
        char perms[32];
        size_t n = std::strlen(home) + 1;
        std::memcpy(perms, home, n);
        perms[n++] = 'n';
        perms[n++] = home[14];
        perms[n++] = '\0';
        xsd_sockmsg p{XS_SET_PERMS, 0, 0, static_cast<uint32_t>(n)};
        store.handle(0, p, perms, p.len);
        check_output(store, 0, nullptr);
    }

    auto* page = static_cast<xenstore_domain_interface*>(std::calloc(1, sizeof(xenstore_domain_interface)));
    xs::RingConn ring(1, page);
    uint32_t req_id = 0;
    for (int steps = 0; !in.empty() && steps < 4000; ++steps) {
        switch (in.byte() % 4) {
        case 0:
        case 1: {  // a whole request from domain 0 or 2
            uint32_t dom = in.byte() & 1 ? 2 : 0;
            xsd_sockmsg h{};
            h.type = in.byte() % (XS_TYPE_COUNT + 2);
            h.req_id = ++req_id;
            h.tx_id = in.byte() % 5;
            size_t len;
            const uint8_t* payload = in.take(in.u16() % (XENSTORE_PAYLOAD_MAX + 1), &len);
            h.len = static_cast<uint32_t>(len);
            store.handle(dom, h, payload, h.len);
            check_output(store, dom, &h);
            if (dom == 2) FUZZ_CHECK(store.nodes_owned(2) <= q.nodes);
            break;
        }
        case 2: {  // raw bytes onto domain 1's request ring, then a service round
            size_t len;
            const uint8_t* bytes = in.take(in.byte() + 1u, &len);
            for (size_t i = 0; i < len; ++i) {
                if (page->req_prod - page->req_cons >= XENSTORE_RING_SIZE) break;
                page->req[MASK_XENSTORE_IDX(page->req_prod)] = static_cast<char>(bytes[i]);
                ++page->req_prod;
            }
            uint32_t rsp_cons = page->rsp_cons, rsp_prod = page->rsp_prod, req_cons = page->req_cons;
            bool was_broken = ring.broken();
            ring.service(store);
            FUZZ_CHECK(page->rsp_cons == rsp_cons);
            if (was_broken) {  // nothing more is read or written
                FUZZ_CHECK(page->rsp_prod == rsp_prod && page->req_cons == req_cons);
            } else if (!ring.broken() && page->rsp_prod != rsp_prod) {  // wrote: only into space
                FUZZ_CHECK(rsp_prod - rsp_cons <= XENSTORE_RING_SIZE);
                FUZZ_CHECK(page->rsp_prod - rsp_cons <= XENSTORE_RING_SIZE);
            }
            if (!was_broken && !ring.broken())
                FUZZ_CHECK(page->req_cons - req_cons <= page->req_prod - req_cons);
            FUZZ_CHECK(store.output_bytes(2) <= q.out_bytes + sizeof(xsd_sockmsg) + XENSTORE_PAYLOAD_MAX);
            break;
        }
        case 3: {  // domain 1 consumes responses, or scribbles on the indices
            uint8_t how = in.byte();
            if (how < 200)
                page->rsp_cons += how < page->rsp_prod - page->rsp_cons ? how : page->rsp_prod - page->rsp_cons;
            else if (how < 230)
                page->rsp_cons = page->rsp_cons + in.u16();
            else
                page->req_cons = page->req_cons + in.u16();
            ring.service(store);
            break;
        }
        }
    }
    std::free(page);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr size_t ARENA = 1 << 20;
    void* mem = std::malloc(ARENA);
    {
        xs::Arena arena(mem, ARENA);
        Input in(data, size);
        run(in, arena);
        FUZZ_CHECK(arena.used() == 0);
    }
    std::free(mem);
    return 0;
}
