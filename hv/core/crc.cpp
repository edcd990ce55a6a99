#include "core/crc.hpp"

namespace pv {

namespace {

template <typename T, T POLY> struct CrcTable {
    T v[256];
    constexpr CrcTable() : v{} {
        for (u32 i = 0; i < 256; ++i) {
            T c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
            v[i] = c;
        }
    }
};
constexpr CrcTable<u32, 0xedb88320u> CRC32_TABLE;
constexpr CrcTable<u64, 0xc96c5795d7870f42ull> CRC64_TABLE;

}  // namespace

u32 crc32(const u8* data, usize size, u32 crc) {
    crc = ~crc;
    for (usize i = 0; i < size; ++i) crc = CRC32_TABLE.v[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

u64 crc64(const u8* data, usize size, u64 crc) {
    crc = ~crc;
    for (usize i = 0; i < size; ++i) crc = CRC64_TABLE.v[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

}  // namespace pv
