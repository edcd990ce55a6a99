#include "lib/result.hpp"

namespace pv {

namespace {
struct ErrnoName {
    int value;
    const char* name;
};
// Generated from Xen's list; aliases (EWOULDBLOCK, EDEADLOCK) follow their first spelling.
constexpr ErrnoName kErrnoNames[] = {
#define XEN_ERRNO(name, value) {value, #name},
#include <xen/errno.h>
};
}  // namespace

const char* errno_name(int err) {
    for (const auto& e : kErrnoNames)
        if (e.value == err) return e.name;
    return "E?";
}

}  // namespace pv
