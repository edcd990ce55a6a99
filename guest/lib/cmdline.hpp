// Reading `key=value` words from a guest command line (start_info.cmd_line, or a manifest
// line): space-separated words, the first `key=` wins.
#pragma once
#include "guest/lib/xen.hpp"
#include "lib/string.hpp"

namespace pvg {

// The value of `key=` in `line`, or an empty view when no word starts with it.
pv::StrView cmdline_value(pv::StrView line, pv::StrView key);

// The domain's command line from start_info (at most MAX_GUEST_CMDLINE bytes, NUL or not).
inline pv::StrView guest_cmdline(const start_info_t* si) {
    const char* p = reinterpret_cast<const char*>(si->cmd_line);
    return {p, pv::str_nlen(p, MAX_GUEST_CMDLINE)};
}

// The next space-separated word of `line` from `*pos` (advanced past it); empty at the end.
pv::StrView next_word(pv::StrView line, pv::usize* pos);

}  // namespace pvg
