// Diagnostics: a bounded list of the problems a parser of untrusted input found (command line,
// boot information, ACPI tables, ELF images).  Parsers do not print: the caller logs the list,
// and tests assert on it.  Later messages beyond the capacity are counted, not kept.
#pragma once
#include <stdarg.h>

#include "lib/string.hpp"
#include "lib/types.hpp"

namespace pv {

enum class Severity : u8 { warning, error };

struct Diagnostic {
    static constexpr usize MESSAGE_LEN = 128;
    Severity severity = Severity::warning;
    char message[MESSAGE_LEN] = {};
};

class Diagnostics {
public:
    static constexpr usize CAPACITY = 32;

    void add(Severity s, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void warn(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    void error(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    usize count() const { return count_; }
    const Diagnostic& operator[](usize i) const { return items_[i]; }
    const char* message(usize i) const { return i < count_ ? items_[i].message : ""; }
    // Messages that did not fit; counted so the caller can say that some were lost.
    usize dropped() const { return dropped_; }
    // Errors seen, including dropped ones.
    usize errors() const { return errors_; }
    // Whether some kept message contains `text`.
    bool contains(StrView text) const;

private:
    void vadd(Severity s, const char* fmt, va_list ap);
    Diagnostic items_[CAPACITY] = {};
    usize count_ = 0;
    usize dropped_ = 0;
    usize errors_ = 0;
};

// Offending input quoted in a message: it may be long or hold control characters that would
// garble the serial console, so only a sanitised prefix is shown.
class Quoted {
public:
    explicit Quoted(StrView v);
    const char* c_str() const { return buf_; }

private:
    static constexpr usize SHOWN = 48;
    char buf_[SHOWN + 4];
};

}  // namespace pv
