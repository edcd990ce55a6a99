// xl's entry point, command table and help, and what every command shares (command.hpp).  The
// table keeps xl's order, descriptions and usage lines; the option texts list the options
// pvisor's xl implements, in xl's words.
#include "guest/lib/xl/command.hpp"

#include "lib/string.hpp"

namespace xl {

namespace {

constexpr Command COMMANDS[] = {
    {"create", cmd_create, true, true, "Create a domain from config file <filename>", "<ConfigFile> [options] [vars]",
     "-h                      Print this help.\n"
     "-p                      Leave the domain paused after it is created.\n"
     "-c                      Connect to the console after the domain is created."},
    {"list", cmd_list, false, false, "List information about all/some domains", "[options] [Domain]\n",
     "-l, --long              Output all VM details\n"
     "-v, --verbose           Prints out UUIDs and security context\n"
     "-Z, --context           Prints out security context\n"
     "-c, --cpupool           Prints the cpupool the domain is in"},
    {"destroy", cmd_destroy, false, true, "Terminate a domain immediately", "[options] <Domain>\n",
     "-f                      Permit destroying domain 0, which will only succeed\n"
     "                        when run from disaggregated toolstack domain with a\n"
     "                        hardware domain distinct from domain 0."},
    {"shutdown", cmd_shutdown, false, true, "Issue a shutdown signal to a domain", "[options] <-a|Domain>",
     "-a, --all               Shutdown all guest domains.\n"
     "-h                      Print this help.\n"
     "-w, --wait              Wait for guest(s) to shutdown.\n"},
    {"reboot", cmd_reboot, false, true, "Issue a reboot signal to a domain", "[options] <-a|Domain>",
     "-a, --all               Shutdown all guest domains.\n"
     "-h                      Print this help.\n"
     "-w, --wait              Wait for guest(s) to reboot.\n"},
    {"pause", cmd_pause, false, true, "Pause execution of a domain", "<Domain>", nullptr},
    {"unpause", cmd_unpause, false, true, "Unpause a paused domain", "<Domain>", nullptr},
    {"console", cmd_console, false, false, "Attach to domain's console",
     "[options] <Domain>\n"
     "-t <type>       console type, pv , serial or vuart\n"
     "-n <number>     console number",
     nullptr},
    {"mem-max", cmd_mem_max, false, true, "Set the maximum amount reservation for a domain",
     "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>", nullptr},
    {"mem-set", cmd_mem_set, false, true, "Set the current memory usage for a domain",
     "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>", nullptr},
    {"vcpu-list", cmd_vcpu_list, false, false, "List the VCPUs for all/some domains", "[Domain, ...]", nullptr},
    {"vcpu-pin", cmd_vcpu_pin, true, true, "Set which CPUs a VCPU can use",
     "[option] <Domain> <VCPU|all> <Hard affinity|-|all> <Soft affinity|-|all>",
     "-f, --force        undo an override pinning done by the kernel"},
    {"vcpu-set", cmd_vcpu_set, false, true, "Set the number of active VCPUs allowed for the domain",
     "[option] <Domain> <vCPUs>", "-i, --ignore-host  Don't limit the vCPU based on the host CPU count"},
    {"info", cmd_info, false, false, "Get information about Xen host", "[item]", nullptr},
    {"sched-credit", cmd_sched_credit, false, true, "Get/set credit scheduler parameters",
     "[-d <Domain> [-w[=WEIGHT]|-c[=CAP]]] [-s [-t TSLICE] [-r RATELIMIT]] [-p CPUPOOL]",
     "-d DOMAIN, --domain=DOMAIN        Domain to modify\n"
     "-w WEIGHT, --weight=WEIGHT        Weight (int)\n"
     "-c CAP, --cap=CAP                 Cap (int)\n"
     "-s         --schedparam           Query / modify scheduler parameters\n"
     "-t TSLICE, --tslice_ms=TSLICE     Set the timeslice, in milliseconds\n"
     "-r RLIMIT, --ratelimit_us=RLIMIT  Set the scheduling rate limit, in microseconds\n"
     "-p CPUPOOL, --cpupool=CPUPOOL     Restrict output to CPUPOOL"},
    {"domid", cmd_domid, false, false, "Convert a domain name to domain id", "<DomainName>", nullptr},
    {"domname", cmd_domname, false, false, "Convert a domain id to domain name", "<DomainId>", nullptr},
    {"rename", cmd_rename, false, true, "Rename a domain", "<Domain> <NewDomainName>", nullptr},
    {"dmesg", cmd_dmesg, false, false, "Read and/or clear dmesg buffer", "[-c]",
     "  -c                        Clear dmesg buffer as well as printing it"},
    {"uptime", cmd_uptime, false, false, "Print uptime for all/some domains", "[-s] [Domain]", nullptr},
};

const Command* lookup(const char* name) {
    for (const Command& c : COMMANDS)
        if (!pv::str_compare(c.name, name)) return &c;
    return nullptr;
}

constinit Workspace g_workspace{};

}  // namespace

int libxl_error_of(pv::Errno e) {
    switch (e) {
    case XEN_ESRCH: return ERROR_DOMAIN_NOTFOUND;
    case XEN_ENOMEM: return ERROR_NOMEM;
    case XEN_EINVAL:
    case XEN_EEXIST: return ERROR_INVAL;
    default: return ERROR_FAIL;
    }
}

// glibc's strerror for the errno values a Backend returns.
const char* strerror_text(pv::Errno e) {
    switch (e) {
    case XEN_EPERM: return "Operation not permitted";
    case XEN_ENOENT: return "No such file or directory";
    case XEN_ESRCH: return "No such process";
    case XEN_EIO: return "Input/output error";
    case XEN_ENOMEM: return "Cannot allocate memory";
    case XEN_EBUSY: return "Device or resource busy";
    case XEN_EEXIST: return "File exists";
    case XEN_EINVAL: return "Invalid argument";
    case XEN_ENOSPC: return "No space left on device";
    case XEN_ENOSYS: return "Function not implemented";
    case XEN_ETIMEDOUT: return "Connection timed out";
    default: return pv::errno_name(e);
    }
}

void Context::help(const char* command) {
    if (!command || !pv::str_compare(command, "help")) {
        o.out("Usage xl [-vfNtT] <subcommand> [args]\n\n");
        o.out("xl full list of subcommands:\n\n");
        for (const Command& c : COMMANDS) {
            o.out(" %-19s ", c.name);
            if (pv::str_len(c.name) > 19) o.out("\n %-19s ", "");
            o.out("%s\n", c.desc);
        }
        return;
    }
    const Command* c = lookup(command);
    if (!c) {
        o.out("command \"%s\" not implemented\n", command);
        return;
    }
    o.out("Usage: xl [-vtT%s%s] %s %s\n\n%s.\n\n", c->modifies ? "f" : "", c->can_dryrun ? "N" : "", c->name,
          c->usage, c->desc);
    if (c->options) o.out("Options:\n\n%s\n", c->options);
}

int Context::next_option(GetOpt& g, const char* cmd, int reqargs, int* status) {
    int opt = g.next();
    if (opt == GetOpt::UNKNOWN) {
        if (g.optopt() == 'h') {
            help(cmd);
            *status = 0;
            return EXIT;
        }
        o.err("option `%c' not supported.\n", g.optopt());
        *status = 2;
        return EXIT;
    }
    if (opt == 'h') {
        help(cmd);
        *status = 0;
        return EXIT;
    }
    if (opt != GetOpt::END) return opt;
    if (g.operand_count() <= reqargs - 1) {
        o.err("'xl %s' requires at least %d argument%s.\n\n", cmd, reqargs, reqargs > 1 ? "s" : "");
        help(cmd);
        *status = 2;
        return EXIT;
    }
    return DONE;
}

int Context::operands_only(GetOpt& g, const char* cmd, int reqargs, int* status) {
    int opt;
    while ((opt = next_option(g, cmd, reqargs, status)) != DONE)
        if (opt == EXIT) return EXIT;
    return DONE;
}

bool Context::list_domains() {
    ws.ndoms = 0;
    if (!be.list_domains(ws.doms, Backend::MAX_DOMAINS, &ws.ndoms)) {
        ws.ndoms = 0;
        return false;
    }
    return true;
}

bool Context::domain_ids(u32* ids, usize* n) {
    *n = 0;
    if (!list_domains()) return false;
    for (usize i = 0; i < ws.ndoms; ++i) ids[(*n)++] = ws.doms[i].domid;
    return true;
}

const DomainInfo* Context::info_of(u32 domid) const {
    for (usize i = 0; i < ws.ndoms; ++i)
        if (ws.doms[i].domid == domid) return &ws.doms[i];
    return nullptr;
}

const char* Context::name_of(u32 domid) {
    if (!list_domains()) return nullptr;
    const DomainInfo* d = info_of(domid);
    return d ? d->name : nullptr;
}

bool Context::find_domain(const char* p, u32* domid) {
    bool digits = true;
    for (const char* c = p; *c; ++c) digits &= *c >= '0' && *c <= '9';
    int rc = 0;
    if (digits) {
        const char* end;
        *domid = static_cast<u32>(c_strtoul(p, &end));
    } else {
        rc = ERROR_INVAL;
        if (list_domains()) {
            for (usize i = 0; i < ws.ndoms; ++i)
                if (!pv::str_compare(ws.doms[i].name, p)) {
                    *domid = ws.doms[i].domid;
                    rc = 0;
                    break;
                }
        } else {
            rc = ERROR_NOMEM;
        }
    }
    if (rc) {
        o.err("%s is an invalid domain identifier (rc=%d)\n", p, rc);
        return false;
    }
    const char* name = name_of(*domid);
    pv::str_copy(domname, name ? name : "", sizeof(domname));
    return true;
}

void Context::libxl_log(u32 domid, const char* what, pv::Errno e) {
    o.err("libxl: error: Domain %u:%s: %s\n", domid, what, strerror_text(e));
}

int xl_main(int argc, char** argv, Backend& backend, Output& out) {
    Context ctx(backend, out, g_workspace);
    if (argc > MAX_ARGS) {
        out.err("xl: too many arguments\n");
        return 1;
    }
    // The global options, up to the command ("+vftTN": stop at the first operand).
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; ++i) {
        if (!pv::str_compare(argv[i], "--")) {
            ++i;
            break;
        }
        for (const char* f = argv[i] + 1; *f; ++f) {
            if (*f == 'N') {
                out.err("command does not implement -N (dryrun) option\n");
                return 1;
            }
            if (*f != 'v' && *f != 'f' && *f != 't' && *f != 'T') {
                out.err("unknown global option\n");
                return 1;
            }
        }
    }
    if (i >= argc) {
        ctx.help(nullptr);
        return 1;
    }
    const char* cmd = argv[i];
    if (const Command* c = lookup(cmd)) return c->run(ctx, argc - i, argv + i);
    if (!pv::str_compare(cmd, "help")) {
        ctx.help(i + 1 < argc ? argv[i + 1] : nullptr);
        return 0;
    }
    out.err("command not implemented\n");
    return 1;
}

}  // namespace xl
