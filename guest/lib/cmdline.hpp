// Reading `key=value` words from a guest command line (start_info.cmd_line, or a manifest
// line): space-separated words, the first `key=` wins.
#pragma once
#include "lib/string.hpp"

namespace pvg {

// The value of `key=` in `line`, or an empty view when no word starts with it.
pv::StrView cmdline_value(pv::StrView line, pv::StrView key);

// The next space-separated word of `line` from `*pos` (advanced past it); empty at the end.
pv::StrView next_word(pv::StrView line, pv::usize* pos);

}  // namespace pvg
