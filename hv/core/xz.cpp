#include "core/xz.hpp"

#include "lib/string.hpp"

namespace pv {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);

namespace {

Err invalid() { return error(XEN_EINVAL); }

u32 le32(const u8* p) { return u32{p[0]} | u32{p[1]} << 8 | u32{p[2]} << 16 | u32{p[3]} << 24; }
u32 be16(const u8* p) { return u32{p[0]} << 8 | p[1]; }
void store_le32(u8* p, u32 v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<u8>(v >> (8 * i));
}

// Filter IDs (.xz spec 5.3) and the check types' names.
constexpr u64 FILTER_X86 = 0x04, FILTER_LZMA2 = 0x21;
const char* filter_name(u64 id) {
    switch (id) {
    case 0x03: return "delta";
    case 0x05: return "PowerPC BCJ";
    case 0x06: return "IA-64 BCJ";
    case 0x07: return "ARM BCJ";
    case 0x08: return "ARM-Thumb BCJ";
    case 0x09: return "SPARC BCJ";
    case 0x0a: return "ARM64 BCJ";
    case 0x0b: return "RISC-V BCJ";
    default: return "unknown";
    }
}
constexpr u32 CHECK_NONE = 0x0, CHECK_CRC32 = 0x1, CHECK_CRC64 = 0x4;
constexpr usize STREAM_HEADER = 12, STREAM_FOOTER = 12;

// A variable-length integer (.xz spec 1.2): 7 bits a byte, low first, at most 9 bytes, no
// redundant trailing zero byte.  Reads only below `end`.
bool read_vli(const u8* in, usize end, usize& pos, u64& out) {
    out = 0;
    for (u32 i = 0; i < 9; ++i) {
        if (pos >= end) return false;
        u8 b = in[pos++];
        out |= u64{b & 0x7fu} << (7 * i);
        if (!(b & 0x80)) return !(b == 0 && i > 0);
    }
    return false;
}

// The LZMA range decoder over one chunk's compressed bytes [pos, end).  Reading past the end
// yields zeros and sets `overrun`; the caller checks it once per symbol, which bounds the work
// an overrun costs to one symbol.
struct RangeDecoder {
    const u8* in;
    usize pos, end;
    u32 range = 0xffffffff, code = 0;
    bool overrun = false;

    static constexpr u32 TOP = 1u << 24, BIT_MODEL_TOTAL = 1u << 11, MOVE_BITS = 5;

    u8 next() {
        if (pos < end) return in[pos++];
        overrun = true;
        return 0;
    }
    // The first byte is always zero: the encoder's initial cache byte.
    bool init() {
        if (end - pos < 5 || next() != 0) return false;
        for (int i = 0; i < 4; ++i) code = code << 8 | next();
        return true;
    }
    void normalize() {
        if (range < TOP) {
            range <<= 8;
            code = code << 8 | next();
        }
    }
    u32 bit(u16& prob) {
        normalize();
        u32 bound = (range >> 11) * prob;
        if (code < bound) {
            range = bound;
            prob = static_cast<u16>(prob + ((BIT_MODEL_TOTAL - prob) >> MOVE_BITS));
            return 0;
        }
        range -= bound;
        code -= bound;
        prob = static_cast<u16>(prob - (prob >> MOVE_BITS));
        return 1;
    }
    // A `bits`-bit symbol, high bit first, through a binary tree of probabilities at probs[1..].
    u32 tree(u16* probs, u32 bits) {
        u32 s = 1;
        for (u32 i = 0; i < bits; ++i) s = s << 1 | bit(probs[s]);
        return s - (1u << bits);
    }
    // The same, low bit first; the tree node s (from 1) is probs[s - 1].
    u32 reverse(u16* probs, u32 bits) {
        u32 s = 1, v = 0;
        for (u32 i = 0; i < bits; ++i) {
            u32 b = bit(probs[s - 1]);
            s = s << 1 | b;
            v |= b << i;
        }
        return v;
    }
    // Bits of probability one half.
    u32 direct(u32 bits) {
        u32 v = 0;
        for (u32 i = 0; i < bits; ++i) {
            normalize();
            range >>= 1;
            u32 b = code >= range;
            if (b) code -= range;
            v = v << 1 | b;
        }
        return v;
    }
    // A chunk ends exactly at its declared size with the coder flushed (code zero).
    bool finished() {
        normalize();
        return !overrun && pos == end && code == 0;
    }
};

void reset_model(LzmaModel& m) {
    static_assert(sizeof(LzmaModel::Probs) % sizeof(u16) == 0);
    u16* p = reinterpret_cast<u16*>(&m.p);
    for (usize i = 0; i < sizeof(LzmaModel::Probs) / sizeof(u16); ++i) p[i] = RangeDecoder::BIT_MODEL_TOTAL / 2;
    m.state = 0;
    for (u32& r : m.rep) r = 0;
}

// The x86 BCJ filter's decoder (LZMA SDK's x86 converter), run in place over a whole block.
// The encoder turned the relative 32-bit displacement after each E8 (call) / E9 (jmp) opcode
// into an absolute one when its top byte was 0x00 or 0xff; this undoes it.  `mask` remembers
// which of the previous three bytes were E8/E9 bytes left alone, because the encoder skips an
// opcode whose displacement overlaps such bytes in some patterns.
bool top_byte(u8 b) { return b == 0x00 || b == 0xff; }

void x86_bcj_decode(u8* buf, usize size, u32 start) {
    static constexpr bool ALLOWED[8] = {true, true, true, false, true, false, false, false};
    static constexpr u32 BYTE_INDEX[8] = {0, 1, 2, 2, 3, 3, 3, 3};
    if (size < 5) return;
    usize last = size - 4;  // an opcode needs its four displacement bytes
    u32 mask = 0;
    usize prev = ~usize{0};
    for (usize i = 0; i < last; ++i) {
        if ((buf[i] & 0xfe) != 0xe8) continue;
        usize gap = i - prev;
        if (gap > 3) {
            mask = 0;
        } else {
            mask = (mask << (gap - 1)) & 7;
            if (mask != 0 && (!ALLOWED[mask] || top_byte(buf[i + 4 - BYTE_INDEX[mask]]))) {
                prev = i;
                mask = mask << 1 | 1;
                continue;
            }
        }
        prev = i;
        if (!top_byte(buf[i + 4])) {
            mask = mask << 1 | 1;
            continue;
        }
        u32 pc = start + static_cast<u32>(i) + 5;
        u32 v = le32(buf + i + 1);
        u32 d = v - pc;
        // The checks above allow at most two rounds; the bound keeps that independent of the
        // argument.
        for (int round = 0; mask != 0 && round < 4; ++round) {
            u32 shift = BYTE_INDEX[mask] * 8;
            if (!top_byte(static_cast<u8>(d >> (24 - shift)))) break;
            v = d ^ ((1u << (32 - shift)) - 1);
            d = v - pc;
        }
        d &= 0x01ffffff;
        if (d & 0x01000000) d |= 0xff000000;
        store_le32(buf + i + 1, d);
        i += 4;
    }
}

// One block's LZMA2 data decoded into out[op, out_end): the dictionary is out[dict_start, op).
class Lzma2Decoder {
public:
    Lzma2Decoder(LzmaModel& m, const u8* in, usize in_end, u8* out, usize out_end, u32 dict_size,
                 Diagnostics& d)
        : m_(m), in_(in), in_end_(in_end), out_(out), out_end_(out_end), dict_size_(dict_size), diags_(d) {}

    // Decodes from in[ip] to the end-of-data control byte; ip and op advance.
    Result<void> run(usize& ip, usize& op);

private:
    Result<void> chunk(usize ip, usize packed, usize& op, usize unpacked);
    bool set_props(u8 b);
    u32 length(RangeDecoder& rc, LzmaModel::LenCoder& c, u32 pos_state);
    u32 distance(RangeDecoder& rc, u32 len);

    LzmaModel& m_;
    const u8* in_;
    usize in_end_;
    u8* out_;
    usize out_end_;
    u32 dict_size_;
    Diagnostics& diags_;
    usize dict_start_ = 0;
};

bool Lzma2Decoder::set_props(u8 b) {
    if (b >= 9 * 5 * 5) return false;
    m_.lc = b % 9u;
    b = static_cast<u8>(b / 9);
    m_.lp = b % 5u;
    m_.pb = b / 5u;
    return m_.lc + m_.lp <= 4;
}

Result<void> Lzma2Decoder::run(usize& ip, usize& op) {
    bool need_dict_reset = true, need_props = true;
    for (;;) {
        if (ip >= in_end_) {
            diags_.error("xz: LZMA2 data truncated at offset %zu", ip);
            return invalid();
        }
        usize at = ip;
        u8 ctrl = in_[ip++];
        if (ctrl == 0x00) return ok();
        if (ctrl >= 0xe0 || ctrl == 0x01) {
            need_dict_reset = false;
            need_props = true;
            dict_start_ = op;
        } else if (need_dict_reset) {
            diags_.error("xz: first LZMA2 chunk (control 0x%02x at %zu) does not reset the dictionary", ctrl, at);
            return invalid();
        }
        if (ctrl < 0x80) {
            if (ctrl > 0x02) {
                diags_.error("xz: invalid LZMA2 control byte 0x%02x at offset %zu", ctrl, at);
                return invalid();
            }
            if (in_end_ - ip < 2) {
                diags_.error("xz: LZMA2 chunk header truncated at offset %zu", at);
                return invalid();
            }
            usize size = be16(in_ + ip) + 1;
            ip += 2;
            if (size > in_end_ - ip || size > out_end_ - op) {
                diags_.error("xz: uncompressed LZMA2 chunk of %zu bytes at offset %zu exceeds the %s", size, at,
                             size > in_end_ - ip ? "input" : "output buffer");
                return invalid();
            }
            mem_copy(out_ + op, in_ + ip, size);
            ip += size;
            op += size;
            continue;
        }
        usize hdr = ctrl >= 0xc0 ? 5 : 4;
        if (in_end_ - ip < hdr) {
            diags_.error("xz: LZMA2 chunk header truncated at offset %zu", at);
            return invalid();
        }
        usize unpacked = (usize{ctrl & 0x1fu} << 16 | be16(in_ + ip)) + 1;
        usize packed = be16(in_ + ip + 2) + 1;
        if (ctrl >= 0xc0) {
            if (!set_props(in_[ip + 4])) {
                diags_.error("xz: invalid LZMA properties 0x%02x at offset %zu", in_[ip + 4], at);
                return invalid();
            }
            need_props = false;
            reset_model(m_);
        } else if (need_props) {
            diags_.error("xz: LZMA2 chunk at offset %zu lacks the properties a dictionary reset needs", at);
            return invalid();
        } else if (ctrl >= 0xa0) {
            reset_model(m_);
        }
        ip += hdr;
        if (packed > in_end_ - ip || unpacked > out_end_ - op) {
            diags_.error("xz: LZMA2 chunk at offset %zu (%zu -> %zu bytes) exceeds the %s", at, packed, unpacked,
                         packed > in_end_ - ip ? "input" : "output buffer");
            return invalid();
        }
        if (!chunk(ip, packed, op, unpacked)) {
            diags_.error("xz: corrupt LZMA data in the chunk at offset %zu", at);
            return invalid();
        }
        ip += packed;
    }
}

u32 Lzma2Decoder::length(RangeDecoder& rc, LzmaModel::LenCoder& c, u32 pos_state) {
    if (!rc.bit(c.choice)) return 2 + rc.tree(c.low[pos_state], 3);
    if (!rc.bit(c.choice2)) return 2 + 8 + rc.tree(c.mid[pos_state], 3);
    return 2 + 16 + rc.tree(c.high, 8);
}

u32 Lzma2Decoder::distance(RangeDecoder& rc, u32 len) {
    u32 len_state = len - 2 < 3 ? len - 2 : 3;
    u32 slot = rc.tree(m_.p.dist_slot[len_state], 6);
    if (slot < 4) return slot;
    u32 bits = (slot >> 1) - 1;
    u32 d = (2 | (slot & 1)) << bits;
    // Slot < 14: the tree's nodes are dist_special[d - slot + s - 1], 1 <= s < (1 << bits):
    // at most 96 - 13 + 30 = 113, the array's last element.
    if (slot < LzmaModel::DIST_MODEL_END) return d + rc.reverse(m_.p.dist_special + (d - slot), bits);
    d += rc.direct(bits - 4) << 4;
    // The align tree's nodes are dist_align[1..15].
    return d + rc.reverse(m_.p.dist_align + 1, 4);
}

// One LZMA chunk: `unpacked` bytes from in[ip, ip + packed), both already bounds-checked.
// Fails on corrupt data; every distance is checked before a byte is copied.
Result<void> Lzma2Decoder::chunk(usize ip, usize packed, usize& op, usize unpacked) {
    RangeDecoder rc{in_, ip, ip + packed};
    if (!rc.init()) return invalid();
    const usize end = op + unpacked;
    const u32 pb_mask = (1u << m_.pb) - 1, lp_mask = (1u << m_.lp) - 1;
    LzmaModel::Probs& p = m_.p;
    u32& state = m_.state;
    u32* rep = m_.rep;
    // A distance reaches a byte of this block's dictionary.
    auto reachable = [&](u32 dist) { return dist < op - dict_start_ && dist < dict_size_; };
    while (op < end) {
        if (rc.overrun) return invalid();
        usize dpos = op - dict_start_;
        u32 pos_state = static_cast<u32>(dpos) & pb_mask;
        if (!rc.bit(p.is_match[state][pos_state])) {
            u32 prev = dpos > 0 ? out_[op - 1] : 0;
            u16* probs =
                p.literal + LzmaModel::LITERAL_CODER * (((static_cast<u32>(dpos) & lp_mask) << m_.lc) + (prev >> (8 - m_.lc)));
            u32 sym = 1;
            if (state < 7) {
                while (sym < 0x100) sym = sym << 1 | rc.bit(probs[sym]);
            } else {
                if (!reachable(rep[0])) return invalid();
                u32 match = out_[op - rep[0] - 1];
                u32 offset = 0x100;
                while (sym < 0x100) {
                    match <<= 1;
                    u32 match_bit = match & offset;
                    u32 b = rc.bit(probs[offset + match_bit + sym]);
                    sym = sym << 1 | b;
                    offset &= b ? match_bit : ~match_bit;
                }
            }
            out_[op++] = static_cast<u8>(sym);
            state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
            continue;
        }
        u32 len;
        if (!rc.bit(p.is_rep[state])) {
            len = length(rc, p.match_len, pos_state);
            rep[3] = rep[2];
            rep[2] = rep[1];
            rep[1] = rep[0];
            rep[0] = distance(rc, len);
            state = state < 7 ? 7 : 10;
        } else if (!rc.bit(p.is_rep_g0[state])) {
            if (!rc.bit(p.is_rep0_long[state][pos_state])) {
                if (!reachable(rep[0])) return invalid();
                out_[op] = out_[op - rep[0] - 1];
                ++op;
                state = state < 7 ? 9 : 11;
                continue;
            }
            len = length(rc, p.rep_len, pos_state);
            state = state < 7 ? 8 : 11;
        } else {
            u32 dist;
            if (!rc.bit(p.is_rep_g1[state])) {
                dist = rep[1];
            } else {
                if (!rc.bit(p.is_rep_g2[state])) {
                    dist = rep[2];
                } else {
                    dist = rep[3];
                    rep[3] = rep[2];
                }
                rep[2] = rep[1];
            }
            rep[1] = rep[0];
            rep[0] = dist;
            len = length(rc, p.rep_len, pos_state);
            state = state < 7 ? 8 : 11;
        }
        // Also refuses the end-of-payload marker (distance 0xffffffff), which LZMA2 never uses,
        // and a match running past the chunk.
        if (!reachable(rep[0]) || len > end - op) return invalid();
        const u8* src = out_ + (op - rep[0] - 1);
        for (u32 i = 0; i < len; ++i) out_[op + i] = src[i];
        op += len;
    }
    if (!rc.finished()) return invalid();
    return ok();
}

// An integrity check's size by check type (.xz spec 2.1.1.2): 0, then 4, 8, 16, 32, 64 bytes
// for each group of three IDs.
usize check_size(u32 type) { return type == 0 ? 0 : usize{4} << ((type - 1) / 3); }

// Per-stream decoding state: the index is checked against what the blocks produced.
struct StreamState {
    u32 check;
    u64 records = 0;
    u32 records_crc = 0;
    void add_record(u64 unpadded, u64 uncompressed) {
        u8 rec[16];
        mem_copy(rec, &unpadded, 8);
        mem_copy(rec + 8, &uncompressed, 8);
        records_crc = crc32(rec, sizeof rec, records_crc);
        ++records;
    }
};

// The block at in[ip] (its header size byte is nonzero); ip and op advance past it.
Result<void> decode_block(LzmaModel& m, const u8* in, usize in_size, usize& ip, u8* out, usize out_size, usize& op,
                          StreamState& st, Diagnostics& diags) {
    const usize start = ip;
    const usize hsize = (usize{in[ip]} + 1) * 4;
    if (hsize > in_size - ip) {
        diags.error("xz: block header at offset %zu (%zu bytes) truncated", start, hsize);
        return invalid();
    }
    const usize hend = ip + hsize - 4;
    if (crc32(in + ip, hsize - 4) != le32(in + hend)) {
        diags.error("xz: block header at offset %zu: CRC32 mismatch", start);
        return invalid();
    }
    const u8 flags = in[ip + 1];
    if (flags & 0x3c) {
        diags.error("xz: block header at offset %zu: reserved flags 0x%02x set", start, flags);
        return invalid();
    }
    usize p = ip + 2;
    u64 csize = 0, usize_hdr = 0;
    if ((flags & 0x40) && (!read_vli(in, hend, p, csize) || csize == 0)) {
        diags.error("xz: block header at offset %zu: bad compressed size", start);
        return invalid();
    }
    if ((flags & 0x80) && !read_vli(in, hend, p, usize_hdr)) {
        diags.error("xz: block header at offset %zu: bad uncompressed size", start);
        return invalid();
    }
    const u32 nfilters = (flags & 3u) + 1;
    bool x86 = false;
    u32 x86_start = 0, dict_size = 0;
    for (u32 i = 0; i < nfilters; ++i) {
        u64 id, psize;
        if (!read_vli(in, hend, p, id) || !read_vli(in, hend, p, psize) || psize > hend - p) {
            diags.error("xz: block header at offset %zu: filter %u flags truncated", start, i);
            return invalid();
        }
        const bool last = i + 1 == nfilters;
        if (id == FILTER_LZMA2 && last && psize == 1) {
            u8 b = in[p];
            if (b > 40) {
                diags.error("xz: block at offset %zu: LZMA2 dictionary size byte %u > 40", start, b);
                return invalid();
            }
            dict_size = b == 40 ? 0xffffffff : (2u | (b & 1u)) << (b / 2 + 11);
        } else if (id == FILTER_X86 && !last && !x86 && (psize == 0 || psize == 4)) {
            x86 = true;
            x86_start = psize == 4 ? le32(in + p) : 0;
        } else if (id == FILTER_LZMA2 || id == FILTER_X86) {
            diags.error("xz: block at offset %zu: filter chain unsupported (%s as filter %u of %u, %llu property bytes)",
                        start, id == FILTER_X86 ? "x86 BCJ" : "LZMA2", i + 1, nfilters,
                        static_cast<unsigned long long>(psize));
            return invalid();
        } else {
            diags.error("xz: block at offset %zu: filter 0x%llx (%s) not supported: only x86 BCJ + LZMA2", start,
                        static_cast<unsigned long long>(id), filter_name(id));
            return invalid();
        }
        p += psize;
    }
    if (dict_size == 0) {
        diags.error("xz: block at offset %zu: filter chain does not end with LZMA2", start);
        return invalid();
    }
    for (; p < hend; ++p) {
        if (in[p] != 0) {
            diags.error("xz: block header at offset %zu: nonzero header padding", start);
            return invalid();
        }
    }
    ip = start + hsize;
    const usize data_start = ip, out_start = op;
    usize out_end = out_size;
    if (flags & 0x80) {
        if (usize_hdr > out_size - op) {
            diags.error("xz: block at offset %zu: %llu uncompressed bytes exceed the output buffer", start,
                        static_cast<unsigned long long>(usize_hdr));
            return invalid();
        }
        out_end = op + usize_hdr;
    }
    Lzma2Decoder lz(m, in, in_size, out, out_end, dict_size, diags);
    if (!lz.run(ip, op)) return invalid();
    const u64 got_c = ip - data_start, got_u = op - out_start;
    if (((flags & 0x40) && got_c != csize) || ((flags & 0x80) && got_u != usize_hdr)) {
        diags.error("xz: block at offset %zu: sizes %llu/%llu differ from its header's", start,
                    static_cast<unsigned long long>(got_c), static_cast<unsigned long long>(got_u));
        return invalid();
    }
    if (x86) x86_bcj_decode(out + out_start, op - out_start, x86_start);
    const u64 unpadded = hsize + got_c + check_size(st.check);
    for (; (ip - start) % 4 != 0; ++ip) {
        if (ip >= in_size || in[ip] != 0) {
            diags.error("xz: block at offset %zu: bad block padding", start);
            return invalid();
        }
    }
    const usize csz = check_size(st.check);
    if (csz > in_size - ip) {
        diags.error("xz: block at offset %zu: integrity check truncated", start);
        return invalid();
    }
    bool good = true;
    if (st.check == CHECK_CRC32) good = crc32(out + out_start, got_u) == le32(in + ip);
    if (st.check == CHECK_CRC64) good = crc64(out + out_start, got_u) == (le32(in + ip) | u64{le32(in + ip + 4)} << 32);
    if (!good) {
        diags.error("xz: block at offset %zu: %s of the decompressed data mismatch", start,
                    st.check == CHECK_CRC32 ? "CRC32" : "CRC64");
        return invalid();
    }
    ip += csz;
    st.add_record(unpadded, got_u);
    return ok();
}

// The index at in[ip] (indicator byte zero) checked against the blocks' records.
Result<void> decode_index(const u8* in, usize in_size, usize& ip, const StreamState& st, Diagnostics& diags) {
    const usize start = ip++;
    u64 count;
    if (!read_vli(in, in_size, ip, count) || count != st.records) {
        diags.error("xz: index at offset %zu: record count does not match the %llu blocks", start,
                    static_cast<unsigned long long>(st.records));
        return invalid();
    }
    StreamState seen{st.check};
    for (u64 i = 0; i < count; ++i) {
        u64 unpadded, uncompressed;
        if (!read_vli(in, in_size, ip, unpadded) || !read_vli(in, in_size, ip, uncompressed)) {
            diags.error("xz: index at offset %zu: record %llu truncated", start, static_cast<unsigned long long>(i));
            return invalid();
        }
        seen.add_record(unpadded, uncompressed);
    }
    if (seen.records_crc != st.records_crc) {
        diags.error("xz: index at offset %zu does not match the blocks", start);
        return invalid();
    }
    for (; (ip - start) % 4 != 0; ++ip) {
        if (ip >= in_size || in[ip] != 0) {
            diags.error("xz: index at offset %zu: bad padding", start);
            return invalid();
        }
    }
    if (in_size - ip < 4 || crc32(in + start, ip - start) != le32(in + ip)) {
        diags.error("xz: index at offset %zu: CRC32 mismatch or truncated", start);
        return invalid();
    }
    ip += 4;
    return ok();
}

}  // namespace

Result<usize> XzDecoder::decode(const u8* in, usize in_size, u8* out, usize out_size, Diagnostics& diags) {
    usize ip = 0, op = 0;
    for (;;) {
        const usize start = ip;
        if (in_size - ip < STREAM_HEADER + STREAM_FOOTER) {
            diags.error("xz: stream at offset %zu truncated (%zu bytes left)", start, in_size - ip);
            return invalid();
        }
        if (mem_compare(in + ip, XZ_MAGIC, sizeof XZ_MAGIC) != 0) {
            diags.error("xz: no stream header magic at offset %zu", start);
            return invalid();
        }
        const u8* flags = in + ip + 6;
        if (crc32(flags, 2) != le32(in + ip + 8)) {
            diags.error("xz: stream header at offset %zu: CRC32 mismatch", start);
            return invalid();
        }
        if (flags[0] != 0 || (flags[1] & 0xf0) != 0) {
            diags.error("xz: stream header at offset %zu: reserved flags set", start);
            return invalid();
        }
        StreamState st{flags[1] & 0x0fu};
        if (st.check != CHECK_NONE && st.check != CHECK_CRC32 && st.check != CHECK_CRC64) {
            diags.error("xz: stream at offset %zu: check type %u unsupported (none, CRC32, CRC64 are)", start, st.check);
            return invalid();
        }
        ip += STREAM_HEADER;
        for (;;) {
            if (ip >= in_size) {
                diags.error("xz: stream at offset %zu truncated before its index", start);
                return invalid();
            }
            if (in[ip] == 0) break;
            if (!decode_block(m_, in, in_size, ip, out, out_size, op, st, diags)) return invalid();
        }
        const usize index_start = ip;
        if (!decode_index(in, in_size, ip, st, diags)) return invalid();
        const u8* f = in + ip;
        if (in_size - ip < STREAM_FOOTER || crc32(f + 4, 6) != le32(f) ||
            (u64{le32(f + 4)} + 1) * 4 != ip - index_start || f[8] != flags[0] || f[9] != flags[1] || f[10] != 'Y' ||
            f[11] != 'Z') {
            diags.error("xz: stream footer at offset %zu invalid (CRC, index size, flags or magic)", ip);
            return invalid();
        }
        ip += STREAM_FOOTER;
        // Stream padding: zero bytes in groups of four, then the input's end or another stream.
        const usize pad_start = ip;
        while (ip < in_size && in[ip] == 0) ++ip;
        if ((ip - pad_start) % 4 != 0) {
            diags.error("xz: stream padding at offset %zu is not a multiple of four bytes", pad_start);
            return invalid();
        }
        if (ip == in_size) return op;
    }
}

}  // namespace pv
