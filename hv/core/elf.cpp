#include "core/elf.hpp"

#include "lib/string.hpp"

namespace pv {

// Fields are read by copying the file's little-endian bytes into host integers.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);

namespace {

using elf64::Ehdr;
using elf64::Nhdr;
using elf64::Phdr;
using elf64::Shdr;

Err invalid() { return error(XEN_EINVAL); }

// A spec-layout struct copied out of the image: the image has no alignment guarantee.
template <typename T> T load(const u8* p) {
    T v{};
    mem_copy(&v, p, sizeof v);
    return v;
}

// Whether [off, off + len) lies within a file of `size` bytes, without computing off + len.
bool in_file(u64 off, u64 len, usize size) { return off <= size && len <= size - off; }

// 4-level paging: bits 63..47 all equal.
bool canonical(u64 va) { return static_cast<u64>(static_cast<i64>(va << 16) >> 16) == va; }

bool overlaps(u64 a_start, u64 a_end, u64 b_start, u64 b_end) { return a_start < b_end && b_start < a_end; }

u64 read_le(const u8* p, usize n) {
    u64 v = 0;
    for (usize i = 0; i < n; ++i) v |= static_cast<u64>(p[i]) << (8 * i);
    return v;
}

// A string field as Xen reads one: up to the first NUL, but never past its container (Linux
// writes FEATURES with .ascii, so the descriptor itself holds no terminator).
StrView c_string(const u8* p, usize max) {
    const char* s = reinterpret_cast<const char*>(p);
    return StrView(s, str_nlen(s, max));
}

template <usize N> void copy_truncated(char (&dst)[N], StrView s) {
    usize n = s.len < N - 1 ? s.len : N - 1;
    mem_copy(dst, s.ptr, n);
    dst[n] = '\0';
}

bool contains(StrView s, StrView part) {
    for (usize i = 0; i + part.len <= s.len; ++i)
        if (s.substr(i, part.len).equals(part)) return true;
    return false;
}


// ---------------------------------------------------------------------------------------------
// Xen's tables.

// Xen's elf_xen_feature_names (libelf-dominfo.c): only these names are understood in FEATURES;
// later features are announced through SUPPORTED_FEATURES instead.
struct FeatureName {
    unsigned feature;
    const char* name;
};
constexpr FeatureName FEATURE_NAMES[] = {
    {XENFEAT_writable_page_tables, "writable_page_tables"},
    {XENFEAT_writable_descriptor_tables, "writable_descriptor_tables"},
    {XENFEAT_auto_translated_physmap, "auto_translated_physmap"},
    {XENFEAT_supervisor_mode_kernel, "supervisor_mode_kernel"},
    {XENFEAT_pae_pgdir_above_4gb, "pae_pgdir_above_4gb"},
    {XENFEAT_hvm_callback_vector, "hvm_callback_vector"},
    {XENFEAT_dom0, "dom0"},
};

enum class NoteKind : u8 { ignored, number, string, l1_mfn_valid, feature_bitmap };

struct NoteSpec {
    unsigned type;
    const char* name;
    NoteKind kind;
};

// Xen's note_desc table (elf_xen_parse_note), indexed by note type.
constexpr NoteSpec NOTE_SPECS[] = {
    {XEN_ELFNOTE_INFO, "INFO", NoteKind::ignored},
    {XEN_ELFNOTE_ENTRY, "ENTRY", NoteKind::number},
    {XEN_ELFNOTE_HYPERCALL_PAGE, "HYPERCALL_PAGE", NoteKind::number},
    {XEN_ELFNOTE_VIRT_BASE, "VIRT_BASE", NoteKind::number},
    {XEN_ELFNOTE_PADDR_OFFSET, "PADDR_OFFSET", NoteKind::number},
    {XEN_ELFNOTE_XEN_VERSION, "XEN_VERSION", NoteKind::string},
    {XEN_ELFNOTE_GUEST_OS, "GUEST_OS", NoteKind::string},
    {XEN_ELFNOTE_GUEST_VERSION, "GUEST_VERSION", NoteKind::string},
    {XEN_ELFNOTE_LOADER, "LOADER", NoteKind::string},
    {XEN_ELFNOTE_PAE_MODE, "PAE_MODE", NoteKind::string},
    {XEN_ELFNOTE_FEATURES, "FEATURES", NoteKind::string},
    {XEN_ELFNOTE_BSD_SYMTAB, "BSD_SYMTAB", NoteKind::string},
    {XEN_ELFNOTE_HV_START_LOW, "HV_START_LOW", NoteKind::number},
    {XEN_ELFNOTE_L1_MFN_VALID, "L1_MFN_VALID", NoteKind::l1_mfn_valid},
    {XEN_ELFNOTE_SUSPEND_CANCEL, "SUSPEND_CANCEL", NoteKind::number},
    {XEN_ELFNOTE_INIT_P2M, "INIT_P2M", NoteKind::number},
    {XEN_ELFNOTE_MOD_START_PFN, "MOD_START_PFN", NoteKind::number},
    {XEN_ELFNOTE_SUPPORTED_FEATURES, "SUPPORTED_FEATURES", NoteKind::feature_bitmap},
    {XEN_ELFNOTE_PHYS32_ENTRY, "PHYS32_ENTRY", NoteKind::number},
};
static_assert(array_size(NOTE_SPECS) == XEN_ELFNOTE_MAX + 1);
static_assert(XEN_ELFNOTE_MAX < 32, "notes_seen is a 32-bit mask");
constexpr bool note_specs_in_order() {
    for (usize i = 0; i < array_size(NOTE_SPECS); ++i)
        if (NOTE_SPECS[i].type != i) return false;
    return true;
}
static_assert(note_specs_in_order());

// Xen's ELF_MAX_TOTAL_NOTE_COUNT: a bound on the work a note-stuffed image can cause.
constexpr usize MAX_TOTAL_NOTES = 65536;

void set_feature(u32 (&map)[XENFEAT_NR_SUBMAPS], unsigned feat) { map[feat / 32] |= 1u << (feat % 32); }

// FEATURES, as Xen's elf_xen_parse_features: names separated by '|', '!' marking a required one.
// An unknown optional name is skipped; an unknown required one fails the image, since the
// kernel says it cannot run without something nobody here knows how to give it.
Result<void> parse_features(StrView s, XenGuestParams& p, Diagnostics& diags) {
    for (usize pos = 0; pos < s.len;) {
        usize bar = s.find('|', pos);
        StrView item = s.substr(pos, bar - pos);
        pos = bar + 1;
        if (item.empty()) continue;
        bool required = item[0] == '!';
        StrView name = required ? item.substr(1) : item;
        const FeatureName* found = nullptr;
        for (const FeatureName& f : FEATURE_NAMES)
            if (name.equals(f.name)) found = &f;
        if (!found) {
            if (required) {
                diags.add(Severity::error, "FEATURES: required feature '%s' is unknown",
                          Quoted(name).c_str());
                return invalid();
            }
            diags.add(Severity::warning, "FEATURES: unknown feature '%s' ignored", Quoted(name).c_str());
            continue;
        }
        set_feature(p.f_supported, found->feature);
        if (required) set_feature(p.f_required, found->feature);
    }
    return ok();
}

// ---------------------------------------------------------------------------------------------
// Xen ELF notes.

class NoteParser {
public:
    NoteParser(const ElfInfo& elf, XenGuestParams& p, Diagnostics& diags) : elf_(elf), p_(p), diags_(diags) {}

    // Parses the notes in [off, off + len) of the image (already checked to lie within it) and
    // returns how many were Xen's.  `what` and `index` name the container in messages.
    Result<usize> parse_range(u64 off, u64 len, const char* what, unsigned index) {
        const u8* base = elf_.image + off;
        usize xen_notes = 0;
        usize n = 0;
        for (u64 pos = 0; pos < len; ++n) {
            if (++total_ > MAX_TOTAL_NOTES) {
                diags_.add(Severity::error, "more than %zu ELF notes", MAX_TOTAL_NOTES);
                return invalid();
            }
            if (len - pos < sizeof(Nhdr)) {
                diags_.add(Severity::error, "note %zu of %s %u: header truncated (%lu bytes left)", n, what,
                           index, len - pos);
                return invalid();
            }
            Nhdr nh = load<Nhdr>(base + pos);
            u64 name_off = pos + sizeof(Nhdr);
            if (nh.n_namesz > len - name_off) {
                diags_.add(Severity::error, "note %zu of %s %u: name of %u bytes runs past its end", n, what,
                           index, nh.n_namesz);
                return invalid();
            }
            u64 desc_off = name_off + align_up<u64>(nh.n_namesz, elf64::NOTE_ALIGN);
            if (nh.n_descsz != 0 && (desc_off > len || nh.n_descsz > len - desc_off)) {
                diags_.add(Severity::error, "note %zu of %s %u: descriptor of %u bytes runs past its end", n,
                           what, index, nh.n_descsz);
                return invalid();
            }
            // The padding after the last descriptor may be cut off: nothing is read from it.  The
            // step is at least the 12-byte header, so the loop always advances.
            u64 next = desc_off + align_up<u64>(nh.n_descsz, elf64::NOTE_ALIGN);
            pos = next < len ? next : len;

            if (!c_string(base + name_off, nh.n_namesz).equals("Xen")) continue;
            ++xen_notes;
            Result<void> r = parse_note(nh.n_type, base + desc_off, nh.n_descsz);
            if (!r) return error(r.error());
        }
        return xen_notes;
    }

private:
    // One note named "Xen" (Xen's elf_xen_parse_note).  Unknown types are skipped, as in Xen: a
    // newer kernel may announce things this hypervisor does not know.
    Result<void> parse_note(u32 type, const u8* desc, u32 descsz) {
        if (type >= array_size(NOTE_SPECS)) return ok();
        const NoteSpec& spec = NOTE_SPECS[type];
        p_.notes_seen |= 1u << type;
        switch (spec.kind) {
        case NoteKind::ignored: return ok();
        case NoteKind::number: return number_note(spec, desc, descsz);
        case NoteKind::string: return string_note(spec, c_string(desc, descsz));
        case NoteKind::l1_mfn_valid:
            // maddr_t-sized (64-bit) mask/value pairs; Linux gives one pair.  Informational
            // (save/restore), so a malformed list is not worth rejecting the kernel for.
            if (descsz == 0 || descsz % 16 != 0) {
                diags_.add(Severity::warning,
                           "note L1_MFN_VALID: %u bytes are not 64-bit mask/value pairs; ignored", descsz);
                return ok();
            }
            p_.l1_mfn_valid_pairs = descsz / 16;
            p_.l1_mfn_valid_mask = read_le(desc, 8);
            p_.l1_mfn_valid_value = read_le(desc + 8, 8);
            return ok();
        case NoteKind::feature_bitmap:
            // An array of 32-bit XENFEAT submaps (Xen's elf_note_numeric_array with unit 4).
            if (descsz % 4 != 0) {
                diags_.add(Severity::error, "note SUPPORTED_FEATURES: %u bytes, not a multiple of 4", descsz);
                return invalid();
            }
            for (usize i = 0; i < XENFEAT_NR_SUBMAPS && i < descsz / 4; ++i)
                p_.f_supported[i] |= static_cast<u32>(read_le(desc + 4 * i, 4));
            return ok();
        }
        return ok();
    }

    Result<void> number_note(const NoteSpec& spec, const u8* desc, u32 descsz) {
        if (descsz != 1 && descsz != 2 && descsz != 4 && descsz != 8) {
            diags_.add(Severity::error, "note %s: descriptor of %u bytes, not 1, 2, 4 or 8", spec.name,
                       descsz);
            return invalid();
        }
        u64 v = read_le(desc, descsz);
        switch (spec.type) {
        case XEN_ELFNOTE_ENTRY: p_.virt_entry = v; break;
        case XEN_ELFNOTE_HYPERCALL_PAGE: p_.virt_hypercall = v; break;
        case XEN_ELFNOTE_VIRT_BASE: p_.virt_base = v; break;
        case XEN_ELFNOTE_PADDR_OFFSET: p_.paddr_offset = v; break;
        case XEN_ELFNOTE_HV_START_LOW: p_.virt_hv_start_low = v; break;
        case XEN_ELFNOTE_SUSPEND_CANCEL: p_.suspend_cancel = v != 0; break;
        case XEN_ELFNOTE_INIT_P2M: p_.p2m_base = v; break;
        case XEN_ELFNOTE_MOD_START_PFN: p_.unmapped_initrd = v != 0; break;
        case XEN_ELFNOTE_PHYS32_ENTRY: p_.phys_entry = v; break;
        default: break;
        }
        return ok();
    }

    Result<void> string_note(const NoteSpec& spec, StrView s) {
        switch (spec.type) {
        case XEN_ELFNOTE_XEN_VERSION: copy_truncated(p_.xen_version, s); break;
        case XEN_ELFNOTE_GUEST_OS: copy_truncated(p_.guest_os, s); break;
        case XEN_ELFNOTE_GUEST_VERSION: copy_truncated(p_.guest_version, s); break;
        case XEN_ELFNOTE_LOADER: copy_truncated(p_.loader, s); break;
        case XEN_ELFNOTE_PAE_MODE:
            if (s.equals("yes")) p_.pae = XenPaeMode::extended_cr3;
            if (contains(s, "bimodal")) p_.pae = XenPaeMode::bimodal;
            break;
        case XEN_ELFNOTE_FEATURES: return parse_features(s, p_, diags_);
        case XEN_ELFNOTE_BSD_SYMTAB:
            if (s.equals("yes")) p_.bsd_symtab = true;
            break;
        default: break;
        }
        return ok();
    }

    const ElfInfo& elf_;
    XenGuestParams& p_;
    Diagnostics& diags_;
    usize total_ = 0;
};

Shdr section(const ElfInfo& elf, unsigned i) {
    return load<Shdr>(elf.image + elf.shoff + u64{i} * sizeof(Shdr));
}
Phdr program_header(const ElfInfo& elf, unsigned i) {
    return load<Phdr>(elf.image + elf.phoff + u64{i} * sizeof(Phdr));
}

// Xen notes from PT_NOTE segments, else from SHT_NOTE sections (elf_xen_parse).  Returns how
// many Xen notes were found.
Result<usize> parse_notes(const ElfInfo& elf, XenGuestParams& p, Diagnostics& diags) {
    NoteParser parser(elf, p, diags);
    usize xen_notes = 0;
    for (unsigned i = 0; i < elf.phnum; ++i) {
        Phdr ph = program_header(elf, i);
        // Xen skips note segments at offset 0: some binutils versions left p_offset unset.
        if (ph.p_type != elf64::PT_NOTE || ph.p_offset == 0) continue;
        if (!in_file(ph.p_offset, ph.p_filesz, elf.size)) {
            diags.add(Severity::error,
                      "note segment %u (offset 0x%lx, 0x%lx bytes) runs past the end of the file", i,
                      ph.p_offset, ph.p_filesz);
            return invalid();
        }
        Result<usize> r = parser.parse_range(ph.p_offset, ph.p_filesz, "segment", i);
        if (!r) return error(r.error());
        xen_notes += r.value();
    }
    if (xen_notes != 0) return xen_notes;

    for (unsigned i = 1; i < elf.shnum; ++i) {
        Shdr sh = section(elf, i);
        if (sh.sh_type != elf64::SHT_NOTE) continue;
        if (!in_file(sh.sh_offset, sh.sh_size, elf.size)) {
            diags.add(Severity::error,
                      "note section %u (offset 0x%lx, 0x%lx bytes) runs past the end of the file", i,
                      sh.sh_offset, sh.sh_size);
            return invalid();
        }
        Result<usize> r = parser.parse_range(sh.sh_offset, sh.sh_size, "section", i);
        if (!r) return error(r.error());
        xen_notes += r.value();
    }
    return xen_notes;
}

// ---------------------------------------------------------------------------------------------
// The legacy "__xen_guest" section: one string "NAME=VALUE,NAME=VALUE,..." (Xen's
// elf_xen_parse_guest_info), used by kernels older than the ELF notes (Xen 3.0.2).

// The contents of the section named `name`, or an empty view when there is none.  A section
// name table that does not fit the file just means no names; a named section that does not fit
// is an error.
Result<StrView> find_section(const ElfInfo& elf, StrView name, Diagnostics& diags) {
    if (elf.shnum == 0 || elf.shstrndx == elf64::SHN_UNDEF || elf.shstrndx >= elf.shnum) return StrView();
    Shdr strtab = section(elf, elf.shstrndx);
    if (strtab.sh_type != elf64::SHT_STRTAB || !in_file(strtab.sh_offset, strtab.sh_size, elf.size))
        return StrView();
    const u8* names = elf.image + strtab.sh_offset;
    for (unsigned i = 1; i < elf.shnum; ++i) {
        Shdr sh = section(elf, i);
        if (sh.sh_name >= strtab.sh_size) continue;
        if (!c_string(names + sh.sh_name, strtab.sh_size - sh.sh_name).equals(name)) continue;
        if (sh.sh_type == elf64::SHT_NOBITS) return StrView();
        if (!in_file(sh.sh_offset, sh.sh_size, elf.size)) {
            diags.add(Severity::error, "section %u (%s) runs past the end of the file", i,
                      Quoted(name).c_str());
            return invalid();
        }
        // An empty section still counts as found: point at the (valid) image, length 0.
        return StrView(reinterpret_cast<const char*>(elf.image + sh.sh_offset),
                       str_nlen(reinterpret_cast<const char*>(elf.image + sh.sh_offset), sh.sh_size));
    }
    return StrView();
}

Result<void> parse_guest_info(StrView info, XenGuestParams& p, Diagnostics& diags) {
    u64 hypercall_pfn = XenGuestParams::UNSET;
    for (usize pos = 0; pos < info.len;) {
        usize comma = info.find(',', pos);
        StrView item = info.substr(pos, comma - pos);
        pos = comma + 1;
        usize eq = item.find('=');
        StrView key = item.substr(0, eq);
        StrView value = eq < item.len ? item.substr(eq + 1) : StrView();

        if (key.equals("LOADER"))
            copy_truncated(p.loader, value);
        else if (key.equals("GUEST_OS"))
            copy_truncated(p.guest_os, value);
        else if (key.equals("GUEST_VER"))
            copy_truncated(p.guest_version, value);
        else if (key.equals("XEN_VER"))
            copy_truncated(p.xen_version, value);
        else if (key.equals("PAE")) {
            if (value.equals("yes[extended-cr3]"))
                p.pae = XenPaeMode::extended_cr3;
            else if (value.starts_with("yes"))
                p.pae = XenPaeMode::yes;
        } else if (key.equals("BSD_SYMTAB")) {
            p.bsd_symtab = true;  // legacy: present means yes
        } else if (key.equals("FEATURES")) {
            Result<void> r = parse_features(value, p, diags);
            if (!r) return r;
        } else if (key.equals("VIRT_BASE") || key.equals("VIRT_ENTRY") || key.equals("ELF_PADDR_OFFSET") ||
                   key.equals("HYPERCALL_PAGE")) {
            u64 v = 0;
            if (!parse_u64(value, &v)) {
                diags.add(Severity::error, "__xen_guest: %s value '%s' is not a number", Quoted(key).c_str(),
                          Quoted(value).c_str());
                return invalid();
            }
            if (key.equals("VIRT_BASE"))
                p.virt_base = v;
            else if (key.equals("VIRT_ENTRY"))
                p.virt_entry = v;
            else if (key.equals("ELF_PADDR_OFFSET"))
                p.paddr_offset = v;
            else
                hypercall_pfn = v;
        }
        // Other keys (e.g. Xen's own informational ones) are ignored, as in Xen.
    }
    // The legacy HYPERCALL_PAGE is a page number relative to VIRT_BASE.
    if (hypercall_pfn != XenGuestParams::UNSET) {
        if (hypercall_pfn > (~u64{0} >> PAGE_SHIFT)) {
            diags.add(Severity::error, "__xen_guest: HYPERCALL_PAGE 0x%lx is not a page number",
                      hypercall_pfn);
            return invalid();
        }
        p.virt_hypercall = hypercall_pfn << PAGE_SHIFT;
        if (p.virt_base != XenGuestParams::UNSET) p.virt_hypercall += p.virt_base;
    }
    return ok();
}

// ---------------------------------------------------------------------------------------------
// Xen's elf_xen_note_check and elf_xen_addr_calc_check.

Result<void> check_identity(const XenGuestParams& p, Diagnostics& diags) {
    if (!StrView(p.loader).starts_with("generic") && !StrView(p.guest_os).starts_with("linux")) {
        diags.add(Severity::error, "LOADER '%s', GUEST_OS '%s': only generic-loader or Linux kernels load",
                  Quoted(p.loader).c_str(), Quoted(p.guest_os).c_str());
        return invalid();
    }
    if (!StrView(p.xen_version).starts_with("xen-3.0")) {
        diags.add(Severity::error, "XEN_VERSION '%s': the kernel is not built for xen-3.0",
                  Quoted(p.xen_version).c_str());
        return invalid();
    }
    return ok();
}

Result<void> compute_addresses(const ElfInfo& elf, XenGuestParams& p, Diagnostics& diags) {
    constexpr u64 UNSET = XenGuestParams::UNSET;
    if (p.paddr_offset != UNSET && p.virt_base == UNSET) {
        diags.add(Severity::error, "PADDR_OFFSET is given without VIRT_BASE");
        return invalid();
    }
    if (p.virt_base == UNSET) p.virt_base = 0;
    // ELF notes default PADDR_OFFSET to 0; the legacy string to VIRT_BASE, because kernels of
    // that era put virtual addresses in p_paddr.
    if (p.paddr_offset == UNSET) p.paddr_offset = p.source == XenParamSource::notes ? 0 : p.virt_base;
    if (p.virt_entry == UNSET) p.virt_entry = elf.entry;

    // Wrapping subtraction, as Xen: PADDR_OFFSET above VIRT_BASE moves the image down.
    p.virt_offset = p.virt_base - p.paddr_offset;
    p.virt_kstart = elf.pstart + p.virt_offset;
    if (add_overflows(p.virt_kstart, elf.pend - elf.pstart, &p.virt_kend)) {
        diags.add(Severity::error, "kernel image (paddr 0x%lx-0x%lx) + 0x%lx wraps around the address space",
                  elf.pstart, elf.pend, p.virt_offset);
        return invalid();
    }
    return ok();
}

Result<void> check_addresses(const XenGuestParams& p, Diagnostics& diags) {
    constexpr u64 UNSET = XenGuestParams::UNSET;
    constexpr u64 HV_START = HYPERVISOR_VIRT_START;
    constexpr u64 HV_END = HYPERVISOR_VIRT_END;
    const u64 kstart = p.virt_kstart, kend = p.virt_kend;

    if (p.virt_base > kstart) {
        diags.add(Severity::error, "VIRT_BASE 0x%lx is above the kernel's start 0x%lx", p.virt_base, kstart);
        return invalid();
    }
    // The bootstrap region is mapped from VIRT_BASE upwards, so all of [VIRT_BASE, end) has to be
    // mappable.  A range from the lower into the upper half contains HV_START, which the next
    // check catches.
    if (!canonical(p.virt_base) || !canonical(kstart) || !canonical(kend - 1)) {
        diags.add(Severity::error, "kernel image 0x%lx-0x%lx (VIRT_BASE 0x%lx) is not canonical", kstart,
                  kend, p.virt_base);
        return invalid();
    }
    if (overlaps(p.virt_base, kend, HV_START, HV_END)) {
        diags.add(Severity::error, "kernel image 0x%lx-0x%lx (from VIRT_BASE 0x%lx) overlaps the hypervisor",
                  kstart, kend, p.virt_base);
        return invalid();
    }
    if (p.virt_entry < kstart || p.virt_entry >= kend) {
        diags.add(Severity::error, "entry point 0x%lx is outside the kernel image 0x%lx-0x%lx", p.virt_entry,
                  kstart, kend);
        return invalid();
    }
    // The hypervisor writes a whole page of stubs there (Xen checks only the start against the
    // bootstrap region; a page straddling the image end would overwrite whatever follows).
    if (p.virt_hypercall != UNSET) {
        if (!is_aligned(p.virt_hypercall, PAGE_SIZE)) {
            diags.add(Severity::error, "hypercall page 0x%lx is not page-aligned", p.virt_hypercall);
            return invalid();
        }
        if (p.virt_hypercall < kstart || p.virt_hypercall >= kend || kend - p.virt_hypercall < PAGE_SIZE) {
            diags.add(Severity::error, "hypercall page 0x%lx is outside the kernel image 0x%lx-0x%lx",
                      p.virt_hypercall, kstart, kend);
            return invalid();
        }
    }
    // The p2m's end depends on the domain's size; the builder checks the whole range.  Its start
    // must at least be a guest address outside the image.
    if (p.p2m_base != UNSET) {
        if (p.p2m_base >= kstart && p.p2m_base < kend) {
            diags.add(Severity::error, "INIT_P2M 0x%lx is inside the kernel image 0x%lx-0x%lx", p.p2m_base,
                      kstart, kend);
            return invalid();
        }
        if (!canonical(p.p2m_base) || (p.p2m_base >= HV_START && p.p2m_base < HV_END)) {
            diags.add(Severity::error, "INIT_P2M 0x%lx is not a guest virtual address", p.p2m_base);
            return invalid();
        }
    }
    return ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<void> elf_parse(const u8* data, usize size, ElfInfo& out, Diagnostics& diags) {
    out = ElfInfo{};
    if (!data || size < sizeof(Ehdr)) {
        diags.add(Severity::error, "image of %zu bytes is too small for an ELF header (64)", data ? size : 0);
        return invalid();
    }
    const Ehdr eh = load<Ehdr>(data);
    const u8* id = eh.e_ident;
    if (mem_compare(id + elf64::EI_MAG0, elf64::ELFMAG, sizeof elf64::ELFMAG) != 0) {
        diags.add(Severity::error, "not an ELF image (bad magic)");
        return invalid();
    }
    if (id[elf64::EI_CLASS] != elf64::ELFCLASS64) {
        if (id[elf64::EI_CLASS] == elf64::ELFCLASS32)
            diags.add(Severity::error, "32-bit ELF image: only 64-bit PV kernels are supported");
        else
            diags.add(Severity::error, "bad ELF class %u", id[elf64::EI_CLASS]);
        return invalid();
    }
    if (id[elf64::EI_DATA] != elf64::ELFDATA2LSB) {
        if (id[elf64::EI_DATA] == elf64::ELFDATA2MSB)
            diags.add(Severity::error, "big-endian ELF image: x86-64 kernels are little-endian");
        else
            diags.add(Severity::error, "bad ELF data encoding %u", id[elf64::EI_DATA]);
        return invalid();
    }
    if (id[elf64::EI_VERSION] != elf64::EV_CURRENT || eh.e_version != elf64::EV_CURRENT) {
        diags.add(Severity::error, "ELF version %u/%u, expected 1", id[elf64::EI_VERSION], eh.e_version);
        return invalid();
    }
    if (eh.e_machine != elf64::EM_X86_64) {
        diags.add(Severity::error, "ELF machine %u is not x86-64 (%u)", eh.e_machine, elf64::EM_X86_64);
        return invalid();
    }
    if (eh.e_type != elf64::ET_EXEC) {
        diags.add(Severity::error, "ELF type %u is not ET_EXEC (2): PV kernels are loaded unrelocated",
                  eh.e_type);
        return invalid();
    }
    if (eh.e_ehsize != sizeof(Ehdr)) {
        diags.add(Severity::error, "ELF header size %u, expected %zu", eh.e_ehsize, sizeof(Ehdr));
        return invalid();
    }

    // Program header table.  The product cannot overflow: at most 0xfffe entries of 56 bytes.
    if (eh.e_phnum == 0) {
        diags.add(Severity::error, "no program headers");
        return invalid();
    }
    if (eh.e_phnum == elf64::PN_XNUM) {
        diags.add(Severity::error, "extended program header numbering (PN_XNUM) is not supported");
        return invalid();
    }
    if (eh.e_phentsize != sizeof(Phdr)) {
        diags.add(Severity::error, "program header size %u, expected %zu", eh.e_phentsize, sizeof(Phdr));
        return invalid();
    }
    const u64 ph_bytes = u64{eh.e_phnum} * sizeof(Phdr);
    if (!in_file(eh.e_phoff, ph_bytes, size)) {
        diags.add(Severity::error,
                  "program header table (offset 0x%lx, 0x%lx bytes) runs past the end of the file",
                  eh.e_phoff, ph_bytes);
        return invalid();
    }

    // Section header table: only note sections and the legacy __xen_guest are read from it, but
    // a table that does not fit the file fails the image, as in Xen's elf_init.  With e_shnum 0
    // there is none (extended section numbering is not used by kernels).
    if (eh.e_shnum != 0) {
        if (eh.e_shentsize != sizeof(Shdr)) {
            diags.add(Severity::error, "section header size %u, expected %zu", eh.e_shentsize, sizeof(Shdr));
            return invalid();
        }
        const u64 sh_bytes = u64{eh.e_shnum} * sizeof(Shdr);
        if (!in_file(eh.e_shoff, sh_bytes, size)) {
            diags.add(Severity::error,
                      "section header table (offset 0x%lx, 0x%lx bytes) runs past the end of the file",
                      eh.e_shoff, sh_bytes);
            return invalid();
        }
    }

    ElfInfo info;
    info.image = data;
    info.size = size;
    info.type = eh.e_type;
    info.entry = eh.e_entry;
    info.phoff = eh.e_phoff;
    info.phnum = eh.e_phnum;
    info.shoff = eh.e_shnum ? eh.e_shoff : 0;
    info.shnum = eh.e_shnum;
    info.shstrndx = eh.e_shstrndx;
    info.pstart = ~u64{0};
    info.pend = 0;

    for (unsigned i = 0; i < info.phnum; ++i) {
        const Phdr ph = program_header(info, i);
        if (ph.p_type != elf64::PT_LOAD) continue;
        // Xen's elf_phdr_is_loadable: a PT_LOAD that may not be read, written or executed is
        // not loaded.
        if ((ph.p_flags & (elf64::PF_R | elf64::PF_W | elf64::PF_X)) == 0) {
            diags.add(Severity::warning, "segment %u: PT_LOAD without R/W/X permission ignored, as Xen does",
                      i);
            continue;
        }
        if (ph.p_filesz > ph.p_memsz) {
            diags.add(Severity::error, "segment %u: p_filesz 0x%lx exceeds p_memsz 0x%lx", i, ph.p_filesz,
                      ph.p_memsz);
            return invalid();
        }
        if (!in_file(ph.p_offset, ph.p_filesz, size)) {
            diags.add(Severity::error, "segment %u (offset 0x%lx, 0x%lx bytes) runs past the end of the file",
                      i, ph.p_offset, ph.p_filesz);
            return invalid();
        }
        u64 pend = 0, vend = 0;
        if (add_overflows(ph.p_paddr, ph.p_memsz, &pend)) {
            diags.add(Severity::error, "segment %u: p_paddr 0x%lx + p_memsz 0x%lx wraps around", i,
                      ph.p_paddr, ph.p_memsz);
            return invalid();
        }
        if (add_overflows(ph.p_vaddr, ph.p_memsz, &vend)) {
            diags.add(Severity::error, "segment %u: p_vaddr 0x%lx + p_memsz 0x%lx wraps around", i,
                      ph.p_vaddr, ph.p_memsz);
            return invalid();
        }
        // An empty segment loads nothing and occupies nothing.
        if (ph.p_memsz == 0) continue;
        for (usize k = 0; k < info.load_count; ++k) {
            const ElfSegment& o = info.load[k];
            if (overlaps(ph.p_paddr, pend, o.paddr, o.paddr + o.memsz)) {
                diags.add(Severity::error, "segment %u (paddr 0x%lx-0x%lx) overlaps segment %u at 0x%lx", i,
                          ph.p_paddr, pend, o.index, max(ph.p_paddr, o.paddr));
                return invalid();
            }
        }
        if (info.load_count == ElfInfo::MAX_LOAD_SEGMENTS) {
            diags.add(Severity::error, "more than %zu loadable segments", ElfInfo::MAX_LOAD_SEGMENTS);
            return invalid();
        }
        ElfSegment& s = info.load[info.load_count++];
        s.index = i;
        s.flags = ph.p_flags;
        s.offset = ph.p_offset;
        s.filesz = ph.p_filesz;
        s.vaddr = ph.p_vaddr;
        s.paddr = ph.p_paddr;
        s.memsz = ph.p_memsz;
        info.pstart = min(info.pstart, ph.p_paddr);
        info.pend = max(info.pend, pend);
    }
    if (info.load_count == 0) {
        diags.add(Severity::error, "no loadable (PT_LOAD) segment");
        return invalid();
    }
    if (info.pend - info.pstart > ElfInfo::MAX_IMAGE_SPAN) {
        diags.add(Severity::error,
                  "loadable segments span 0x%lx bytes (paddr 0x%lx-0x%lx), over the %lu MiB limit",
                  info.pend - info.pstart, info.pstart, info.pend, ElfInfo::MAX_IMAGE_SPAN / MiB);
        return invalid();
    }
    out = info;
    return ok();
}

Result<void> xen_parse_guest(const ElfInfo& elf, XenGuestParams& out, Diagnostics& diags) {
    out = XenGuestParams{};
    if (!elf.image || elf.load_count == 0) {
        diags.add(Severity::error, "no parsed ELF image");
        return invalid();
    }
    XenGuestParams p;
    Result<usize> notes = parse_notes(elf, p, diags);
    if (!notes) return error(notes.error());
    if (notes.value() != 0) {
        p.source = XenParamSource::notes;
    } else {
        Result<StrView> info = find_section(elf, "__xen_guest", diags);
        if (!info) return error(info.error());
        if (info.value().ptr) {
            p.source = XenParamSource::legacy_guest_info;
            Result<void> r = parse_guest_info(info.value(), p, diags);
            if (!r) return r;
        }
    }
    if (p.source == XenParamSource::none) {
        diags.add(Severity::error, "no Xen ELF notes and no __xen_guest section: not a Xen PV kernel");
        return invalid();
    }
    if (Result<void> r = check_identity(p, diags); !r) return r;
    if (Result<void> r = compute_addresses(elf, p, diags); !r) return r;
    if (Result<void> r = check_addresses(p, diags); !r) return r;
    if (p.bsd_symtab)
        diags.add(Severity::warning,
                  "BSD_SYMTAB: the symbol table is not loaded; the kernel boots without it");
    out = p;
    return ok();
}

Result<void> elf_load(const ElfInfo& elf, u64 bias, ElfLoadTarget& target, Diagnostics& diags) {
    for (usize i = 0; i < elf.load_count; ++i) {
        const ElfSegment& s = elf.load[i];
        // ElfInfo is a plain struct: recheck what elf_parse established before reading the image.
        if (!elf.image || s.filesz > s.memsz || !in_file(s.offset, s.filesz, elf.size)) {
            diags.add(Severity::error, "segment %u does not lie within the image", s.index);
            return invalid();
        }
        const u64 dest = s.paddr + bias;
        if (s.filesz != 0) {
            Result<void> r = target.copy(dest, elf.image + s.offset, s.filesz);
            if (!r) {
                diags.add(Severity::error, "segment %u: copying 0x%lx bytes to 0x%lx failed (%s)", s.index,
                          s.filesz, dest, errno_name(static_cast<int>(r.error())));
                return r;
            }
        }
        if (s.memsz > s.filesz) {
            Result<void> r = target.zero(dest + s.filesz, s.memsz - s.filesz);
            if (!r) {
                diags.add(Severity::error, "segment %u: zeroing 0x%lx bytes at 0x%lx failed (%s)", s.index,
                          s.memsz - s.filesz, dest + s.filesz, errno_name(static_cast<int>(r.error())));
                return r;
            }
        }
    }
    return ok();
}

}  // namespace pv
