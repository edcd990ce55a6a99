#include "guest/lib/xenbus/xs_client.hpp"

#include <xen/errno.h>

#include "lib/format.hpp"
#include "lib/string.hpp"

namespace xb {

namespace {

constexpr int OK = 0;
constexpr int EIO_ = XEN_EIO, E2BIG_ = XEN_E2BIG, EINVAL_ = XEN_EINVAL;

u32 read_once(const u32& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }
void write_once(u32& v, u32 x) { __atomic_store_n(&v, x, __ATOMIC_RELEASE); }
u32 slen(const char* s) { return static_cast<u32>(pv::StrView(s).len); }

bool parse_u32(pv::StrView s, u32* out) {
    pv::u64 v = 0;
    if (!pv::parse_u64(s, &v) || v > 0xffffffffu) return false;
    *out = static_cast<u32>(v);
    return true;
}

// Copies n bytes of src and a NUL into dst of `size` (> 0) bytes, truncating.
void copy_str(char* dst, u32 size, const char* src, usize n) {
    if (n >= size) n = size - 1;
    pv::mem_copy(dst, src, n);
    dst[n] = 0;
}

}  // namespace

bool XsClient::put(const void* data, u32 len) {
    const auto* p = static_cast<const u8*>(data);
    while (len) {
        if (failed_) return false;
        u32 cons = read_once(page_->req_cons);
        u32 prod = read_once(page_->req_prod);
        if (prod - cons > XENSTORE_RING_SIZE) {
            failed_ = true;
            return false;
        }
        u32 space = XENSTORE_RING_SIZE - (prod - cons);
        if (space == 0) {
            ch_.notify();
            ch_.wait();
            continue;
        }
        u32 n = len < space ? len : space;
        for (u32 i = 0; i < n; ++i) page_->req[MASK_XENSTORE_IDX(prod + i)] = static_cast<char>(p[i]);
        write_once(page_->req_prod, prod + n);
        p += n;
        len -= n;
    }
    return true;
}

bool XsClient::pump() {
    bool moved = false;
    for (;;) {
        u32 cons = read_once(page_->rsp_cons);
        u32 prod = read_once(page_->rsp_prod);
        u32 avail = prod - cons;
        if (avail > XENSTORE_RING_SIZE) {
            failed_ = true;
            return moved;
        }
        if (avail == 0) return moved;
        const u32 n = in_.take(page_->rsp, cons, avail);
        write_once(page_->rsp_cons, cons + n);
        moved = true;
        if (in_.bad()) {
            failed_ = true;
            return moved;
        }
        if (in_.complete()) take_message();
    }
}

void XsClient::take_message() {
    const xsd_sockmsg& h = in_.header();
    char* body = in_.body();
    body[h.len] = 0;
    if (h.type == XS_WATCH_EVENT) {
        if (event_count_ == MAX_EVENTS || h.len > EVENT_BYTES) {
            ++dropped_;
        } else {
            char* slot = events_[(event_head_ + event_count_) % MAX_EVENTS];
            pv::mem_copy(slot, body, h.len);
            if (h.len < EVENT_BYTES) slot[h.len] = 0;
            ++event_count_;
        }
    } else if (h.req_id == next_id_ - 1 && !have_reply_) {
        have_reply_ = true;
        reply_type_ = h.type;
        reply_len_ = h.len;
        pv::mem_copy(reply_, body, h.len + 1);
    }  // else: a reply to nothing we asked, dropped
    in_.reset();
}

int XsClient::request(u32 type, u32 tx, const void* a, u32 alen, const void* b, u32 blen,
                      const void* c, u32 clen) {
    if (failed_) return EIO_;
    if (alen + blen + clen > XENSTORE_PAYLOAD_MAX) return E2BIG_;
    xsd_sockmsg h{};
    h.type = type;
    h.req_id = next_id_++;
    h.tx_id = tx;
    h.len = alen + blen + clen;
    have_reply_ = false;
    if (!put(&h, sizeof(h)) || !put(a, alen) || !put(b, blen) || !put(c, clen)) return EIO_;
    ch_.notify();
    for (;;) {
        bool moved = pump();
        if (failed_) return EIO_;
        if (have_reply_) break;
        if (moved) ch_.notify();  // room freed on the response ring
        else ch_.wait();
    }
    ch_.notify();  // the reply consumed: room for what the server queued behind it
    if (reply_type_ == XS_ERROR) return xs::error_number(reply_, reply_len_);
    if (reply_type_ != type) return EINVAL_;
    return OK;
}

int XsClient::copy_reply(char* buf, u32 size, u32* len) {
    if (reply_len_ + 1 > size) return E2BIG_;
    pv::mem_copy(buf, reply_, reply_len_);
    buf[reply_len_] = 0;
    if (len) *len = reply_len_;
    return OK;
}

int XsClient::read(const char* path, char* buf, u32 size, u32* len, u32 tx) {
    int err = request(XS_READ, tx, path, slen(path) + 1);
    return err ? err : copy_reply(buf, size, len);
}

int XsClient::write_bytes(const char* path, const void* value, u32 len, u32 tx) {
    return request(XS_WRITE, tx, path, slen(path) + 1, value, len);
}

int XsClient::write(const char* path, const char* value, u32 tx) { return write_bytes(path, value, slen(value), tx); }

int XsClient::mkdir(const char* path, u32 tx) { return request(XS_MKDIR, tx, path, slen(path) + 1); }

int XsClient::rm(const char* path, u32 tx) { return request(XS_RM, tx, path, slen(path) + 1); }

int XsClient::directory(const char* path, char* buf, u32 size, u32* len, u32 tx) {
    int err = request(XS_DIRECTORY, tx, path, slen(path) + 1);
    return err ? err : copy_reply(buf, size, len);
}

int XsClient::set_perms(const char* path, const char* perms, u32 len, u32 tx) {
    return request(XS_SET_PERMS, tx, path, slen(path) + 1, perms, len);
}

int XsClient::watch(const char* path, const char* token) {
    return request(XS_WATCH, 0, path, slen(path) + 1, token, slen(token) + 1);
}

int XsClient::unwatch(const char* path, const char* token) {
    return request(XS_UNWATCH, 0, path, slen(path) + 1, token, slen(token) + 1);
}

int XsClient::transaction_start(u32* tx) {
    if (int err = request(XS_TRANSACTION_START, 0, "", 1)) return err;
    u32 v = 0;
    if (!parse_u32(pv::StrView(reply_, pv::str_nlen(reply_, reply_len_)), &v)) return EINVAL_;
    *tx = v;
    return OK;
}

int XsClient::transaction_end(u32 tx, bool commit) {
    return request(XS_TRANSACTION_END, tx, commit ? "T" : "F", 2);
}

int XsClient::domid_request(u32 type, u32 domid) {
    char id[12];
    const usize n = pv::format(id, sizeof(id), "%u", domid);
    return request(type, 0, id, static_cast<u32>(n) + 1);
}

int XsClient::get_domain_path(u32 domid, char* buf, u32 size) {
    if (int err = domid_request(XS_GET_DOMAIN_PATH, domid)) return err;
    // The reply carries its own NUL.
    if (reply_len_ && reply_[reply_len_ - 1] == 0) --reply_len_;
    return copy_reply(buf, size, nullptr);
}

int XsClient::introduce(u32 domid, pv::u64 mfn, u32 port) {
    char args[48];
    // "<domid>\0<mfn>\0<port>\0", as libxenstore's xs_introduce_domain.
    usize n = pv::format(args, sizeof(args), "%u", domid) + 1;
    n += pv::format(args + n, sizeof(args) - n, "%lu", mfn) + 1;
    n += pv::format(args + n, sizeof(args) - n, "%u", port) + 1;
    return request(XS_INTRODUCE, 0, args, static_cast<u32>(n));
}

int XsClient::release(u32 domid) { return domid_request(XS_RELEASE, domid); }

int XsClient::is_domain_introduced(u32 domid, bool* yes) {
    if (int err = domid_request(XS_IS_DOMAIN_INTRODUCED, domid)) return err;
    *yes = reply_len_ > 0 && reply_[0] == 'T';
    return OK;
}

int XsClient::read_u32(const char* path, u32* value, u32 tx) {
    char buf[16];
    u32 len = 0;
    if (int err = read(path, buf, sizeof(buf), &len, tx)) return err;
    return parse_u32(pv::StrView(buf, len), value) ? OK : EINVAL_;
}

bool XsClient::next_event(char* path, u32 path_size, char* token, u32 token_size) {
    if (pump()) ch_.notify();  // room freed on the response ring
    if (event_count_ == 0 || path_size == 0 || token_size == 0) return false;
    const char* e = events_[event_head_];
    const usize plen = pv::str_nlen(e, EVENT_BYTES);
    const char* tok = plen + 1 < EVENT_BYTES ? e + plen + 1 : "";
    const usize tlen = pv::str_nlen(tok, EVENT_BYTES - (plen + 1 < EVENT_BYTES ? plen + 1 : 0));
    copy_str(path, path_size, e, plen);
    copy_str(token, token_size, tok, tlen);
    event_head_ = (event_head_ + 1) % MAX_EVENTS;
    --event_count_;
    return true;
}

void XsClient::wait_event() {
    for (;;) {
        bool moved = pump();
        if (failed_ || event_count_) return;
        if (moved) ch_.notify();
        else ch_.wait();
    }
}

}  // namespace xb
