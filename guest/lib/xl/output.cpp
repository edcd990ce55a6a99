// xl's two output streams (output.hpp).
#include "guest/lib/xl/output.hpp"

#include <stdarg.h>

namespace xl {

void Output::out(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pv::vformat(out_, fmt, ap);
    va_end(ap);
}

void Output::err(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pv::vformat(err_, fmt, ap);
    va_end(ap);
}

}  // namespace xl
