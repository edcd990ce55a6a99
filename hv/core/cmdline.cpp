#include "core/cmdline.hpp"

#include "lib/format.hpp"

namespace pv {

// ---------------------------------------------------------------------------------------------
// Value parsers

namespace {


// Iterates over the sep-separated fields of a value; "a,,b" has an empty middle field and ""
// has one empty field.
class Fields {
public:
    Fields(StrView s, char sep) : rest_(s), sep_(sep) {}
    bool next(StrView* item) {
        if (done_) return false;
        usize k = rest_.find(sep_);
        *item = rest_.substr(0, k);
        if (k == rest_.len)
            done_ = true;
        else
            rest_ = rest_.substr(k + 1);
        return true;
    }

private:
    StrView rest_;
    char sep_;
    bool done_ = false;
};

bool parse_ranged(StrView s, u64 lo, u64 hi, u64* out) {
    u64 v = 0;
    if (!parse_u64(s, &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

constexpr u64 U32_MAX = std::numeric_limits<u32>::max();

// com1= / com2=.  Xen also takes PCI locations and name=value pairs; pvisor drives legacy
// I/O-port UARTs only, so those are rejected rather than half-honoured.
bool parse_serial(StrView v, SerialConfig& cfg) {
    SerialConfig c = cfg;
    c.given = true;
    Fields fields(v, ',');
    StrView item;
    u64 n = 0;

    fields.next(&item);
    usize slash = item.find('/');
    StrView baud = item.substr(0, slash);
    if (baud.equals("auto")) {
        c.baud = SerialConfig::BAUD_AUTO;
    } else if (!baud.empty()) {  // empty: keep the default, as Xen's ns16550 does
        if (!parse_ranged(baud, 1, U32_MAX, &n)) return false;
        c.baud = static_cast<u32>(n);
    }
    if (slash < item.len) {
        if (!parse_ranged(item.substr(slash + 1), 1, U32_MAX, &n)) return false;
        c.base_baud = static_cast<u32>(n);
    }
    // The divisor is base_baud / baud; it must not come out as zero.
    if (c.baud != SerialConfig::BAUD_AUTO && c.baud > c.base_baud) return false;

    if (fields.next(&item) && !item.empty()) {
        if (item.len != 3) return false;
        if (item[0] < '5' || item[0] > '8') return false;
        if (StrView("noems").find(item[1]) == 5) return false;
        if (item[2] != '1' && item[2] != '2') return false;
        c.data_bits = static_cast<u8>(item[0] - '0');
        c.parity = item[1];
        c.stop_bits = static_cast<u8>(item[2] - '0');
    }
    if (fields.next(&item) && !item.empty()) {
        if (!parse_ranged(item, 1, 0xffff, &n)) return false;
        c.io_base = static_cast<u16>(n);
    }
    if (fields.next(&item) && !item.empty()) {
        if (!parse_ranged(item, 0, 255, &n)) return false;
        c.irq = static_cast<u8>(n);
    }
    if (fields.next(&item)) return false;
    cfg = c;
    return true;
}

bool parse_com1(StrView v, BootOptions& out, Diagnostics&) { return parse_serial(v, out.com1); }
bool parse_com2(StrView v, BootOptions& out, Diagnostics&) { return parse_serial(v, out.com2); }

bool parse_console(StrView v, BootOptions& out, Diagnostics& diags) {
    ConsoleSet c{.com1 = false, .com2 = false, .vga = false};
    Fields fields(v, ',');
    StrView item;
    while (fields.next(&item)) {
        if (item.equals("com1")) {
            c.com1 = true;
        } else if (item.equals("com2")) {
            c.com2 = true;
        } else if (item.equals("vga")) {
            c.vga = true;
        } else if (item.equals("none")) {
            // Contributes nothing: "none" on its own leaves the set empty.
        } else if (item.len == 5 && (item.starts_with("com1") || item.starts_with("com2")) &&
                   (item[4] == 'H' || item[4] == 'L')) {
            // Xen's high-bit port sharing with a debugger; pvisor has no debugger to share with.
            (item[3] == '1' ? c.com1 : c.com2) = true;
            diags.add(Severity::warning, "console: '%s' not supported, using com%c",
                      Quoted(item).c_str(), item[3]);
        } else if (item.equals("pv") || item.equals("dbgp") || item.equals("ehci") ||
                   item.equals("xhci")) {
            // Valid for Xen, so not an error, but there is no such driver here.
            diags.add(Severity::warning, "console: '%s' not supported, ignored",
                      Quoted(item).c_str());
        } else {
            return false;
        }
    }
    out.console = c;
    return true;
}

bool parse_level_name(StrView s, u8* out) {
    LogLevel lvl = LogLevel::error;
    bool none = false;
    if (!console::parse_level(s.ptr, s.len, &lvl, &none)) return false;
    *out = none ? LogLevels::NONE : static_cast<u8>(lvl);
    return true;
}

bool parse_loglevels(StrView v, LogLevels& out) {
    LogLevels l;
    usize slash = v.find('/');
    if (!parse_level_name(v.substr(0, slash), &l.lower)) return false;
    l.upper = l.lower;
    if (slash < v.len && !parse_level_name(v.substr(slash + 1), &l.upper)) return false;
    if (l.upper < l.lower) l.upper = l.lower;  // as Xen's _parse_loglvl
    out = l;
    return true;
}

bool parse_loglvl(StrView v, BootOptions& out, Diagnostics&) {
    return parse_loglevels(v, out.loglvl);
}
bool parse_guest_loglvl(StrView v, BootOptions& out, Diagnostics&) {
    return parse_loglevels(v, out.guest_loglvl);
}

// [-]<size> | [-][<size>+]<frac>%, as Xen 4.17's parse_amt.
bool parse_amount(StrView s, MemAmount* out) {
    MemAmount a;
    a.set = true;
    if (!s.empty() && s[0] == '-') {
        a.minus = true;
        s = s.substr(1);
    }
    if (s.empty()) return false;
    if (s[s.len - 1] == '%') {
        s = s.substr(0, s.len - 1);
        usize plus = s.find('+');
        if (plus < s.len && !parse_size(s.substr(0, plus), &a.bytes)) return false;
        u64 pct = 0;
        if (!parse_ranged(plus < s.len ? s.substr(plus + 1) : s, 0, 99, &pct)) return false;
        a.percent = static_cast<u32>(pct);
    } else if (!parse_size(s, &a.bytes)) {
        return false;
    }
    *out = a;
    return true;
}

// Items accumulate over repeated dom0_mem= options, as in Xen; a bad item discards the whole
// value.
bool parse_dom0_mem(StrView v, BootOptions& out, Diagnostics&) {
    Dom0Mem m = out.dom0_mem;
    Fields fields(v, ',');
    StrView item;
    while (fields.next(&item)) {
        bool ok = item.starts_with("min:")   ? parse_amount(item.substr(4), &m.min)
                  : item.starts_with("max:") ? parse_amount(item.substr(4), &m.max)
                                             : parse_amount(item, &m.amount);
        if (!ok) return false;
    }
    out.dom0_mem = m;
    return true;
}

// <n> | <min>- | -<max> | <min>-<max>, as Xen's parse_dom0_max_vcpus (a minimum of 0 means 1).
// A maximum of 0 or a range written backwards is rejected; across separate options max wins,
// as in Xen.
bool parse_dom0_max_vcpus(StrView v, BootOptions& out, Diagnostics&) {
    Dom0Vcpus r = out.dom0_max_vcpus;
    u64 n = 0;
    usize dash = v.find('-');
    StrView lo = v.substr(0, dash);
    if (dash == v.len) {
        if (!parse_ranged(lo, 0, U32_MAX, &n)) return false;
        r.min = r.max = n ? static_cast<u32>(n) : 1;
    } else {
        StrView hi = v.substr(dash + 1);
        if (lo.empty() && hi.empty()) return false;
        if (!lo.empty()) {
            if (!parse_ranged(lo, 0, U32_MAX, &n)) return false;
            r.min = n ? static_cast<u32>(n) : 1;
        }
        if (!hi.empty()) {
            if (!parse_ranged(hi, 1, U32_MAX, &n)) return false;  // Xen would accept 0 vCPUs
            r.max = static_cast<u32>(n);
        }
        if (!lo.empty() && !hi.empty() && r.min > r.max) return false;
    }
    out.dom0_max_vcpus = r;
    return true;
}

bool parse_conswitch(StrView v, BootOptions& out, Diagnostics&) {
    ConsoleSwitch r;
    if (v.len < 1 || v.len > 2) return false;
    if (v[0] == '`') r.switch_char = 0;
    else if (v[0] >= 'a' && v[0] <= 'z') r.switch_char = static_cast<char>(v[0] - 'a' + 1);
    else return false;
    if (v.len == 2) {
        if (v[1] != 'x') return false;
        r.to_dom0_at_boot = false;
    }
    out.conswitch = r;
    return true;
}

// ---------------------------------------------------------------------------------------------
// The table

constexpr const char* TIMESTAMP_NAMES[] = {"none", "date", "datems", "boot", "raw"};
static_assert(array_size(TIMESTAMP_NAMES) == static_cast<usize>(ConsoleTimestamps::raw) + 1);

constexpr OptionSpec OPTIONS[] = {
    custom_option("console", "List of [ com1 | com2 | vga | none ]: where the console goes",
                  parse_console),
    custom_option("com1", "<baud>|auto[/<base-baud>][,DPS[,<io-base>[,<irq>]]]: first UART",
                  parse_com1),
    custom_option("com2", "<baud>|auto[/<base-baud>][,DPS[,<io-base>[,<irq>]]]: second UART",
                  parse_com2),
    custom_option("loglvl", "<level>[/<rate-limited level>]: none error warning info debug all",
                  parse_loglvl),
    custom_option("guest_loglvl", "<level>[/<rate-limited level>]: for guests' messages",
                  parse_guest_loglvl),
    choice_option<&BootOptions::console_timestamps>(
        "console_timestamps", "none | date | datems | boot | raw: stamp each console line",
        TIMESTAMP_NAMES, static_cast<usize>(ConsoleTimestamps::date)),
    flag_option<&BootOptions::sync_console>("sync_console",
                                            "<boolean>: write console output synchronously"),
    flag_option<&BootOptions::noreboot>("noreboot",
                                        "<boolean>: halt instead of rebooting on a crash"),
    flag_option<&BootOptions::nosmp>("nosmp", "<boolean>: use the boot CPU only"),
    uint_option<&BootOptions::maxcpus>("maxcpus", "<integer>: bring up at most this many CPUs", 1),
    size_option<&BootOptions::availmem>("availmem", "<size>: use at most this much RAM (0: all)"),
    custom_option("dom0_mem", "List of ( min:<sz> | max:<sz> | <sz> ): dom0's memory",
                  parse_dom0_mem),
    custom_option("dom0_max_vcpus", "<integer> | <min>-<max>: dom0's vCPU count",
                  parse_dom0_max_vcpus),
    custom_option("conswitch", "<switch char>[x]: Ctrl-<char> x3 switches serial input; x: keep it at boot",
                  parse_conswitch),
    string_option<&BootOptions::selftest>("selftest", "<name>: force the named fault at boot"),
};

const OptionSpec* find_option(StrView name) {
    for (const auto& o : OPTIONS)
        if (name.equals(o.name)) return &o;
    return nullptr;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void bad_value(Diagnostics& diags, StrView key, StrView value, const char* why = "") {
    diags.add(Severity::error, "%s: bad value '%s'%s", Quoted(key).c_str(), Quoted(value).c_str(),
              why);
}

void apply(const OptionSpec& o, StrView key, bool negated, bool has_value, StrView value,
           BootOptions& out, Diagnostics& diags) {
    if (negated && o.kind != OptionKind::boolean && o.kind != OptionKind::custom) {
        diags.add(Severity::error, "%s: not a boolean option", Quoted(key).c_str());
        return;
    }
    bool needs_value = o.kind == OptionKind::uint || o.kind == OptionKind::size ||
                       (o.kind == OptionKind::choice && o.bare_choice >= o.choice_count);
    if (needs_value && !has_value) {
        diags.add(Severity::error, "%s: missing value", Quoted(key).c_str());
        return;
    }

    switch (o.kind) {
    case OptionKind::boolean: {
        bool v = true;
        if (has_value) {
            int b = parse_bool(value);
            if (b < 0) return bad_value(diags, key, value);
            v = b != 0;
        }
        // As Xen: "no-x=0" asserts x (the documentation calls the combination undefined).
        o.store_number(out, negated ? !v : v);
        return;
    }
    case OptionKind::uint:
    case OptionKind::size: {
        u64 v = 0;
        bool ok = o.kind == OptionKind::uint ? parse_u64(value, &v) : parse_size(value, &v);
        if (!ok) return bad_value(diags, key, value);
        if (v < o.min || v > o.max) {
            diags.add(Severity::error, "%s: bad value '%s' (range %llu-%llu)", Quoted(key).c_str(),
                      Quoted(value).c_str(), static_cast<unsigned long long>(o.min),
                      static_cast<unsigned long long>(o.max));
            return;
        }
        o.store_number(out, v);
        return;
    }
    case OptionKind::string:
        if (value.len >= o.capacity) return bad_value(diags, key, value, " (too long)");
        o.store_string(out, value);
        return;
    case OptionKind::choice:
        if (!has_value) {
            o.store_number(out, o.bare_choice);
            return;
        }
        for (usize i = 0; i < o.choice_count; ++i) {
            if (value.equals(o.choices[i])) {
                o.store_number(out, i);
                return;
            }
        }
        return bad_value(diags, key, value);
    case OptionKind::custom:
        // As Xen: a negated custom option is given the value "no", and cannot have another.
        if (negated) {
            if (has_value) return bad_value(diags, key, value);
            value = "no";
            has_value = true;
        }
        if (!o.parse(value, out, diags)) {
            if (!has_value)
                diags.add(Severity::error, "%s: missing value", Quoted(key).c_str());
            else
                bad_value(diags, key, value);
        }
        return;
    }
}

void parse_token(StrView tok, BootOptions& out, Diagnostics& diags) {
    usize eq = tok.find('=');
    StrView key = tok.substr(0, eq);
    bool has_value = eq < tok.len;
    StrView value = has_value ? tok.substr(eq + 1) : tok.substr(tok.len);

    // An exact name wins over a "no-" reading of it.
    bool negated = false;
    const OptionSpec* o = find_option(key);
    if (!o && key.starts_with("no-")) {
        o = find_option(key.substr(3));
        negated = o != nullptr;
    }
    if (!o) {
        diags.add(Severity::warning, "unknown option '%s'", Quoted(key).c_str());
        return;
    }
    apply(*o, key, negated, has_value, value, out, diags);
}

void keep_dom0_cmdline(StrView rest, BootOptions& out, Diagnostics& diags) {
    usize b = 0, e = rest.len;
    while (b < e && is_space(rest[b])) ++b;
    while (e > b && is_space(rest[e - 1])) --e;
    constexpr usize CAP = BootOptions::DOM0_CMDLINE_LEN - 1;
    usize n = e - b;
    if (n > CAP) {
        diags.add(Severity::warning, "dom0 command line truncated to %zu characters", CAP);
        n = CAP;
    }
    mem_copy(out.dom0_cmdline, rest.ptr + b, n);
    out.dom0_cmdline[n] = '\0';
}

}  // namespace

// ---------------------------------------------------------------------------------------------

int parse_bool(StrView s) {
    static constexpr const char* YES[] = {"1", "on", "yes", "true", "enable"};
    static constexpr const char* NO[] = {"0", "no", "off", "false", "disable"};
    for (const char* y : YES)
        if (s.equals(y)) return 1;
    for (const char* n : NO)
        if (s.equals(n)) return 0;
    return -1;
}

OptionTable boot_option_table() { return {OPTIONS, array_size(OPTIONS)}; }

namespace {

// Xen keeps its own part of the line whole, cut where " -- " starts dom0's.
void save_cmdline(StrView line, BootOptions& out) {
    while (line.len && is_space(line[line.len - 1])) line = line.substr(0, line.len - 1);
    const usize n = min(line.len, sizeof(out.saved_cmdline) - 1);
    if (n) mem_copy(out.saved_cmdline, line.ptr, n);
    out.saved_cmdline[n] = '\0';
}

}  // namespace

void parse_cmdline(StrView cmdline, BootOptions& out, Diagnostics& diags) {
    StrView line = cmdline.substr(0, cmdline.find('\0'));
    save_cmdline(line, out);
    usize i = 0;
    for (;;) {
        while (i < line.len && is_space(line[i])) ++i;
        if (i == line.len) break;
        usize start = i;
        while (i < line.len && !is_space(line[i])) ++i;
        StrView tok = line.substr(start, i - start);
        if (tok.equals("--")) {
            save_cmdline(line.substr(0, start), out);
            keep_dom0_cmdline(line.substr(i), out, diags);
            break;
        }
        parse_token(tok, out, diags);
    }
}

// ---------------------------------------------------------------------------------------------
// dom0_mem arithmetic

u64 MemAmount::resolve(u64 avail) const {
    // percent < 100, so neither product overflows.
    u64 share = avail / 100 * percent + avail % 100 * percent / 100;
    u64 total = 0;
    if (add_overflows(bytes, share, &total)) total = std::numeric_limits<u64>::max();
    if (!minus) return total;
    return total >= avail ? 0 : avail - total;
}

u64 Dom0Mem::resolve(u64 avail) const {
    // A zero amount, however written, means "not given" in Xen too.
    u64 nr = amount.set ? amount.resolve(avail) : 0;
    if (nr == 0) nr = avail - pv::min(avail / 16, 128 * MiB);
    if (min.set) nr = pv::max(nr, min.resolve(avail));
    if (max.set) nr = pv::min(nr, max.resolve(avail));
    return pv::min(nr, avail);
}

}  // namespace pv
