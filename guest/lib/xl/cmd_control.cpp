// The commands that change a domain's life: create, destroy, shutdown, reboot, pause, unpause,
// console, rename (xl_vmcontrol.c, xl_console.c, xl_misc.c).
#include <new>

#include "guest/lib/xl/command.hpp"

#include "lib/string.hpp"

namespace xl {

namespace {

// libxl_domain_need_memory for a PV domain: its target plus LIBXL_PV_EXTRA_MEMORY (1 MiB).
constexpr u64 PV_EXTRA_KIB = 1024;

// An operand of xl create with a '=' is a config line, anything else the file.
bool is_setting(const char* arg) { return pv::StrView(arg).find('=') < pv::str_len(arg); }

void print_diags(Context& ctx, const pv::Diagnostics& d) {
    for (usize i = 0; i < d.count(); ++i) ctx.o.err("%s\n", d.message(i));
}

// The domain's files must be in the store before anything is built (libxc opens them first).
bool files_present(Context& ctx, const xlcfg::DomainConfig& c) {
    const char* data;
    usize size;
    if (pv::Result<void> r = ctx.be.read_file(c.kernel, &data, &size); !r) {
        ctx.o.err("libxl: error: xc_dom_kernel_file failed: %s\n", strerror_text(r.error()));
        return false;
    }
    if (c.ramdisk[0])
        if (pv::Result<void> r = ctx.be.read_file(c.ramdisk, &data, &size); !r) {
            ctx.o.err("libxl: error: xc_dom_module_file failed: %s\n", strerror_text(r.error()));
            return false;
        }
    return true;
}

// create_domain after parsing, in its order: xl's freemem, then libxl_domain_create_new (the
// name is checked as the domain is made, the kernel opened as it is built); a libxl error code.
int build(Context& ctx, const xlcfg::DomainConfig& c, bool paused, u32* domid) {
    HostInfo& h = ctx.ws.host;
    const u64 need_kib = c.memory_mib * 1024 + PV_EXTRA_KIB;
    bool room = static_cast<bool>(ctx.be.host_info(h));
    room = room && (h.free_pages - h.outstanding_pages) * (h.page_size() / 1024) >= need_kib;
    if (!room) {
        ctx.o.err("failed to free memory for the domain\n");
        return ERROR_FAIL;
    }
    if (!ctx.list_domains()) return ERROR_FAIL;
    for (usize i = 0; i < ctx.ws.ndoms; ++i)
        if (!pv::str_compare(ctx.ws.doms[i].name, c.name)) {
            ctx.o.err("libxl: error: Domain with name \"%s\" already exists.\n", c.name);
            ctx.o.err("libxl: error: cannot make domain: %d\n", ERROR_INVAL);
            return ERROR_FAIL;
        }
    if (!files_present(ctx, c)) return ERROR_FAIL;
    pv::Result<u32> r = ctx.be.create(c);
    if (!r) {
        if (r.error() == XEN_ENOMEM) ctx.o.err("failed to free memory for the domain\n");
        else if (r.error() == XEN_EEXIST) ctx.o.err("libxl: error: Domain with name \"%s\" already exists.\n", c.name);
        else ctx.o.err("libxl: error: cannot make domain: %d\n", libxl_error_of(r.error()));
        return ERROR_FAIL;
    }
    *domid = *r;
    if (!paused) (void)ctx.be.unpause(*domid);
    return 0;
}

}  // namespace

int cmd_create(Context& ctx, int argc, char** argv) {
    static constexpr LongOption OPTS[] = {{"quiet", false, 'q'}, {"defconfig", true, 'f'}, {"help", false, 'h'},
                                          {nullptr, false, 0}};
    const char* filename = nullptr;
    if (argc > 1 && argv[1][0] != '-' && !is_setting(argv[1])) {
        filename = argv[1];
        --argc;
        ++argv;
    }
    GetOpt g(argc, argv, "qf:pc", OPTS);
    bool paused = false, console = false, quiet = false;
    int opt, status;
    while ((opt = ctx.next_option(g, "create", 0, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        switch (opt) {
        case 'f': filename = g.arg(); break;
        case 'p': paused = true; break;
        case 'c': console = true; break;
        case 'q': quiet = true; break;
        }
    }
    for (int i = 0; i < g.operand_count(); ++i) {
        const char* a = g.operand(i);
        if (is_setting(a)) continue;
        if (filename) {
            ctx.help("create");
            return 2;
        }
        filename = a;
    }
    if (!filename) {
        ctx.o.err("Config file not specified and none in save file\n");
        return -ERROR_INVAL;
    }
    const char* text;
    usize size;
    if (pv::Result<void> r = ctx.be.read_file(filename, &text, &size); !r) {
        ctx.o.err("Failed to read config file: %s: %s\n", filename, strerror_text(r.error()));
        return -ERROR_FAIL;
    }
    if (!quiet) ctx.o.err("Parsing config from %s\n", filename);
    // The file, then each key=value word (xl appends them to the file's text).
    xlcfg::Config& cfg = *new (ctx.ws.config) xlcfg::Config();
    pv::Diagnostics& diags = *new (ctx.ws.diags) pv::Diagnostics();
    bool ok = cfg.parse(filename, pv::StrView(text, size), diags);
    for (int i = 0; ok && i < g.operand_count(); ++i)
        if (is_setting(g.operand(i))) ok = cfg.parse("command line", g.operand(i), diags);
    if (!ok) {
        print_diags(ctx, diags);
        ctx.o.err("Failed to parse config: %s\n", strerror_text(XEN_EINVAL));
        return 1;
    }
    xlcfg::DomainConfig& dcfg = *new (ctx.ws.domain_config) xlcfg::DomainConfig();
    ok = xlcfg::read_domain_config(cfg, dcfg, diags);
    print_diags(ctx, diags);
    if (!ok) return 1;
    u32 domid;
    if (int rc = build(ctx, dcfg, paused, &domid)) return -rc;
    if (console && !ctx.be.console(domid)) ctx.o.err("Unable to attach console\n");
    return 0;
}

int cmd_destroy(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "f", HELP_ONLY);
    bool force = false;
    int opt, status;
    while ((opt = ctx.next_option(g, "destroy", 1, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 'f') force = true;
    }
    u32 domid;
    if (!ctx.find_domain(g.operand(0), &domid)) return 1;
    if (domid == 0 && !force) {
        ctx.o.err("Not destroying domain 0; use -f to force.\n"
                  "This can only be done when using a disaggregated hardware domain and toolstack.\n\n");
        return 1;
    }
    pv::Result<void> r = ctx.be.destroy(domid);
    if (!r) {
        if (r.error() == XEN_ESRCH) ctx.o.err("libxl: error: Domain %u:Non-existant domain\n", domid);
        else ctx.libxl_log(domid, "Destroying domain", r.error());
        ctx.o.err("destroy failed (rc=%d)\n", libxl_error_of(r.error()));
        return 1;
    }
    return 0;
}

namespace {

// libxl first asks the domain's type (PV: the control node is there), which fails for no domain.
bool request(Context& ctx, u32 domid, ShutdownRequest what) {
    const bool reboot = what == ShutdownRequest::reboot;
    ctx.o.err(reboot ? "Rebooting domain %u\n" : "Shutting down domain %u\n", domid);
    int rc = 0;
    if (!ctx.list_domains() || !ctx.info_of(domid)) {
        ctx.o.err("libxl: error: unable to get domain type for domid=%u\n", domid);
        rc = ERROR_FAIL;
    } else if (pv::Result<void> r = ctx.be.request_shutdown(domid, what); !r) {
        ctx.libxl_log(domid, reboot ? "Rebooting domain" : "Shutting down domain", r.error());
        rc = libxl_error_of(r.error());
    }
    if (rc) ctx.o.err("%s failed (rc=%d)\n", reboot ? "reboot" : "shutdown", rc);
    return rc == 0;
}

int shutdown_or_reboot(Context& ctx, int argc, char** argv, ShutdownRequest what) {
    static constexpr LongOption OPTS[] = {{"all", false, 'a'}, {"wait", false, 'w'}, {"help", false, 'h'},
                                          {nullptr, false, 0}};
    const char* name = what == ShutdownRequest::reboot ? "reboot" : "shutdown";
    GetOpt g(argc, argv, "awF", OPTS);
    bool all = false, wait = false;
    int opt, status;
    while ((opt = ctx.next_option(g, name, 0, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 'a') all = true;
        if (opt == 'w') wait = true;
        // -F (an ACPI event for HVM guests without PV drivers) changes nothing for PV ones.
    }
    if (g.operand_count() == 0 && !all) {
        ctx.o.err("You must specify -a or a domain id.\n\n");
        return 1;
    }
    u32 ids[Backend::MAX_DOMAINS];
    usize n = 0;
    if (all) {
        if (!ctx.list_domains()) {
            ctx.o.err("libxl_list_domain failed.\n");
            return 1;
        }
        for (usize i = 0; i < ctx.ws.ndoms; ++i)
            if (ctx.ws.doms[i].domid != 0) ids[n++] = ctx.ws.doms[i].domid;
    } else {
        if (!ctx.find_domain(g.operand(0), &ids[0])) return 1;
        n = 1;
    }
    for (usize i = 0; i < n; ++i)
        if (!request(ctx, ids[i], what)) return 1;
    if (!wait) return 0;
    ctx.o.err("Waiting for %d domains\n", static_cast<int>(n));
    for (usize i = 0; i < n; ++i) {
        pv::Result<DomainFate> f = ctx.be.wait_shutdown(ids[i]);
        if (!f) {
            ctx.o.err("Failed to get event, quitting (rc=%d)\n", libxl_error_of(f.error()));
            return 1;
        }
        if (f->destroyed) ctx.o.err("Domain %d has been destroyed\n", static_cast<int>(ids[i]));
        else ctx.o.err("Domain %d has been shut down, reason code %d\n", static_cast<int>(ids[i]), static_cast<int>(f->reason));
    }
    return 0;
}

// pause and unpause: xl reports nothing and succeeds whatever libxl says (libxl logs it).
int pause_or_unpause(Context& ctx, int argc, char** argv, bool pause) {
    const char* name = pause ? "pause" : "unpause";
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, name, 1, &status) == Context::EXIT) return status;
    u32 domid;
    if (!ctx.find_domain(g.operand(0), &domid)) return 1;
    pv::Result<void> r = pause ? ctx.be.pause(domid) : ctx.be.unpause(domid);
    if (!r) ctx.libxl_log(domid, pause ? "Pausing domain" : "Unpausing domain", r.error());
    return 0;
}

}  // namespace

int cmd_shutdown(Context& ctx, int argc, char** argv) {
    return shutdown_or_reboot(ctx, argc, argv, ShutdownRequest::poweroff);
}
int cmd_reboot(Context& ctx, int argc, char** argv) { return shutdown_or_reboot(ctx, argc, argv, ShutdownRequest::reboot); }
int cmd_pause(Context& ctx, int argc, char** argv) { return pause_or_unpause(ctx, argc, argv, true); }
int cmd_unpause(Context& ctx, int argc, char** argv) { return pause_or_unpause(ctx, argc, argv, false); }

int cmd_console(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "n:t:", HELP_ONLY);
    bool primary = true;
    int opt, status;
    while ((opt = ctx.next_option(g, "console", 1, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 't') {
            pv::StrView t(g.arg());
            if (!t.equals("pv") && !t.equals("serial") && !t.equals("vuart")) {
                ctx.o.err("console type supported are: %s\n", "pv, serial, vuart");
                return 1;
            }
            primary &= t.equals("pv");  // a PV domain has no emulated serial or vuart
        } else if (opt == 'n') {
            const char* end;
            primary &= c_strtoll(g.arg(), &end) == 0;  // nor a second PV console
        }
    }
    u32 domid;
    if (!ctx.find_domain(g.operand(0), &domid)) return 1;
    if (primary && ctx.be.console(domid)) return 0;
    ctx.o.err("Unable to attach console\n");
    return 1;
}

int cmd_rename(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, "rename", 2, &status) == Context::EXIT) return status;
    const char* dom = g.operand(0);
    const char* new_name = g.operand(1);
    u32 domid;
    if (!ctx.find_domain(dom, &domid)) return 1;
    pv::Result<void> r = pv::error(XEN_EEXIST);
    bool taken = false;
    if (ctx.list_domains())
        for (usize i = 0; i < ctx.ws.ndoms; ++i)
            taken |= ctx.ws.doms[i].domid != domid && !pv::str_compare(ctx.ws.doms[i].name, new_name);
    if (!taken) r = ctx.be.rename(domid, new_name);
    if (!r) {
        if (r.error() == XEN_EEXIST) ctx.o.err("libxl: error: Domain %u:Domain with name \"%s\" already exists.\n", domid, new_name);
        else ctx.libxl_log(domid, "Renaming domain", r.error());
        ctx.o.err("Can't rename domain '%s'.\n", dom);
        return 1;
    }
    return 0;
}

}  // namespace xl
