#include "core/bootinfo.hpp"

#include "lib/format.hpp"

namespace pv {
namespace {

// A Multiboot2 structure larger than this is taken as corrupt.  Real ones are a few KiB, even
// with a large EFI memory map tag; the limit bounds the tag walk.
constexpr u32 MB2_MAX_TOTAL_SIZE = 1024 * 1024;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

u32 load_u32(const u8* p) {
    u32 v = 0;
    mem_copy(&v, p, sizeof v);
    return v;
}

u64 load_u64(const u8* p) {
    u64 v = 0;
    mem_copy(&v, p, sizeof v);
    return v;
}

bool read_phys(const PhysMemory& mem, u64 pa, void* dst, usize len) {
    const void* p = mem.map(pa, len);
    if (!p) return false;
    mem_copy(dst, p, len);
    return true;
}

enum class StrStatus { ok, truncated, unterminated, unreadable };

// Copies the NUL-terminated string at pa into buf.  Memory is mapped a page at a time, and no
// further than the buffer needs, so a short string just below unreadable memory is still found
// and a missing terminator costs at most `cap` bytes of reading.
StrStatus copy_phys_string(const PhysMemory& mem, u64 pa, char* buf, usize cap) {
    usize n = 0;
    for (;;) {
        u64 addr = 0;
        if (add_overflows(pa, u64{n}, &addr)) break;
        u64 to_page_end = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
        usize chunk = static_cast<usize>(pv::min<u64>(to_page_end, cap - n));
        const auto* p = static_cast<const char*>(mem.map(addr, chunk));
        if (!p) break;
        for (usize k = 0; k < chunk; ++k) {
            if (p[k] == '\0') {
                buf[n] = '\0';
                return StrStatus::ok;
            }
            if (n == cap - 1) {
                buf[n] = '\0';
                return StrStatus::truncated;
            }
            buf[n++] = p[k];
        }
    }
    // Whatever was read runs into memory that cannot be read: not a string to trust.
    buf[0] = '\0';
    return StrStatus::unreadable;
}

// Copies a string held in [p, p + n) (a Multiboot2 tag's payload) into buf.
StrStatus copy_inline_string(const u8* p, usize n, char* buf, usize cap) {
    usize len = 0;
    while (len < n && p[len] != 0) ++len;
    StrStatus st = len == n ? StrStatus::unterminated : StrStatus::ok;
    if (len > cap - 1) {
        len = cap - 1;
        if (st == StrStatus::ok) st = StrStatus::truncated;
    }
    mem_copy(buf, p, len);
    buf[len] = '\0';
    return st;
}

class Parser {
public:
    Parser(const PhysMemory& mem, BootInfo& out, Diagnostics& diags, const char* proto)
        : mem_(mem), out_(out), diags_(diags), proto_(proto) {}

    Result<void> multiboot1(u64 info_pa);
    Result<void> multiboot2(u64 info_pa);

private:
    void report_string(StrStatus st, const char* what, usize cap);
    BootModule* add_module(usize index, u64 start, u64 end);
    // False once the map is full, so callers stop walking.
    bool add_range(u64 base, u64 length, u32 type);
    void mb1_modules(u32 count, u32 addr);
    void mb1_memory_map(u32 length, u32 addr);
    void mb2_tag(u32 type, const u8* tag, usize size, usize off);
    void mb2_memory_map(const u8* tag, usize size, usize off);

    const PhysMemory& mem_;
    BootInfo& out_;
    Diagnostics& diags_;
    const char* proto_;
    usize modules_seen_ = 0;
    bool modules_full_ = false;
    bool ranges_full_ = false;
};

void Parser::report_string(StrStatus st, const char* what, usize cap) {
    switch (st) {
    case StrStatus::ok:
        return;
    case StrStatus::truncated:
        diags_.add(Severity::warning, "%s: %s truncated to %zu characters", proto_, what, cap - 1);
        return;
    case StrStatus::unterminated:
        diags_.add(Severity::warning, "%s: %s not NUL-terminated", proto_, what);
        return;
    case StrStatus::unreadable:
        diags_.add(Severity::error, "%s: %s unreadable, ignored", proto_, what);
        return;
    }
}

BootModule* Parser::add_module(usize index, u64 start, u64 end) {
    if (end < start) {
        diags_.add(Severity::error, "%s: module %zu ends (%#llx) before it starts (%#llx), ignored",
                   proto_, index, static_cast<unsigned long long>(end),
                   static_cast<unsigned long long>(start));
        return nullptr;
    }
    if (out_.module_count == BootInfo::MAX_MODULES) {
        if (!modules_full_)
            diags_.add(Severity::error, "%s: more than %zu modules, module %zu and later ignored",
                       proto_, BootInfo::MAX_MODULES, index);
        modules_full_ = true;
        return nullptr;
    }
    BootModule& m = out_.modules[out_.module_count++];
    m.start = start;
    m.end = end;
    m.cmdline[0] = '\0';
    return &m;
}

bool Parser::add_range(u64 base, u64 length, u32 type) {
    if (out_.memory_map_count == BootInfo::MAX_MEMORY_RANGES) {
        if (!ranges_full_)
            diags_.add(Severity::error, "%s: more than %zu memory map entries, the rest ignored",
                       proto_, BootInfo::MAX_MEMORY_RANGES);
        ranges_full_ = true;
        return false;
    }
    u64 last = 0;
    if (length && add_overflows(base, length - 1, &last)) {
        diags_.add(Severity::error, "%s: memory range %#llx+%#llx wraps, ignored", proto_,
                   static_cast<unsigned long long>(base), static_cast<unsigned long long>(length));
        return true;
    }
    if (length == 0) return true;  // says nothing; some firmware emits them
    out_.memory_map[out_.memory_map_count++] = {base, length, type};
    return true;
}

// ---------------------------------------------------------------------------------------------
// Multiboot 1

Result<void> Parser::multiboot1(u64 info_pa) {
    namespace mb = multiboot1;
    u8 raw[mb::OFF_LOADER_NAME + 4];
    u32 flags = 0;
    if (!read_phys(mem_, info_pa, &flags, sizeof flags)) {
        diags_.add(Severity::error, "%s: information at %#llx unreadable", proto_,
                   static_cast<unsigned long long>(info_pa));
        return error(XEN_EFAULT);
    }
    // Only as much of the structure as the flags say is there: a loader that sets few flags may
    // put it right below memory we cannot read.
    usize need = (flags & mb::INFO_LOADER_NAME) ? mb::OFF_LOADER_NAME + 4
                 : (flags & mb::INFO_MEM_MAP)   ? mb::OFF_MMAP_ADDR + 4
                 : (flags & mb::INFO_MODS)      ? mb::OFF_MODS_ADDR + 4
                 : (flags & mb::INFO_CMDLINE)   ? mb::OFF_CMDLINE + 4
                                                : mb::OFF_MEM_UPPER + 4;
    if (!read_phys(mem_, info_pa, raw, need)) {
        diags_.add(Severity::error, "%s: information at %#llx (%zu bytes) unreadable", proto_,
                   static_cast<unsigned long long>(info_pa), need);
        return error(XEN_EFAULT);
    }

    if (flags & mb::INFO_MEMORY) {
        out_.has_basic_meminfo = true;
        out_.mem_lower_kib = load_u32(raw + mb::OFF_MEM_LOWER);
        out_.mem_upper_kib = load_u32(raw + mb::OFF_MEM_UPPER);
    }
    if (flags & mb::INFO_CMDLINE) {
        if (u32 pa = load_u32(raw + mb::OFF_CMDLINE))
            report_string(copy_phys_string(mem_, pa, out_.cmdline, BootInfo::CMDLINE_LEN),
                          "command line", BootInfo::CMDLINE_LEN);
    }
    if (flags & mb::INFO_MODS)
        mb1_modules(load_u32(raw + mb::OFF_MODS_COUNT), load_u32(raw + mb::OFF_MODS_ADDR));
    if (flags & mb::INFO_MEM_MAP)
        mb1_memory_map(load_u32(raw + mb::OFF_MMAP_LENGTH), load_u32(raw + mb::OFF_MMAP_ADDR));
    if (flags & mb::INFO_LOADER_NAME) {
        if (u32 pa = load_u32(raw + mb::OFF_LOADER_NAME))
            report_string(copy_phys_string(mem_, pa, out_.loader_name, BootInfo::LOADER_NAME_LEN),
                          "boot loader name", BootInfo::LOADER_NAME_LEN);
    }
    return ok();
}

void Parser::mb1_modules(u32 count, u32 addr) {
    namespace mb = multiboot1;
    // Entries are read one by one and no more than fit, so a huge count neither overflows
    // count * 16 nor takes long.
    if (count > BootInfo::MAX_MODULES)
        diags_.add(Severity::error, "%s: %u modules, only the first %zu used", proto_, count,
                   BootInfo::MAX_MODULES);
    usize n = pv::min<usize>(count, BootInfo::MAX_MODULES);
    for (usize i = 0; i < n; ++i) {
        u8 e[mb::MODULE_SIZE];
        u64 pa = u64{addr} + i * mb::MODULE_SIZE;
        if (!read_phys(mem_, pa, e, sizeof e)) {
            diags_.add(Severity::error, "%s: module %zu entry at %#llx unreadable, %zu of %u used",
                       proto_, i, static_cast<unsigned long long>(pa), out_.module_count, count);
            return;
        }
        BootModule* m = add_module(i, load_u32(e), load_u32(e + 4));
        if (!m) continue;
        if (u32 spa = load_u32(e + 8)) {
            char what[32];
            format(what, sizeof what, "module %zu command line", i);
            report_string(copy_phys_string(mem_, spa, m->cmdline, BootModule::CMDLINE_LEN), what,
                          BootModule::CMDLINE_LEN);
        }
    }
}

void Parser::mb1_memory_map(u32 length, u32 addr) {
    namespace mb = multiboot1;
    // Each step consumes at least 4 + MMAP_ENTRY_MIN bytes of a bounded length, and add_range
    // stops the walk when the output is full.
    u64 off = 0;
    while (off < length) {
        u64 pa = u64{addr} + off;
        u64 left = length - off;
        u32 size = 0;
        if (left < 4 + mb::MMAP_ENTRY_MIN) {
            diags_.add(Severity::error, "%s: memory map: %llu stray bytes at offset %llu", proto_,
                       static_cast<unsigned long long>(left), static_cast<unsigned long long>(off));
            return;
        }
        if (!read_phys(mem_, pa, &size, sizeof size)) {
            diags_.add(Severity::error, "%s: memory map entry at %#llx unreadable", proto_,
                       static_cast<unsigned long long>(pa));
            return;
        }
        if (size < mb::MMAP_ENTRY_MIN) {
            diags_.add(Severity::error, "%s: memory map entry at offset %llu: size %u < %zu",
                       proto_, static_cast<unsigned long long>(off), size, mb::MMAP_ENTRY_MIN);
            return;
        }
        if (size > left - 4) {
            diags_.add(Severity::error,
                       "%s: memory map entry at offset %llu: size %u runs past mmap_length %u",
                       proto_, static_cast<unsigned long long>(off), size, length);
            return;
        }
        u8 e[mb::MMAP_ENTRY_MIN];
        if (!read_phys(mem_, pa + 4, e, sizeof e)) {
            diags_.add(Severity::error, "%s: memory map entry at %#llx unreadable", proto_,
                       static_cast<unsigned long long>(pa));
            return;
        }
        if (!add_range(load_u64(e), load_u64(e + 8), load_u32(e + 16))) return;
        off += 4 + u64{size};
    }
}

// ---------------------------------------------------------------------------------------------
// Multiboot2

Result<void> Parser::multiboot2(u64 info_pa) {
    namespace mb = multiboot2;
    if (info_pa % mb::TAG_ALIGN) {
        diags_.add(Severity::error, "%s: information at %#llx is not 8-byte aligned", proto_,
                   static_cast<unsigned long long>(info_pa));
        return error(XEN_EINVAL);
    }
    u32 total = 0;
    if (!read_phys(mem_, info_pa, &total, sizeof total)) {
        diags_.add(Severity::error, "%s: information at %#llx unreadable", proto_,
                   static_cast<unsigned long long>(info_pa));
        return error(XEN_EFAULT);
    }
    if (total < mb::HEADER_SIZE + mb::TAG_HEADER_SIZE || total > MB2_MAX_TOTAL_SIZE) {
        diags_.add(Severity::error, "%s: total_size %u impossible", proto_, total);
        return error(XEN_EINVAL);
    }
    // Every tag lies inside the structure, so it is mapped once and walked in place.
    const auto* base = static_cast<const u8*>(mem_.map(info_pa, total));
    if (!base) {
        diags_.add(Severity::error, "%s: information at %#llx (%u bytes) unreadable", proto_,
                   static_cast<unsigned long long>(info_pa), total);
        return error(XEN_EFAULT);
    }

    // Each step moves on by at least TAG_HEADER_SIZE through at most MB2_MAX_TOTAL_SIZE bytes.
    usize off = mb::HEADER_SIZE;
    for (;;) {
        if (total - off < mb::TAG_HEADER_SIZE) {
            diags_.add(Severity::error, "%s: no end tag before total_size %u", proto_, total);
            break;
        }
        u32 type = load_u32(base + off);
        u32 size = load_u32(base + off + 4);
        if (size < mb::TAG_HEADER_SIZE) {
            diags_.add(Severity::error, "%s: tag %u at offset %zu: size %u too small, rest ignored",
                       proto_, type, off, size);
            break;
        }
        if (size > total - off) {
            diags_.add(Severity::error,
                       "%s: tag %u at offset %zu: size %u runs past total_size %u, rest ignored",
                       proto_, type, off, size, total);
            break;
        }
        if (type == mb::TAG_END) break;
        mb2_tag(type, base + off, size, off);
        // size <= total <= MB2_MAX_TOTAL_SIZE: no overflow.  Past total ends the walk above.
        off += align_up<usize>(size, mb::TAG_ALIGN);
        if (off > total) off = total;
    }
    return ok();
}

void Parser::mb2_tag(u32 type, const u8* tag, usize size, usize off) {
    namespace mb = multiboot2;
    const u8* payload = tag + mb::TAG_HEADER_SIZE;
    usize len = size - mb::TAG_HEADER_SIZE;
    switch (type) {
    case mb::TAG_CMDLINE:
        report_string(copy_inline_string(payload, len, out_.cmdline, BootInfo::CMDLINE_LEN),
                      "command line", BootInfo::CMDLINE_LEN);
        return;
    case mb::TAG_LOADER_NAME:
        report_string(copy_inline_string(payload, len, out_.loader_name, BootInfo::LOADER_NAME_LEN),
                      "boot loader name", BootInfo::LOADER_NAME_LEN);
        return;
    case mb::TAG_MODULE: {
        usize index = modules_seen_++;
        if (len < 8) {
            diags_.add(Severity::error, "%s: module tag at offset %zu: size %zu too small", proto_,
                       off, size);
            return;
        }
        BootModule* m = add_module(index, load_u32(payload), load_u32(payload + 4));
        if (!m) return;
        char what[32];
        format(what, sizeof what, "module %zu command line", index);
        report_string(copy_inline_string(payload + 8, len - 8, m->cmdline, BootModule::CMDLINE_LEN),
                      what, BootModule::CMDLINE_LEN);
        return;
    }
    case mb::TAG_BASIC_MEMINFO:
        if (len < 8) {
            diags_.add(Severity::error, "%s: meminfo tag at offset %zu: size %zu too small", proto_,
                       off, size);
            return;
        }
        out_.has_basic_meminfo = true;
        out_.mem_lower_kib = load_u32(payload);
        out_.mem_upper_kib = load_u32(payload + 4);
        return;
    case mb::TAG_MMAP:
        mb2_memory_map(tag, size, off);
        return;
    case mb::TAG_ACPI_OLD:
    case mb::TAG_ACPI_NEW: {
        usize want = type == mb::TAG_ACPI_OLD ? 20 : 36;
        if (len < want) {
            diags_.add(Severity::error, "%s: ACPI RSDP tag %u at offset %zu: %zu bytes, need %zu",
                       proto_, type, off, len, want);
            return;
        }
        // The ACPI 2.0 copy wins, whichever order the tags come in.
        if (out_.rsdp_len > want) return;
        mem_copy(out_.rsdp, payload, want);
        out_.rsdp_len = want;
        return;
    }
    default:
        return;  // framebuffer, ELF sections, EFI tables, ...: not needed here
    }
}

void Parser::mb2_memory_map(const u8* tag, usize size, usize off) {
    namespace mb = multiboot2;
    if (size < mb::TAG_HEADER_SIZE + 8) {
        diags_.add(Severity::error, "%s: memory map tag at offset %zu: size %zu too small", proto_,
                   off, size);
        return;
    }
    u32 entry_size = load_u32(tag + 8);
    u32 version = load_u32(tag + 12);
    if (entry_size < mb::MMAP_ENTRY_MIN) {
        diags_.add(Severity::error,
                   "%s: memory map tag at offset %zu: entry_size %u < %zu, ignored", proto_, off,
                   entry_size, mb::MMAP_ENTRY_MIN);
        return;
    }
    if (version != 0)
        diags_.add(Severity::warning, "%s: memory map entry_version %u, reading it as version 0",
                   proto_, version);
    const u8* entries = tag + 16;
    usize bytes = size - 16;
    usize n = bytes / entry_size;
    if (bytes % entry_size)
        diags_.add(Severity::warning, "%s: memory map tag at offset %zu: %zu stray bytes", proto_,
                   off, bytes % entry_size);
    for (usize i = 0; i < n; ++i) {
        const u8* e = entries + i * entry_size;
        if (!add_range(load_u64(e), load_u64(e + 8), load_u32(e + 16))) return;
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<void> parse_bootinfo(u32 magic, u64 info_pa, const PhysMemory& mem, BootInfo& out,
                            Diagnostics& diags) {
    mem_set(&out, 0, sizeof out);
    switch (magic) {
    case multiboot1::BOOTLOADER_MAGIC:
        out.protocol = BootProtocol::multiboot1;
        return Parser(mem, out, diags, "multiboot1").multiboot1(info_pa);
    case multiboot2::BOOTLOADER_MAGIC:
        out.protocol = BootProtocol::multiboot2;
        return Parser(mem, out, diags, "multiboot2").multiboot2(info_pa);
    default:
        diags.add(Severity::error, "unknown boot loader magic %#x", magic);
        return error(XEN_EINVAL);
    }
}

bool loader_passes_image_name(StrView loader_name) {
    // GRUB legacy calls itself "GNU GRUB 0.97", GRUB 2 "GRUB 2.06" (or "GRUB 1.99").
    StrView grub("GRUB ");
    for (usize i = 0; i + grub.len < loader_name.len; ++i)
        if (loader_name.substr(i, grub.len).equals(grub)) return loader_name[i + grub.len] == '0';
    return true;
}

StrView cmdline_cook(StrView cmdline, StrView loader_name) {
    StrView s = cmdline.substr(0, cmdline.find('\0'));
    usize i = 0;
    while (i < s.len && is_space(s[i])) ++i;
    if (loader_passes_image_name(loader_name)) {
        while (i < s.len && !is_space(s[i])) ++i;
        while (i < s.len && is_space(s[i])) ++i;
    }
    return s.substr(i);
}

ModuleArgs parse_module_args(StrView cmdline) {
    StrView s = cmdline.substr(0, cmdline.find('\0'));
    usize b = 0;
    while (b < s.len && is_space(s[b])) ++b;
    usize e = b;
    while (e < s.len && !is_space(s[e])) ++e;
    usize a = e;
    while (a < s.len && is_space(s[a])) ++a;
    usize z = s.len;
    while (z > a && is_space(s[z - 1])) --z;
    return {s.substr(b, e - b), s.substr(a, z - a)};
}

}  // namespace pv
