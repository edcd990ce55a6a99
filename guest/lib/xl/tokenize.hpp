// A typed prompt line into argv, as a POSIX shell splits a simple command: words are separated
// by blanks; '...' keeps everything up to the next ' literally; "..." keeps its text but a
// backslash before " \ $ or ` escapes it; an unquoted backslash escapes the next character
// (and a backslash-newline disappears).  Quotes may join parts of one word (a"b c"d is `ab cd`),
// and "" is an empty word.  No expansions: $, *, ~ and friends are ordinary characters.
// A '#' at the start of a word begins a comment to the end of the line.
//
// The line is untrusted (typed at domain 0's prompt): the words go into a caller-sized buffer,
// the word count is bounded, and an unterminated quote or a trailing backslash is an error.
#pragma once
#include "lib/types.hpp"

namespace xl {

using pv::usize;

enum class TokenizeStatus : pv::u8 { ok, unterminated_quote, trailing_backslash, too_many_words, too_long };

// The words of line[0..len) into buf (each NUL-terminated) and argv (at most max_args, then a
// nullptr after them, so argv needs max_args + 1 slots); *argc their number.
TokenizeStatus tokenize(const char* line, usize len, char* buf, usize buf_size, char** argv, usize max_args,
                        usize* argc);
const char* tokenize_message(TokenizeStatus s);

}  // namespace xl
