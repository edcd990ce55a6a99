// XZ decoder for compressed guest kernels (issue 7): a whole .xz file in memory, decoded into a
// caller-provided buffer in one call.  Debian's x86 kernels are made by Linux's scripts/xz_wrap.sh
// (`xz --check=crc32 --x86 --lzma2=,dict=32MiB`), so the filter chains decoded are x86 BCJ +
// LZMA2 and plain LZMA2; every other filter is refused by name.
//
// Formats, from their specifications: "The .xz File Format" 1.1.0 (stream header and footer,
// block header, filter flags, index, padding, integrity checks), and LZMA2/LZMA as described
// by the LZMA SDK's lzma-specification and liblzma (chunk control bytes, range coder, the
// literal/match/rep state machine); the x86 BCJ converter is the one of the LZMA SDK.
//
// Design.  The input is untrusted (a domU kernel comes from the toolstack's caller).
//  - No heap: the output buffer is also the LZMA dictionary.  A block decodes straight into it
//    and a match copies from earlier output, so a distance is checked against the bytes decoded
//    since the block's dictionary reset and against the dictionary size the block header
//    declares.  The x86 BCJ filter then runs in place over the finished block (its matches
//    refer to unfiltered bytes, so it must wait until the block's LZMA2 data is done).
//  - Every read is checked against the input end (the range coder reads only inside the LZMA
//    chunk's declared compressed size), every write against the output end (a chunk's declared
//    uncompressed size must fit before it is decoded).  Each loop iteration either produces an
//    output byte or consumes input, and both are bounded, so no input makes it spin.
//  - The index is verified without storing per-block records: record count, the sums of the
//    unpadded and uncompressed sizes, and a CRC32 over the records must match what the blocks
//    produced.
//  - Integrity checks: none, CRC32, CRC64 are verified; other check types (SHA-256 and the
//    reserved ones) are refused, since an unverifiable stream is not loaded.
// Errors return EINVAL plus a Diagnostics error naming the structure at fault and its offset.
#pragma once
#include "core/crc.hpp"
#include "core/diagnostics.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

// The .xz stream header magic, for format detection.
inline constexpr u8 XZ_MAGIC[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};

// The LZMA model: the adaptive probabilities (lc + lp <= 4, as LZMA2 requires) and the coder
// state that LZMA2 carries from one chunk to the next.  About 28 KiB: too big for a kernel
// stack, so the caller places the decoder (a static in the hypervisor).
struct LzmaModel {
    static constexpr usize STATES = 12, POS_STATES_MAX = 16, LITERAL_CODER = 0x300;
    static constexpr usize LEN_LOW = 8, LEN_HIGH = 256;
    // Distance slots 4..13 code their low bits with these; slot 14 and up use direct bits and
    // the 4-bit align coder.
    static constexpr usize DIST_MODEL_END = 14, FULL_DISTANCES = 128;
    struct LenCoder {
        u16 choice, choice2;
        u16 low[POS_STATES_MAX][LEN_LOW];
        u16 mid[POS_STATES_MAX][LEN_LOW];
        u16 high[LEN_HIGH];
    };
    // Every member is a probability (u16); a reset sets them all to one half.
    struct Probs {
        u16 is_match[STATES][POS_STATES_MAX];
        u16 is_rep[STATES], is_rep_g0[STATES], is_rep_g1[STATES], is_rep_g2[STATES];
        u16 is_rep0_long[STATES][POS_STATES_MAX];
        u16 dist_slot[4][64];
        u16 dist_special[FULL_DISTANCES - DIST_MODEL_END];
        u16 dist_align[16];
        LenCoder match_len, rep_len;
        u16 literal[LITERAL_CODER << 4];
    };
    Probs p{};
    u32 state = 0, rep[4] = {};
    u32 lc = 0, lp = 0, pb = 0;
};

class XzDecoder {
public:
    // Decodes the concatenated .xz streams (with stream padding between and after them) in
    // [in, in + in_size) into [out, out + out_size).  Returns the number of bytes written.
    Result<usize> decode(const u8* in, usize in_size, u8* out, usize out_size, Diagnostics& diags);

private:
    LzmaModel m_;
};

}  // namespace pv
