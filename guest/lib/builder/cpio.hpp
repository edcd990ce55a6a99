// A reader for cpio "newc" archives (magic 070701, or 070702 with checksums), the format of
// Linux's initramfs: the domain builder finds the domU images and their manifest in dom0's
// initrd this way.  The archive is untrusted input: every header field and size is checked
// against the buffer before use, and the reader never writes.
//
// Layout (Linux's Documentation/driver-api/early-userspace/buffer-format.rst): each entry is a
// 110-byte ASCII header — the magic, then 13 fields of 8 hex digits (ino, mode, uid, gid, nlink,
// mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check) — then the name
// (namesize bytes, NUL included), padded so the data starts 4-byte aligned, then the data,
// padded to 4.  The entry named "TRAILER!!!" ends the archive.
#pragma once
#include "core/diagnostics.hpp"
#include "lib/string.hpp"
#include "lib/types.hpp"

namespace pvb {

struct CpioEntry {
    pv::StrView name;  // without the NUL
    const pv::u8* data = nullptr;
    pv::usize size = 0;
    pv::u32 mode = 0;
};

class CpioReader {
public:
    CpioReader(const pv::u8* data, pv::usize size) : data_(data), size_(size) {}
    // The next entry: true with `out` filled; false at the trailer, at the end of the buffer
    // (with nothing after the last entry), or on a malformed entry (reported in `diags`).
    bool next(CpioEntry& out, pv::Diagnostics& diags);
    bool failed() const { return failed_; }

private:
    const pv::u8* data_;
    pv::usize size_;
    pv::usize pos_ = 0;
    bool done_ = false;
    bool failed_ = false;
};

// The regular file called `name`; false if absent (or the archive is malformed: see diags).
bool cpio_find(const pv::u8* data, pv::usize size, pv::StrView name, CpioEntry& out, pv::Diagnostics& diags);

}  // namespace pvb
