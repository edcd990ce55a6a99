// A JSON writer laid out as libxl's (yajl with yajl_gen_beautify): four-space indents, one
// member or element per line, `"key": value`; for `xl list -l`.
#pragma once
#include "lib/format.hpp"

namespace xl {

class JsonWriter {
public:
    explicit JsonWriter(pv::Sink& out) : out_(out) {}
    void open_map() { open('{'); }
    void close_map() { close('}'); }
    void open_array() { open('['); }
    void close_array() { close(']'); }
    void key(const char* k);
    void string(const char* s);
    void number(unsigned long long v);

private:
    static constexpr int MAX_DEPTH = 16;
    void before_value();
    void open(char c);
    void close(char c);
    void quoted(const char* s);
    void indent(int depth);

    pv::Sink& out_;
    int depth_ = 0;
    bool first_[MAX_DEPTH] = {};
    bool after_key_ = false;
};

}  // namespace xl
