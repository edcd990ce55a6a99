// What an xl.cfg means for a PV domain: the keys of xl.cfg(5) that pvisor's toolstack honours,
// read as xl's parse_config_data reads them, with libxl's defaults, into a DomainConfig.
//
//   name            mandatory; 1-63 printable characters, no '/' (it becomes a XenStore path
//                   component and the `xl` handle)
//   type            "pv" (the default; "pvh" and "hvm" are refused: pvisor runs PV guests);
//                   the older builder="generic" is accepted, builder="hvm" refused
//   memory, maxmem  MiB; memory defaults to 32 (libxl's default), maxmem to memory; maxmem
//                   below memory is refused.  memory is what the domain starts with (and its
//                   max_pages, + 1 MiB, as Xen 4.17's libxl), maxmem its memory/static-max
//   vcpus, maxvcpus vCPUs online at start and in all (default 1; maxvcpus defaults to vcpus):
//                   cpu/<n>/availability is "online" for n < vcpus, "offline" up to maxvcpus
//   cpus            hard affinity: "all", "0-3,5,^1" (xl's vcpupin syntax) for every vCPU, or
//                   a list with one such string per vCPU (vCPUs past the list: any CPU)
//   kernel          mandatory path of the PV kernel in domain 0's store: an ELF, a gzip'd ELF or
//                   a Linux bzImage
//   ramdisk         optional path
//   cmdline         the kernel command line; when absent, "root=<root> <extra>" or <extra>
//                   from root= and extra=, as xl builds it
//   on_poweroff, on_reboot, on_crash, on_watchdog
//                   destroy | restart | rename-restart | preserve (coredump-* and soft-reset are
//                   refused: pvisor writes no core files and PV has no soft reset); defaults
//                   destroy, restart, destroy, destroy as in xl
//   cpu_weight      credit weight 1-65535 (default 256); `weight` is accepted as its alias
//   cap             credit cap in percent of one CPU, 0 (none) to 65535
//
// Every number is read like libxlu's xlu_cfg_get_long (strtol, base 0: decimal, 0x hex,
// leading-0 octal; the whole string).  Unlike xl, which warns and goes on with the default when
// a value is malformed, every malformed or out-of-range value is an error naming the file, the
// line and the key — a toolstack must not create a domain other than the one described.  Keys
// pvisor does not know are ignored as xl ignores them (a warning names each).
#pragma once
#include "guest/lib/xlcfg/config.hpp"

namespace xlcfg {

enum class Action : u8 { destroy, restart, rename_restart, preserve };
const char* action_name(Action a);

struct DomainConfig {
    static constexpr usize NAME_LEN = 64;
    static constexpr usize PATH_LEN = 256;
    static constexpr usize CMDLINE_LEN = 1024;  // Xen's MAX_GUEST_CMDLINE
    static constexpr unsigned MAX_VCPUS = 128;
    static constexpr unsigned MAX_CPUS = 64;    // affinity masks are one u64
    static constexpr u64 ALL_CPUS = ~u64{0};

    char name[NAME_LEN] = {};
    u64 memory_mib = 32;
    u64 maxmem_mib = 32;
    unsigned vcpus = 1;
    unsigned maxvcpus = 1;
    // Hard affinity of each vCPU (bit n: physical CPU n); ALL_CPUS when unrestricted.
    u64 affinity[MAX_VCPUS];
    char kernel[PATH_LEN] = {};
    char ramdisk[PATH_LEN] = {};  // empty: none
    char cmdline[CMDLINE_LEN] = {};
    Action on_poweroff = Action::destroy;
    Action on_reboot = Action::restart;
    Action on_crash = Action::destroy;
    Action on_watchdog = Action::destroy;
    unsigned weight = 256;
    unsigned cap = 0;

    DomainConfig() {
        for (u64& a : affinity) a = ALL_CPUS;
    }
};

// Reads cfg into out.  false with errors in diags (each naming source, line and key) when the
// configuration does not describe a PV domain pvisor can create; out is then unspecified.
bool read_domain_config(const Config& cfg, DomainConfig& out, Diagnostics& diags);

// xl's vcpupin syntax ("all", "0-3,5,^1": ranges, exclusions applied last) into a CPU mask;
// false when malformed or naming a CPU >= DomainConfig::MAX_CPUS.
bool parse_cpu_list(StrView s, u64* mask);

// strtol(s, &end, 0) over the whole string, as xlu_cfg_get_long: optional sign, then decimal,
// 0x hex or leading-0 octal; false on anything else or overflow.
bool parse_long(StrView s, long long* out);

}  // namespace xlcfg
