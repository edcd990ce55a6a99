// The commands that tune a running domain: sched-credit (xl_sched.c), mem-set and mem-max
// (xl_mem.c), vcpu-pin and vcpu-set (xl_vcpu.c), with libxl's range checks.
#include "guest/lib/xl/command.hpp"

#include "lib/string.hpp"

namespace xl {

namespace {

constexpr const char* POOL_NAME = "Pool-0";  // pvisor has one cpupool, as Xen at boot

// libxl's LIBXL_DOMAIN_SCHED_PARAM_*_DEFAULT: a parameter given as -1 is left as it is.
constexpr long PARAM_DEFAULT = -1;

void credit_header(Context& ctx) { ctx.o.out("%-33s %4s %6s %4s\n", "Name", "ID", "Weight", "Cap"); }

bool credit_row(Context& ctx, u32 domid) {
    pv::Result<CreditParams> p = ctx.be.sched_credit_get(domid);
    if (!p) {
        ctx.libxl_log(domid, "Getting domain sched credit", p.error());
        ctx.o.err("libxl_domain_sched_params_get failed.\n");
        return false;
    }
    const char* name = ctx.name_of(domid);
    ctx.o.out("%-33s %4d %6d %4d\n", name ? name : "(null)", static_cast<int>(domid), static_cast<int>(p->weight),
              static_cast<int>(p->cap));
    return true;
}

bool pool_output(Context& ctx) {
    pv::Result<CreditPoolParams> p = ctx.be.sched_credit_pool_get();
    if (!p) ctx.o.out("Cpupool %s: [sched params unavailable]\n", POOL_NAME);
    else
        ctx.o.out("Cpupool %s: tslice=%dms ratelimit=%dus migration-delay=%dus\n", POOL_NAME, static_cast<int>(p->tslice_ms),
                  static_cast<int>(p->ratelimit_us), static_cast<int>(p->migration_delay_us));
    return true;
}

// libxl_domain_sched_params_set for credit: each given parameter range-checked, then set.
bool credit_set(Context& ctx, u32 domid, bool set_w, long weight, bool set_c, long cap) {
    // No such domain: libxl gives up (ERROR_INVAL) without a message of its own.
    const DomainInfo* d = ctx.list_domains() ? ctx.info_of(domid) : nullptr;
    pv::Result<CreditParams> cur = d ? ctx.be.sched_credit_get(domid) : pv::Result<CreditParams>(pv::error(XEN_ESRCH));
    if (d && !cur) {
        ctx.libxl_log(domid, "Getting domain sched credit", cur.error());
    } else if (d) {
        CreditParams p = *cur;
        const long max_cap = static_cast<long>(d->vcpu_max) * 100;
        bool ok = true;
        if (set_w && weight != PARAM_DEFAULT) {
            if (weight < 1 || weight > 65535) {
                ctx.o.err("libxl: error: Domain %u:Cpu weight out of range, valid values are within range from 1 to 65535\n",
                          domid);
                ok = false;
            }
            p.weight = static_cast<u32>(weight);
        }
        if (ok && set_c && cap != PARAM_DEFAULT) {
            if (cap < 0 || cap > max_cap) {
                ctx.o.err("libxl: error: Domain %u:Cpu cap out of range, valid range is from 0 to %ld for specified number "
                          "of vcpus\n",
                          domid, max_cap);
                ok = false;
            }
            p.cap = static_cast<u32>(cap);
        }
        if (ok) {
            pv::Result<void> r = ctx.be.sched_credit_set(domid, p);
            if (r) return true;
            ctx.libxl_log(domid, "Setting domain sched credit", r.error());
        }
    }
    ctx.o.err("libxl_domain_sched_params_set failed.\n");
    return false;
}

// xl's parse_range: "N" or "N-M", decimal, nothing after.
bool parse_range(const char* s, u64* a, u64* b) {
    const char* end;
    *a = *b = c_strtoul(s, &end);
    if (end == s || *a == ~u64{0}) return false;
    if (*end == '-') {
        const char* second = end + 1;
        *b = c_strtoul(second, &end);
        if (end == second || *b == ~u64{0} || *b < *a) return false;
    }
    return *end == '\0';
}

// xl's parse_cpurange: comma-separated "all", "N", "N-M", each possibly "^"-prefixed to remove,
// applied in order.  CPUs past the mask are dropped, as libxl_bitmap_set drops bits past its end.
bool parse_cpurange(Context& ctx, const char* s, u64* mask) {
    char buf[256];
    if (pv::str_copy(buf, s, sizeof(buf)) >= sizeof(buf)) {
        ctx.o.err("Invalid pcpu range: %s.\n", s);
        return false;
    }
    for (char* tok = buf; *tok;) {
        char* end = tok;
        while (*end && *end != ',') ++end;
        const bool last = !*end;
        *end = '\0';
        if (*tok) {
            const bool remove = *tok == '^';
            const char* r = remove ? tok + 1 : tok;
            u64 a, b;
            if (!pv::str_compare(r, "all")) {
                if (remove) {
                    ctx.o.err("Can't combine \"^\" and \"all\".\n");
                    return false;
                }
                *mask = ~u64{0};
            } else if (!parse_range(r, &a, &b)) {
                ctx.o.err("Invalid pcpu range: %s.\n", r);
                return false;
            } else {
                for (u64 c = a; c <= b && c < 64; ++c) {
                    if (remove) *mask &= ~(u64{1} << c);
                    else *mask |= u64{1} << c;
                }
            }
        }
        if (last) break;
        tok = end + 1;
    }
    return true;
}

bool pool_known(const char* pool) { return !pv::str_compare(pool, POOL_NAME) || !pv::str_compare(pool, "0"); }

}  // namespace

int cmd_sched_credit(Context& ctx, int argc, char** argv) {
    static constexpr LongOption OPTS[] = {
        {"domain", true, 'd'},       {"weight", true, 'w'},       {"cap", true, 'c'},
        {"schedparam", false, 's'},  {"tslice_ms", true, 't'},    {"ratelimit_us", true, 'r'},
        {"migration_delay_us", true, 'm'}, {"cpupool", true, 'p'}, {"help", false, 'h'},
        {nullptr, false, 0}};
    GetOpt g(argc, argv, "d:w:c:p:t:r:m:s", OPTS);
    const char* dom = nullptr;
    const char* pool = nullptr;
    long weight = 256, cap = 0, tslice = 0, ratelimit = 0, migrdelay = 0;
    bool opt_w = false, opt_c = false, opt_t = false, opt_r = false, opt_s = false, opt_m = false;
    int opt, status;
    const char* end;
    while ((opt = ctx.next_option(g, "sched-credit", 0, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        switch (opt) {
        case 'd': dom = g.arg(); break;
        case 'w': weight = c_strtoll(g.arg(), &end), opt_w = true; break;
        case 'c': cap = c_strtoll(g.arg(), &end), opt_c = true; break;
        case 't': tslice = c_strtoll(g.arg(), &end), opt_t = true; break;
        case 'r': ratelimit = c_strtoll(g.arg(), &end), opt_r = true; break;
        case 'm': migrdelay = c_strtoll(g.arg(), &end), opt_m = true; break;
        case 's': opt_s = true; break;
        case 'p': pool = g.arg(); break;
        }
    }
    if ((pool || opt_s) && (dom || opt_w || opt_c)) {
        ctx.o.err("Specifying a cpupool or schedparam is not allowed with domain options.\n");
        return 1;
    }
    if (!dom && (opt_w || opt_c)) {
        ctx.o.err("Must specify a domain.\n");
        return 1;
    }
    if (!opt_s && (opt_t || opt_r || opt_m)) {
        ctx.o.err("Must specify schedparam to set schedule parameter values.\n");
        return 1;
    }
    if (pool && !pool_known(pool)) {
        ctx.o.err("unknown cpupool '%s'\n", pool);
        return 1;
    }
    if (opt_s) {
        if (!opt_t && !opt_r && !opt_m) return pool_output(ctx) ? 0 : 1;
        pv::Result<CreditPoolParams> p = ctx.be.sched_credit_pool_get();
        if (!p) {
            ctx.o.err("libxl_sched_credit_params_get failed.\n");
            return 1;
        }
        CreditPoolParams np = *p;
        if (opt_t) np.tslice_ms = static_cast<u32>(tslice);
        if (opt_r) np.ratelimit_us = static_cast<u32>(ratelimit);
        if (opt_m) np.migration_delay_us = static_cast<u32>(migrdelay);
        if (pv::Result<void> r = ctx.be.sched_credit_pool_set(np); !r) {
            ctx.o.err("libxl: error: setting sched credit param: %s\n", strerror_text(r.error()));
            ctx.o.err("libxl_sched_credit_params_set failed.\n");
            return 1;
        }
        return 0;
    }
    if (!dom) {  // every domain's parameters, under its pool's
        u32 ids[Backend::MAX_DOMAINS];
        usize n;
        if (!ctx.domain_ids(ids, &n)) {
            ctx.o.err("libxl_list_domain failed.\n");
            return 1;
        }
        pool_output(ctx);
        credit_header(ctx);
        for (usize i = 0; i < n; ++i)
            if (!credit_row(ctx, ids[i])) break;
        return 0;
    }
    u32 domid;
    if (!ctx.find_domain(dom, &domid)) return 1;
    if (!opt_w && !opt_c) {
        credit_header(ctx);
        return credit_row(ctx, domid) ? 0 : 1;
    }
    return credit_set(ctx, domid, opt_w, weight, opt_c, cap) ? 0 : 1;
}

namespace {

int set_memory(Context& ctx, int argc, char** argv, bool max) {
    const char* name = max ? "mem-max" : "mem-set";
    GetOpt g(argc, argv, "", HELP_ONLY);
    int status;
    if (ctx.operands_only(g, name, 2, &status) == Context::EXIT) return status;
    u32 domid;
    if (!ctx.find_domain(g.operand(0), &domid)) return 1;
    const char* mem = g.operand(1);
    i64 kb = parse_mem_size_kb(mem);
    if (kb == -1) {
        ctx.o.err("invalid memory size: %s\n", mem);
        return 1;
    }
    pv::Result<void> r = max ? ctx.be.set_max_memory(domid, static_cast<u64>(kb))
                             : ctx.be.set_memory_target(domid, static_cast<u64>(kb));
    if (r) return 0;
    // libxl's range messages (its format for the first ends in a newline of its own).
    if (!max && r.error() == XEN_EINVAL)
        ctx.o.err("libxl: error: Domain %u:memory_dynamic_max must be less than or equal to memory_static_max\n\n", domid);
    else if (max && r.error() == XEN_EINVAL)
        ctx.o.err("libxl: error: Domain %u:memory_static_max must be greater than or or equal to memory_dynamic_max\n",
                  domid);
    else
        ctx.libxl_log(domid, max ? "Setting maximum memory" : "Setting memory target", r.error());
    ctx.o.err("cannot set domid %u %s max memory to : %s\n", domid, max ? "static" : "dynamic", mem);
    return 1;
}

}  // namespace

int cmd_mem_set(Context& ctx, int argc, char** argv) { return set_memory(ctx, argc, argv, false); }
int cmd_mem_max(Context& ctx, int argc, char** argv) { return set_memory(ctx, argc, argv, true); }

int cmd_vcpu_pin(Context& ctx, int argc, char** argv) {
    static constexpr LongOption OPTS[] = {{"force", false, 'f'}, {"help", false, 'h'}, {nullptr, false, 0}};
    GetOpt g(argc, argv, "f", OPTS);
    bool force = false;
    int opt, status;
    while ((opt = ctx.next_option(g, "vcpu-pin", 3, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 'f') force = true;
    }
    u32 domid;
    if (!ctx.find_domain(g.operand(0), &domid)) return 1;
    const char* vcpu = g.operand(1);
    const char* hard_str = g.operand(2);
    const char* soft_str = g.operand_count() > 3 ? g.operand(3) : nullptr;
    const char* end;
    i64 vcpuid = c_strtoll(vcpu, &end);
    if (end == vcpu || vcpuid < 0) {
        if (pv::str_compare(vcpu, "all")) {
            ctx.o.err("Error: Invalid argument %s as VCPU.\n", vcpu);
            return 1;
        }
        if (force) {
            ctx.o.err("Error: --force and 'all' as VCPU not allowed.\n");
            return 1;
        }
        vcpuid = -1;
    }
    u64 hard = 0, soft = 0;
    const bool set_hard = pv::str_compare(hard_str, "-") != 0;
    const bool set_soft = soft_str && pv::str_compare(soft_str, "-") != 0;
    if ((set_hard && !parse_cpurange(ctx, hard_str, &hard)) || (set_soft && !parse_cpurange(ctx, soft_str, &soft)))
        return 1;
    usize nv = 1;
    if (vcpuid == -1 && !ctx.be.vcpu_list(domid, ctx.ws.vcpus, Backend::MAX_VCPUS, &nv)) {
        ctx.o.err("libxl_list_vcpu failed.\n");
        return 1;
    }
    for (usize i = 0; i < nv; ++i) {
        const u32 v = vcpuid == -1 ? ctx.ws.vcpus[i].vcpuid : static_cast<u32>(vcpuid);
        pv::Result<void> r = ctx.be.vcpu_pin(domid, v, set_hard ? &hard : nullptr, set_soft ? &soft : nullptr);
        if (r) continue;
        ctx.libxl_log(domid, "Setting vcpu affinity", r.error());
        if (vcpuid == -1) {  // xl goes on and succeeds
            ctx.o.err("Could not set affinity.\n");
            return 0;
        }
        ctx.o.err("Could not set affinity for vcpu `%ld'.\n", static_cast<long>(vcpuid));
        return 1;
    }
    return 0;
}

int cmd_vcpu_set(Context& ctx, int argc, char** argv) {
    static constexpr LongOption OPTS[] = {{"ignore-host", false, 'i'}, {"help", false, 'h'}, {nullptr, false, 0}};
    GetOpt g(argc, argv, "i", OPTS);
    bool check_host = true;
    int opt, status;
    while ((opt = ctx.next_option(g, "vcpu-set", 2, &status)) != Context::DONE) {
        if (opt == Context::EXIT) return status;
        if (opt == 'i') check_host = false;
    }
    u32 domid;
    if (!ctx.find_domain(g.operand(0), &domid)) return 1;
    const char* arg = g.operand(1);
    const char* end;
    const u32 want = static_cast<u32>(c_strtoul(arg, &end));
    if (end == arg) {
        ctx.o.err("Error: Invalid argument.\n");
        return 1;
    }
    const DomainInfo* d = ctx.list_domains() ? ctx.info_of(domid) : nullptr;
    if (!d) {
        if (check_host) return 1;
        ctx.o.err("Domain %u does not exist.\n", domid);
        return 1;
    }
    if (check_host && ctx.be.host_info(ctx.ws.host)) {
        const u32 host_cpus = ctx.ws.host.max_cpu_id + 1;
        if (want > d->vcpu_online && want > host_cpus) {
            ctx.o.err("You are overcommmitting! You have %d physical CPUs and want %d vCPUs! Aborting, use --ignore-host to "
                      "continue\n",
                      static_cast<int>(host_cpus), static_cast<int>(want));
            return 1;
        }
    }
    pv::Result<void> r = pv::error(XEN_EINVAL);
    if (want == 0)
        ctx.o.err("libxl: error: Domain %u:Requested 0 VCPUs!\n", domid);
    else if (want > d->vcpu_max)
        ctx.o.err("libxl: error: Domain %u:Requested %u VCPUs, however maxcpus is %u!\n", domid, want, d->vcpu_max);
    else
        r = ctx.be.vcpu_set_online(domid, want);
    if (r) return 0;
    if (r.error() == XEN_ESRCH) ctx.o.err("Domain %u does not exist.\n", domid);
    else ctx.o.err("libxl_set_vcpuonline failed domid=%u max_vcpus=%d, rc: %d\n", domid, static_cast<int>(want), ERROR_FAIL);
    return 1;
}

}  // namespace xl
