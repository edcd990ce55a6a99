// The PV kernel ELF loader against images built byte by byte here: a Linux-like kernel (its
// notes as Linux 6.1's xen-head.S emits them, and its zero-based per-CPU segment), a minimal
// kernel linked at 1 MiB, legacy and section-note kernels, then every way a hostile or broken
// image can lie, and random mutations of a valid image, each parsed from an exactly-sized heap
// buffer so that ASan catches any read past the end.
#include "core/elf.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace e = pv::elf64;
using Blob = std::vector<uint8_t>;

void put_le(Blob& b, size_t off, uint64_t v, size_t size) {
    if (b.size() < off + size) b.resize(off + size);
    for (size_t i = 0; i < size; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_le(const Blob& b, size_t off, size_t size) {
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) v |= uint64_t{b[off + i]} << (8 * i);
    return v;
}

// ---------------------------------------------------------------------------------------------
// Notes.

struct Note {
    std::string name;
    uint32_t type;
    Blob desc;
};

Blob num(uint64_t v, size_t size = 8) {
    Blob b;
    put_le(b, 0, v, size);
    return b;
}
Blob asciz(const std::string& s) { return Blob(s.c_str(), s.c_str() + s.size() + 1); }
Blob ascii(const std::string& s) { return Blob(s.begin(), s.end()); }

// Name and descriptor each padded to 4 bytes (gABI note format).
Blob note_bytes(const std::vector<Note>& notes) {
    Blob b;
    for (const Note& n : notes) {
        size_t at = b.size();
        uint32_t namesz = n.name.empty() ? 0 : static_cast<uint32_t>(n.name.size() + 1);
        put_le(b, at, namesz, 4);
        put_le(b, at + 4, n.desc.size(), 4);
        put_le(b, at + 8, n.type, 4);
        Blob name(n.name.begin(), n.name.end());
        if (namesz) name.push_back(0);
        name.resize((name.size() + 3) & ~size_t{3}, 0);
        b.insert(b.end(), name.begin(), name.end());
        Blob desc = n.desc;
        desc.resize((desc.size() + 3) & ~size_t{3}, 0);
        b.insert(b.end(), desc.begin(), desc.end());
    }
    return b;
}

Note xen(uint32_t type, Blob desc) { return Note{"Xen", type, std::move(desc)}; }

// ---------------------------------------------------------------------------------------------
// Images.

struct Segment {
    uint32_t type = e::PT_LOAD;
    uint32_t flags = e::PF_R | e::PF_X;
    uint64_t vaddr = 0;
    uint64_t paddr = 0;
    Blob data;           // the file bytes
    uint64_t memsz = 0;  // 0: data.size()
};

struct Section {
    std::string name;
    uint32_t type = 1;  // SHT_PROGBITS
    Blob data;
};

constexpr size_t EHDR = 64, PHDR = 56, SHDR = 64;

// Header, program headers, segment contents (16-byte aligned), section contents, section name
// table and section header table, in that order.
struct ElfBuilder {
    uint64_t entry = 0;
    std::vector<Segment> segments;
    std::vector<Section> sections;  // when any: preceded by the null section, followed by .shstrtab

    Blob build() const {
        Blob b(EHDR + PHDR * segments.size(), 0);
        std::vector<uint64_t> seg_off;
        for (const Segment& s : segments) {
            b.resize((b.size() + 15) & ~size_t{15}, 0);
            seg_off.push_back(b.size());
            b.insert(b.end(), s.data.begin(), s.data.end());
        }
        std::vector<uint64_t> sec_off, name_off;
        Blob strtab(1, 0);
        uint64_t shoff = 0, shnum = 0, shstrndx = 0;
        if (!sections.empty()) {
            for (const Section& s : sections) {
                b.resize((b.size() + 7) & ~size_t{7}, 0);
                sec_off.push_back(b.size());
                b.insert(b.end(), s.data.begin(), s.data.end());
                name_off.push_back(strtab.size());
                strtab.insert(strtab.end(), s.name.begin(), s.name.end());
                strtab.push_back(0);
            }
            name_off.push_back(strtab.size());
            const std::string self = ".shstrtab";
            strtab.insert(strtab.end(), self.begin(), self.end());
            strtab.push_back(0);
            uint64_t strtab_off = b.size();
            b.insert(b.end(), strtab.begin(), strtab.end());
            b.resize((b.size() + 7) & ~size_t{7}, 0);
            shoff = b.size();
            shnum = sections.size() + 2;
            shstrndx = shnum - 1;
            b.resize(b.size() + SHDR * shnum, 0);  // [0] is the null section
            for (size_t i = 0; i <= sections.size(); ++i) {
                size_t at = shoff + SHDR * (i + 1);
                bool self_entry = i == sections.size();
                put_le(b, at + 0, name_off[i], 4);
                put_le(b, at + 4, self_entry ? e::SHT_STRTAB : sections[i].type, 4);
                put_le(b, at + 24, self_entry ? strtab_off : sec_off[i], 8);
                put_le(b, at + 32, self_entry ? strtab.size() : sections[i].data.size(), 8);
            }
        }

        const uint8_t ident[] = {0x7f, 'E', 'L', 'F', e::ELFCLASS64, e::ELFDATA2LSB, e::EV_CURRENT};
        std::memcpy(b.data(), ident, sizeof ident);
        put_le(b, 16, e::ET_EXEC, 2);
        put_le(b, 18, e::EM_X86_64, 2);
        put_le(b, 20, e::EV_CURRENT, 4);
        put_le(b, 24, entry, 8);
        put_le(b, 32, EHDR, 8);
        put_le(b, 40, shoff, 8);
        put_le(b, 52, EHDR, 2);
        put_le(b, 54, PHDR, 2);
        put_le(b, 56, segments.size(), 2);
        put_le(b, 58, SHDR, 2);
        put_le(b, 60, shnum, 2);
        put_le(b, 62, shstrndx, 2);
        for (size_t i = 0; i < segments.size(); ++i) {
            const Segment& s = segments[i];
            size_t at = EHDR + PHDR * i;
            put_le(b, at + 0, s.type, 4);
            put_le(b, at + 4, s.flags, 4);
            put_le(b, at + 8, seg_off[i], 8);
            put_le(b, at + 16, s.vaddr, 8);
            put_le(b, at + 24, s.paddr, 8);
            put_le(b, at + 32, s.data.size(), 8);
            put_le(b, at + 40, s.memsz ? s.memsz : s.data.size(), 8);
            put_le(b, at + 48, s.type == e::PT_NOTE ? 4 : 0x1000, 8);
        }
        return b;
    }
};

// Program header fields.
constexpr size_t P_TYPE = 0, P_FLAGS = 4, P_OFFSET = 8, P_VADDR = 16, P_PADDR = 24, P_FILESZ = 32,
                 P_MEMSZ = 40;
void set_ph(Blob& b, size_t i, size_t field, uint64_t v) {
    put_le(b, EHDR + PHDR * i + field, v, field == P_TYPE || field == P_FLAGS ? 4 : 8);
}

Blob pattern(size_t n, uint8_t seed) {
    Blob b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
    return b;
}

// A Linux 6.1 x86-64 vmlinux in miniature: text at 0xffffffff81000000 (p_paddr 16 MiB), data
// with a .bss tail, the per-CPU segment linked at p_vaddr 0 and placed by p_paddr after the
// data, and xen-head.S's notes next to a GNU build-id note.
constexpr uint64_t LINUX_BASE = 0xffffffff80000000;
constexpr uint64_t LINUX_TEXT = 0xffffffff81000000;
constexpr uint64_t LINUX_ENTRY = LINUX_TEXT + 0x120;       // startup_xen
constexpr uint64_t LINUX_HYPERCALL = LINUX_TEXT + 0x1000;  // hypercall_page
constexpr uint64_t LINUX_P2M = 0x8000000000;               // PUD_SIZE * PTRS_PER_PUD
constexpr uint32_t LINUX_SUPPORTED =
    (1u << XENFEAT_writable_page_tables) | (1u << XENFEAT_dom0) | (1u << XENFEAT_linux_rsdp_unrestricted);

std::vector<Note> linux_notes() {
    return {
        Note{"GNU", 3, pattern(20, 1)},  // NT_GNU_BUILD_ID
        xen(XEN_ELFNOTE_GUEST_OS, asciz("linux")),
        xen(XEN_ELFNOTE_GUEST_VERSION, asciz("2.6")),
        xen(XEN_ELFNOTE_XEN_VERSION, asciz("xen-3.0")),
        xen(XEN_ELFNOTE_VIRT_BASE, num(LINUX_BASE)),
        xen(XEN_ELFNOTE_INIT_P2M, num(LINUX_P2M)),
        xen(XEN_ELFNOTE_ENTRY, num(LINUX_ENTRY)),
        xen(XEN_ELFNOTE_HYPERCALL_PAGE, num(LINUX_HYPERCALL)),
        xen(XEN_ELFNOTE_FEATURES, ascii("!writable_page_tables|pae_pgdir_above_4gb")),
        xen(XEN_ELFNOTE_SUPPORTED_FEATURES, num(LINUX_SUPPORTED, 4)),
        xen(XEN_ELFNOTE_PAE_MODE, asciz("yes")),
        xen(XEN_ELFNOTE_L1_MFN_VALID,
            [] {
                Blob b = num(1);
                put_le(b, 8, 1, 8);
                return b;
            }()),
        xen(XEN_ELFNOTE_SUSPEND_CANCEL, num(1, 4)),
        xen(XEN_ELFNOTE_MOD_START_PFN, num(1, 4)),
        xen(XEN_ELFNOTE_HV_START_LOW, num(0xffff800000000000)),
        xen(XEN_ELFNOTE_PADDR_OFFSET, num(0)),
        Note{"Linux", 0x100, num(0, 4)},
    };
}

ElfBuilder linux_like(std::vector<Note> notes = linux_notes()) {
    ElfBuilder b;
    b.entry = LINUX_TEXT;  // ELF e_entry is startup_64; Xen's ENTRY note wins
    b.segments.push_back({e::PT_LOAD, e::PF_R | e::PF_X, LINUX_TEXT, 0x1000000, pattern(0x3000, 11), 0});
    b.segments.push_back(
        {e::PT_LOAD, e::PF_R | e::PF_W, 0xffffffff82000000, 0x2000000, pattern(0x1000, 22), 0x2000});
    b.segments.push_back({e::PT_LOAD, e::PF_R | e::PF_W, 0, 0x2002000, pattern(0x800, 33), 0x1000});
    b.segments.push_back({e::PT_NOTE, e::PF_R, 0, 0, note_bytes(notes), 0});
    return b;
}

// A minimal kernel linked at 1 MiB with VIRT_BASE 0, so VA == pseudo-physical address.
ElfBuilder simple_kernel(std::vector<Note> notes) {
    ElfBuilder b;
    b.entry = 0x100000;
    b.segments.push_back(
        {e::PT_LOAD, e::PF_R | e::PF_W | e::PF_X, 0x100000, 0x100000, pattern(0x2000, 5), 0x3000});
    b.segments.push_back({e::PT_NOTE, e::PF_R, 0, 0, note_bytes(notes), 0});
    return b;
}
std::vector<Note> simple_notes() {
    return {xen(XEN_ELFNOTE_LOADER, asciz("generic")), xen(XEN_ELFNOTE_XEN_VERSION, asciz("xen-3.0")),
            xen(XEN_ELFNOTE_VIRT_BASE, num(0, 4))};
}

// ---------------------------------------------------------------------------------------------
// Parsing.

std::string dump(const pv::Diagnostics& d) {
    std::string s;
    for (size_t i = 0; i < d.count(); ++i) {
        s += d[i].severity == pv::Severity::error ? "  error: " : "  warning: ";
        s += d[i].message;
        s += "\n";
    }
    return s;
}

// Parses from a buffer of exactly the image's size, so that ASan sees any overread.
struct Parse {
    std::unique_ptr<uint8_t[]> buf;
    size_t size = 0;
    pv::ElfInfo elf;
    pv::XenGuestParams params;
    pv::Diagnostics diags;
    bool elf_ok = false;
    bool xen_ok = false;
    pv::Errno err = static_cast<pv::Errno>(0);

    explicit Parse(const Blob& image, size_t limit = SIZE_MAX) {
        size = image.size() < limit ? image.size() : limit;
        buf.reset(new uint8_t[size ? size : 1]);
        if (size) std::memcpy(buf.get(), image.data(), size);
        run();
    }
    void run() {
        auto r = pv::elf_parse(buf.get(), size, elf, diags);
        elf_ok = r.ok();
        if (!elf_ok) {
            err = r.error();
            return;
        }
        auto x = pv::xen_parse_guest(elf, params, diags);
        xen_ok = x.ok();
        if (!xen_ok) err = x.error();
    }
    bool ok() const { return elf_ok && xen_ok; }
    bool says(const char* text) const { return diags.contains(text); }
};

#define EXPECT_REJECTED(p, text)                                                      \
    do {                                                                              \
        EXPECT_FALSE((p).ok());                                                       \
        EXPECT_EQ((p).err, XEN_EINVAL);                                               \
        EXPECT_TRUE((p).says(text)) << "want: " << (text) << "\n" << dump((p).diags); \
        EXPECT_GE((p).diags.errors(), 1u);                                            \
    } while (0)

// A load target over [base, base + size) of guest virtual space that records every write and
// flags any outside it.
class BufferTarget final : public pv::ElfLoadTarget {
public:
    BufferTarget(uint64_t base, uint64_t size) : base_(base), mem_(size, 0xAA) {}
    pv::Result<void> copy(uint64_t dest, const uint8_t* src, uint64_t len) override {
        if (!inside(dest, len)) return pv::error(XEN_EFAULT);
        std::memcpy(&mem_[dest - base_], src, len);
        ++copies;
        return pv::ok();
    }
    pv::Result<void> zero(uint64_t dest, uint64_t len) override {
        if (!inside(dest, len)) return pv::error(XEN_EFAULT);
        std::memset(&mem_[dest - base_], 0, len);
        ++zeroes;
        return pv::ok();
    }
    uint8_t at(uint64_t va) const { return mem_.at(va - base_); }
    int copies = 0, zeroes = 0, outside = 0;

private:
    bool inside(uint64_t dest, uint64_t len) {
        bool in = dest >= base_ && len <= mem_.size() && dest - base_ <= mem_.size() - len;
        if (!in) ++outside;
        return in;
    }
    uint64_t base_;
    Blob mem_;
};

// ---------------------------------------------------------------------------------------------
// Valid kernels.

TEST(ElfParse, LinuxLikeKernel) {
    Parse p(linux_like().build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.diags.errors(), 0u) << dump(p.diags);

    EXPECT_EQ(p.elf.load_count, 3u);
    EXPECT_EQ(p.elf.pstart, 0x1000000u);
    EXPECT_EQ(p.elf.pend, 0x2003000u);
    EXPECT_EQ(p.elf.entry, LINUX_TEXT);
    EXPECT_EQ(p.elf.load[2].vaddr, 0u);  // the per-CPU segment

    const pv::XenGuestParams& x = p.params;
    EXPECT_EQ(x.source, pv::XenParamSource::notes);
    EXPECT_STREQ(x.guest_os, "linux");
    EXPECT_STREQ(x.guest_version, "2.6");
    EXPECT_STREQ(x.xen_version, "xen-3.0");
    EXPECT_STREQ(x.loader, "");
    EXPECT_EQ(x.virt_base, LINUX_BASE);
    EXPECT_EQ(x.paddr_offset, 0u);
    EXPECT_EQ(x.virt_entry, LINUX_ENTRY);
    EXPECT_EQ(x.virt_hypercall, LINUX_HYPERCALL);
    EXPECT_EQ(x.p2m_base, LINUX_P2M);
    EXPECT_EQ(x.virt_hv_start_low, 0xffff800000000000u);
    EXPECT_TRUE(x.unmapped_initrd);
    EXPECT_TRUE(x.suspend_cancel);
    EXPECT_FALSE(x.bsd_symtab);
    EXPECT_EQ(x.pae, pv::XenPaeMode::extended_cr3);
    EXPECT_EQ(x.l1_mfn_valid_pairs, 1u);
    EXPECT_EQ(x.l1_mfn_valid_mask, 1u);
    EXPECT_EQ(x.l1_mfn_valid_value, 1u);
    EXPECT_EQ(x.phys_entry, pv::XenGuestParams::UNSET);

    // FEATURES plus SUPPORTED_FEATURES; only writable_page_tables is required.
    EXPECT_EQ(x.f_supported[0], LINUX_SUPPORTED | (1u << XENFEAT_pae_pgdir_above_4gb));
    EXPECT_EQ(x.f_required[0], 1u << XENFEAT_writable_page_tables);
    EXPECT_TRUE(x.feature_required(XENFEAT_writable_page_tables));
    EXPECT_FALSE(x.feature_required(XENFEAT_pae_pgdir_above_4gb));
    EXPECT_TRUE(x.feature_supported(XENFEAT_dom0));
    EXPECT_FALSE(x.feature_supported(XENFEAT_auto_translated_physmap));
    EXPECT_FALSE(x.feature_supported(1000));

    EXPECT_TRUE(x.saw_note(XEN_ELFNOTE_SUPPORTED_FEATURES));
    EXPECT_TRUE(x.saw_note(XEN_ELFNOTE_INIT_P2M));
    EXPECT_FALSE(x.saw_note(XEN_ELFNOTE_PHYS32_ENTRY));
    EXPECT_FALSE(x.saw_note(XEN_ELFNOTE_BSD_SYMTAB));

    EXPECT_EQ(x.virt_offset, LINUX_BASE);
    EXPECT_EQ(x.virt_kstart, 0xffffffff81000000u);
    EXPECT_EQ(x.virt_kend, 0xffffffff82003000u);
}

TEST(ElfParse, SimpleKernelAtOneMiB) {
    Parse p(simple_kernel(simple_notes()).build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.params.virt_base, 0u);
    EXPECT_EQ(p.params.virt_offset, 0u);
    EXPECT_EQ(p.params.virt_entry, 0x100000u);  // from e_entry
    EXPECT_EQ(p.params.virt_kstart, 0x100000u);
    EXPECT_EQ(p.params.virt_kend, 0x103000u);
    EXPECT_EQ(p.params.virt_hypercall, pv::XenGuestParams::UNSET);
    EXPECT_EQ(p.params.p2m_base, pv::XenGuestParams::UNSET);
    EXPECT_STREQ(p.params.loader, "generic");
    EXPECT_EQ(p.params.f_supported[0], 0u);
}

TEST(ElfParse, VirtBaseDefaultsToZero) {
    Parse p(simple_kernel(
                {xen(XEN_ELFNOTE_LOADER, asciz("generic")), xen(XEN_ELFNOTE_XEN_VERSION, asciz("xen-3.0"))})
                .build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.params.virt_base, 0u);
    EXPECT_EQ(p.params.paddr_offset, 0u);
    EXPECT_FALSE(p.params.saw_note(XEN_ELFNOTE_VIRT_BASE));
}

// Kernels of the 2.6.18 era put virtual addresses in p_paddr and said so with PADDR_OFFSET.
TEST(ElfParse, PaddrOffsetTranslatesPhysicalAddresses) {
    ElfBuilder b = simple_kernel(
        {xen(XEN_ELFNOTE_LOADER, asciz("generic")), xen(XEN_ELFNOTE_XEN_VERSION, asciz("xen-3.0")),
         xen(XEN_ELFNOTE_VIRT_BASE, num(LINUX_BASE)), xen(XEN_ELFNOTE_PADDR_OFFSET, num(LINUX_BASE))});
    b.segments[0].vaddr = b.segments[0].paddr = LINUX_BASE + 0x200000;
    b.entry = LINUX_BASE + 0x200000;
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.params.virt_offset, 0u);
    EXPECT_EQ(p.params.virt_kstart, LINUX_BASE + 0x200000);
}

// Xen's elf_note_numeric reads 1, 2, 4 or 8 little-endian bytes.
TEST(ElfParse, NumericNotesOfEverySize) {
    for (size_t size : {1, 2, 4, 8}) {
        auto notes = simple_notes();
        notes.push_back(xen(XEN_ELFNOTE_MOD_START_PFN, num(1, size)));
        notes.push_back(xen(XEN_ELFNOTE_HV_START_LOW, num(0x8877665544332211, size)));
        if (size >= 4) notes.push_back(xen(XEN_ELFNOTE_ENTRY, num(0x100040, size)));
        Parse p(simple_kernel(notes).build());
        ASSERT_TRUE(p.ok()) << size << "\n" << dump(p.diags);
        EXPECT_TRUE(p.params.unmapped_initrd);
        EXPECT_EQ(p.params.virt_hv_start_low, 0x8877665544332211 & (~uint64_t{0} >> (64 - 8 * size)));
        EXPECT_EQ(p.params.virt_entry, size < 4 ? 0x100000u : 0x100040u);  // else e_entry
    }
}

TEST(ElfParse, NotesFromSectionsWhenNoNoteSegment) {
    ElfBuilder b = simple_kernel({});
    b.segments.pop_back();  // no PT_NOTE
    b.sections.push_back({".note.Xen", e::SHT_NOTE, note_bytes(simple_notes())});
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.params.source, pv::XenParamSource::notes);
    EXPECT_STREQ(p.params.loader, "generic");
}

// Sections are consulted only when the segments held no Xen note at all.
TEST(ElfParse, SectionNotesAreAFallbackOnly) {
    ElfBuilder b = simple_kernel({Note{"GNU", 3, pattern(20, 1)}});
    b.sections.push_back({".note.Xen", e::SHT_NOTE, note_bytes(simple_notes())});
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);

    ElfBuilder both = simple_kernel(simple_notes());
    both.sections.push_back(
        {".note.Xen", e::SHT_NOTE, note_bytes({xen(XEN_ELFNOTE_GUEST_OS, asciz("ignored"))})});
    Parse q(both.build());
    ASSERT_TRUE(q.ok()) << dump(q.diags);
    EXPECT_STREQ(q.params.guest_os, "");
}

TEST(ElfParse, LegacyXenGuestSection) {
    ElfBuilder b = simple_kernel({});
    b.segments.pop_back();
    // p_paddr holds virtual addresses, so ELF_PADDR_OFFSET defaults to VIRT_BASE.
    b.segments[0].vaddr = b.segments[0].paddr = LINUX_BASE + 0x100000;
    b.entry = LINUX_BASE + 0x100000;
    b.sections.push_back(
        {"__xen_guest", 1,
         asciz("GUEST_OS=linux,GUEST_VER=2.6,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,"
               "HYPERCALL_PAGE=0x101,PAE=yes[extended-cr3],FEATURES=writable_page_tables|!dom0,"
               "BSD_SYMTAB")});
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.params.source, pv::XenParamSource::legacy_guest_info);
    EXPECT_STREQ(p.params.guest_os, "linux");
    EXPECT_STREQ(p.params.xen_version, "xen-3.0");
    EXPECT_EQ(p.params.virt_base, LINUX_BASE);
    EXPECT_EQ(p.params.paddr_offset, LINUX_BASE);
    EXPECT_EQ(p.params.virt_kstart, LINUX_BASE + 0x100000);
    EXPECT_EQ(p.params.virt_hypercall, LINUX_BASE + 0x101000);
    EXPECT_EQ(p.params.pae, pv::XenPaeMode::extended_cr3);
    EXPECT_TRUE(p.params.bsd_symtab);
    EXPECT_TRUE(p.says("BSD_SYMTAB"));
    EXPECT_TRUE(p.params.feature_required(XENFEAT_dom0));
    EXPECT_TRUE(p.params.feature_supported(XENFEAT_writable_page_tables));
    EXPECT_FALSE(p.params.feature_required(XENFEAT_writable_page_tables));
}

TEST(ElfParse, LegacyBadNumber) {
    ElfBuilder b = simple_kernel({});
    b.segments.pop_back();
    b.sections.push_back({"__xen_guest", 1, asciz("LOADER=generic,XEN_VER=xen-3.0,VIRT_BASE=12q")});
    Parse p(b.build());
    EXPECT_REJECTED(p, "VIRT_BASE value '12q' is not a number");
}

TEST(ElfParse, PaeModeBimodalAndUnknownNotes) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_PAE_MODE, asciz("yes,bimodal")));
    notes.push_back(xen(XEN_ELFNOTE_MAX + 1, num(7)));  // a note from the future
    notes.push_back(xen(XEN_ELFNOTE_INFO, asciz("A=B")));
    notes.push_back(xen(XEN_ELFNOTE_BSD_SYMTAB, asciz("no")));
    Parse p(simple_kernel(notes).build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.params.pae, pv::XenPaeMode::bimodal);
    EXPECT_FALSE(p.params.bsd_symtab);
}

TEST(ElfParse, OverlongStringsAreTruncatedAsXenDoes) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_GUEST_VERSION, asciz("6.1.0-28-amd64-and-then-some")));
    notes.push_back(xen(XEN_ELFNOTE_GUEST_OS, ascii("Li\x01nux")));
    Parse p(simple_kernel(notes).build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_STREQ(p.params.guest_version, "6.1.0-28-amd64-");
    EXPECT_STREQ(p.params.guest_os, "Li\x01nux");
}

TEST(ElfParse, UnknownOptionalFeatureIsAWarning) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_FEATURES, asciz("|writable_descriptor_tables||future_thing|")));
    Parse p(simple_kernel(notes).build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_TRUE(p.says("FEATURES: unknown feature 'future_thing' ignored"));
    EXPECT_EQ(p.params.f_supported[0], 1u << XENFEAT_writable_descriptor_tables);
}

TEST(ElfParse, PermissionlessLoadSegmentIsIgnored) {
    ElfBuilder b = simple_kernel(simple_notes());
    b.segments.push_back({e::PT_LOAD, 0, 0x100000, 0x100000, pattern(16, 1), 0});  // would overlap
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_TRUE(p.says("segment 2: PT_LOAD without R/W/X permission ignored"));
    EXPECT_EQ(p.elf.load_count, 1u);
}

TEST(ElfParse, ZeroSizedLoadSegmentOccupiesNothing) {
    ElfBuilder b = simple_kernel(simple_notes());
    b.segments.push_back({e::PT_LOAD, e::PF_R, 0x100800, 0x100800, {}, 0});
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_EQ(p.elf.load_count, 1u);
}

// xen-head.S pads with .balign 4, but a note segment whose last padding is cut off still parses.
TEST(ElfParse, LastNotePaddingMayBeCutOff) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_GUEST_OS, ascii("linux")));  // 5 bytes, 3 of padding
    ElfBuilder b = simple_kernel(notes);
    b.segments[1].data.resize(b.segments[1].data.size() - 3);
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    EXPECT_STREQ(p.params.guest_os, "linux");
}

// ---------------------------------------------------------------------------------------------
// Loading.

TEST(ElfLoad, CopiesFileBytesAndZeroesTheRest) {
    ElfBuilder b = linux_like();
    Parse p(b.build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    const uint64_t kstart = p.params.virt_kstart, kend = p.params.virt_kend;
    BufferTarget t(kstart, kend - kstart);
    pv::Diagnostics d;
    auto r = pv::elf_load(p.elf, p.params, t, d);
    ASSERT_TRUE(r.ok()) << dump(d);
    EXPECT_EQ(t.outside, 0);
    EXPECT_EQ(t.copies, 3);
    EXPECT_EQ(t.zeroes, 2);

    // Text: copied whole.
    const Blob& text = b.segments[0].data;
    for (size_t i = 0; i < text.size(); ++i) ASSERT_EQ(t.at(LINUX_TEXT + i), text[i]) << i;
    // Between text and data: untouched.
    EXPECT_EQ(t.at(LINUX_TEXT + 0x3000), 0xAA);
    EXPECT_EQ(t.at(0xffffffff81ffffff), 0xAA);
    // Data then .bss.
    EXPECT_EQ(t.at(0xffffffff82000000), b.segments[1].data[0]);
    EXPECT_EQ(t.at(0xffffffff82000fff), b.segments[1].data[0xfff]);
    EXPECT_EQ(t.at(0xffffffff82001000), 0);
    EXPECT_EQ(t.at(0xffffffff82001fff), 0);
    // The per-CPU segment went by p_paddr, not to its p_vaddr 0.
    EXPECT_EQ(t.at(0xffffffff82002000), b.segments[2].data[0]);
    EXPECT_EQ(t.at(0xffffffff820027ff), b.segments[2].data[0x7ff]);
    EXPECT_EQ(t.at(0xffffffff82002800), 0);
    EXPECT_EQ(t.at(0xffffffff82002fff), 0);
}

TEST(ElfLoad, TargetErrorsAreReported) {
    Parse p(linux_like().build());
    ASSERT_TRUE(p.ok()) << dump(p.diags);
    // Too small a target: the data segment's .bss does not fit.
    BufferTarget t(p.params.virt_kstart, 0x1001800);
    pv::Diagnostics d;
    auto r = pv::elf_load(p.elf, p.params, t, d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EFAULT);
    EXPECT_TRUE(d.contains("segment 1: zeroing 0x1000 bytes at 0xffffffff82001000 failed (EFAULT)"))
        << dump(d);
}

TEST(ElfLoad, RechecksTamperedInfo) {
    Parse p(simple_kernel(simple_notes()).build());
    ASSERT_TRUE(p.ok());
    pv::ElfInfo bad = p.elf;
    bad.load[0].offset = p.size;  // past the image
    BufferTarget t(0, 0x200000);
    pv::Diagnostics d;
    auto r = pv::elf_load(bad, 0, t, d);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(d.contains("segment 0 does not lie within the image"));
    EXPECT_EQ(t.copies, 0);
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken images: the ELF container.

TEST(ElfHostile, TruncatedHeader) {
    Blob good = simple_kernel(simple_notes()).build();
    for (size_t n : {0, 1, 4, 16, 63}) {
        Parse p(good, n);
        EXPECT_REJECTED(p, "too small for an ELF header");
    }
    pv::ElfInfo info;
    pv::Diagnostics d;
    EXPECT_FALSE(pv::elf_parse(nullptr, 100, info, d).ok());
}

TEST(ElfHostile, HeaderIdentity) {
    Blob good = simple_kernel(simple_notes()).build();
    struct Case {
        size_t off, size;
        uint64_t value;
        const char* text;
    } cases[] = {
        {0, 1, 0x7e, "bad magic"},
        {3, 1, 'f', "bad magic"},
        {4, 1, e::ELFCLASS32, "32-bit ELF image"},
        {4, 1, 3, "bad ELF class 3"},
        {5, 1, e::ELFDATA2MSB, "big-endian"},
        {5, 1, 0, "bad ELF data encoding 0"},
        {6, 1, 2, "ELF version 2/1, expected 1"},
        {20, 4, 0, "ELF version 1/0, expected 1"},
        {18, 2, e::EM_386, "ELF machine 3 is not x86-64 (62)"},
        {18, 2, 183, "ELF machine 183 is not x86-64"},
        {16, 2, e::ET_DYN, "ELF type 3 is not ET_EXEC"},
        {16, 2, e::ET_REL, "ELF type 1 is not ET_EXEC"},
        {52, 2, 52, "ELF header size 52, expected 64"},
    };
    for (const Case& c : cases) {
        Blob b = good;
        put_le(b, c.off, c.value, c.size);
        Parse p(b);
        EXPECT_REJECTED(p, c.text);
    }
}

TEST(ElfHostile, ProgramHeaderTable) {
    Blob good = simple_kernel(simple_notes()).build();
    struct Case {
        size_t off, size;
        uint64_t value;
        const char* text;
    } cases[] = {
        {56, 2, 0, "no program headers"},
        {56, 2, e::PN_XNUM, "PN_XNUM"},
        {54, 2, 32, "program header size 32, expected 56"},
        {54, 2, 0, "program header size 0"},
        {32, 8, 0x100000, "program header table (offset 0x100000, 0x70 bytes) runs past the end"},
        {32, 8, good.size() - 56, "program header table"},
        {32, 8, ~uint64_t{0} - 8, "program header table"},  // phoff + size wraps
        {56, 2, 0xfffe, "program header table (offset 0x40, 0x37ff90 bytes) runs past the end"},
    };
    for (const Case& c : cases) {
        Blob b = good;
        put_le(b, c.off, c.value, c.size);
        Parse p(b);
        EXPECT_REJECTED(p, c.text);
    }
}

TEST(ElfHostile, SectionHeaderTable) {
    ElfBuilder builder = simple_kernel(simple_notes());
    builder.sections.push_back({".text", 1, pattern(8, 1)});
    Blob good = builder.build();
    ASSERT_TRUE(Parse(good).ok());
    struct Case {
        size_t off, size;
        uint64_t value;
        const char* text;
    } cases[] = {
        {40, 8, good.size(), "section header table"},
        {40, 8, ~uint64_t{0} - 63, "section header table"},
        {60, 2, 0xffff, "section header table"},
        {58, 2, 40, "section header size 40, expected 64"},
    };
    for (const Case& c : cases) {
        Blob b = good;
        put_le(b, c.off, c.value, c.size);
        Parse p(b);
        EXPECT_REJECTED(p, c.text);
    }
    // Without sections, e_shoff is not looked at.
    Blob none = simple_kernel(simple_notes()).build();
    put_le(none, 40, ~uint64_t{0}, 8);
    EXPECT_TRUE(Parse(none).ok());
}

TEST(ElfHostile, FileSizeAboveMemSize) {
    Blob b = simple_kernel(simple_notes()).build();
    set_ph(b, 0, P_MEMSZ, 0x1000);
    Parse p(b);
    EXPECT_REJECTED(p, "segment 0: p_filesz 0x2000 exceeds p_memsz 0x1000");
}

TEST(ElfHostile, SegmentPastEndOfFile) {
    Blob good = simple_kernel(simple_notes()).build();
    {
        Blob b = good;
        set_ph(b, 0, P_FILESZ, good.size());
        set_ph(b, 0, P_MEMSZ, good.size());
        Parse p(b);
        EXPECT_REJECTED(p, "segment 0 (offset 0x");
        EXPECT_TRUE(p.says("runs past the end of the file"));
    }
    {
        Blob b = good;
        set_ph(b, 0, P_OFFSET, ~uint64_t{0} - 0x1000);  // offset + filesz wraps
        Parse p(b);
        EXPECT_REJECTED(p,
                        "segment 0 (offset 0xffffffffffffefff, 0x2000 bytes) runs past the end of the file");
    }
}

TEST(ElfHostile, AddressWrap) {
    Blob good = simple_kernel(simple_notes()).build();
    {
        Blob b = good;
        set_ph(b, 0, P_VADDR, 0xfffffffffffff000);
        Parse p(b);
        EXPECT_REJECTED(p, "segment 0: p_vaddr 0xfffffffffffff000 + p_memsz 0x3000 wraps around");
    }
    {
        Blob b = good;
        set_ph(b, 0, P_PADDR, 0xffffffffffffe000);
        Parse p(b);
        EXPECT_REJECTED(p, "segment 0: p_paddr 0xffffffffffffe000 + p_memsz 0x3000 wraps around");
    }
}

TEST(ElfHostile, OverlappingSegments) {
    ElfBuilder b = linux_like();
    b.segments[2].paddr = 0x2001800;  // per-CPU into the data segment's .bss
    Parse p(b.build());
    EXPECT_REJECTED(p, "segment 2 (paddr 0x2001800-0x2002800) overlaps segment 1 at 0x2001800");

    ElfBuilder c = linux_like();
    c.segments[0].paddr = 0x1fff000;  // text's tail into data
    Parse q(c.build());
    EXPECT_REJECTED(q, "segment 1 (paddr 0x2000000-0x2002000) overlaps segment 0 at 0x2000000");

    ElfBuilder d = linux_like();
    d.segments[1].paddr = 0x0800000;  // data wholly containing text
    d.segments[1].memsz = 0x4000000;
    Parse r(d.build());
    EXPECT_REJECTED(r, "overlaps segment 0 at 0x1000000");
}

TEST(ElfHostile, NoLoadSegment) {
    ElfBuilder b = simple_kernel(simple_notes());
    b.segments[0].type = e::PT_NULL;
    Parse p(b.build());
    EXPECT_REJECTED(p, "no loadable (PT_LOAD) segment");

    ElfBuilder c = simple_kernel(simple_notes());
    c.segments[0].flags = 0;
    Parse q(c.build());
    EXPECT_REJECTED(q, "no loadable (PT_LOAD) segment");
}

TEST(ElfHostile, TooManySegments) {
    ElfBuilder b = simple_kernel(simple_notes());
    for (uint64_t i = 1; i <= pv::ElfInfo::MAX_LOAD_SEGMENTS; ++i)
        b.segments.push_back({e::PT_LOAD, e::PF_R, 0, 0x200000 + 0x1000 * i, pattern(16, 1), 0});
    Parse p(b.build());
    EXPECT_REJECTED(p, "more than 16 loadable segments");
}

TEST(ElfHostile, ImageSpanLimit) {
    ElfBuilder b = simple_kernel(simple_notes());
    b.segments.push_back({e::PT_LOAD, e::PF_R, 0, 0x100000 + pv::GiB, pattern(16, 1), 0});
    Parse p(b.build());
    EXPECT_REJECTED(p, "over the 1024 MiB limit");
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken images: the Xen parameters.

TEST(XenHostile, NotAXenKernel) {
    Parse none(simple_kernel({Note{"GNU", 3, pattern(20, 1)}}).build());
    EXPECT_REJECTED(none, "no Xen ELF notes and no __xen_guest section");

    ElfBuilder b = simple_kernel({});
    b.segments.pop_back();
    Parse bare(b.build());
    EXPECT_REJECTED(bare, "not a Xen PV kernel");

    // A note called "Xenon" or "Xe" is not Xen's.
    Parse named(simple_kernel({Note{"Xenon", XEN_ELFNOTE_LOADER, asciz("generic")},
                               Note{"Xe", XEN_ELFNOTE_XEN_VERSION, asciz("xen-3.0")}})
                    .build());
    EXPECT_REJECTED(named, "not a Xen PV kernel");
}

// Xen skips PT_NOTE segments at offset 0 (binutils once left p_offset unset).
TEST(XenHostile, NoteSegmentAtOffsetZeroIsSkipped) {
    Blob b = simple_kernel(simple_notes()).build();
    set_ph(b, 1, P_OFFSET, 0);
    Parse p(b);
    EXPECT_REJECTED(p, "not a Xen PV kernel");
}

TEST(XenHostile, WrongLoaderOrXenVersion) {
    Parse os(simple_kernel(
                 {xen(XEN_ELFNOTE_GUEST_OS, asciz("NetBSD")), xen(XEN_ELFNOTE_XEN_VERSION, asciz("xen-3.0"))})
                 .build());
    EXPECT_REJECTED(os, "LOADER '', GUEST_OS 'NetBSD': only generic-loader or Linux kernels load");

    Parse ver(simple_kernel(
                  {xen(XEN_ELFNOTE_LOADER, asciz("generic")), xen(XEN_ELFNOTE_XEN_VERSION, asciz("xen-2.0"))})
                  .build());
    EXPECT_REJECTED(ver, "XEN_VERSION 'xen-2.0': the kernel is not built for xen-3.0");

    Parse missing(simple_kernel({xen(XEN_ELFNOTE_LOADER, asciz("generic"))}).build());
    EXPECT_REJECTED(missing, "XEN_VERSION ''");

    // Hostile text is shown sanitised and shortened.
    Parse ugly(simple_kernel({xen(XEN_ELFNOTE_GUEST_OS, ascii("\x1b[2J\x07"))}).build());
    EXPECT_REJECTED(ugly, "GUEST_OS '?[2J?'");
}

TEST(XenHostile, RequiredUnknownFeature) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_FEATURES, asciz("writable_page_tables|!teleportation")));
    Parse p(simple_kernel(notes).build());
    EXPECT_REJECTED(p, "FEATURES: required feature 'teleportation' is unknown");

    auto bang = simple_notes();
    bang.push_back(xen(XEN_ELFNOTE_FEATURES, asciz("!")));
    Parse q(simple_kernel(bang).build());
    EXPECT_REJECTED(q, "required feature '' is unknown");
}

TEST(XenHostile, BadDescriptorSizes) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_ENTRY, num(0x100000, 3)));
    Parse p(simple_kernel(notes).build());
    EXPECT_REJECTED(p, "note ENTRY: descriptor of 3 bytes, not 1, 2, 4 or 8");

    auto big = simple_notes();
    big.push_back(xen(XEN_ELFNOTE_VIRT_BASE, Blob(16, 0)));
    Parse q(simple_kernel(big).build());
    EXPECT_REJECTED(q, "note VIRT_BASE: descriptor of 16 bytes");

    auto feat = simple_notes();
    feat.push_back(xen(XEN_ELFNOTE_SUPPORTED_FEATURES, Blob(6, 0xff)));
    Parse r(simple_kernel(feat).build());
    EXPECT_REJECTED(r, "note SUPPORTED_FEATURES: 6 bytes, not a multiple of 4");

    auto l1 = simple_notes();
    l1.push_back(xen(XEN_ELFNOTE_L1_MFN_VALID, num(1, 4)));
    Parse s(simple_kernel(l1).build());
    EXPECT_TRUE(s.ok()) << dump(s.diags);
    EXPECT_TRUE(s.says("L1_MFN_VALID: 4 bytes are not 64-bit mask/value pairs; ignored"));
}

TEST(XenHostile, NoteFieldsPastTheirSegment) {
    Blob good = simple_kernel(simple_notes()).build();
    const size_t notes_at = get_le(good, EHDR + PHDR + P_OFFSET, 8);
    const size_t notes_len = get_le(good, EHDR + PHDR + P_FILESZ, 8);
    {
        Blob b = good;
        put_le(b, notes_at, 1000, 4);  // first note's namesz
        Parse p(b);
        EXPECT_REJECTED(p, "note 0 of segment 1: name of 1000 bytes runs past its end");
    }
    {
        Blob b = good;
        put_le(b, notes_at, 0xffffffff, 4);
        Parse p(b);
        EXPECT_REJECTED(p, "name of 4294967295 bytes runs past its end");
    }
    {
        Blob b = good;
        put_le(b, notes_at + 4, 0xfffffffd, 4);  // descsz
        Parse p(b);
        EXPECT_REJECTED(p, "note 0 of segment 1: descriptor of 4294967293 bytes runs past its end");
    }
    {
        // The last note's descriptor reaches one byte beyond the segment (into the file).
        Blob b = good;
        set_ph(b, 1, P_FILESZ, notes_len - 4);
        Parse p(b);
        EXPECT_REJECTED(p, "note 2 of segment 1: descriptor of 4 bytes runs past its end");
    }
    {
        Blob b = good;
        set_ph(b, 1, P_FILESZ, notes_len + 8);  // 8 stray bytes: not a header
        b.resize(b.size() + 8, 0);
        Parse p(b);
        EXPECT_REJECTED(p, "note 3 of segment 1: header truncated (8 bytes left)");
    }
    {
        Blob b = good;
        set_ph(b, 1, P_FILESZ, b.size());
        Parse p(b);
        EXPECT_REJECTED(p, "note segment 1 (offset 0x");
    }
    {
        Blob b = good;
        set_ph(b, 1, P_OFFSET, ~uint64_t{0});
        Parse p(b);
        EXPECT_REJECTED(p, "runs past the end of the file");
    }
}

TEST(XenHostile, NoteSectionPastEndOfFile) {
    ElfBuilder builder = simple_kernel({});
    builder.segments.pop_back();
    builder.sections.push_back({".note.Xen", e::SHT_NOTE, note_bytes(simple_notes())});
    Blob b = builder.build();
    const size_t shoff = get_le(b, 40, 8);
    put_le(b, shoff + SHDR + 32, b.size(), 8);  // section 1's sh_size
    Parse p(b);
    EXPECT_REJECTED(p, "note section 1 (offset 0x");
}

// Empty notes are 12-byte headers: the walk always advances, and the count is bounded as Xen's.
TEST(XenHostile, EmptyNotesDoNotLoop) {
    std::vector<Note> notes(1000, Note{"", 0, {}});
    for (const Note& n : simple_notes()) notes.push_back(n);
    Parse p(simple_kernel(notes).build());
    EXPECT_TRUE(p.ok()) << dump(p.diags);

    std::vector<Note> flood(65537, Note{"", 0, {}});
    Parse q(simple_kernel(flood).build());
    EXPECT_REJECTED(q, "more than 65536 ELF notes");
}

TEST(XenHostile, PaddrOffsetWithoutVirtBase) {
    auto notes = simple_notes();
    notes.erase(notes.begin() + 2);  // VIRT_BASE
    notes.push_back(xen(XEN_ELFNOTE_PADDR_OFFSET, num(0)));
    Parse p(simple_kernel(notes).build());
    EXPECT_REJECTED(p, "PADDR_OFFSET is given without VIRT_BASE");
}

TEST(XenHostile, VirtBaseAboveImage) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(0x200000)));
    notes.push_back(xen(XEN_ELFNOTE_PADDR_OFFSET, num(0x200000)));
    Parse p(simple_kernel(notes).build());
    EXPECT_REJECTED(p, "VIRT_BASE 0x200000 is above the kernel's start 0x100000");
}

TEST(XenHostile, TranslationWraps) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(0xffffffffffeff000)));
    Parse p(simple_kernel(notes).build());
    EXPECT_REJECTED(p, "kernel image (paddr 0x100000-0x103000) + 0xffffffffffeff000 wraps around");
}

TEST(XenHostile, ImageInHypervisorRange) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(HYPERVISOR_VIRT_START)));
    ElfBuilder b = simple_kernel(notes);
    b.entry = HYPERVISOR_VIRT_START + 0x100000;
    Parse p(b.build());
    EXPECT_REJECTED(p,
                    "kernel image 0xffff800000100000-0xffff800000103000 (from VIRT_BASE 0xffff800000000000) "
                    "overlaps the hyp");

    // A kernel above the range whose bootstrap region, mapped from VIRT_BASE up, spans it
    // (Xen's dom0 builder: "DOM0 image overlaps with Xen private area").
    ElfBuilder c = simple_kernel(simple_notes());
    c.segments[0].vaddr = c.segments[0].paddr = HYPERVISOR_VIRT_END + 0x100000;
    c.entry = HYPERVISOR_VIRT_END + 0x100000;
    Parse q(c.build());
    EXPECT_REJECTED(q, "(from VIRT_BASE 0x0) overlaps the hypervisor");

    auto end = simple_notes();
    end.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(HYPERVISOR_VIRT_END - 0x101000)));
    ElfBuilder d = simple_kernel(end);
    d.entry = HYPERVISOR_VIRT_END - 0x1000;
    Parse r(d.build());
    EXPECT_REJECTED(r, "overlaps the hypervisor");

    // Right after the range is guest territory (L4 slot 272).
    auto after = simple_notes();
    after.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(HYPERVISOR_VIRT_END)));
    ElfBuilder f = simple_kernel(after);
    f.entry = HYPERVISOR_VIRT_END + 0x100000;
    Parse s(f.build());
    EXPECT_TRUE(s.ok()) << dump(s.diags);
}

TEST(XenHostile, NonCanonicalImage) {
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(0x0000800000000000)));
    ElfBuilder b = simple_kernel(notes);
    b.entry = 0x0000800000100000;
    Parse p(b.build());
    EXPECT_REJECTED(p,
                    "kernel image 0x800000100000-0x800000103000 (VIRT_BASE 0x800000000000) is not canonical");

    // An image ending with the last byte of the lower half is fine.
    auto top = simple_notes();
    top.push_back(xen(XEN_ELFNOTE_VIRT_BASE, num(0x00007fffffefd000)));
    ElfBuilder c = simple_kernel(top);
    c.entry = 0x00007ffffffff000;
    Parse q(c.build());
    EXPECT_TRUE(q.ok()) << dump(q.diags);
    EXPECT_EQ(q.params.virt_kend, 0x0000800000000000u);
}

TEST(XenHostile, EntryOutsideImage) {
    for (uint64_t entry : {uint64_t{0}, uint64_t{0xfffff}, uint64_t{0x103000}, ~uint64_t{1}}) {
        auto notes = simple_notes();
        notes.push_back(xen(XEN_ELFNOTE_ENTRY, num(entry)));
        Parse p(simple_kernel(notes).build());
        EXPECT_REJECTED(p, "is outside the kernel image 0x100000-0x103000");
    }
    // From e_entry too.
    ElfBuilder b = simple_kernel(simple_notes());
    b.entry = 0x50;
    Parse q(b.build());
    EXPECT_REJECTED(q, "entry point 0x50 is outside the kernel image 0x100000-0x103000");
    // The last byte is inside.
    auto last = simple_notes();
    last.push_back(xen(XEN_ELFNOTE_ENTRY, num(0x102fff)));
    EXPECT_TRUE(Parse(simple_kernel(last).build()).ok());
}

TEST(XenHostile, HypercallPage) {
    auto check = [](uint64_t va, const char* text) {
        auto notes = simple_notes();
        notes.push_back(xen(XEN_ELFNOTE_HYPERCALL_PAGE, num(va)));
        Parse p(simple_kernel(notes).build());
        if (text) {
            EXPECT_REJECTED(p, text);
        } else {
            EXPECT_TRUE(p.ok()) << dump(p.diags);
            EXPECT_EQ(p.params.virt_hypercall, va);
        }
    };
    check(0x102000, nullptr);
    check(0x100000, nullptr);
    check(0x101800, "hypercall page 0x101800 is not page-aligned");
    check(0x103000, "hypercall page 0x103000 is outside the kernel image 0x100000-0x103000");
    check(0xff000, "hypercall page 0xff000 is outside");
    check(0xffffffffff000, "is outside");

    // A page straddling the image end would be written past it.
    ElfBuilder b = simple_kernel(simple_notes());
    b.segments[0].memsz = 0x2800;
    auto notes = simple_notes();
    notes.push_back(xen(XEN_ELFNOTE_HYPERCALL_PAGE, num(0x102000)));
    b.segments[1].data = note_bytes(notes);
    Parse p(b.build());
    EXPECT_REJECTED(p, "hypercall page 0x102000 is outside the kernel image 0x100000-0x102800");
}

TEST(XenHostile, InitP2m) {
    auto inside = simple_notes();
    inside.push_back(xen(XEN_ELFNOTE_INIT_P2M, num(0x101000)));
    Parse p(simple_kernel(inside).build());
    EXPECT_REJECTED(p, "INIT_P2M 0x101000 is inside the kernel image");

    auto hv = simple_notes();
    hv.push_back(xen(XEN_ELFNOTE_INIT_P2M, num(HYPERVISOR_VIRT_START)));
    Parse q(simple_kernel(hv).build());
    EXPECT_REJECTED(q, "INIT_P2M 0xffff800000000000 is not a guest virtual address");

    auto hole = simple_notes();
    hole.push_back(xen(XEN_ELFNOTE_INIT_P2M, num(0x0000900000000000)));
    Parse r(simple_kernel(hole).build());
    EXPECT_REJECTED(r, "is not a guest virtual address");
}

// ---------------------------------------------------------------------------------------------
// Random mutation: the parser must neither crash nor read outside the image (ASan), every
// diagnostic must be a bounded string, and whatever it accepts must load inside its own extent.

struct FuzzStats {
    int accepted = 0;
    int loaded = 0;
};

// `iterations` mutants of `good`; `regions` ([offset, length) pairs) are where the structure is,
// so that most mutations hit headers, tables and notes rather than the payload.
void mutate_and_parse(const Blob& good, const std::vector<std::pair<size_t, size_t>>& regions, int iterations,
                      uint64_t seed, FuzzStats& stats) {
    ASSERT_TRUE(Parse(good).ok());
    std::mt19937_64 rng(seed);
    auto structural = [&](size_t width) {
        const auto& [start, len] = regions[rng() % regions.size()];
        return (start + rng() % (len - width + 1)) & ~(width - 1);
    };
    const uint64_t extremes[] = {0,
                                 1,
                                 4,
                                 0x7f,
                                 0xff,
                                 0xffff,
                                 0xfffe,
                                 0x7fffffff,
                                 0xffffffff,
                                 0x100000000,
                                 ~uint64_t{0},
                                 ~uint64_t{0} - 1,
                                 0x8000000000000000};
    for (int iter = 0; iter < iterations; ++iter) {
        Blob b = good;
        switch (rng() % 4) {
        case 0:  // flip random bits anywhere
            for (int k = 1 + rng() % 8; k > 0; --k)
                b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
        case 1:  // random bytes where the structure is
            for (int k = 1 + rng() % 4; k > 0; --k) b[structural(1)] = static_cast<uint8_t>(rng());
            break;
        case 2: {  // an extreme value into an aligned field
            size_t width = size_t{1} << (1 + rng() % 3);
            put_le(b, structural(width), extremes[rng() % std::size(extremes)], width);
            break;
        }
        default:  // truncation, with a mutation
            b.resize(rng() % b.size());
            if (!b.empty()) b[rng() % b.size()] ^= 0xff;
            break;
        }
        Parse p(b);
        for (size_t i = 0; i < p.diags.count(); ++i)
            ASSERT_LT(strnlen(p.diags[i].message, sizeof p.diags[i].message), sizeof p.diags[i].message);
        if (!p.ok()) {
            ASSERT_GE(p.diags.errors(), 1u) << "rejected silently at iteration " << iter;
            ASSERT_EQ(p.err, XEN_EINVAL);
            continue;
        }
        ++stats.accepted;
        ASSERT_LE(p.params.virt_kstart, p.params.virt_entry);
        ASSERT_LT(p.params.virt_entry, p.params.virt_kend);
        const uint64_t span = p.params.virt_kend - p.params.virt_kstart;
        ASSERT_LE(span, pv::ElfInfo::MAX_IMAGE_SPAN);
        if (span > pv::MiB) continue;  // valid but too big to materialise cheaply
        BufferTarget t(p.params.virt_kstart, span);
        pv::Diagnostics d;
        auto r = pv::elf_load(p.elf, p.params, t, d);
        ASSERT_TRUE(r.ok()) << dump(d);
        ASSERT_EQ(t.outside, 0);
        ++stats.loaded;
    }
}

TEST(ElfFuzz, MutationsOfALinuxLikeKernel) {
    // The segments packed together, so that loading a surviving mutant is cheap.
    ElfBuilder builder = linux_like();
    builder.segments[1].vaddr = LINUX_TEXT + 0x3000;
    builder.segments[1].paddr = 0x1003000;
    builder.segments[2].paddr = 0x1005000;
    const Blob good = builder.build();
    const size_t notes_at = get_le(good, EHDR + 3 * PHDR + P_OFFSET, 8);
    const size_t notes_len = get_le(good, EHDR + 3 * PHDR + P_FILESZ, 8);
    FuzzStats stats;
    mutate_and_parse(good, {{0, EHDR + 4 * PHDR}, {notes_at, notes_len}}, 10000, 0x9e3779b97f4a7c15, stats);
    // Enough mutants survive for the load path to have been exercised too.
    EXPECT_GT(stats.accepted, 1000);
    EXPECT_GT(stats.loaded, 1000);
}

// Section headers, the section name table, SHT_NOTE notes and the legacy string.
TEST(ElfFuzz, MutationsOfSectionNotesAndLegacyKernels) {
    ElfBuilder notes = simple_kernel({Note{"GNU", 3, pattern(20, 1)}});
    notes.sections.push_back({".note.Xen", e::SHT_NOTE, note_bytes(simple_notes())});
    ElfBuilder legacy = simple_kernel({});
    legacy.segments.pop_back();
    legacy.sections.push_back({".text", 1, pattern(8, 1)});
    legacy.sections.push_back(
        {"__xen_guest", 1,
         asciz("LOADER=generic,XEN_VER=xen-3.0,VIRT_BASE=0x0,HYPERCALL_PAGE=0x101,FEATURES=!dom0")});
    uint64_t seed = 1;
    for (const ElfBuilder* b : {&notes, &legacy}) {
        const Blob good = b->build();
        // Everything after the 8 KiB payload: notes, section contents, names and headers.
        const size_t payload_end = get_le(good, EHDR + P_OFFSET, 8) + 0x2000;
        FuzzStats stats;
        mutate_and_parse(good,
                         {{0, EHDR + PHDR * b->segments.size()}, {payload_end, good.size() - payload_end}},
                         5000, seed++, stats);
        EXPECT_GT(stats.accepted, 500);
    }
}

}  // namespace
