// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: gzip, .xz) and CRC-64 (ECMA-182,
// reflected 0xC96C5795D7870F42: .xz), table-driven with tables built at compile time.
// `crc` continues a previous call over the preceding bytes (0 to start).
#pragma once
#include "lib/types.hpp"

namespace pv {

u32 crc32(const u8* data, usize size, u32 crc = 0);
u64 crc64(const u8* data, usize size, u64 crc = 0);

}  // namespace pv
