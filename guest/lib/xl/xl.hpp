// pvisor's `xl`: the command layer of domain 0's toolstack (issue 6).  xl_main takes an xl
// command line and runs it against a Backend (backend.hpp) with the syntax, options, messages,
// output formats and exit statuses of Xen 4.17's xl (tools/xl), for the commands a PV host
// needs: list, info, create, destroy, shutdown, reboot, pause, unpause, console, sched-credit,
// mem-set, mem-max, vcpu-list, vcpu-pin, vcpu-set, dmesg, uptime, domid, domname, rename, help.
// Standard output and standard error are the Output's two sinks.
//
// Domains are named as xl's find_domain names them: a word of digits only is a domain ID (taken
// as it is, existing or not: the operation then fails), anything else a name looked up in the
// domain list ("<x> is an invalid domain identifier (rc=-6)" when absent).
//
// Where libxl itself logs an error, xl's stderr shows "libxl: error: <what>" first, as libxl's
// logger prints it minus the source file, line and function.  Freestanding: no heap; the large
// tables (a parsed config, the domain list) live in one static workspace, so xl_main is not
// reentrant.
#pragma once
#include "guest/lib/xl/backend.hpp"
#include "guest/lib/xl/output.hpp"

namespace xl {

// argv[0] is "xl" (or anything: it is skipped), argv[argc] nullptr; at most MAX_ARGS words.
// Returns xl's exit status.
inline constexpr int MAX_ARGS = 64;
int xl_main(int argc, char** argv, Backend& backend, Output& out);

}  // namespace xl
