#include "guest/lib/xenbus/cons_ring.hpp"

namespace xb {

namespace {

using pv::u32;

u32 read_once(const u32& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }
void write_once(u32& v, u32 x) { __atomic_store_n(&v, x, __ATOMIC_RELEASE); }

// Copies from `src` ring (size RING) at [cons, prod) into buf; the consumer index is advanced.
template <usize RING>
usize take(const char (&src)[RING], u32& cons_idx, const u32& prod_idx, char* buf, usize size) {
    const u32 cons = read_once(cons_idx), prod = read_once(prod_idx);
    if (prod - cons > RING) return 0;
    usize n = 0;
    for (u32 c = cons; c != prod && n < size; ++c) buf[n++] = src[c & (RING - 1)];
    write_once(cons_idx, cons + static_cast<u32>(n));
    return n;
}

// Copies s into `dst` ring at prod while there is room; the producer index is advanced.
template <usize RING>
usize give(char (&dst)[RING], const u32& cons_idx, u32& prod_idx, const char* s, usize n) {
    const u32 cons = read_once(cons_idx), prod = read_once(prod_idx);
    if (prod - cons > RING) return 0;
    usize done = 0;
    for (u32 p = prod; done < n && p - cons < RING; ++p) dst[p & (RING - 1)] = s[done++];
    write_once(prod_idx, prod + static_cast<u32>(done));
    return done;
}

}  // namespace

usize cons_write(xencons_interface* r, const char* s, usize n) {
    return give(r->out, r->out_cons, r->out_prod, s, n);
}
usize cons_read_input(xencons_interface* r, char* buf, usize size) {
    return take(r->in, r->in_cons, r->in_prod, buf, size);
}
usize cons_drain_output(xencons_interface* r, char* buf, usize size) {
    return take(r->out, r->out_cons, r->out_prod, buf, size);
}
usize cons_push_input(xencons_interface* r, const char* s, usize n) {
    return give(r->in, r->in_cons, r->in_prod, s, n);
}

void ConsoleBuffer::append(const char* s, usize n, LineSink& sink) {
    for (usize i = 0; i < n; ++i) {
        const char c = s[i];
        hist_[total_++ % HISTORY] = c;
        if (c == '\r') continue;
        if (c != '\n') line_[line_len_++] = c;
        if (c == '\n' || line_len_ == LINE_LIMIT) {
            sink.line(line_, line_len_);
            line_len_ = 0;
        }
    }
}

usize ConsoleBuffer::history(char* buf, usize size) const {
    usize have = total_ < HISTORY ? static_cast<usize>(total_) : HISTORY;
    usize n = size < have ? size : have;
    for (usize i = 0; i < n; ++i) buf[i] = hist_[(total_ - n + i) % HISTORY];
    return n;
}

}  // namespace xb
