// xl.cfg keys for a PV domain (domain_config.hpp).
#include "guest/lib/xlcfg/domain_config.hpp"

#include "lib/format.hpp"

namespace xlcfg {

const char* action_name(Action a) {
    switch (a) {
    case Action::destroy: return "destroy";
    case Action::restart: return "restart";
    case Action::rename_restart: return "rename-restart";
    case Action::preserve: return "preserve";
    }
    return "?";
}

bool parse_long(StrView s, long long* out) {
    usize i = 0;
    bool neg = false;
    while (i < s.len && (s[i] == ' ' || s[i] == '\t')) ++i;  // strtol skips leading space
    if (i < s.len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    unsigned base = 10;
    if (i + 1 < s.len && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.len) {
        base = 16;
        i += 2;
    } else if (i < s.len && s[i] == '0') {
        base = 8;
    }
    if (i >= s.len) return false;
    u64 v = 0;
    for (; i < s.len; ++i) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
        else return false;
        if (d >= base) return false;
        if (v > (u64{1} << 63) / base) return false;
        v = v * base + d;
        if (v > (neg ? u64{1} << 63 : (u64{1} << 63) - 1)) return false;
    }
    *out = neg ? static_cast<long long>(0 - v) : static_cast<long long>(v);
    return true;
}

namespace {
// A CPU number as xl reads it (strtoul base 10), bounded well before it could overflow.
bool decimal(StrView s, u64* out) {
    if (s.empty() || s.len > 9) return false;
    u64 v = 0;
    for (usize i = 0; i < s.len; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + static_cast<u64>(s[i] - '0');
    }
    *out = v;
    return true;
}
}  // namespace

bool parse_cpu_list(StrView s, u64* mask) {
    if (s.equals("all")) {
        *mask = DomainConfig::ALL_CPUS;
        return true;
    }
    u64 set = 0, removed = 0;
    usize i = 0;
    if (s.empty()) return false;
    while (i <= s.len) {
        usize end = s.find(',', i);
        StrView tok = s.substr(i, end - i);
        bool remove = !tok.empty() && tok[0] == '^';
        if (remove) tok = tok.substr(1);
        StrView a = tok, b = tok;
        usize dash = tok.find('-');
        if (dash < tok.len) {
            a = tok.substr(0, dash);
            b = tok.substr(dash + 1);
        }
        u64 lo, hi;
        if (!decimal(a, &lo) || !decimal(b, &hi) || lo > hi || hi >= DomainConfig::MAX_CPUS) return false;
        for (u64 c = lo; c <= hi; ++c) (remove ? removed : set) |= u64{1} << c;
        if (end >= s.len) break;
        i = end + 1;
    }
    *mask = set & ~removed;
    return true;
}

namespace {

class Reader {
public:
    Reader(const Config& cfg, Diagnostics& diags) : cfg_(cfg), diags_(diags) {}
    bool ok() const { return ok_; }

    // The string value of key, or nullptr when unset (an error when it is a list).
    const Value* string(StrView key) {
        const Setting* s = cfg_.find(key);
        if (!s) return nullptr;
        const Value& v = cfg_.value_of(*s);
        if (v.kind != Kind::string) {
            error(*s, "is a list but should be a single value");
            return nullptr;
        }
        return &v;
    }

    // A number within [min, max] into *out; false when unset (out untouched) or bad (error).
    bool number(StrView key, long long min, long long max, long long* out) {
        const Value* v = string(key);
        if (!v) return false;
        long long n;
        if (!parse_long(v->str, &n)) {
            error(*cfg_.find(key), "`%s' is not a valid number", pv::Quoted(v->str).c_str());
            return false;
        }
        if (n < min || n > max) {
            error(*cfg_.find(key), "%lld is out of range (%lld to %lld)", n, min, max);
            return false;
        }
        *out = n;
        return true;
    }

    // A string that must fit `size` bytes with its NUL, copied into out; false when unset.
    bool text(StrView key, char* out, usize size) {
        const Value* v = string(key);
        if (!v) return false;
        if (v->str.len >= size) {
            error(*cfg_.find(key), "value longer than %zu characters", size - 1);
            return false;
        }
        if (v->str.find('\0') < v->str.len) {
            error(*cfg_.find(key), "value contains a NUL character");
            return false;
        }
        pv::mem_copy(out, v->str.ptr, v->str.len);
        out[v->str.len] = '\0';
        return true;
    }

    void action(StrView key, Action* out) {
        const Value* v = string(key);
        if (!v) return;
        static constexpr struct {
            const char* name;
            Action a;
        } ACTIONS[] = {{"destroy", Action::destroy}, {"restart", Action::restart},
                       {"rename-restart", Action::rename_restart}, {"preserve", Action::preserve}};
        for (auto& a : ACTIONS)
            if (v->str.equals(a.name)) {
                *out = a.a;
                return;
            }
        if (v->str.equals("coredump-destroy") || v->str.equals("coredump-restart") || v->str.equals("soft-reset"))
            error(*cfg_.find(key), "action \"%s\" is not supported by pvisor", pv::Quoted(v->str).c_str());
        else
            error(*cfg_.find(key), "unknown action \"%s\" (destroy, restart, rename-restart, preserve)",
                  pv::Quoted(v->str).c_str());
    }

    void error(const Setting& s, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
        char what[96];
        va_list ap;
        va_start(ap, fmt);
        pv::vformat(what, sizeof(what), fmt, ap);
        va_end(ap);
        diags_.error("%.*s:%u: %.*s: %s", static_cast<int>(s.source.len), s.source.ptr, s.line,
                     static_cast<int>(s.key.len), s.key.ptr, what);
        ok_ = false;
    }
    void error_unset(const char* what) {
        diags_.error("%s", what);
        ok_ = false;
    }
    void warn(const Setting& s, const char* what) {
        diags_.warn("%.*s:%u: %.*s: %s", static_cast<int>(s.source.len), s.source.ptr, s.line,
                    static_cast<int>(s.key.len), s.key.ptr, what);
    }

    const Config& cfg() const { return cfg_; }

private:
    const Config& cfg_;
    Diagnostics& diags_;
    bool ok_ = true;
};

constexpr const char* KNOWN_KEYS[] = {"name", "type", "builder", "memory", "maxmem", "vcpus", "maxvcpus", "cpus",
                                      "kernel", "ramdisk", "cmdline", "root", "extra", "on_poweroff", "on_reboot",
                                      "on_crash", "on_watchdog", "cpu_weight", "weight", "cap"};

void read_name(Reader& r, DomainConfig& out) {
    if (!r.text("name", out.name, sizeof(out.name))) {
        if (!r.cfg().find("name")) r.error_unset("Domain name must be specified (name=\"...\")");
        return;
    }
    const Setting& s = *r.cfg().find("name");
    if (!out.name[0]) r.error(s, "the name is empty");
    for (const char* p = out.name; *p; ++p)
        if (*p == '/' || static_cast<unsigned char>(*p) < 0x20 || *p == 0x7f) {
            r.error(s, "the name may not contain '/' or control characters");
            break;
        }
}

void read_type(Reader& r) {
    if (const Value* t = r.string("type")) {
        if (!t->str.equals("pv"))
            r.error(*r.cfg().find("type"), t->str.equals("pvh") || t->str.equals("hvm")
                                                ? "only type=\"pv\" domains are supported by pvisor"
                                                : "invalid domain type (pv, pvh or hvm)");
    } else if (const Value* b = r.string("builder")) {
        if (!b->str.equals("generic")) r.error(*r.cfg().find("builder"), "only builder=\"generic\" (PV) is supported");
    }
}

void read_memory(Reader& r, DomainConfig& out) {
    constexpr long long MAX_MIB = 1LL << 20;  // 1 TiB: more than any pvisor host, and no overflow in bytes
    long long n;
    if (r.number("memory", 1, MAX_MIB, &n)) out.memory_mib = out.maxmem_mib = static_cast<u64>(n);
    if (r.number("maxmem", 1, MAX_MIB, &n)) {
        out.maxmem_mib = static_cast<u64>(n);
        if (out.maxmem_mib < out.memory_mib)
            r.error(*r.cfg().find("maxmem"), "maxmem (%llu) is below memory (%llu)",
                    static_cast<unsigned long long>(out.maxmem_mib), static_cast<unsigned long long>(out.memory_mib));
    }
}

void read_vcpus(Reader& r, DomainConfig& out) {
    long long n;
    if (r.number("vcpus", 1, DomainConfig::MAX_VCPUS, &n)) out.vcpus = out.maxvcpus = static_cast<unsigned>(n);
    if (r.number("maxvcpus", 1, DomainConfig::MAX_VCPUS, &n)) {
        out.maxvcpus = static_cast<unsigned>(n);
        if (out.maxvcpus < out.vcpus)
            r.error(*r.cfg().find("maxvcpus"), "maxvcpus (%u) is below vcpus (%u)", out.maxvcpus, out.vcpus);
    }
    const Setting* s = r.cfg().find("cpus");
    if (!s) return;
    const Value& v = r.cfg().value_of(*s);
    if (v.kind == Kind::string) {
        u64 mask;
        if (!parse_cpu_list(v.str, &mask) || mask == 0) {
            r.error(*s, "invalid CPU list `%s' (\"all\", or CPUs and ranges like \"0-3,5,^1\")", pv::Quoted(v.str).c_str());
            return;
        }
        for (u64& a : out.affinity) a = mask;
        return;
    }
    for (u32 i = 0; i < v.count; ++i) {  // one entry per vCPU, as xl's list form
        const Value* item = r.cfg().item(v, i);
        u64 mask;
        if (item->kind != Kind::string || !parse_cpu_list(item->str, &mask) || mask == 0) {
            r.error(*s, "entry %u is not a CPU list (\"all\", or CPUs and ranges like \"0-3,5,^1\")", i);
            return;
        }
        if (i < DomainConfig::MAX_VCPUS) out.affinity[i] = mask;
    }
}

void read_boot(Reader& r, DomainConfig& out) {
    if (!r.text("kernel", out.kernel, sizeof(out.kernel)) && !r.cfg().find("kernel"))
        r.error_unset("no kernel given (kernel=\"...\")");
    else if (!out.kernel[0] && r.cfg().find("kernel"))
        r.error(*r.cfg().find("kernel"), "the kernel path is empty");
    r.text("ramdisk", out.ramdisk, sizeof(out.ramdisk));
    if (r.cfg().find("cmdline")) {
        r.text("cmdline", out.cmdline, sizeof(out.cmdline));
        return;
    }
    char root[DomainConfig::CMDLINE_LEN] = {}, extra[DomainConfig::CMDLINE_LEN] = {};
    bool has_root = r.text("root", root, sizeof(root));
    r.text("extra", extra, sizeof(extra));
    usize n = has_root ? pv::format(out.cmdline, sizeof(out.cmdline), "root=%s %s", root, extra)
                       : pv::format(out.cmdline, sizeof(out.cmdline), "%s", extra);
    if (n >= sizeof(out.cmdline))
        r.error(*r.cfg().find(has_root ? "root" : "extra"), "the command line is longer than %zu characters",
                sizeof(out.cmdline) - 1);
}

}  // namespace

bool read_domain_config(const Config& cfg, DomainConfig& out, Diagnostics& diags) {
    Reader r(cfg, diags);
    read_name(r, out);
    read_type(r);
    read_memory(r, out);
    read_vcpus(r, out);
    read_boot(r, out);
    r.action("on_poweroff", &out.on_poweroff);
    r.action("on_reboot", &out.on_reboot);
    r.action("on_crash", &out.on_crash);
    r.action("on_watchdog", &out.on_watchdog);
    long long n;
    if (r.number("cpu_weight", 1, 65535, &n) || r.number("weight", 1, 65535, &n)) out.weight = static_cast<unsigned>(n);
    if (r.number("cap", 0, 65535, &n)) out.cap = static_cast<unsigned>(n);
    for (usize i = 0; i < cfg.size(); ++i) {
        const Setting& s = cfg.setting(i);
        bool known = false;
        for (const char* k : KNOWN_KEYS) known |= s.key.equals(k);
        if (!known && cfg.find(s.key) == &s) r.warn(s, "unknown key, ignored");
    }
    return r.ok();
}

}  // namespace xlcfg
