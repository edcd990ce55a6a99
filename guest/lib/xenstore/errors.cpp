// xs_wire.h defines xsd_errors, the errno names XenStore sends, only where EINVAL is defined:
// the freestanding guest has no <errno.h>, so the names are given Xen's values (xen/errno.h)
// just for the include.  Linux and Xen agree on these values.  Include nothing else here, or xs_wire.h comes in before the names.
#include <stdint.h>

#include <xen/errno.h>

#ifndef EINVAL
#define XS_LOCAL_ERRNO 1
#define EINVAL XEN_EINVAL
#define EACCES XEN_EACCES
#define EEXIST XEN_EEXIST
#define EISDIR XEN_EISDIR
#define ENOENT XEN_ENOENT
#define ENOMEM XEN_ENOMEM
#define ENOSPC XEN_ENOSPC
#define EIO XEN_EIO
#define ENOTEMPTY XEN_ENOTEMPTY
#define ENOSYS XEN_ENOSYS
#define EROFS XEN_EROFS
#define EBUSY XEN_EBUSY
#define EAGAIN XEN_EAGAIN
#define EISCONN XEN_EISCONN
#define E2BIG XEN_E2BIG
#define EPERM XEN_EPERM
#endif
#include <xen/io/xs_wire.h>

namespace xs {

const char* error_string(int err);  // xenstored.hpp (not included: it includes xs_wire.h first)
int error_number(const char* name, uint32_t len);

const char* error_string(int err) {
    for (const auto& e : xsd_errors)
        if (e.errnum == err) return e.errstring;
    return xsd_errors[0].errstring;  // EINVAL, as xenstored's send_error
}

int error_number(const char* name, uint32_t len) {
    uint32_t n = 0;
    while (n < len && name[n]) ++n;
    for (const auto& e : xsd_errors) {
        uint32_t i = 0;
        while (i < n && e.errstring[i] == name[i]) ++i;
        if (i == n && !e.errstring[n]) return e.errnum;
    }
    return xsd_errors[0].errnum;  // an unknown name: EINVAL, as libxenstore's get_error
}

}  // namespace xs
