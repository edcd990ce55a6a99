// xl.cfg syntax: a hand-written lexer and recursive-descent parser over the grammar of libxlu's
// (config.hpp):
//   file    := { stmt }
//   stmt    := end | KEY ('=' | '+=') value (end | EOF)          end := NEWLINE | ';'
//   value   := STRING | NUMBER | '[' nl* [ value nl* { ',' nl* value nl* } [ ',' nl* ] ] ']'
#include "guest/lib/xlcfg/config.hpp"

#include "lib/format.hpp"

namespace xlcfg {

namespace {

enum class Tok : u8 { end, newline, semicolon, ident, number, string, assign, append, lbracket, rbracket,
                      comma, bad };

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

class Parser {
public:
    Parser(Config& cfg, StrView source, StrView text, Diagnostics& diags)
        : cfg_(cfg), source_(source), text_(text), diags_(diags) {}

    bool run() {
        next();
        while (tok_ != Tok::end) {
            if (tok_ == Tok::newline || tok_ == Tok::semicolon) {
                next();
                continue;
            }
            if (!statement()) return false;
        }
        return true;
    }

private:
    // ---- lexer ----
    void next() {
        while (pos_ < text_.len && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r')) ++pos_;
        if (pos_ < text_.len && text_[pos_] == '#')  // a comment: up to the newline
            while (pos_ < text_.len && text_[pos_] != '\n') ++pos_;
        tok_line_ = line_;
        start_ = pos_;
        if (pos_ >= text_.len) {
            tok_ = Tok::end;
            return;
        }
        char c = text_[pos_++];
        switch (c) {
        case '\n': tok_ = Tok::newline; ++line_; return;
        case ';': tok_ = Tok::semicolon; return;
        case '=': tok_ = Tok::assign; return;
        case '[': tok_ = Tok::lbracket; return;
        case ']': tok_ = Tok::rbracket; return;
        case ',': tok_ = Tok::comma; return;
        case '+':
            if (pos_ < text_.len && text_[pos_] == '=') {
                ++pos_;
                tok_ = Tok::append;
                return;
            }
            break;
        case '"':
        case '\'':
            tok_ = Tok::string;
            // To the matching quote; a backslash escapes the next character.  No raw newline.
            while (pos_ < text_.len && text_[pos_] != c && text_[pos_] != '\n')
                pos_ += text_[pos_] == '\\' && pos_ + 1 < text_.len && text_[pos_ + 1] != '\n' ? 2u : 1u;
            if (pos_ < text_.len && text_[pos_] == c) {
                ++pos_;
                return;
            }
            bad_ = "unterminated quoted string";
            tok_ = Tok::bad;
            return;
        default:
            if (is_lower(c)) {
                while (pos_ < text_.len && (is_lower(text_[pos_]) || is_digit(text_[pos_]) || text_[pos_] == '_')) ++pos_;
                tok_ = Tok::ident;
                return;
            }
            if (is_digit(c)) {  // libxlu's [0-9][0-9a-fx]*, validated when read as a number
                while (pos_ < text_.len && (is_digit(text_[pos_]) || (text_[pos_] >= 'a' && text_[pos_] <= 'f') || text_[pos_] == 'x')) ++pos_;
                tok_ = Tok::number;
                return;
            }
            break;
        }
        // Anything else: libxlu reports the rest of the line as a lexical error.
        while (pos_ < text_.len && text_[pos_] != '\n') ++pos_;
        bad_ = "lexical error";
        tok_ = Tok::bad;
    }

    StrView token_text() const { return text_.substr(start_, pos_ - start_); }

    bool fail(const char* what) {
        StrView near = token_text();
        while (near.len && (near[near.len - 1] == '\n' || near[near.len - 1] == ' ' || near[near.len - 1] == '\t' || near[near.len - 1] == '\r')) --near.len;
        pv::Quoted q(near);
        char in_key[80] = "";
        if (!key_.empty()) pv::format(in_key, sizeof(in_key), " (in `%.*s')", static_cast<int>(key_.len > 40 ? 40 : key_.len), key_.ptr);
        if (near.len)
            diags_.error("%.*s:%u: config parsing error near `%s'%s: %s", static_cast<int>(source_.len), source_.ptr,
                         tok_line_, q.c_str(), in_key, what);
        else
            diags_.error("%.*s:%u: config parsing error near %s%s: %s", static_cast<int>(source_.len), source_.ptr,
                         tok_line_, tok_ == Tok::newline ? "<newline>" : "<end of file>", in_key, what);
        return false;
    }
    bool syntax_error() { return fail(tok_ == Tok::bad ? bad_ : "syntax error"); }

    // ---- storage ----
    char* store(usize n) {
        if (cfg_.ntext_ + n > Config::TEXT_BYTES) return nullptr;
        char* p = cfg_.text_ + cfg_.ntext_;
        cfg_.ntext_ += n;
        return p;
    }
    u16 new_value(Kind k) {
        if (cfg_.nvalues_ >= Config::MAX_VALUES) return NONE;
        u16 i = static_cast<u16>(cfg_.nvalues_++);
        cfg_.values_[i] = Value{};
        cfg_.values_[i].kind = k;
        cfg_.values_[i].line = tok_line_;
        return i;
    }

    // The quoted token's contents with its escapes decoded (C's, as libxlu's dequote).
    bool decode_string(StrView raw, StrView* out) {
        char* buf = store(raw.len - 1);  // at most the contents plus a NUL
        if (!buf) return fail("configuration too large");
        usize n = 0;
        for (usize i = 1; i + 1 < raw.len;) {
            char c = raw[i++];
            if (c != '\\') {
                buf[n++] = c;
                continue;
            }
            char e = raw[i++];
            switch (e) {
            case 'a': buf[n++] = '\a'; break;
            case 'b': buf[n++] = '\b'; break;
            case 'f': buf[n++] = '\f'; break;
            case 'n': buf[n++] = '\n'; break;
            case 'r': buf[n++] = '\r'; break;
            case 't': buf[n++] = '\t'; break;
            case 'v': buf[n++] = '\v'; break;
            case 'x': {
                int hi = i + 1 < raw.len ? hex_digit(raw[i]) : -1;
                int lo = i + 2 < raw.len ? hex_digit(raw[i + 1]) : -1;
                if (hi < 0 || lo < 0) return fail("invalid digit after backslash hex numerical character escape in quoted string");
                buf[n++] = static_cast<char>(hi * 16 + lo);
                i += 2;
                break;
            }
            default:
                if (e >= '0' && e <= '7') {
                    unsigned v = static_cast<unsigned>(e - '0');
                    for (int k = 0; k < 2 && i + 1 < raw.len && raw[i] >= '0' && raw[i] <= '7'; ++k)
                        v = v * 8 + static_cast<unsigned>(raw[i++] - '0');
                    if (v > 0xff) return fail("octal numerical character escape out of range in quoted string");
                    buf[n++] = static_cast<char>(v);
                } else {
                    buf[n++] = e;  // \" \' \\ and any other character stand for themselves
                }
            }
        }
        buf[n] = '\0';
        *out = StrView(buf, n);
        return true;
    }

    // ---- grammar ----
    void skip_newlines() {
        while (tok_ == Tok::newline) next();
    }

    bool value(unsigned depth, u16* out) {
        if (tok_ == Tok::string || tok_ == Tok::number) {
            u16 v = new_value(Kind::string);
            if (v == NONE) return fail("configuration too large");
            StrView raw = token_text();
            if (tok_ == Tok::string) {
                if (!decode_string(raw, &cfg_.values_[v].str)) return false;
            } else {
                char* buf = store(raw.len + 1);
                if (!buf) return fail("configuration too large");
                pv::mem_copy(buf, raw.ptr, raw.len);
                buf[raw.len] = '\0';
                cfg_.values_[v].str = StrView(buf, raw.len);
            }
            *out = v;
            next();
            return true;
        }
        if (tok_ != Tok::lbracket) return syntax_error();
        if (depth >= Config::MAX_DEPTH) return fail("lists nested too deeply");
        u16 list = new_value(Kind::list);
        if (list == NONE) return fail("configuration too large");
        next();
        skip_newlines();
        u16 last = NONE;
        while (tok_ != Tok::rbracket) {
            u16 item;
            if (!value(depth + 1, &item)) return false;
            skip_newlines();
            Value& l = cfg_.values_[list];
            if (last == NONE) l.first = item;
            else cfg_.values_[last].next = item;
            last = item;
            ++l.count;
            if (tok_ == Tok::comma) {
                next();
                skip_newlines();
            } else if (tok_ != Tok::rbracket) {
                return syntax_error();
            }
        }
        next();
        *out = list;
        return true;
    }

    // prev += add: a fresh value (earlier values stay as they were, so a failed parse can be
    // undone by truncating the tables).
    bool combine(u16 prev, u16 add, u16* out) {
        const Value& p = cfg_.values_[prev];
        const Value& a = cfg_.values_[add];
        if (p.kind != a.kind)
            return fail(p.kind == Kind::list ? "cannot add a single value to a list" : "cannot add a list to a single value");
        if (p.kind == Kind::string) {
            char* buf = store(p.str.len + a.str.len + 1);
            u16 v = new_value(Kind::string);
            if (!buf || v == NONE) return fail("configuration too large");
            pv::mem_copy(buf, p.str.ptr, p.str.len);
            pv::mem_copy(buf + p.str.len, a.str.ptr, a.str.len);
            buf[p.str.len + a.str.len] = '\0';
            cfg_.values_[v].str = StrView(buf, p.str.len + a.str.len);
            *out = v;
            return true;
        }
        // A new list: copies of the old items (nested lists are shared), then the added items.
        u16 v = new_value(Kind::list);
        if (v == NONE) return fail("configuration too large");
        u16 last = NONE;
        for (u16 i = p.first; i != NONE; i = cfg_.values_[i].next) {
            u16 c = new_value(Kind::string);
            if (c == NONE) return fail("configuration too large");
            cfg_.values_[c] = cfg_.values_[i];
            cfg_.values_[c].next = NONE;
            if (last == NONE) cfg_.values_[v].first = c;
            else cfg_.values_[last].next = c;
            last = c;
        }
        if (last == NONE) cfg_.values_[v].first = a.first;
        else cfg_.values_[last].next = a.first;
        cfg_.values_[v].count = static_cast<u16>(p.count + a.count);
        *out = v;
        return true;
    }

    bool statement() {
        if (tok_ != Tok::ident) return syntax_error();
        key_ = token_text();
        u32 line = tok_line_;
        next();
        if (tok_ != Tok::assign && tok_ != Tok::append) return syntax_error();
        bool append = tok_ == Tok::append;
        next();
        u16 v;
        if (!value(0, &v)) return false;
        if (tok_ != Tok::newline && tok_ != Tok::semicolon && tok_ != Tok::end) return syntax_error();
        if (append)
            if (const Setting* prev = cfg_.find(key_))
                if (!combine(prev->value, v, &v)) return false;
        if (cfg_.nsettings_ >= Config::MAX_SETTINGS) return fail("too many settings");
        char* key = store(key_.len + 1);
        if (!key) return fail("configuration too large");
        pv::mem_copy(key, key_.ptr, key_.len);
        key[key_.len] = '\0';
        cfg_.settings_[cfg_.nsettings_++] = Setting{StrView(key, key_.len), source_, line, v};
        key_ = StrView();
        return true;
    }

    Config& cfg_;
    StrView source_;
    StrView text_;
    Diagnostics& diags_;
    usize pos_ = 0;
    usize start_ = 0;
    u32 line_ = 1;
    u32 tok_line_ = 1;
    Tok tok_ = Tok::end;
    const char* bad_ = "";
    StrView key_;  // the setting being parsed, for messages
};

bool Config::parse(StrView source, StrView text, Diagnostics& diags) {
    usize settings = nsettings_, values = nvalues_, text_used = ntext_;
    Parser p(*this, source, text, diags);
    if (p.run()) return true;
    nsettings_ = settings;
    nvalues_ = values;
    ntext_ = text_used;
    return false;
}

const Setting* Config::find(StrView key) const {
    for (usize i = nsettings_; i-- > 0;)
        if (settings_[i].key.equals(key)) return &settings_[i];
    return nullptr;
}

const Value* Config::item(const Value& list, u32 i) const {
    if (list.kind != Kind::list || i >= list.count) return nullptr;
    u16 v = list.first;
    while (i-- > 0) v = values_[v].next;
    return &values_[v];
}

}  // namespace xlcfg
