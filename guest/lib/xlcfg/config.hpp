// The syntax of Xen's xl.cfg (xl.cfg(5), "SYNTAX"; tools/libs/util/libxlu_cfg*): a file of
// `KEY = VALUE` settings separated by newlines or ';', where a VALUE is a string (in double or
// single quotes, with C escapes), a number (kept as the text it was written as, like libxlu:
// `memory = 128` and `memory = "128"` mean the same) or a list `[ VALUE, ... ]` (heterogeneous,
// nested, a trailing comma and newlines allowed inside).  Keys are lower case:
// [a-z][_0-9a-z]*.  `#` starts a comment.  A key set twice keeps the last value, as libxlu's
// lookup finds the newest setting; `KEY += VALUE` appends to the previous value (string to
// string, list to list).
//
// The input is untrusted (a user's file, or `xl create` arguments): the parser never reads past
// the text, bounds list nesting, and stores everything in fixed tables inside the Config (no
// heap: domain 0 is freestanding).  The first error stops the parse and is reported as
// "<source>:<line>: config parsing error near `<text>': <what>" (libxlu's wording), naming the
// key when the error is inside a setting; a failed parse keeps none of its settings.
//
// What the settings mean for a PV domain is domain_config.hpp's business.
#pragma once
#include "core/diagnostics.hpp"
#include "lib/string.hpp"
#include "lib/types.hpp"

namespace xlcfg {

using pv::Diagnostics;
using pv::StrView;
using pv::u16;
using pv::u8;
using pv::u32;
using pv::u64;
using pv::usize;

enum class Kind : u8 { string, list };

inline constexpr u16 NONE = 0xffff;

struct Value {
    Kind kind = Kind::string;
    u32 line = 0;
    StrView str;          // string: the decoded text (NUL-terminated in the Config's store)
    u16 first = NONE;     // list: the first item (values are linked through `next`)
    u16 count = 0;        // list: number of items
    u16 next = NONE;      // the following item of the list this value is in
};

struct Setting {
    StrView key;
    StrView source;  // file name or "command line", for messages
    u32 line = 0;
    u16 value = NONE;
};

class Config {
public:
    static constexpr usize MAX_SETTINGS = 128;
    static constexpr usize MAX_VALUES = 1024;
    static constexpr usize TEXT_BYTES = 16 * 1024;  // keys and decoded strings
    static constexpr unsigned MAX_DEPTH = 8;        // list nesting

    // Parses `text`, whose origin `source` names in messages (it must outlive the Config), and
    // adds its settings after those already parsed, so `xl create CFG key=value` can parse the
    // file and then each argument.  false, with an error in diags, on a syntax error.
    bool parse(StrView source, StrView text, Diagnostics& diags);

    // The setting that decides `key`'s value (the last one), or nullptr.
    const Setting* find(StrView key) const;
    const Value& value(u16 index) const { return values_[index]; }
    const Value& value_of(const Setting& s) const { return values_[s.value]; }
    // Item i of a list value, or nullptr past its end.
    const Value* item(const Value& list, u32 i) const;

    usize size() const { return nsettings_; }
    const Setting& setting(usize i) const { return settings_[i]; }

private:
    friend class Parser;
    Setting settings_[MAX_SETTINGS];
    Value values_[MAX_VALUES];
    char text_[TEXT_BYTES];
    usize nsettings_ = 0;
    usize nvalues_ = 0;
    usize ntext_ = 0;
};

}  // namespace xlcfg
