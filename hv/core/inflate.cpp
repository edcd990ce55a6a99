#include "core/inflate.hpp"

#include "core/crc.hpp"
#include "lib/string.hpp"

namespace pv {

namespace {

Err invalid() { return error(XEN_EINVAL); }

u32 le32(const u8* p) { return u32{p[0]} | u32{p[1]} << 8 | u32{p[2]} << 16 | u32{p[3]} << 24; }

constexpr u32 MAX_BITS = 15, MAX_LITLEN = 288, MAX_DIST = 32;

// RFC 1951 3.2.5: base lengths and extra bits of length codes 257..285, and of distance codes.
constexpr u16 LEN_BASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                              31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr u8 LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr u16 DIST_BASE[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                               193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr u8 DIST_EXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
// RFC 1951 3.2.7: the order in which code length code lengths are sent.
constexpr u8 CLEN_ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

// Bits LSB first (RFC 1951 3.1.1).  Reading past the end yields zeros and sets `overrun`,
// checked by the caller once per symbol.
struct BitReader {
    const u8* in;
    usize pos, end;
    u32 buf = 0, count = 0;
    bool overrun = false;

    u32 bits(u32 n) {
        while (count < n) {
            u32 b = 0;
            if (pos < end)
                b = in[pos++];
            else
                overrun = true;
            buf |= b << count;
            count += 8;
        }
        u32 v = buf & ((1u << n) - 1);
        buf >>= n;
        count -= n;
        return v;
    }
    void align() {
        buf = 0;
        count = 0;
    }
};

// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    u16 count[MAX_BITS + 1];
    u16 symbol[MAX_LITLEN];

    // From code lengths (0: unused).  False for an over-subscribed code, or an incomplete one
    // other than a single code of length one.
    bool build(const u8* lengths, u32 n) {
        for (u16& c : count) c = 0;
        for (u32 i = 0; i < n; ++i) ++count[lengths[i]];
        u16 offs[MAX_BITS + 1];
        i32 left = 1;
        u32 max = 0;
        for (u32 len = 1; len <= MAX_BITS; ++len) {
            left = left * 2 - count[len];
            if (left < 0) return false;
            if (count[len]) max = len;
        }
        if (left > 0 && max > 1) return false;
        offs[1] = 0;
        for (u32 len = 1; len < MAX_BITS; ++len) offs[len + 1] = static_cast<u16>(offs[len] + count[len]);
        for (u32 i = 0; i < n; ++i)
            if (lengths[i]) symbol[offs[lengths[i]]++] = static_cast<u16>(i);
        count[0] = 0;
        return true;
    }

    // The next symbol, or -1 for a bit string that is no code.
    i32 decode(BitReader& br) const {
        u32 code = 0, first = 0, index = 0;
        for (u32 len = 1; len <= MAX_BITS; ++len) {
            code |= br.bits(1);
            if (code - first < count[len]) return symbol[index + (code - first)];
            index += count[len];
            first = (first + count[len]) << 1;
            code <<= 1;
        }
        return -1;
    }
};

class Inflater {
public:
    Inflater(const u8* in, usize start, usize end, u8* out, usize out_size, Diagnostics& d)
        : br_{in, start, end}, out_(out), out_size_(out_size), diags_(d) {}

    Result<void> run();
    usize in_pos() const { return br_.pos; }
    usize out_pos() const { return op_; }

private:
    Result<void> stored();
    Result<void> dynamic_codes();
    Result<void> codes(const Huffman& lit, const Huffman& dist);
    Err fail(const char* what) {
        diags_.error("gzip: %s (input offset %zu, output %zu)", what, br_.pos, op_);
        return invalid();
    }

    BitReader br_;
    u8* out_;
    usize out_size_;
    usize op_ = 0;
    Diagnostics& diags_;
    Huffman lit_{}, dist_{};
};

Result<void> Inflater::run() {
    for (;;) {
        u32 last = br_.bits(1), type = br_.bits(2);
        if (br_.overrun) return fail("DEFLATE data truncated");
        Result<void> r = ok();
        if (type == 0) {
            r = stored();
        } else if (type == 1) {
            // RFC 1951 3.2.6: the fixed codes.
            u8 lengths[MAX_LITLEN];
            for (u32 i = 0; i < MAX_LITLEN; ++i) lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
            lit_.build(lengths, MAX_LITLEN);
            for (u32 i = 0; i < MAX_DIST; ++i) lengths[i] = 5;
            dist_.build(lengths, MAX_DIST);
            r = codes(lit_, dist_);
        } else if (type == 2) {
            r = dynamic_codes();
            if (r) r = codes(lit_, dist_);
        } else {
            return fail("reserved block type 3");
        }
        if (!r) return r;
        if (last) return ok();
    }
}

Result<void> Inflater::stored() {
    br_.align();
    if (br_.end - br_.pos < 4) return fail("stored block header truncated");
    const u8* p = br_.in + br_.pos;
    u32 len = u32{p[0]} | u32{p[1]} << 8, nlen = u32{p[2]} | u32{p[3]} << 8;
    if (len != (~nlen & 0xffff)) return fail("stored block length check failed");
    br_.pos += 4;
    if (len > br_.end - br_.pos) return fail("stored block runs past the input");
    if (len > out_size_ - op_) return fail("output buffer too small");
    mem_copy(out_ + op_, br_.in + br_.pos, len);
    br_.pos += len;
    op_ += len;
    return ok();
}

Result<void> Inflater::dynamic_codes() {
    const u32 nlen = br_.bits(5) + 257, ndist = br_.bits(5) + 1, ncode = br_.bits(4) + 4;
    if (nlen > 286 || ndist > 30) return fail("too many length or distance codes");
    u8 lengths[MAX_LITLEN + MAX_DIST] = {};
    for (u32 i = 0; i < ncode; ++i) lengths[CLEN_ORDER[i]] = static_cast<u8>(br_.bits(3));
    if (br_.overrun) return fail("DEFLATE data truncated");
    Huffman clen{};
    if (!clen.build(lengths, 19)) return fail("invalid code length code");
    for (u32 i = 0; i < 19; ++i) lengths[i] = 0;
    for (u32 i = 0; i < nlen + ndist;) {
        i32 sym = clen.decode(br_);
        if (sym < 0 || br_.overrun) return fail("invalid or truncated code lengths");
        if (sym < 16) {
            lengths[i++] = static_cast<u8>(sym);
            continue;
        }
        u8 value = 0;
        u32 repeat;
        if (sym == 16) {
            if (i == 0) return fail("repeat of a code length with no previous one");
            value = lengths[i - 1];
            repeat = 3 + br_.bits(2);
        } else if (sym == 17) {
            repeat = 3 + br_.bits(3);
        } else {
            repeat = 11 + br_.bits(7);
        }
        if (repeat > nlen + ndist - i) return fail("code lengths run past the codes");
        while (repeat--) lengths[i++] = value;
    }
    if (lengths[256] == 0) return fail("no end-of-block code");
    if (!lit_.build(lengths, nlen)) return fail("invalid literal/length code");
    if (!dist_.build(lengths + nlen, ndist)) return fail("invalid distance code");
    return ok();
}

Result<void> Inflater::codes(const Huffman& lit, const Huffman& dist) {
    for (;;) {
        i32 sym = lit.decode(br_);
        if (sym < 0 || br_.overrun) return fail("invalid or truncated literal/length code");
        if (sym < 256) {
            if (op_ >= out_size_) return fail("output buffer too small");
            out_[op_++] = static_cast<u8>(sym);
            continue;
        }
        if (sym == 256) return ok();
        const u32 li = static_cast<u32>(sym) - 257;
        if (li >= 29) return fail("invalid length symbol");
        const u32 len = LEN_BASE[li] + br_.bits(LEN_EXTRA[li]);
        const i32 ds = dist.decode(br_);
        if (ds < 0 || ds >= 30 || br_.overrun) return fail("invalid or truncated distance code");
        const usize d = DIST_BASE[ds] + br_.bits(DIST_EXTRA[ds]);
        if (d > op_) return fail("distance reaches before the start of the output");
        if (len > out_size_ - op_) return fail("output buffer too small");
        const u8* src = out_ + (op_ - d);
        for (u32 i = 0; i < len; ++i) out_[op_ + i] = src[i];
        op_ += len;
    }
}

// RFC 1952 2.3.1 header flags.
constexpr u8 FHCRC = 0x02, FEXTRA = 0x04, FNAME = 0x08, FCOMMENT = 0x10, FRESERVED = 0xe0;

}  // namespace

Result<usize> gunzip(const u8* in, usize in_size, u8* out, usize out_size, Diagnostics& diags) {
    if (in_size < 18 || in[0] != 0x1f || in[1] != 0x8b) {
        diags.error("gzip: no gzip header (magic 1f 8b) or shorter than a member");
        return invalid();
    }
    if (in[2] != 8 || (in[3] & FRESERVED)) {
        diags.error("gzip: compression method %u or flags 0x%02x unsupported", in[2], in[3]);
        return invalid();
    }
    const u8 flags = in[3];
    usize p = 10;
    const usize body_end = in_size - 8;  // CRC32 and ISIZE close the member
    if (flags & FEXTRA) {
        if (body_end - p < 2 || (u32{in[p]} | u32{in[p + 1]} << 8) > body_end - p - 2) {
            diags.error("gzip: extra field runs past the member");
            return invalid();
        }
        p += 2 + (u32{in[p]} | u32{in[p + 1]} << 8);
    }
    for (u8 f : {FNAME, FCOMMENT}) {
        if (!(flags & f)) continue;
        while (p < body_end && in[p] != 0) ++p;
        if (p >= body_end) {
            diags.error("gzip: unterminated %s in the header", f == FNAME ? "file name" : "comment");
            return invalid();
        }
        ++p;
    }
    if (flags & FHCRC) {
        if (body_end - p < 2 || (crc32(in, p) & 0xffff) != (u32{in[p]} | u32{in[p + 1]} << 8)) {
            diags.error("gzip: header CRC16 mismatch");
            return invalid();
        }
        p += 2;
    }
    Inflater inf(in, p, body_end, out, out_size, diags);
    if (!inf.run()) return invalid();
    if (inf.in_pos() != body_end) {
        diags.error("gzip: %zu bytes between the DEFLATE data's end and the trailer", body_end - inf.in_pos());
        return invalid();
    }
    const usize n = inf.out_pos();
    if (crc32(out, n) != le32(in + body_end) || static_cast<u32>(n) != le32(in + body_end + 4)) {
        diags.error("gzip: CRC32 or size of the decompressed data mismatch the trailer");
        return invalid();
    }
    return n;
}

}  // namespace pv
