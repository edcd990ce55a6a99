// The commands that report: list, info, domid, domname, uptime, dmesg, vcpu-list (xl_info.c,
// xl_vcpu.c), with xl's formats.
#include "guest/lib/xl/command.hpp"
#include "guest/lib/xl/json.hpp"

#include "lib/string.hpp"

namespace xl {

namespace {

const char* action_json(xlcfg::Action a) {
    switch (a) {
    case xlcfg::Action::destroy: return "destroy";
    case xlcfg::Action::restart: return "restart";
    case xlcfg::Action::rename_restart: return "restart_rename";
    case xlcfg::Action::preserve: return "preserve";
    }
    return "destroy";
}

// libxl_domain_config's JSON, the subset pvisor's configuration holds (docs/user-guide.md).
void config_json(JsonWriter& j, u32 domid, const xlcfg::DomainConfig& c) {
    j.open_map();
    j.key("domid");
    j.number(domid);
    j.key("config");
    j.open_map();
    j.key("c_info");
    j.open_map();
    j.key("type");
    j.string("pv");
    j.key("name");
    j.string(c.name);
    j.close_map();
    j.key("b_info");
    j.open_map();
    j.key("max_vcpus");
    j.number(c.maxvcpus);
    j.key("avail_vcpus");
    j.open_array();
    for (unsigned v = 0; v < c.vcpus; ++v) j.number(v);
    j.close_array();
    j.key("max_memkb");
    j.number(c.maxmem_mib * 1024);
    j.key("target_memkb");
    j.number(c.memory_mib * 1024);
    j.key("sched_params");
    j.open_map();
    j.key("weight");
    j.number(c.weight);
    j.key("cap");
    j.number(c.cap);
    j.close_map();
    j.key("kernel");
    j.string(c.kernel);
    if (c.cmdline[0]) {
        j.key("cmdline");
        j.string(c.cmdline);
    }
    if (c.ramdisk[0]) {
        j.key("ramdisk");
        j.string(c.ramdisk);
    }
    j.close_map();
    j.key("on_poweroff");
    j.string(action_json(c.on_poweroff));
    j.key("on_reboot");
    j.string(action_json(c.on_reboot));
    j.key("on_watchdog");
    j.string(action_json(c.on_watchdog));
    j.key("on_crash");
    j.string(action_json(c.on_crash));
    j.close_map();
    j.close_map();
}

void list_details(Context& ctx, const DomainInfo* doms, usize n) {
    JsonWriter j(ctx.o.out_sink());
    j.open_array();
    for (usize i = 0; i < n; ++i) {
        pv::Result<const xlcfg::DomainConfig*> c = ctx.be.domain_config(doms[i].domid);
        if (c) config_json(j, doms[i].domid, **c);
    }
    j.close_array();
    ctx.o.out("\n");
}

struct ListColumns {
    bool verbose, context, cpupool;
};

void list_table(Context& ctx, const ListColumns& col, const DomainInfo* doms, usize n) {
    static constexpr char REASONS[] = "-rscwS";
    ctx.o.out("Name                                        ID   Mem VCPUs\tState\tTime(s)");
    if (col.verbose) ctx.o.out("   UUID                            Reason-Code\tSecurity Label");
    if (col.context && !col.verbose) ctx.o.out("   Security Label");
    if (col.cpupool) ctx.o.out("         Cpupool");
    ctx.o.out("\n");
    for (usize i = 0; i < n; ++i) {
        const DomainInfo& d = doms[i];
        u32 reason = d.shutdown ? d.shutdown_reason : 0;
        char secs[32];
        format_cpu_seconds(d.cpu_time_ns, secs, sizeof(secs));
        ctx.o.out("%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8s", d.name, static_cast<int>(d.domid),
                  static_cast<unsigned long>((d.current_kib + d.outstanding_kib) / 1024), static_cast<int>(d.vcpu_online),
                  d.running ? 'r' : '-', d.blocked ? 'b' : '-', d.paused ? 'p' : '-', d.shutdown ? 's' : '-',
                  reason < sizeof(REASONS) - 1 ? REASONS[reason] : '?', d.dying ? 'd' : '-', secs);
        if (col.verbose) {
            const u8* h = d.handle;
            ctx.o.out(" %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
                      h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
            if (d.shutdown) ctx.o.out(" %8x", reason);
            else ctx.o.out(" %8s", "-");
        }
        if (col.verbose || col.context) ctx.o.out(" %16s", "-");
        if (col.cpupool) ctx.o.out("%16s", "Pool-0");
        ctx.o.out("\n");
    }
}

}  // namespace

int cmd_list(Context& ctx, int argc, char** argv) {
    static constexpr LongOption OPTS[] = {{"long", false, 'l'},    {"verbose", false, 'v'}, {"context", false, 'Z'},
                                          {"cpupool", false, 'c'}, {"help", false, 'h'},   {nullptr, false, 0}};
    GetOpt g(argc, argv, "lvhZc", OPTS);
    bool details = false;
    ListColumns col{};
    int opt, status;
    while ((opt = ctx.next_option(g, "list", 0, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        switch (opt) {
        case 'l': details = true; break;
        case 'v': col.verbose = true; break;
        case 'Z': col.context = true; break;
        case 'c': col.cpupool = true; break;
        }
    }
    const DomainInfo* doms = ctx.ws.doms;
    usize n = 0;
    if (g.operand_count() == 0) {
        if (!ctx.list_domains()) {
            ctx.o.err("libxl_list_domain failed.\n");
            return 1;
        }
        n = ctx.ws.ndoms;
    } else if (g.operand_count() == 1) {
        u32 domid;
        if (!ctx.find_domain(g.operand(0), &domid)) return 1;
        if (!ctx.list_domains()) {
            ctx.o.err("libxl_domain_info failed (code %d).\n", ERROR_FAIL);
            return 1;
        }
        doms = ctx.info_of(domid);
        if (!doms) {
            ctx.o.err("Error: Domain '%s' does not exist.\n", g.operand(0));
            return 1;
        }
        n = 1;
    } else {
        ctx.help("list");
        return 1;
    }
    if (details) list_details(ctx, doms, n);
    else list_table(ctx, col, doms, n);
    return 0;
}

namespace {

// xl info's maybe_printf: every line, or with a key given only the value of the line naming it.
class InfoPrinter {
public:
    InfoPrinter(Output& o, const char* only) : o_(o), only_(only) {}
    void line(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
        char buf[1200];
        va_list ap;
        va_start(ap, fmt);
        pv::vformat(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (!only_) {
            o_.out("%s", buf);
            return;
        }
        pv::StrView s(buf);
        usize colon = s.find(':');
        if (s.starts_with(only_) && colon + 1 < s.len && buf[colon + 1] == ' ') o_.out("%s", buf + colon + 2);
    }

private:
    Output& o_;
    const char* only_;
};

}  // namespace

int cmd_info(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, "info", 0, &status) == Context::EXIT) return status;
    HostInfo& h = ctx.ws.host;
    bool have = static_cast<bool>(ctx.be.host_info(h));
    InfoPrinter p(ctx.o, g.operand_count() > 0 ? g.operand(0) : nullptr);
    if (!have) {
        ctx.o.err("libxl_physinfo failed.\n");
        ctx.o.err("libxl_get_version_info failed.\n");
        return 0;
    }
    p.line("host                   : %s\n", h.host);
    p.line("release                : %s\n", h.release);
    p.line("version                : %s\n", h.version);
    p.line("machine                : %s\n", h.machine);
    p.line("nr_cpus                : %d\n", static_cast<int>(h.nr_cpus));
    p.line("max_cpu_id             : %d\n", static_cast<int>(h.max_cpu_id));
    p.line("nr_nodes               : %d\n", static_cast<int>(h.nr_nodes));
    p.line("cores_per_socket       : %d\n", static_cast<int>(h.cores_per_socket));
    p.line("threads_per_core       : %d\n", static_cast<int>(h.threads_per_core));
    p.line("cpu_mhz                : %d.%03d\n", static_cast<int>(h.cpu_khz / 1000), static_cast<int>(h.cpu_khz % 1000));
    p.line("hw_caps                : %08x:%08x:%08x:%08x:%08x:%08x:%08x:%08x\n", h.hw_cap[0], h.hw_cap[1], h.hw_cap[2],
           h.hw_cap[3], h.hw_cap[4], h.hw_cap[5], h.hw_cap[6], h.hw_cap[7]);
    p.line("virt_caps              :%s\n", h.virt_caps);
    const u64 per_mib = (u64{1} << 20) / h.page_size();
    p.line("total_memory           : %lu\n", static_cast<unsigned long>(h.total_pages / per_mib));
    p.line("free_memory            : %lu\n", static_cast<unsigned long>((h.free_pages - h.outstanding_pages) / per_mib));
    p.line("sharing_freed_memory   : %lu\n", static_cast<unsigned long>(h.sharing_freed_pages / per_mib));
    p.line("sharing_used_memory    : %lu\n", static_cast<unsigned long>(h.sharing_used_frames / per_mib));
    p.line("outstanding_claims     : %lu\n", static_cast<unsigned long>(h.outstanding_pages / per_mib));
    p.line("free_cpus              : %d\n", static_cast<int>(h.free_cpus));
    p.line("xen_major              : %d\n", static_cast<int>(h.xen_major));
    p.line("xen_minor              : %d\n", static_cast<int>(h.xen_minor));
    p.line("xen_extra              : %s\n", h.xen_extra);
    p.line("xen_version            : %d.%d%s\n", static_cast<int>(h.xen_major), static_cast<int>(h.xen_minor), h.xen_extra);
    p.line("xen_caps               : %s\n", h.xen_caps);
    p.line("xen_scheduler          : %s\n", h.xen_scheduler);
    p.line("xen_pagesize           : %u\n", h.page_size());
    p.line("platform_params        : virt_start=0x%lx\n", static_cast<unsigned long>(h.virt_start));
    p.line("xen_changeset          : %s\n", h.changeset);
    p.line("xen_commandline        : %s\n", h.commandline);
    p.line("cc_compiler            : %s\n", h.compiler);
    p.line("cc_compile_by          : %s\n", h.compile_by);
    p.line("cc_compile_domain      : %s\n", h.compile_domain);
    p.line("cc_compile_date        : %s\n", h.compile_date);
    p.line("build_id               : %s\n", h.build_id);
    p.line("xend_config_format     : 4\n");
    return 0;
}

int cmd_domid(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, "domid", 1, &status) == Context::EXIT) return status;
    const char* name = g.operand(0);
    if (ctx.list_domains())
        for (usize i = 0; i < ctx.ws.ndoms; ++i)
            if (!pv::str_compare(ctx.ws.doms[i].name, name)) {
                ctx.o.out("%u\n", ctx.ws.doms[i].domid);
                return 0;
            }
    ctx.o.err("Can't get domid of domain name '%s', maybe this domain does not exist.\n", name);
    return 1;
}

int cmd_domname(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, "domname", 1, &status) == Context::EXIT) return status;
    const char* arg = g.operand(0);
    const char* end;
    u32 domid = static_cast<u32>(c_strtoll(arg, &end));
    if (domid == 0 && end == arg) {  // no digits at all
        ctx.o.err("Invalid domain id.\n\n");
        return 1;
    }
    const char* name = ctx.name_of(domid);
    if (!name) {
        ctx.o.err("Can't get domain name of domain id '%u', maybe this domain does not exist.\n", domid);
        return 1;
    }
    ctx.o.out("%s\n", name);
    return 0;
}

namespace {

// One domain's line; false when it is domain 0's that cannot be had (xl then exits with -1).
bool print_uptime(Context& ctx, u32 domid, bool short_mode, u64 now) {
    pv::Result<u64> up = ctx.be.uptime_seconds(domid);
    if (!up) {
        if (domid != 0) return true;  // a domU without a start time is left out
        ctx.o.err("Can not get Dom0 uptime.\n");
        return false;
    }
    const char* name = ctx.name_of(domid);
    char text[48];
    format_uptime(*up, short_mode, text, sizeof(text));
    if (short_mode)
        ctx.o.out(" %02lu:%02lu:%02lu up %s, %s (%d)\n", static_cast<unsigned long>(now / 3600 % 24),
                  static_cast<unsigned long>(now / 60 % 60), static_cast<unsigned long>(now % 60), text,
                  name ? name : "(null)", static_cast<int>(domid));
    else
        ctx.o.out("%-33s %4d %s\n", name ? name : "(null)", static_cast<int>(domid), text);
    return true;
}

constexpr int EXIT_MINUS_ONE = 255;

}  // namespace

int cmd_uptime(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "s", HELP_ONLY);
    int opt, status;
    bool short_mode = false;
    while ((opt = ctx.next_option(g, "uptime", 0, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 's') short_mode = true;
    }
    u32 doms[MAX_ARGS];
    int n = 0;
    for (int i = 0; i < g.operand_count(); ++i)
        if (!ctx.find_domain(g.operand(i), &doms[n++])) return 1;
    const u64 now = ctx.be.wallclock_seconds();
    if (!short_mode) ctx.o.out("%-33s %4s %s\n", "Name", "ID", "Uptime");
    if (n == 0) {
        if (!print_uptime(ctx, 0, short_mode, now)) return EXIT_MINUS_ONE;
        u32 ids[Backend::MAX_DOMAINS];
        usize count;
        if (!ctx.domain_ids(ids, &count)) {
            ctx.o.err("Could not list vms.\n");
            return 0;
        }
        for (usize i = 0; i < count; ++i)
            if (ids[i] != 0) print_uptime(ctx, ids[i], short_mode, now);
        return 0;
    }
    for (int i = 0; i < n; ++i)
        if (!print_uptime(ctx, doms[i], short_mode, now)) return EXIT_MINUS_ONE;
    return 0;
}

int cmd_dmesg(Context& ctx, int argc, char** argv) {
    static constexpr LongOption OPTS[] = {{"clear", false, 'c'}, {"help", false, 'h'}, {nullptr, false, 0}};
    GetOpt g(argc, argv, "c", OPTS);
    int opt, status;
    bool clear = false;
    while ((opt = ctx.next_option(g, "dmesg", 0, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 'c') clear = true;
    }
    return ctx.be.read_hypervisor_console(ctx.o.out_sink(), clear) ? 0 : 1;
}

namespace {

void print_vcpus(Context& ctx, u32 domid, u32 nr_cpus) {
    usize nv = 0;
    if (!ctx.be.vcpu_list(domid, ctx.ws.vcpus, Backend::MAX_VCPUS, &nv)) return;
    char name[NAME_LEN];
    const char* nm = ctx.name_of(domid);
    pv::str_copy(name, nm ? nm : "(null)", sizeof(name));
    for (usize i = 0; i < nv; ++i) {
        const VcpuInfo& v = ctx.ws.vcpus[i];
        ctx.o.out("%-32s %5u %5u", name, domid, v.vcpuid);
        if (!v.online) ctx.o.out("%5c %3c%cp ", '-', '-', '-');
        else ctx.o.out("%5u %3c%c- ", v.cpu, v.running ? 'r' : '-', v.blocked ? 'b' : '-');
        char secs[32], hard[200], soft[200];
        format_cpu_seconds(v.time_ns, secs, sizeof(secs));
        format_cpumap(v.hard_affinity, nr_cpus, hard, sizeof(hard));
        format_cpumap(v.soft_affinity, nr_cpus, soft, sizeof(soft));
        ctx.o.out("%9s  %s / %s\n", secs, hard, soft);
    }
}

}  // namespace

int cmd_vcpu_list(Context& ctx, int argc, char** argv) {
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, "vcpu-list", 0, &status) == Context::EXIT) return status;
    if (!ctx.be.host_info(ctx.ws.host)) {
        ctx.o.err("libxl_physinfo failed.\n");
        return 0;
    }
    const u32 nr_cpus = ctx.ws.host.nr_cpus;
    ctx.o.out("%-32s %5s %5s %5s %5s %9s %s\n", "Name", "ID", "VCPU", "CPU", "State", "Time(s)", "Affinity (Hard / Soft)");
    if (g.operand_count() == 0) {
        u32 ids[Backend::MAX_DOMAINS];
        usize n;
        if (!ctx.domain_ids(ids, &n)) {
            ctx.o.err("libxl_list_domain failed.\n");
            return 0;
        }
        for (usize i = 0; i < n; ++i) print_vcpus(ctx, ids[i], nr_cpus);
        return 0;
    }
    // Each named domain is looked up as it comes: xl stops at the first unknown one.
    for (int a = 0; a < g.operand_count(); ++a) {
        u32 domid;
        if (!ctx.find_domain(g.operand(a), &domid)) return 1;
        print_vcpus(ctx, domid, nr_cpus);
    }
    return 0;
}

}  // namespace xl
