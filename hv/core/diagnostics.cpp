#include "core/diagnostics.hpp"

#include "lib/format.hpp"

namespace pv {

void Diagnostics::vadd(Severity s, const char* fmt, va_list ap) {
    if (s == Severity::error) ++errors_;
    if (count_ == CAPACITY) {
        ++dropped_;
        return;
    }
    Diagnostic& d = items_[count_++];
    d.severity = s;
    vformat(d.message, sizeof d.message, fmt, ap);
}

void Diagnostics::add(Severity s, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vadd(s, fmt, ap);
    va_end(ap);
}

void Diagnostics::warn(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vadd(Severity::warning, fmt, ap);
    va_end(ap);
}

void Diagnostics::error(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vadd(Severity::error, fmt, ap);
    va_end(ap);
}

bool Diagnostics::contains(StrView text) const {
    for (usize i = 0; i < count_; ++i) {
        StrView m(items_[i].message);
        for (usize k = 0; k + text.len <= m.len; ++k)
            if (m.substr(k, text.len).equals(text)) return true;
    }
    return false;
}

Quoted::Quoted(StrView v) {
    usize n = v.len < SHOWN ? v.len : SHOWN;
    for (usize i = 0; i < n; ++i) {
        char c = v[i];
        buf_[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    if (n < v.len) {
        mem_copy(buf_ + n, "...", 3);
        n += 3;
    }
    buf_[n] = '\0';
}

}  // namespace pv
