// gzip decoder for compressed guest kernels (issue 7): a whole gzip member (RFC 1952) holding
// DEFLATE data (RFC 1951), decoded into a caller-provided buffer in one call.  Linux builds
// gzip bzImages (CONFIG_KERNEL_GZIP) and Xen's loaders accept them.
//
// Design, as for the XZ decoder (xz.hpp): no heap — the output buffer is the 32 KiB sliding
// window, so a distance is checked against the bytes written so far; every input read and
// output write is bounds-checked; each loop iteration consumes input or produces output, so no
// input makes it spin.  Huffman codes are kept canonically (counts per length and symbols in
// code order, RFC 1951 3.2.2) and decoded a bit at a time: over-subscribed codes are refused, and
// incomplete ones too unless a single code of length one (which zlib also accepts).  The
// member's CRC32 and ISIZE are verified and the member must end exactly at the input's end.
// Errors return EINVAL plus a Diagnostics error naming what is wrong and where.
#pragma once
#include "core/diagnostics.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

// Decodes the gzip member in [in, in + in_size) into [out, out + out_size); returns the
// number of bytes written.
Result<usize> gunzip(const u8* in, usize in_size, u8* out, usize out_size, Diagnostics& diags);

}  // namespace pv
