// Where xl writes: its standard output and standard error, two sinks (domain 0's console, or
// strings in the unit tests).
#pragma once
#include "lib/format.hpp"

namespace xl {

class Output {
public:
    Output(pv::Sink& out, pv::Sink& err) : out_(out), err_(err) {}
    void out(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    void err(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    pv::Sink& out_sink() { return out_; }
    pv::Sink& err_sink() { return err_; }

private:
    pv::Sink& out_;
    pv::Sink& err_;
};

}  // namespace xl
