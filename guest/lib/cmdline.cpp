#include "guest/lib/cmdline.hpp"

namespace pvg {

pv::StrView next_word(pv::StrView line, pv::usize* pos) {
    pv::usize i = *pos;
    while (i < line.len && (line[i] == ' ' || line[i] == '\t')) ++i;
    pv::usize end = i;
    while (end < line.len && line[end] != ' ' && line[end] != '\t') ++end;
    *pos = end;
    return line.substr(i, end - i);
}

pv::StrView cmdline_value(pv::StrView line, pv::StrView key) {
    pv::usize pos = 0;
    for (pv::StrView w = next_word(line, &pos); w.len; w = next_word(line, &pos))
        if (w.len > key.len && w.starts_with(key) && w[key.len] == '=') return w.substr(key.len + 1);
    return {};
}

}  // namespace pvg
