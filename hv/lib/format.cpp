#include "lib/format.hpp"

#include "lib/string.hpp"

namespace pv {

void BufferSink::put(const char* s, usize n) {
    total_ += n;
    if (size_ == 0) return;
    usize room = size_ - 1 - used_;
    usize c = n < room ? n : room;
    mem_copy(buf_ + used_, s, c);
    used_ += c;
    buf_[used_] = '\0';
}

namespace {

struct Spec {
    bool left = false, zero = false, plus = false, space = false, alt = false;
    int width = 0;
    int precision = -1;
};

class Writer {
public:
    explicit Writer(Sink& s) : sink_(s) {}
    void put(const char* s, usize n) {
        if (n) sink_.put(s, n);
        count_ += n;
    }
    void pad(char c, int n) {
        char buf[16];
        for (auto& b : buf) b = c;
        while (n > 0) {
            int k = n < 16 ? n : 16;
            put(buf, static_cast<usize>(k));
            n -= k;
        }
    }
    usize count() const { return count_; }

private:
    Sink& sink_;
    usize count_ = 0;
};

void emit_padded(Writer& w, const Spec& sp, const char* prefix, usize plen, const char* body,
                 usize blen, usize zeros) {
    int total = static_cast<int>(plen + zeros + blen);
    int fill = sp.width > total ? sp.width - total : 0;
    if (!sp.left && !(sp.zero && sp.precision < 0)) w.pad(' ', fill);
    w.put(prefix, plen);
    if (!sp.left && sp.zero && sp.precision < 0) w.pad('0', fill);
    w.pad('0', static_cast<int>(zeros));
    w.put(body, blen);
    if (sp.left) w.pad(' ', fill);
}

void emit_number(Writer& w, const Spec& sp, u64 v, bool negative, unsigned base, bool upper,
                 bool is_pointer) {
    char digits[24];
    usize n = 0;
    const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (v == 0 && sp.precision != 0) digits[n++] = '0';
    while (v) {
        digits[n++] = set[v % base];
        v /= base;
    }
    char body[24];
    for (usize i = 0; i < n; ++i) body[i] = digits[n - 1 - i];

    char prefix[3];
    usize plen = 0;
    if (negative)
        prefix[plen++] = '-';
    else if (sp.plus)
        prefix[plen++] = '+';
    else if (sp.space)
        prefix[plen++] = ' ';
    usize zeros = sp.precision > static_cast<int>(n) ? static_cast<usize>(sp.precision) - n : 0;
    if ((sp.alt && base == 16 && n && !(n == 1 && body[0] == '0')) || is_pointer) {
        prefix[plen++] = '0';
        prefix[plen++] = upper ? 'X' : 'x';
    } else if (sp.alt && base == 8 && zeros == 0 && (n == 0 || body[0] != '0')) {
        // '#' with 'o' raises the precision just enough to start with a 0 (C11 7.21.6.1): no
        // extra 0 when precision padding already gives one; "0" for a value 0 with precision 0.
        prefix[plen++] = '0';
    }
    emit_padded(w, sp, prefix, plen, body, n, zeros);
}

}  // namespace

usize vformat(Sink& sink, const char* fmt, va_list ap) {
    Writer w(sink);
    while (*fmt) {
        const char* run = fmt;
        while (*fmt && *fmt != '%') ++fmt;
        w.put(run, static_cast<usize>(fmt - run));
        if (!*fmt) break;
        ++fmt;  // '%'

        Spec sp;
        for (;; ++fmt) {
            if (*fmt == '-') sp.left = true;
            else if (*fmt == '0') sp.zero = true;
            else if (*fmt == '+') sp.plus = true;
            else if (*fmt == ' ') sp.space = true;
            else if (*fmt == '#') sp.alt = true;
            else break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = true;
                sp.width = -sp.width;
            }
            ++fmt;
        } else {
            while (*fmt >= '0' && *fmt <= '9') sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            ++fmt;
            sp.precision = 0;
            if (*fmt == '*') {
                sp.precision = va_arg(ap, int);
                if (sp.precision < 0) sp.precision = -1;
                ++fmt;
            } else {
                while (*fmt >= '0' && *fmt <= '9') sp.precision = sp.precision * 10 + (*fmt++ - '0');
            }
        }
        int length = 0;  // -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t
        if (*fmt == 'h') {
            length = -1;
            if (*++fmt == 'h') { length = -2; ++fmt; }
        } else if (*fmt == 'l') {
            length = 1;
            if (*++fmt == 'l') { length = 2; ++fmt; }
        } else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't') {
            length = 3;  // size_t, intmax_t and ptrdiff_t are all 64-bit here
            ++fmt;
        }

        char conv = *fmt;
        if (!conv) break;
        ++fmt;
        switch (conv) {
        case 'd':
        case 'i': {
            i64 v;
            if (length == 1) v = va_arg(ap, long);
            else if (length == 2) v = va_arg(ap, long long);
            else if (length == 3) v = static_cast<i64>(va_arg(ap, usize));
            else v = va_arg(ap, int);
            if (length == -1) v = static_cast<short>(v);
            if (length == -2) v = static_cast<signed char>(v);
            bool neg = v < 0;
            u64 mag = neg ? ~static_cast<u64>(v) + 1 : static_cast<u64>(v);
            emit_number(w, sp, mag, neg, 10, false, false);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            u64 v;
            if (length == 1) v = va_arg(ap, unsigned long);
            else if (length == 2) v = va_arg(ap, unsigned long long);
            else if (length == 3) v = va_arg(ap, usize);
            else v = va_arg(ap, unsigned int);
            if (length == -1) v = static_cast<unsigned short>(v);
            if (length == -2) v = static_cast<unsigned char>(v);
            unsigned base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
            emit_number(w, sp, v, false, base, conv == 'X', false);
            break;
        }
        case 'p': {
            auto v = reinterpret_cast<uptr>(va_arg(ap, void*));
            emit_number(w, sp, v, false, 16, false, true);
            break;
        }
        case 'c': {
            char c = static_cast<char>(va_arg(ap, int));
            Spec s2 = sp;
            s2.zero = false;
            emit_padded(w, s2, "", 0, &c, 1, 0);
            break;
        }
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (!s) s = "(null)";
            usize n = sp.precision >= 0 ? str_nlen(s, static_cast<usize>(sp.precision)) : str_len(s);
            Spec s2 = sp;
            s2.zero = false;
            s2.precision = -1;
            emit_padded(w, s2, "", 0, s, n, 0);
            break;
        }
        case '%':
            w.put("%", 1);
            break;
        default:  // unknown conversion: print it verbatim so the mistake is visible
            w.put("%", 1);
            w.put(&conv, 1);
            break;
        }
    }
    return w.count();
}

usize format(Sink& sink, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    usize n = vformat(sink, fmt, ap);
    va_end(ap);
    return n;
}

usize vformat(char* buf, usize size, const char* fmt, va_list ap) {
    BufferSink s(buf, size);
    vformat(s, fmt, ap);
    return s.written();
}

usize format(char* buf, usize size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    usize n = vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

}  // namespace pv
