// The hypervisor command line, parsed the way Xen parses its own (xen/common/kernel.c,
// parse_params; option syntax from docs/misc/xen-command-line.pandoc), into a BootOptions.
//
// Design.  Options are space-separated `name`, `name=value` or `no-name` tokens, matched against
// one declarative table (name, kind, target member, help) — the counterpart of Xen's
// boolean_param/integer_param/size_param/string_param/custom_param sections.  There is no
// quoting (Xen has none either), and a `--` token ends the hypervisor's options: what follows it
// is kept for dom0's command line, as Xen does with " -- ".  Later occurrences of an option
// override earlier ones.
//
// The command line comes from whoever wrote the boot loader configuration, so the parser treats
// it as untrusted: tokens are views into the input (nothing is copied into fixed buffers except
// string values, whose length is checked), every number is overflow- and range-checked, and a
// value is parsed completely before anything is stored, so a bad value leaves the option at its
// previous setting.  Nothing is printed: unknown options (warnings, as in Xen they are not
// fatal) and bad values (errors) are collected in a Diagnostics list for the caller to log —
// the console is not even configured when this runs — and for the unit tests to assert.
#pragma once
#include <limits>
#include <type_traits>

#include "core/console.hpp"
#include "core/diagnostics.hpp"
#include "lib/string.hpp"
#include "lib/types.hpp"

namespace pv {

// ---------------------------------------------------------------------------------------------
// The parsed options.  Member initialisers are the defaults.

// console= (Xen: List of [ vga | com1[H,L] | com2[H,L] | pv | dbgp | none ]).
struct ConsoleSet {
    bool com1 = true;
    bool com2 = false;
    bool vga = true;
};

// com1= / com2= (Xen: <baud>[/<base-baud>][,[DPS][,[<io-base>][,[<irq>]]]]).
struct SerialConfig {
    static constexpr u32 BAUD_AUTO = 0;  // keep what firmware or the boot loader set up
    bool given = false;                  // appeared on the command line
    u32 baud = 115200;
    u32 base_baud = 115200;  // the UART clock / 16
    u8 data_bits = 8;
    char parity = 'n';  // n o e m s
    u8 stop_bits = 1;
    u16 io_base = 0;
    u8 irq = 0;  // 0: polled
};

// loglvl= / guest_loglvl= (Xen: <level>[/<rate-limited level>]).  A level is 0 for "none" or a
// LogLevel value.  Messages at or below `lower` always print; those up to `upper` print
// rate-limited; the rest are dropped.  Xen keeps upper >= lower.
struct LogLevels {
    static constexpr u8 NONE = 0;
    u8 lower = NONE;
    u8 upper = NONE;
};

enum class ConsoleTimestamps : u8 { none, date, datems, boot, raw };

// One dom0_mem amount (Xen 4.17: [-]<size> | [-][<size>+]<frac>%): `bytes` plus `percent` of
// the memory available to dom0 or, when `minus`, all available memory but that.
struct MemAmount {
    bool set = false;
    bool minus = false;
    u64 bytes = 0;
    u32 percent = 0;  // < 100

    // The amount on a host with `avail` bytes available (Xen's get_memsize); "all but" more
    // than there is gives 0 where Xen's arithmetic would wrap, and overflow saturates.
    u64 resolve(u64 avail) const;
};

// dom0_mem=[min:<sz>,][max:<sz>,][<sz>]
struct Dom0Mem {
    MemAmount amount;
    MemAmount min;
    MemAmount max;

    // dom0's initial allocation in bytes with `avail` available, as Xen's dom0_compute_nr_pages:
    // without an amount, all but min(avail / 16, 128 MiB); then at least min, at most max and
    // never more than avail (max wins over min).
    u64 resolve(u64 avail) const;
};

// dom0_max_vcpus=<n> | <min>-<max> (either bound may be omitted): dom0 gets one vCPU per pCPU,
// clamped to [min, max].
struct Dom0Vcpus {
    u32 min = 1;
    u32 max = std::numeric_limits<u32>::max();
};

// conswitch=<char>[x] (Xen's syntax): typing Ctrl-<char> three times switches serial input
// between the hypervisor and domain 0 ('a'-'z'; '`' means never); an 'x' after it keeps input
// with the hypervisor at the end of boot instead of giving it to domain 0.
struct ConsoleSwitch {
    char switch_char = 0x01;  // Ctrl-A; 0: no switching
    bool to_dom0_at_boot = true;
};

struct BootOptions {
    static constexpr usize SELFTEST_LEN = 32;
    static constexpr usize DOM0_CMDLINE_LEN = 1024;  // Xen's COMMAND_LINE_SIZE

    ConsoleSet console;
    SerialConfig com1{.io_base = 0x3f8, .irq = 4};
    SerialConfig com2{.io_base = 0x2f8, .irq = 3};
    LogLevels loglvl{.lower = static_cast<u8>(LogLevel::info),
                     .upper = static_cast<u8>(LogLevel::info)};
    LogLevels guest_loglvl{.lower = LogLevels::NONE, .upper = static_cast<u8>(LogLevel::warning)};
    ConsoleTimestamps console_timestamps = ConsoleTimestamps::none;
    bool sync_console = false;
    bool noreboot = false;
    bool nosmp = false;
    u32 maxcpus = std::numeric_limits<u32>::max();  // no limit
    u64 availmem = 0;                               // clamp usable RAM to this; 0 = no limit
    Dom0Mem dom0_mem;
    Dom0Vcpus dom0_max_vcpus;
    ConsoleSwitch conswitch;
    // pvisor only: force the named fault at boot, to test the crash paths.
    char selftest[SELFTEST_LEN] = {};
    // Everything after "--", for dom0's command line.
    char dom0_cmdline[DOM0_CMDLINE_LEN] = {};
    // The hypervisor's own part, before "--" (trailing blanks dropped): Xen's saved_cmdline,
    // what XENVER_commandline answers to domain 0 (and `xl info` shows as xen_commandline).
    char saved_cmdline[DOM0_CMDLINE_LEN] = {};
};

// The options the hypervisor booted with (parsed once, at boot).
const BootOptions& boot_options();

// ---------------------------------------------------------------------------------------------
// The option table.

enum class OptionKind : u8 { boolean, uint, size, string, choice, custom };

// A custom option's parser: stores into `out` and returns true, or returns false (the caller
// reports the bad value) leaving `out` untouched.  It may add warnings of its own.
using CustomParser = bool (*)(StrView value, BootOptions& out, Diagnostics& diags);

struct OptionSpec {
    const char* name = nullptr;
    OptionKind kind = OptionKind::boolean;
    const char* help = nullptr;
    // boolean, uint, size, choice: stores a checked value into the target member.
    void (*store_number)(BootOptions&, u64) = nullptr;
    // string: stores a value known to fit.
    void (*store_string)(BootOptions&, StrView) = nullptr;
    usize capacity = 0;  // string: the member's size, terminator included
    u64 min = 0;         // uint, size: accepted range
    u64 max = 0;
    const char* const* choices = nullptr;  // choice: value i stores i
    usize choice_count = 0;
    usize bare_choice = ~usize{0};  // choice: stored when the option is given without a value
    CustomParser parse = nullptr;
};

struct OptionTable {
    const OptionSpec* items;
    usize count;
};

// The options pvisor understands (for listing them, and for the tests).
OptionTable boot_option_table();

// Parses `cmdline` (the hypervisor's arguments, the image name already removed — see
// cmdline_cook in bootinfo.hpp) into `out`, which holds the defaults or earlier settings.
// Parsing stops at a NUL character.
void parse_cmdline(StrView cmdline, BootOptions& out, Diagnostics& diags);

// Xen's parse_bool: 1/0, yes/no, on/off, true/false, enable/disable.  -1 when none of these.
int parse_bool(StrView s);

// ---------------------------------------------------------------------------------------------
// Table construction: a row names its target member as a template argument, so the member's
// type is checked when the table is compiled.

namespace option_detail {
template <typename M> struct MemberOf;
template <typename C, typename T> struct MemberOf<T C::*> { using type = T; };
template <auto M> using member_t = typename MemberOf<decltype(M)>::type;

template <auto M> void store_number(BootOptions& o, u64 v) {
    using T = member_t<M>;
    if constexpr (std::is_same_v<T, bool>)
        o.*M = v != 0;
    else
        o.*M = static_cast<T>(v);
}

template <auto M> void store_string(BootOptions& o, StrView v) {
    char* dst = o.*M;
    mem_copy(dst, v.ptr, v.len);
    dst[v.len] = '\0';
}
}  // namespace option_detail

template <auto M> constexpr OptionSpec flag_option(const char* name, const char* help) {
    static_assert(std::is_same_v<option_detail::member_t<M>, bool>);
    OptionSpec s;
    s.name = name;
    s.kind = OptionKind::boolean;
    s.help = help;
    s.store_number = &option_detail::store_number<M>;
    return s;
}

template <auto M>
constexpr OptionSpec uint_option(const char* name, const char* help, u64 min = 0,
                                 u64 max = std::numeric_limits<option_detail::member_t<M>>::max()) {
    using T = option_detail::member_t<M>;
    static_assert(std::is_unsigned_v<T> && !std::is_same_v<T, bool>);
    OptionSpec s;
    s.name = name;
    s.kind = OptionKind::uint;
    s.help = help;
    s.store_number = &option_detail::store_number<M>;
    s.min = min;
    s.max = max < std::numeric_limits<T>::max() ? max : std::numeric_limits<T>::max();
    return s;
}

template <auto M> constexpr OptionSpec size_option(const char* name, const char* help, u64 min = 0,
                                                   u64 max = std::numeric_limits<u64>::max()) {
    static_assert(std::is_same_v<option_detail::member_t<M>, u64>);
    OptionSpec s = uint_option<M>(name, help, min, max);
    s.kind = OptionKind::size;
    return s;
}

template <auto M> constexpr OptionSpec string_option(const char* name, const char* help) {
    using T = option_detail::member_t<M>;
    static_assert(std::is_array_v<T> && std::is_same_v<std::remove_extent_t<T>, char>);
    OptionSpec s;
    s.name = name;
    s.kind = OptionKind::string;
    s.help = help;
    s.store_string = &option_detail::store_string<M>;
    s.capacity = std::extent_v<T>;
    return s;
}

// `names[i]` stores enumerator i; `bare` (an index, or none) is used when no value is given.
template <auto M, usize N> constexpr OptionSpec choice_option(const char* name, const char* help,
                                                              const char* const (&names)[N],
                                                              usize bare = ~usize{0}) {
    static_assert(std::is_enum_v<option_detail::member_t<M>>);
    OptionSpec s;
    s.name = name;
    s.kind = OptionKind::choice;
    s.help = help;
    s.store_number = &option_detail::store_number<M>;
    s.choices = names;
    s.choice_count = N;
    s.bare_choice = bare;
    return s;
}

constexpr OptionSpec custom_option(const char* name, const char* help, CustomParser parse) {
    OptionSpec s;
    s.name = name;
    s.kind = OptionKind::custom;
    s.help = help;
    s.parse = parse;
    return s;
}

}  // namespace pv
