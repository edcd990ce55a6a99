// A small check framework for guest test kernels.
//
// Each check prints exactly one line on the console:
//     pvtest: check <name>: PASS
//     pvtest: check <name>: FAIL (<detail>)
// and finish() prints the verdict, then powers the domain off:
//     pvtest: verdict: PASS (<n> checks)
//     pvtest: verdict: FAIL (<k> of <n> failed)
// PASS lines carry nothing but the name, so two hypervisors that behave alike print identical
// lines; values that legitimately differ (addresses, versions, timings) go on `pvtest: info:`
// lines, which comparisons ignore.  Names are unique, dot-separated, without spaces.
#pragma once
#include "guest/lib/types.hpp"
#include "lib/string.hpp"
#include "guest/lib/xen.hpp"

namespace pvg {

// The result of one check, already printed; true when it passed.
bool check_pass(const char* name);
bool check_fail(const char* name, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Passes when ok, else fails with the formatted detail.
bool check(const char* name, bool ok, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// Passes when actual == expected; the failure detail shows both, with errno names for negative
// values that are Xen errnos (so "-38 (ENOSYS)").
bool check_eq(const char* name, i64 actual, i64 expected, const char* expr);
bool check_eq_hex(const char* name, u64 actual, u64 expected, const char* expr);

// A line of information that is not a check (not compared between hypervisors).
void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The name of a Xen errno value (positive or negated), or nullptr.
const char* errno_name(i64 value);

// Reports a check line another kernel printed — "<from>: check <name>: PASS" or
// "<from>: check <name>: FAIL (<detail>)" — as our own check "<as>.<name>".  Returns false when
// the line is not such a line.  A "<from>: verdict: ..." line sets *verdict_pass (and returns
// true) when verdict_pass is given.
bool relay_check(pv::StrView line, pv::StrView from, pv::StrView as, bool* verdict_pass = nullptr);

unsigned checks_run();
unsigned checks_failed();

// The word that starts every report line: "pvtest" unless a kernel names itself (set it before
// the first line; guesttest.py --prefix reads the same word).
void set_report_prefix(const char* prefix);

// Prints the verdict and shuts the domain down with SHUTDOWN_poweroff.
[[noreturn]] void finish(unsigned shutdown_reason = SHUTDOWN_poweroff);

}  // namespace pvg

#define CHECK(name, cond) ::pvg::check((name), static_cast<bool>(cond), "%s is false", #cond)
#define CHECK_EQ(name, actual, expected) \
    ::pvg::check_eq((name), static_cast<::pvg::i64>(actual), static_cast<::pvg::i64>(expected), #actual)
#define CHECK_EQ_HEX(name, actual, expected) \
    ::pvg::check_eq_hex((name), static_cast<::pvg::u64>(actual), static_cast<::pvg::u64>(expected), #actual)
