// MsgReader (ring.hpp), in a file of its own: a domU's XenStore client (guest/lib/xenbus) links
// this without the server.
#include "guest/lib/xenstore/ring.hpp"

namespace xs {

u32 MsgReader::take(const char* ring, u32 cons, u32 avail) {
    if (bad()) return 0;
    const bool in_header = !have_header();
    const u32 want = in_header ? static_cast<u32>(sizeof(xsd_sockmsg)) - hdr_used_ : hdr_.len - body_used_;
    const u32 n = avail < want ? avail : want;
    const u32 off = MASK_XENSTORE_IDX(cons);
    const u32 first = XENSTORE_RING_SIZE - off < n ? XENSTORE_RING_SIZE - off : n;
    u8* dst = in_header ? hdr_bytes_ + hdr_used_ : reinterpret_cast<u8*>(body_) + body_used_;
    pv::mem_copy(dst, ring + off, first);
    pv::mem_copy(dst + first, ring, n - first);
    (in_header ? hdr_used_ : body_used_) += n;
    return n;
}

}  // namespace xs
