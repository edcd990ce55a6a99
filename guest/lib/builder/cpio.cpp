#include "guest/lib/builder/cpio.hpp"

namespace pvb {

using namespace pv;  // NOLINT

namespace {

constexpr usize HEADER = 110;
constexpr usize FIELDS = 13;
enum Field { INO, MODE, UID, GID, NLINK, MTIME, FILESIZE, DEVMAJOR, DEVMINOR, RDEVMAJOR, RDEVMINOR, NAMESIZE, CHECK };
constexpr u32 S_IFMT = 0170000, S_IFREG = 0100000;

bool hex8(const u8* p, u32* out) {
    u32 v = 0;
    for (usize i = 0; i < 8; ++i) {
        const u8 c = p[i];
        u32 d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10u;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10u;
        else return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

constexpr usize align4(usize v) { return (v + 3) & ~usize{3}; }

}  // namespace

bool CpioReader::next(CpioEntry& out, Diagnostics& diags) {
    if (done_ || failed_) return false;
    auto fail = [&](const char* what) {
        diags.error("cpio: entry at offset %zu: %s", pos_, what);
        failed_ = true;
        return false;
    };
    if (pos_ == size_) {
        done_ = true;
        return false;
    }
    if (size_ - pos_ < HEADER) return fail("truncated header");
    const u8* h = data_ + pos_;
    if (mem_compare(h, "07070", 5) != 0 || (h[5] != '1' && h[5] != '2')) return fail("bad magic (not newc)");
    u32 f[FIELDS];
    for (usize i = 0; i < FIELDS; ++i)
        if (!hex8(h + 6 + 8 * i, &f[i])) return fail("a header field is not hexadecimal");
    const usize name_off = pos_ + HEADER;
    if (f[NAMESIZE] == 0 || f[NAMESIZE] > size_ - name_off) return fail("name runs past the archive");
    if (data_[name_off + f[NAMESIZE] - 1] != '\0') return fail("name is not NUL-terminated");
    const usize data_off = align4(name_off + f[NAMESIZE]);
    if (data_off > size_ || f[FILESIZE] > size_ - data_off) return fail("data runs past the archive");
    out.name = StrView(reinterpret_cast<const char*>(data_ + name_off), f[NAMESIZE] - 1);
    out.data = data_ + data_off;
    out.size = f[FILESIZE];
    out.mode = f[MODE];
    pos_ = min(align4(data_off + f[FILESIZE]), size_);
    if (out.name.equals("TRAILER!!!")) {
        done_ = true;
        return false;
    }
    return true;
}

bool cpio_find(const u8* data, usize size, StrView name, CpioEntry& out, Diagnostics& diags) {
    CpioReader r(data, size);
    CpioEntry e;
    while (r.next(e, diags)) {
        if (e.name.equals(name) && (e.mode & S_IFMT) == S_IFREG) {
            out = e;
            return true;
        }
    }
    return false;
}

}  // namespace pvb
