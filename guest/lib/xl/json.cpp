// yajl-beautified JSON (json.hpp).
#include "guest/lib/xl/json.hpp"

namespace xl {

void JsonWriter::indent(int depth) {
    for (int i = 0; i < depth; ++i) out_.put("    ", 4);
}

void JsonWriter::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (depth_ > 0) {
        if (!first_[depth_]) out_.put(",\n", 2);
        first_[depth_] = false;
        indent(depth_);
    }
}

void JsonWriter::open(char c) {
    before_value();
    out_.put(&c, 1);
    out_.put("\n", 1);
    if (depth_ + 1 < MAX_DEPTH) first_[++depth_] = true;
}

void JsonWriter::close(char c) {
    out_.put("\n", 1);
    if (depth_ > 0) --depth_;
    indent(depth_);
    out_.put(&c, 1);
}

void JsonWriter::quoted(const char* s) {
    out_.put("\"", 1);
    for (; *s; ++s) {
        unsigned char c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', *s};
            out_.put(e, 2);
        } else if (c == '\n') {
            out_.put("\\n", 2);
        } else if (c == '\t') {
            out_.put("\\t", 2);
        } else if (c == '\r') {
            out_.put("\\r", 2);
        } else if (c < 0x20) {
            pv::format(out_, "\\u%04x", c);
        } else {
            out_.put(s, 1);
        }
    }
    out_.put("\"", 1);
}

void JsonWriter::key(const char* k) {
    before_value();
    quoted(k);
    out_.put(": ", 2);
    after_key_ = true;
}

void JsonWriter::string(const char* s) {
    before_value();
    quoted(s);
}

void JsonWriter::number(unsigned long long v) {
    before_value();
    pv::format(out_, "%llu", v);
}

}  // namespace xl
