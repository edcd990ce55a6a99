#include "core/rtc.hpp"

namespace pv::rtc {
namespace {

bool decode(u8 raw, bool binary, unsigned& out) {
    if (binary) {
        out = raw;
        return true;
    }
    if ((raw & 0xf) > 9 || (raw >> 4) > 9) return false;
    out = (raw >> 4) * 10u + (raw & 0xfu);
    return true;
}

}  // namespace

i64 to_unix(const Registers& r) {
    bool bin = r.status_b & STATUS_B_BINARY;
    unsigned sec, min, hour, day, mon, year, century = 0;
    bool pm = !(r.status_b & STATUS_B_24H) && (r.hour & 0x80);
    if (!decode(r.sec, bin, sec) || !decode(r.min, bin, min) || !decode(static_cast<u8>(r.hour & 0x7f), bin, hour) ||
        !decode(r.day, bin, day) || !decode(r.mon, bin, mon) || !decode(r.year, bin, year))
        return -1;
    if (r.century && !decode(r.century, bin, century)) return -1;
    if (!(r.status_b & STATUS_B_24H)) {
        if (hour < 1 || hour > 12) return -1;
        hour = hour % 12 + (pm ? 12 : 0);
    }
    if (sec > 59 || min > 59 || hour > 23 || day < 1 || day > 31 || mon < 1 || mon > 12 || year > 99) return -1;
    unsigned full_year = century ? century * 100 + year : (year < 70 ? 2000 + year : 1900 + year);
    return days_from_civil(full_year, mon, day) * 86400 + i64{hour} * 3600 + i64{min} * 60 + i64{sec};
}

}  // namespace pv::rtc
