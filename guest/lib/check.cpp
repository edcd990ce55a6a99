#include "guest/lib/check.hpp"

#include <stdarg.h>

#include "guest/lib/console.hpp"
#include "guest/lib/hypercall.hpp"
#include "lib/format.hpp"

namespace pvg {

namespace {

constinit const char* g_prefix = "pvtest";

constinit unsigned g_run = 0;
constinit unsigned g_failed = 0;

struct ErrnoName {
    i64 value;
    const char* name;
};

// Xen's own list (public/errno.h is written to be expanded with a caller's XEN_ERRNO).
constexpr ErrnoName ERRNO_NAMES[] = {
#define XEN_ERRNO(name, value) {value, #name},
#include <xen/errno.h>
#undef XEN_ERRNO
};

void vfail(const char* name, const char* fmt, va_list ap) {
    char detail[256];
    pv::vformat(detail, sizeof(detail), fmt, ap);
    ++g_run;
    ++g_failed;
    print("%s: check %s: FAIL (%s)\n", g_prefix, name, detail);
}

}  // namespace

const char* errno_name(i64 value) {
    if (value < 0) value = -value;
    for (const auto& e : ERRNO_NAMES)
        if (e.value == value) return e.name;
    return nullptr;
}

bool check_pass(const char* name) {
    ++g_run;
    print("%s: check %s: PASS\n", g_prefix, name);
    return true;
}

bool check_fail(const char* name, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(name, fmt, ap);
    va_end(ap);
    return false;
}

bool check(const char* name, bool ok, const char* fmt, ...) {
    if (ok) return check_pass(name);
    va_list ap;
    va_start(ap, fmt);
    vfail(name, fmt, ap);
    va_end(ap);
    return false;
}

namespace {

// "-38 (ENOSYS)" for small negative values, "12345 (0x3039)" otherwise.
void describe(char* buf, usize size, i64 v) {
    const char* en = v < 0 && v > -4096 ? errno_name(v) : nullptr;
    if (en)
        pv::format(buf, size, "%lld (%s)", static_cast<long long>(v), en);
    else
        pv::format(buf, size, "%lld (%#llx)", static_cast<long long>(v),
                   static_cast<unsigned long long>(v));
}

}  // namespace

bool check_eq(const char* name, i64 actual, i64 expected, const char* expr) {
    if (actual == expected) return check_pass(name);
    char a[64], e[64];
    describe(a, sizeof(a), actual);
    describe(e, sizeof(e), expected);
    return check_fail(name, "%s = %s, expected %s", expr, a, e);
}

bool check_eq_hex(const char* name, u64 actual, u64 expected, const char* expr) {
    if (actual == expected) return check_pass(name);
    return check_fail(name, "%s = %#llx, expected %#llx", expr,
                      static_cast<unsigned long long>(actual),
                      static_cast<unsigned long long>(expected));
}

void info(const char* fmt, ...) {
    char line[384];
    va_list ap;
    va_start(ap, fmt);
    pv::vformat(line, sizeof(line), fmt, ap);
    va_end(ap);
    print("%s: info: %s\n", g_prefix, line);
}

bool relay_check(pv::StrView line, pv::StrView from, pv::StrView as, bool* verdict_pass) {
    if (!line.starts_with(from) || line.substr(from.len).len < 2 || line[from.len] != ':') return false;
    const pv::StrView rest = line.substr(from.len + 2);
    if (verdict_pass && rest.starts_with("verdict: ")) {
        *verdict_pass = rest.substr(9).starts_with("PASS");
        return true;
    }
    if (!rest.starts_with("check ")) return false;
    const pv::StrView body = rest.substr(6);
    const usize colon = body.find(':');
    const pv::StrView name = body.substr(0, colon);
    pv::StrView result = body.substr(colon + 1);
    char full[160];
    pv::format(full, sizeof(full), "%.*s.%.*s", static_cast<int>(as.len), as.ptr, static_cast<int>(name.len),
               name.ptr);
    if (result.equals(" PASS")) {
        check_pass(full);
        return true;
    }
    // " FAIL (detail)": the detail without its wrapping.
    if (result.starts_with(" FAIL (") && result.len > 8) result = result.substr(7, result.len - 8);
    check_fail(full, "%.*s", static_cast<int>(result.len), result.ptr);
    return true;
}

void set_report_prefix(const char* prefix) { g_prefix = prefix; }

unsigned checks_run() { return g_run; }
unsigned checks_failed() { return g_failed; }

void finish(unsigned shutdown_reason) {
    if (g_failed == 0)
        print("%s: verdict: PASS (%u checks)\n", g_prefix, g_run);
    else
        print("%s: verdict: FAIL (%u of %u failed)\n", g_prefix, g_failed, g_run);
    console_flush();
    shutdown(shutdown_reason);
}

}  // namespace pvg
