// Prompt line splitting (tokenize.hpp).
#include "guest/lib/xl/tokenize.hpp"

namespace xl {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Words {
public:
    Words(char* buf, usize size, char** argv, usize max) : buf_(buf), size_(size), argv_(argv), max_(max) {}

    bool start() {
        if (n_ >= max_) return false;
        argv_[n_++] = buf_ + used_;
        return true;
    }
    bool put(char c) {
        if (used_ + 1 >= size_) return false;  // room for the word's NUL
        buf_[used_++] = c;
        return true;
    }
    bool finish() {
        if (used_ >= size_) return false;
        buf_[used_++] = '\0';
        return true;
    }
    usize count() const { return n_; }

private:
    char* buf_;
    usize size_;
    usize used_ = 0;
    char** argv_;
    usize max_;
    usize n_ = 0;
};

}  // namespace

TokenizeStatus tokenize(const char* line, usize len, char* buf, usize buf_size, char** argv, usize max_args,
                        usize* argc) {
    Words w(buf, buf_size, argv, max_args);
    *argc = 0;
    argv[0] = nullptr;
    usize i = 0;
    for (;;) {
        while (i < len && blank(line[i])) ++i;
        if (i >= len || line[i] == '#') break;
        if (!w.start()) return TokenizeStatus::too_many_words;
        while (i < len && !blank(line[i])) {
            char c = line[i++];
            if (c == '\'') {
                while (i < len && line[i] != '\'')
                    if (!w.put(line[i++])) return TokenizeStatus::too_long;
                if (i >= len) return TokenizeStatus::unterminated_quote;
                ++i;
            } else if (c == '"') {
                while (i < len && line[i] != '"') {
                    char d = line[i++];
                    if (d == '\\' && i < len &&
                        (line[i] == '"' || line[i] == '\\' || line[i] == '$' || line[i] == '`' || line[i] == '\n')) {
                        d = line[i++];
                        if (d == '\n') continue;
                    }
                    if (!w.put(d)) return TokenizeStatus::too_long;
                }
                if (i >= len) return TokenizeStatus::unterminated_quote;
                ++i;
            } else if (c == '\\') {
                if (i >= len) return TokenizeStatus::trailing_backslash;
                char d = line[i++];
                if (d != '\n' && !w.put(d)) return TokenizeStatus::too_long;
            } else if (!w.put(c)) {
                return TokenizeStatus::too_long;
            }
        }
        if (!w.finish()) return TokenizeStatus::too_long;
    }
    *argc = w.count();
    argv[*argc] = nullptr;
    return TokenizeStatus::ok;
}

const char* tokenize_message(TokenizeStatus s) {
    switch (s) {
    case TokenizeStatus::ok: return "ok";
    case TokenizeStatus::unterminated_quote: return "unterminated quoted string";
    case TokenizeStatus::trailing_backslash: return "backslash at the end of the line";
    case TokenizeStatus::too_many_words: return "too many words";
    case TokenizeStatus::too_long: return "line too long";
    }
    return "?";
}

}  // namespace xl
